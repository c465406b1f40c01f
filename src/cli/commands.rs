//! The commands and their own options, as clap reads them.

use super::shared::{
    LimitArgs, RecordingArgs, RuntimeArgs, parse_listen, parse_pointer, parse_prefix,
};
use crate::check::report::Format;
use crate::recorder::RecordMode;
use crate::replay::{Exhausted, MatchRules, MissPolicy};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

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
