//! The command line: clap definitions and dispatch to the library.

use crate::check::{self, CheckReport, EXIT_ERROR, Payload, report::Format};
use crate::contract::ContractSet;
use crate::proxy::{Enforcement, Limits, ProxyConfig};
use crate::recorder::{Fsync, RecordMode};
use crate::redact::RedactionRules;
use crate::replay::{Exhausted, MatchRules, MissPolicy, ReplayConfig};
use crate::server::ConnectionLimits;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "datovcr",
    version,
    about = "Record/replay proxy and contract tester for the DatoCMS Content Management API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check cassettes and single payloads against the CMA contract (every endpoint of the official client 5.8.1)
    /// and search them for secrets that were not redacted.
    ///
    /// Exit status: 0 clean (drift warnings allowed), 1 violations or leaked
    /// secrets, 2 usage, I/O or parse errors.
    SchemaCheck(SchemaCheckArgs),
    /// Forward requests to DatoCMS over TLS, check each exchange against the
    /// contract, and record it into a cassette with every secret redacted.
    ///
    /// Point the client at it: buildClient({ apiToken, baseUrl: "http://127.0.0.1:8787" }).
    /// The first line on stdout is `listening on http://ADDR`. Stop it with
    /// Ctrl-C or SIGTERM: in-flight exchanges finish and the cassettes are
    /// compacted.
    Proxy(ProxyArgs),
    /// Serve recorded cassettes offline, deterministically, for CI.
    ///
    /// With no --cassette it serves cassettes/. Requests match on method,
    /// path, query, JSON body and X-Environment (never Authorization).
    /// A request that matches nothing gets 599 DATOVCR_NO_MATCH naming the
    /// nearest recorded interaction. Ctrl-C or SIGTERM prints a summary.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A cassette file or folder (searched recursively for *.json); repeatable.
    #[arg(
        long = "cassette",
        value_name = "FILE|DIR",
        default_value = "cassettes"
    )]
    pub cassettes: Vec<PathBuf>,

    /// Address to listen on, HOST:PORT; port 0 picks a free port.
    ///
    /// A host name such as localhost is resolved (IPv4 preferred).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Allow a --listen address that is not loopback.
    #[arg(long)]
    pub allow_remote: bool,

    /// Which parts of a request must match, comma-separated:
    /// method, path, query, body, header:NAME.
    #[arg(long = "match", value_name = "PARTS", default_value = "method,path,query,body,header:x-environment", value_parser = MatchRules::parse)]
    pub match_rules: MatchRules,

    /// A JSON pointer left out when bodies are compared (a volatile field); repeatable.
    #[arg(long = "ignore-body-pointer", value_name = "POINTER", value_parser = parse_pointer)]
    pub ignore_body_pointers: Vec<String>,

    /// After the last recorded response for a request: repeat it, or fail (a miss).
    #[arg(long, value_enum, default_value_t = Exhausted::Repeat)]
    pub exhausted: Exhausted,

    /// A request that matches nothing: fail (never touches the network),
    /// forward it to --upstream, or forward and record it.
    #[arg(long, value_enum, default_value_t = MissPolicy::Fail)]
    pub on_miss: MissPolicy,

    /// The API for --on-miss forward|record.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Trust this PEM CA for --upstream; repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,

    /// Where --on-miss record appends misses that name no cassette.
    ///
    /// Without it, a miss is recorded into the cassette it would have been served from: the one
    /// `x-datovcr-cassette` names, else the one loaded cassette, else recording.json in the first
    /// --cassette folder when several are loaded.
    #[arg(long, value_name = "FILE")]
    pub record_into: Option<PathBuf>,

    /// Check every replayed exchange against the contract and report violations.
    #[arg(long)]
    pub check: bool,

    /// Exit 1 on misses, interactions never used, or (with --check) contract violations.
    #[arg(long)]
    pub strict: bool,

    /// Log only misses and violations, not every replayed request.
    #[arg(long)]
    pub quiet: bool,

    /// A path prefix the client puts before API paths, removed before matching.
    #[arg(long, value_name = "PREFIX", value_parser = parse_prefix)]
    pub path_prefix: Option<String>,

    /// Read the contract for --check from this folder.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// How --on-miss record writes new episodes; the redaction rules also
    /// decide what replay never prints.
    #[command(flatten)]
    pub recording: RecordingArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The API to forward to; plain http:// only for loopback hosts.
    #[arg(
        long,
        default_value = "https://site-api.datocms.com",
        value_name = "URL"
    )]
    pub upstream: String,

    /// Address to listen on, HOST:PORT; port 0 picks a free port.
    ///
    /// A host name such as localhost is resolved (IPv4 preferred).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Allow a --listen address that is not loopback (tokens then cross the network in plain HTTP).
    #[arg(long)]
    pub allow_remote: bool,

    /// Trust this PEM CA certificate for the upstream, in addition to the built-in Mozilla
    /// roots.
    ///
    /// Repeatable. Verification cannot be disabled.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_files: Vec<PathBuf>,

    /// The cassette to record into.
    ///
    /// `x-datovcr-cassette: NAME` on a request picks NAME.json in the same folder instead.
    #[arg(long, default_value = "cassettes/recording.json", value_name = "FILE")]
    pub cassette: PathBuf,

    /// What to record: new (append), all (start each cassette afresh) or none.
    ///
    /// new: keep what is recorded and append; all: start each cassette afresh; none: record
    /// nothing.
    #[arg(long = "record", value_enum, default_value_t = RecordMode::New)]
    pub record_mode: RecordMode,

    /// Answer requests that break the contract with 422 instead of forwarding them.
    #[arg(long)]
    pub enforce: bool,

    /// Replace responses that break the contract with 502 (they are still recorded).
    #[arg(long)]
    pub enforce_responses: bool,

    /// A path prefix the client puts before API paths, e.g. `/proxy-prefix`.
    ///
    /// The path of the client's baseUrl; it is removed before forwarding and recording.
    #[arg(long, value_name = "PREFIX", value_parser = parse_prefix)]
    pub path_prefix: Option<String>,

    #[command(flatten)]
    pub recording: RecordingArgs,

    /// Read the contract from this folder instead of the built-in one.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Log only exchanges with contract findings or errors, not every one.
    #[arg(long)]
    pub quiet: bool,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Everything that shapes what is written to a cassette: redaction and
