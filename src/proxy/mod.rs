//! `datovcr proxy`: forward each exchange to DatoCMS over TLS, check it
//! against the contract, and record it, redacted, into a cassette.
//!
//! [`exchange`] holds the per-request pipeline, [`report`] what is logged
//! about it; [`upstream`] the TLS client and what its failures mean; [`reuse`] how each upstream
//! connection has been used (for telling a stale one); [`headers`] the
//! header hygiene. The accept loop is the shared [`crate::server`].

mod answers;
mod arrived;
mod exchange;
mod forward;
mod headers;
mod report;
mod reuse;
pub mod upstream;

use crate::contract::ContractSet;
use crate::recorder::{CassetteSummary, Fsync, RecordMode};
use crate::redact::RedactionRules;
use crate::server::{self, ConnectionLimits, Drained};
pub use exchange::{DRIFT_HEADER, Proxy, VIOLATIONS_HEADER};
use http::Uri;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// Every limit the proxy enforces, each with its documented default.
#[derive(Debug, Clone)]
pub struct Limits {
    pub connection: ConnectionLimits,
    /// Longest request URI; longer gets 414.
    pub max_uri_bytes: usize,
    /// Largest request body; larger gets 413.
    pub max_request_body: usize,
    /// Longest pause while a request body arrives; longer gets 408.
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body; longer gets 408.
    pub request_body_timeout: Duration,
    /// TCP connect plus TLS handshake with the upstream; longer gets 502.
    pub upstream_connect_timeout: Duration,
    /// From sending the request to the upstream's response head; longer gets 504.
    pub upstream_response_timeout: Duration,
    /// Largest upstream response body; larger gets 502 and is not recorded.
    pub max_upstream_body: usize,
    /// Longest pause while the upstream's body arrives; longer gets 504.
    pub upstream_body_idle_timeout: Duration,
    /// Most cassettes recorded into in one run; one more gets 503.
    pub max_cassettes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connection: ConnectionLimits::default(),
            max_uri_bytes: 8 * 1024,
            max_request_body: 10 * 1024 * 1024,
            body_idle_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(60),
            upstream_connect_timeout: Duration::from_secs(5),
            upstream_response_timeout: Duration::from_secs(30),
            max_upstream_body: 32 * 1024 * 1024,
            upstream_body_idle_timeout: Duration::from_secs(30),
            max_cassettes: crate::recorder::DEFAULT_MAX_CASSETTES,
        }
    }
}

/// Which broken exchanges are refused rather than only reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// Answer a request that breaks the contract with 422, without forwarding it.
    pub requests: bool,
    /// Replace a response that breaks the contract with 502.
    pub responses: bool,
}

/// Everything `datovcr proxy` needs, validated.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// `https://site-api.datocms.com`, possibly with a base path.
    pub upstream: Uri,
    pub ca_files: Vec<PathBuf>,
    /// The cassette used when a request names none.
    pub cassette: PathBuf,
    /// Where `x-datovcr-cassette: NAME` cassettes live.
    pub cassette_dir: PathBuf,
    pub record_mode: RecordMode,
    /// Whether an exchange is fsynced before or after its response, or periodically.
    pub fsync: Fsync,
    /// How often [`Fsync::Periodic`] fsyncs.
    pub fsync_interval: std::time::Duration,
    pub enforcement: Enforcement,
    /// A prefix the client puts before API paths (`baseUrl: http://host:port/prefix`),
    /// removed before forwarding and recording.
    pub path_prefix: Option<String>,
    pub redaction: RedactionRules,
    pub limits: Limits,
    /// Log only exchanges with findings or errors, not every one.
    pub quiet: bool,
}

impl ProxyConfig {
    pub fn new(upstream: Uri, cassette: PathBuf) -> Self {
        let cassette_dir = cassette
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            upstream,
            ca_files: Vec::new(),
            cassette,
            cassette_dir,
            record_mode: RecordMode::New,
            fsync: Fsync::BeforeResponse,
            fsync_interval: crate::recorder::DEFAULT_FSYNC_INTERVAL,
            enforcement: Enforcement::default(),
            path_prefix: None,
            redaction: RedactionRules::default(),
            limits: Limits::default(),
            quiet: false,
        }
    }
}

/// `path` without the client's base-URL prefix (`/proxy-prefix/access_tokens`
/// becomes `/access_tokens`). A path outside the prefix is left alone.
pub fn strip_path_prefix<'p>(prefix: Option<&str>, path: &'p str) -> &'p str {
    let Some(prefix) = prefix else {
        return path;
    };
    match path.strip_prefix(prefix.trim_end_matches('/')) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Counters for the shutdown summary.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub exchanges: AtomicU64,
    pub violations: AtomicU64,
    pub errors: AtomicU64,
}

/// What a proxy did, printed when it stops.
#[derive(Debug)]
pub struct ProxySummary {
    pub exchanges: u64,
    pub violations: u64,
    pub errors: u64,
    pub cassettes: Vec<CassetteSummary>,
    /// Journal writes that recorded those exchanges (each one also an
    /// `fsync` with `--fsync before-response`): the fewer per exchange, the
    /// better the group commit works.
    pub batches_written: u64,
    /// Journal fsyncs done off the reply path (`--fsync after-response` and
    /// `periodic`), the last one at shutdown included.
    pub background_fsyncs: u64,
    /// Exchanges written on the request's own thread (no hand-off to the
    /// writer thread; `--fsync after-response` and `periodic` only).
    pub inline_writes: u64,
    pub drained: Drained,
    /// A recorder failure while compacting the journals at shutdown.
    pub record_error: Option<String>,
}

/// A running proxy. Dropping it stops the server without waiting.
pub type ProxyHandle = server::RunningServer<ProxySummary>;

/// Starts a proxy on an already-bound listener (bind `127.0.0.1:0` for tests).
pub async fn start(
    config: ProxyConfig,
    contract: Arc<ContractSet>,
    listener: TcpListener,
) -> Result<ProxyHandle, String> {
    let addr = listener
        .local_addr()
        .map_err(|err| format!("cannot read the listening address: {err}"))?;
    let connection_limits = config.limits.connection.clone();
    let proxy = Arc::new(Proxy::new(config, contract)?);
    let recorder = proxy.recorder.clone();
    let stats = proxy.stats.clone();
    Ok(server::RunningServer::spawn(
        addr,
        move |stopped| async move {
            let drained = server::serve(listener, proxy, connection_limits, async {
                let _ = stopped.await;
            })
            .await;
            let batches_written = recorder.batches_written();
            let (cassettes, record_error) = match recorder.close().await {
                Ok(cassettes) => (cassettes, None),
                Err(err) => (Vec::new(), Some(err.to_string())),
            };
            let background_fsyncs = recorder.background_fsyncs();
            let inline_writes = recorder.inline_writes();
            ProxySummary {
                exchanges: stats.exchanges.load(Ordering::Relaxed),
                violations: stats.violations.load(Ordering::Relaxed),
                errors: stats.errors.load(Ordering::Relaxed),
                cassettes,
                batches_written,
                background_fsyncs,
                inline_writes,
                drained,
                record_error,
            }
        },
    ))
}
