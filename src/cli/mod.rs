//! The command line: clap definitions ([`commands`], [`shared`]) and
//! dispatch to the library.

mod commands;
mod shared;

pub use commands::{Cli, Command, ProxyArgs, ReplayArgs, SchemaCheckArgs};
pub use shared::{LimitArgs, RecordingArgs, RuntimeArgs};

use crate::check::{self, CheckReport, EXIT_ERROR, Payload};
use crate::contract::ContractSet;
use crate::proxy::{Enforcement, ProxyConfig};
use crate::recorder::RecordMode;
use crate::replay::{MissPolicy, ReplayConfig};
use clap::Parser;
use shared::parse_upstream;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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
    use shared::parse_size;

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