/// durability. Defined once and flattened into every command that writes
/// cassettes (`proxy`, and `replay --on-miss record`), and turned into the
/// same settings for both ([`RecordingArgs::apply`]), so a new episode is
/// redacted exactly as the proxy would have redacted it.
///
/// (Which cassette is written, and the record mode, stay per command:
/// `proxy --cassette/--record`, `replay --record-into/--on-miss`.)
#[derive(Debug, Clone, Args)]
pub struct RecordingArgs {
    /// Another header whose values are credentials: redacted in everything recorded and never
    /// printed.
    ///
    /// Repeatable. For `replay --on-miss record` pass the rules the cassette was recorded with:
    /// a header or query parameter the loaded cassettes hold redacted is redacted in new
    /// episodes anyway, with a warning, but one they never saw is not. A redacted header can
    /// never be matched with --match header:NAME.
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,

    /// A JSON pointer redacted in every JSON request and response body recorded.
    ///
    /// Repeatable. `replay` cannot tell which pointers a cassette was recorded with: pass the
    /// same ones to `--on-miss record`.
    #[arg(long = "redact-pointer", value_name = "POINTER", value_parser = parse_pointer)]
    pub redact_pointers: Vec<String>,

    /// A query parameter whose value is a credential: redacted in everything recorded and never
    /// printed.
    ///
    /// Repeatable.
    #[arg(long = "redact-query", value_name = "NAME")]
    pub redact_query: Vec<String>,

    /// When a recorded exchange is fsynced: before-response, after-response or periodic.
    #[arg(long, value_enum, default_value_t = Fsync::BeforeResponse)]
    pub fsync: Fsync,

    /// With --fsync periodic: the longest a written exchange waits for its
    /// fsync (e.g. 200ms, 1s).
    #[arg(long, value_parser = parse_fsync_interval, default_value = "1s", value_name = "DURATION")]
    pub fsync_interval: Duration,
}

impl RecordingArgs {
    /// `--redact-header`, `--redact-pointer` and `--redact-query` as rules.
    pub fn redaction_rules(&self) -> RedactionRules {
        RedactionRules {
            headers: self.redact_headers.clone(),
            pointers: self.redact_pointers.clone(),
            query_params: self.redact_query.clone(),
        }
    }

    /// Sets everything these flags decide on the config that writes cassettes.
    pub fn apply(&self, config: &mut ProxyConfig) {
        config.redaction = self.redaction_rules();
        config.fsync = self.fsync;
        config.fsync_interval = self.fsync_interval;
    }
}

/// How the server's work is spread over threads (see docs/performance.md,
/// "Runtime", for the measurements behind the default).
#[derive(Debug, Clone, Copy, Args)]
pub struct RuntimeArgs {
    /// Worker threads serving requests; 1 serves everything on one thread.
    ///
    /// The default, 1, was measured best on machines like CI runners, where
    /// the client under test runs on the same few cores: a second worker
    /// adds cross-thread wake-ups and takes CPU the client needs. Raise it
    /// when datovcr serves many clients from a machine of its own. The
    /// recorder's file writing runs on threads of its own either way.
    /// At most 1024.
    #[arg(
        long,
        value_name = "N",
        env = "DATOVCR_THREADS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS)
    )]
    pub threads: u16,
}

/// The most `--threads` takes. The runtime starts every worker at once and
/// panics (or overflows) when the OS refuses one, so a mistyped count must
/// be refused before it gets there.
const MAX_THREADS: i64 = 1024;

/// Every limit, with the defaults documented in docs/proxy.md.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest request head (request line and headers); larger gets 431.
    #[arg(long, default_value = "64KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_head_bytes: usize,
    /// Most header fields in a request; more gets 431.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_headers: usize,
    /// Longest request URI; longer gets 414.
    #[arg(long, default_value = "8KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_uri_bytes: usize,
    /// Largest request body; larger gets 413.
    #[arg(long, default_value = "10MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_request_body: usize,
    /// Time allowed to send a request head; the connection is closed after it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Duration,
    /// Longest pause while a request body arrives; longer gets 408.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub body_idle_timeout: Duration,
    /// TCP connect plus TLS handshake with the upstream; longer gets 502.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub upstream_connect_timeout: Duration,
    /// Wait for the upstream's response head; longer gets 504.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub upstream_response_timeout: Duration,
    /// Longest pause while the upstream's body arrives; longer gets 504.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub upstream_body_idle_timeout: Duration,
    /// Largest upstream response body; larger gets 502 and is not recorded.
    #[arg(long, default_value = "32MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_upstream_body: usize,
    /// How long in-flight exchanges may finish after Ctrl-C or SIGTERM.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// Longest time to receive a whole request body, however steadily it trickles; longer gets
    /// 408.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub request_body_timeout: Duration,
    /// Longest a write to a client may block (a client that stops reading); then it is closed.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub write_timeout: Duration,
    /// Open client connections at most; more wait to be accepted.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_in_flight: usize,
}

impl LimitArgs {
    fn to_limits(&self) -> Limits {
        Limits {
            connection: ConnectionLimits {
                max_head_bytes: self.max_head_bytes,
                max_headers: self.max_headers,
                header_read_timeout: self.header_read_timeout,
                shutdown_grace: self.shutdown_grace,
                max_connections: self.max_connections,
                max_in_flight: self.max_in_flight,
                write_timeout: self.write_timeout,
            },
            request_body_timeout: self.request_body_timeout,
            max_uri_bytes: self.max_uri_bytes,
            max_request_body: self.max_request_body,
            body_idle_timeout: self.body_idle_timeout,
            upstream_connect_timeout: self.upstream_connect_timeout,
            upstream_response_timeout: self.upstream_response_timeout,
            max_upstream_body: self.max_upstream_body,
            upstream_body_idle_timeout: self.upstream_body_idle_timeout,
        }
    }
}

/// A humantime duration from 1 ms to 1 hour: a zero interval would fsync
/// in a busy loop, and a longer one is no durability at all.
fn parse_fsync_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if interval < Duration::from_millis(1) || interval > Duration::from_secs(3600) {
        return Err(format!(
            "`{text}` is out of range: give 1ms to 1h (e.g. 200ms, 1s)"
        ));
    }
    Ok(interval)
}

/// `65536`, `64KiB`, `10MiB` (also `K`/`M`, `KB`/`MB` as binary units).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => {
            return Err(format!(
                "`{text}` is not a size; write it like 65536, 64KiB or 10MiB"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size; write it like 65536, 64KiB or 10MiB"))
}

fn parse_pointer(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a JSON pointer; write it like /data/attributes/secret"
        ))
    }
}

/// A `--listen` address: `IP:PORT`, or `HOST:PORT` with the host name
/// resolved now. Of a name's addresses an IPv4 one is preferred, as
/// `localhost` means `127.0.0.1` to most clients.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` has no port; write HOST:PORT, such as 127.0.0.1:8787 (port 0 picks a free one)"
        ));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "`{port}` in `{text}` is not a port number; write HOST:PORT, such as 127.0.0.1:8787"
        ));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|err| {
            format!("cannot resolve `{host}`: {err}; write an address such as 127.0.0.1:{port}")
        })?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            format!("`{host}` resolves to no address; write an address such as 127.0.0.1:{port}")
        })
}

fn parse_prefix(text: &str) -> Result<String, String> {
    let trimmed = text.trim_end_matches('/');
    if trimmed.starts_with('/') && !trimmed.contains(['?', '#']) {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a path prefix; write it like /proxy-prefix"
        ))
    }
}

/// An upstream URL: https, or http for a loopback host (tests, benchmarks).
fn parse_upstream(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|err| format!("--upstream `{text}` is not a URL: {err}"))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if loopback => Ok(uri),
        Some("http") => Err(format!(
            "--upstream `{text}` uses plain http to a remote host, which would send API tokens unencrypted; use https"
        )),
        _ => Err(format!(
            "--upstream `{text}` must be an https:// URL such as https://site-api.datocms.com"
        )),
    }
}

#[derive(Debug, Args)]
pub struct SchemaCheckArgs {
    /// Cassette files or folders (searched recursively for *.json).
    /// Defaults to `cassettes/` unless a single payload is given.
    pub paths: Vec<PathBuf>,

    /// Read the contract from this folder (manifest.json and schemas)
    /// instead of the one built into the binary.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Endpoint a single payload is checked against, e.g. `access_tokens.create`.
    #[arg(long, value_name = "ID", requires = "payload")]
    pub endpoint: Option<String>,

    /// A request body (JSON file, or `-` for stdin) to check.
    #[arg(long, value_name = "FILE", group = "payload", requires = "endpoint")]
    pub request: Option<PathBuf>,

    /// A response body (JSON file, or `-` for stdin) to check; needs --status.
    #[arg(long, value_name = "FILE", group = "payload", requires_all = ["endpoint", "status"])]
    pub response: Option<PathBuf>,

    /// The status the response was (or would be) sent with.
    #[arg(long, value_name = "N", requires = "response", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub status: Option<u16>,

    /// Print every endpoint under contract (id, method, path, body, success
    /// statuses) and exit; `--format json` for JSON.
    #[arg(long, conflicts_with_all = ["paths", "endpoint", "request", "response"])]
    pub list_endpoints: bool,
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::SchemaCheck(args) => schema_check(args),
        Command::Proxy(args) => run_async(args.runtime, proxy(args)),
        Command::Replay(args) => run_async(args.runtime, replay(args)),
    }
}

fn run_async(runtime: RuntimeArgs, job: impl std::future::Future<Output = i32>) -> i32 {
    let mut builder = match usize::from(runtime.threads) {
        1 => tokio::runtime::Builder::new_current_thread(),
        workers => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(job),
        Err(err) => fail(&format!("cannot start the async runtime: {err}")),
    }
}

fn load_contract(schemas: Option<&PathBuf>) -> Result<ContractSet, String> {
    match schemas {
        Some(dir) => ContractSet::from_dir(dir),
        None => ContractSet::embedded(),
    }
    .map_err(|err| err.to_string())
}

async fn proxy(args: ProxyArgs) -> i32 {
    let upstream = match parse_upstream(&args.upstream) {
        Ok(upstream) => upstream,
        Err(message) => return fail(&message),
    };
    let contract = match load_contract(args.schemas.as_ref()) {
        Ok(contract) => Arc::new(contract),
        Err(message) => return fail(&message),
    };
    let mut config = ProxyConfig::new(upstream, args.cassette.clone());
    config.ca_files = args.ca_files.clone();
    config.record_mode = args.record_mode;
    args.recording.apply(&mut config);
    config.enforcement = Enforcement {
        requests: args.enforce,
        responses: args.enforce_responses,
    };
    config.path_prefix = args.path_prefix.clone();
    config.limits = args.limits.to_limits();
    config.quiet = args.quiet;

    let listener = match crate::server::bind(args.listen, args.allow_remote).await {
        Ok(listener) => listener,
        Err(message) => return fail(&message),
    };
    let handle = match crate::proxy::start(config, contract, listener).await {
        Ok(handle) => handle,
        Err(message) => return fail(&message),
    };
    let signals = match StopSignals::register() {
        Ok(signals) => signals,
        Err(message) => return fail(&message),
    };
    announce(handle.addr());
    // The mode in the flag's own spelling, so the line can be typed back.
    let mode = clap::ValueEnum::to_possible_value(&args.record_mode)
        .map(|value| value.get_name().to_owned())
        .unwrap_or_default();
    if args.record_mode == RecordMode::None {
        eprintln!(
            "datovcr: proxying to {} -> not recording (--record {mode})",
            args.upstream
        );
    } else {
        eprintln!(
            "datovcr: proxying to {} -> recording into {} (--record {mode})",
            args.upstream,
            args.cassette.display(),
        );
    }
    signals.wait().await;
    eprintln!("datovcr: stopping: finishing in-flight exchanges");
    let summary = handle.shutdown().await;
    eprintln!(
        "datovcr: {} exchange(s), {} contract violation(s), {} error(s) answered by datovcr",
        summary.exchanges, summary.violations, summary.errors
    );
    for cassette in &summary.cassettes {
        eprintln!(
            "datovcr: wrote {}: {} interaction(s), {} new",
            cassette.path.display(),
            cassette.interactions,
            cassette.appended
        );
    }
    if summary.drained == crate::server::Drained::TimedOut {
        eprintln!(
            "datovcr: warning: some exchanges were still running after the grace period and were cut off"
        );
    }
    match summary.record_error {
        Some(err) => fail(&format!(
            "compacting the cassettes failed (the journal keeps every exchange): {err}"
        )),
        None => 0,
    }
}

async fn replay(args: ReplayArgs) -> i32 {
    let mut rules = args.match_rules.clone();
    rules.ignore_body_pointers = args.ignore_body_pointers.clone();
    let limits = args.limits.to_limits();
    let forward = match (&args.upstream, args.on_miss) {
        (None, MissPolicy::Fail) => None,
        (None, _) => return fail("--on-miss forward|record needs --upstream URL"),
        (Some(upstream), policy) => {
            let upstream = match parse_upstream(upstream) {
                Ok(upstream) => upstream,
                Err(message) => return fail(&message),
            };
            // Replay decides which cassette each miss is recorded into.
            let placeholder = args.record_into.clone().unwrap_or_default();
            let mut config = ProxyConfig::new(upstream, placeholder);
            config.ca_files = args.ca_files.clone();
            config.record_mode = if policy == MissPolicy::Record {
                RecordMode::New
            } else {
                RecordMode::None
            };
            args.recording.apply(&mut config);
            config.path_prefix = args.path_prefix.clone();
            config.limits = limits.clone();
            Some(config)
        }
    };
    let contract = if args.check || args.schemas.is_some() {
        match load_contract(args.schemas.as_ref()) {
            Ok(contract) => Some(Arc::new(contract)),
            Err(message) => return fail(&message),
        }
    } else {
        None
    };
    let config = ReplayConfig {
        cassettes: args.cassettes.clone(),
        listen: args.listen,
        rules,
        exhausted: args.exhausted,
        on_miss: args.on_miss,
        forward,
        record_into: args.record_into.clone(),
        check: args.check,
        path_prefix: args.path_prefix.clone(),
        quiet: args.quiet,
        redaction: args.recording.redaction_rules(),
        limits: limits.connection.clone(),
        max_request_body: limits.max_request_body,
        body_idle_timeout: limits.body_idle_timeout,
        request_body_timeout: limits.request_body_timeout,
    };
    let listener = match crate::server::bind(args.listen, args.allow_remote).await {
        Ok(listener) => listener,
        Err(message) => return fail(&message),
    };
    let handle = match crate::replay::start(config, contract, listener).await {
        Ok(handle) => handle,
        Err(err) => return fail(&err.to_string()),
    };
    let signals = match StopSignals::register() {
        Ok(signals) => signals,
        Err(message) => return fail(&message),
    };
    eprintln!("{}", handle.loaded().line());
    if let Some(targets) = handle.record_targets() {
        eprintln!(
            "datovcr: --on-miss record: a miss is recorded into the cassette it names \
             (x-datovcr-cassette: NAME, a new one as NAME.json in {}), else into {}",
            targets.folder.display(),
            targets.default.display()
        );
    }
    announce(handle.addr());
    signals.wait().await;
    let summary = handle.shutdown().await;
    for line in summary.report() {
        eprintln!("{line}");
    }
    if let Some(err) = &summary.record_error {
        return fail(&format!(
            "compacting the new episodes failed (the journal keeps every one): {err}"
        ));
    }
    if args.strict && !summary.is_clean() {
        // Only what failed the run, so the line reads as its reason.
        let reasons: Vec<String> = [
            (summary.misses, "miss(es)"),
            (summary.unused_count() as u64, "interaction(s) never used"),
            (summary.skipped.len() as u64, "skipped cassette(s)"),
            (summary.violations, "contract violation(s)"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
        eprintln!("datovcr: --strict: failing: {}", reasons.join(", "));
        return 1;
    }
    0
}

/// The first stdout line, which scripts and tests read for the real port.
fn announce(addr: SocketAddr) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

/// SIGINT and SIGTERM, registered before the listening line is printed:
/// a signal that arrives right after it must stop the server gracefully,
/// not kill it by the default action.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let register =
                |kind| signal(kind).map_err(|err| format!("cannot handle signals: {err}"));
            Ok(Self {
                interrupt: register(SignalKind::interrupt())?,
                terminate: register(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn schema_check(args: SchemaCheckArgs) -> i32 {
    let contract = match load_contract(args.schemas.as_ref()) {
        Ok(contract) => contract,
        Err(message) => return fail(&message),
    };
    if args.list_endpoints {
        print!("{}", check::endpoints::render(&contract, args.format));
        return check::EXIT_CLEAN;
    }

    let mut report = CheckReport::default();
    let mut payloads = Vec::new();
    if let Some(endpoint) = &args.endpoint {
        if let Some(file) = &args.request {
            payloads.push(Payload::Request {
                endpoint: endpoint.clone(),
                file: file.clone(),
            });
        }
        if let (Some(file), Some(status)) = (&args.response, args.status) {
            payloads.push(Payload::Response {
                endpoint: endpoint.clone(),
                file: file.clone(),
                status,
            });
        }
    }
    for payload in &payloads {
        if let Err(message) = check::check_payload(&contract, payload, &mut report) {
            return fail(&message);
        }
    }

    let paths = if args.paths.is_empty() && payloads.is_empty() {
        vec![PathBuf::from(check::DEFAULT_CASSETTES)]
    } else {
        args.paths.clone()
    };
    let cassettes = match check::find_cassettes(&paths) {
        Ok(cassettes) => cassettes,
        Err(message) => return fail(&message),
    };
    // Checking nothing would pass, and in CI hide a wrong path.
    if cassettes.is_empty() && payloads.is_empty() {
        return fail(&check::no_cassette_found(&paths));
    }
    check::check_cassettes(&contract, &cassettes, &mut report);

    print!("{}", check::report::render(&report, args.format));
    report.exit_code()
}

fn fail(message: &str) -> i32 {
    eprintln!("datovcr: {message}");
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_upstreams_are_parsed_strictly() {
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("10GB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_upstream("https://site-api.datocms.com").is_ok());
        assert!(parse_upstream("http://127.0.0.1:9000").is_ok());
        assert!(parse_upstream("http://site-api.datocms.com").is_err());
        assert!(parse_upstream("ftp://x").is_err());
    }
}
