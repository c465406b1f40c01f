//! `datovcr replay`: serve recorded cassettes offline, deterministically.
//!
//! [`matching`] turns a request into a lookup key; `loading` reads the
//! cassettes at start-up into the [`library`], indexed by key, with one
//! response sequence per key; [`miss`] explains requests that match
//! nothing; [`episodes`] holds what `--on-miss record` recorded during the
//! run and serves it from then on; `output` is the only place that says
//! anything about a request (stderr, error bodies, the violations header),
//! always scrubbed of that request's secrets; `summary` is what a run
//! reports. Nothing here opens an outbound socket unless `--on-miss
//! forward|record` asks for it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = datovcr::replay::ReplayServer::builder()
//!     .cassette("cassettes/access-tokens-docs.json")
//!     .start()
//!     .await?;
//! // Point the client under test at server.uri(); the server stops when dropped.
//! let base_url = server.uri();
//! # let _ = base_url;
//! # Ok(()) }
//! ```

mod canonical;
pub mod episodes;
mod framing;
mod handler;
pub mod library;
mod loading;
pub mod matching;
pub mod miss;
mod number;
mod output;
mod response;
mod summary;

pub use library::Exhausted;
pub use matching::MatchRules;
pub use summary::{Loaded, ReplaySummary, UNUSED_SHOWN, Unused};

use crate::contract::ContractSet;
use crate::proxy::{Proxy, ProxyConfig};
use crate::redact::rules::{is_secret_header, is_secret_url_param};
use crate::redact::{RedactionRules, is_placeholder};
use crate::server::{self, ConnectionLimits};
use episodes::RecordTargets;
use handler::ReplayHandler;
use loading::load_library;
use output::Voice;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What to do with a request that matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MissPolicy {
    /// Answer with a `DATOVCR_NO_MATCH` error; never touch the network.
    #[default]
    Fail,
    /// Forward to the upstream and pass the answer back, recording nothing.
    Forward,
    /// Forward, append the exchange, redacted, to the cassette it would have
    /// been served from, and serve it from then on (VCR's "new episodes").
    Record,
}

/// Everything a replay server needs.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Cassette files and folders (searched recursively for `*.json`).
    pub cassettes: Vec<PathBuf>,
    pub listen: SocketAddr,
    pub rules: MatchRules,
    pub exhausted: Exhausted,
    pub on_miss: MissPolicy,
    /// Used by `--on-miss forward|record`: upstream, TLS roots, limits,
    /// redaction and durability. Its `cassette` and `cassette_dir` are set
    /// by replay ([`episodes::RecordTargets`]).
    pub forward: Option<ProxyConfig>,
    /// `--record-into`: where `--on-miss record` appends misses that name
    /// no cassette. `None`: the one loaded cassette, or `recording.json` in
    /// the first `cassettes` folder when several are loaded.
    pub record_into: Option<PathBuf>,
    /// Check every replayed exchange against the contract.
    pub check: bool,
    /// A prefix the client puts before API paths, removed before matching.
    pub path_prefix: Option<String>,
    /// Log only misses and violations, not every hit.
    pub quiet: bool,
    /// `--redact-header`, `--redact-pointer`, `--redact-query`: what counts
    /// as a secret in a received request, so replay never prints it, and
    /// (merged with `forward`'s own rules) what new episodes redact.
    pub redaction: RedactionRules,
    pub limits: ConnectionLimits,
    pub max_request_body: usize,
    pub body_idle_timeout: Duration,
    pub request_body_timeout: Duration,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            cassettes: vec![PathBuf::from("cassettes")],
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules: MatchRules::default(),
            exhausted: Exhausted::default(),
            on_miss: MissPolicy::default(),
            forward: None,
            record_into: None,
            check: false,
            path_prefix: None,
            quiet: false,
            redaction: RedactionRules::default(),
            limits: ConnectionLimits::default(),
            max_request_body: 10 * 1024 * 1024,
            body_idle_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(60),
        }
    }
}

/// A replay server that could not start. The message names the input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReplayError(pub String);

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct ReplayStats {
    pub served: AtomicU64,
    pub misses: AtomicU64,
    pub forwarded: AtomicU64,
    pub violations: AtomicU64,
}

/// Entry point of the library API.
pub struct ReplayServer;

impl ReplayServer {
    pub fn builder() -> ReplayBuilder {
        ReplayBuilder {
            config: ReplayConfig {
                cassettes: Vec::new(),
                ..ReplayConfig::default()
            },
            contract: None,
        }
    }
}

/// Builds a replay server for Rust tests; see the module docs.
pub struct ReplayBuilder {
    config: ReplayConfig,
    contract: Option<Arc<ContractSet>>,
}

impl ReplayBuilder {
    /// Adds a cassette file or a folder of them.
    pub fn cassette(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.cassettes.push(path.into());
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    pub fn match_rules(mut self, rules: MatchRules) -> Self {
        self.config.rules = rules;
        self
    }

    pub fn exhausted(mut self, exhausted: Exhausted) -> Self {
        self.config.exhausted = exhausted;
        self
    }

    /// Check replayed exchanges against the built-in contract.
    pub fn check(mut self, check: bool) -> Self {
        self.config.check = check;
        self
    }

    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.path_prefix = Some(prefix.into());
        self
    }

    pub fn quiet(mut self, quiet: bool) -> Self {
        self.config.quiet = quiet;
        self
    }

    /// Secrets beyond the built-in rules: never printed, and redacted in
    /// new episodes.
    pub fn redaction(mut self, rules: RedactionRules) -> Self {
        self.config.redaction = rules;
        self
    }

    /// Full control, as the CLI uses it.
    pub fn config(mut self, config: ReplayConfig) -> Self {
        self.config = config;
        self
    }

    pub fn contract(mut self, contract: Arc<ContractSet>) -> Self {
        self.contract = Some(contract);
        self
    }

    /// Loads and checks every cassette, binds, and starts serving.
    pub async fn start(self) -> Result<ReplayHandle, ReplayError> {
        let listener = tokio::net::TcpListener::bind(self.config.listen)
            .await
            .map_err(|err| {
                ReplayError(format!("cannot listen on {}: {err}", self.config.listen))
            })?;
        start(self.config, self.contract, listener).await
    }
}

/// A running replay server. Dropping it stops the server.
pub struct ReplayHandle {
    server: server::RunningServer<ReplaySummary>,
    stats: Arc<ReplayStats>,
    loaded: Loaded,
    targets: Option<RecordTargets>,
}

impl ReplayHandle {
    /// What was loaded at start-up.
    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// With `--on-miss record`: where misses are recorded.
    pub fn record_targets(&self) -> Option<&RecordTargets> {
        self.targets.as_ref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`: the client's `baseUrl`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// Stops accepting, drains, and reports.
    pub async fn shutdown(self) -> ReplaySummary {
        self.server.shutdown().await
    }
}

/// Starts replay on an already-bound listener.
pub async fn start(
    mut config: ReplayConfig,
    contract: Option<Arc<ContractSet>>,
    listener: tokio::net::TcpListener,
) -> Result<ReplayHandle, ReplayError> {
    let addr = listener
        .local_addr()
        .map_err(|err| ReplayError(format!("cannot read the listening address: {err}")))?;
    // One set of rules for what is never printed and what new episodes redact.
    if let Some(forward) = &mut config.forward {
        config.redaction = merged_rules(&config.redaction, &forward.redaction);
        forward.redaction = config.redaction.clone();
    }
    config
        .rules
        .refuse_credential_headers(&config.redaction)
        .map_err(ReplayError)?;
    let (library, files, skipped, pending) = load_library(&config)?;
    let loaded = Loaded {
        cassettes: library.cassettes.len(),
        interactions: library
            .cassettes
            .iter()
            .map(|cassette| cassette.requests.len())
            .sum(),
        pending,
        skipped: skipped.len(),
    };
    let library = Arc::new(library);
    let targets = match (config.on_miss, &mut config.forward) {
        (MissPolicy::Record, Some(forward)) => {
            let targets =
                RecordTargets::resolve(config.record_into.as_deref(), &config.cassettes, &library);
            forward.cassette = targets.default.clone();
            forward.cassette_dir = targets.folder.clone();
            Some(targets)
        }
        _ => None,
    };
    if targets.is_some() {
        adopt_cassette_redactions(&mut config, &files);
    }
    let contract = match (config.check, contract) {
        (false, _) => None,
        (true, Some(contract)) => Some(contract),
        (true, None) => Some(Arc::new(
            ContractSet::embedded().map_err(|err| ReplayError(err.to_string()))?,
        )),
    };
    let forwarder = match (config.on_miss, &config.forward) {
        (MissPolicy::Fail, _) => None,
        (_, None) => {
            return Err(ReplayError(
                "--on-miss forward|record needs --upstream URL".into(),
            ));
        }
        (_, Some(forward)) => {
            let contract = match &contract {
                Some(contract) => contract.clone(),
                None => {
                    Arc::new(ContractSet::embedded().map_err(|err| ReplayError(err.to_string()))?)
                }
            };
            Some(Proxy::new(forward.clone(), contract).map_err(ReplayError)?)
        }
    };
    let stats = Arc::new(ReplayStats::default());
    let limits = config.limits.clone();
    let handler = Arc::new(ReplayHandler::new(
        config,
        library.clone(),
        contract,
        forwarder,
        targets.clone(),
        stats.clone(),
    ));
    let task_stats = stats.clone();
    let server = server::RunningServer::spawn(addr, move |stopped| async move {
        let drained = server::serve(listener, handler.clone(), limits, async {
            let _ = stopped.await;
        })
        .await;
        let (written, record_error) = match handler.close().await {
            Ok(written) => (written, None),
            Err(err) => (Vec::new(), Some(err)),
        };
        ReplaySummary {
            served: task_stats.served.load(Ordering::Relaxed),
            misses: task_stats.misses.load(Ordering::Relaxed),
            forwarded: task_stats.forwarded.load(Ordering::Relaxed),
            violations: task_stats.violations.load(Ordering::Relaxed),
            unused: library.unused(),
            skipped,
            written,
            record_error,
            drained,
        }
    });
    Ok(ReplayHandle {
        server,
        stats,
        loaded,
        targets,
    })
}

/// Both sets of rules, each name once.
fn merged_rules(a: &RedactionRules, b: &RedactionRules) -> RedactionRules {
    let union = |a: &[String], b: &[String]| {
        let mut all = a.to_vec();
        for item in b {
            if !all.contains(item) {
                all.push(item.clone());
            }
        }
        all
    };
    RedactionRules {
        headers: union(&a.headers, &b.headers),
        pointers: union(&a.pointers, &b.pointers),
        query_params: union(&a.query_params, &b.query_params),
    }
}

/// `--on-miss record` appends to cassettes recorded earlier, maybe with
/// `--redact-header`/`--redact-query` rules this run was not given. A header
/// or query parameter such a cassette holds as a placeholder, and that the
/// rules do not name, is a credential the recording knew about: new
/// episodes redact it too (it would otherwise be written in clear next to
/// its redacted predecessors), and a warning says which flag to pass.
/// Pointers cannot be told apart from echoed secrets this way: the
/// `--redact-pointer` help says to pass them again.
fn adopt_cassette_redactions(config: &mut ReplayConfig, loaded: &[PathBuf]) {
    let mut files: Vec<PathBuf> = loaded.to_vec();
    if let Some(forward) = &config.forward
        && forward.cassette.is_file()
        && !files.contains(&forward.cassette)
    {
        files.push(forward.cassette.clone());
    }
    // What the redactor finds with no flag at all (credential headers, the
    // name rule, credential-like parameters) needs no adopting.
    let covered_header = |rules: &RedactionRules, name: &str| {
        is_secret_header(name) || rules.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    };
    let covered_param = |rules: &RedactionRules, name: &str| {
        is_secret_url_param(name) || rules.query_params.iter().any(|p| p == name)
    };
    let mut headers: BTreeSet<String> = BTreeSet::new();
    let mut query: BTreeSet<String> = BTreeSet::new();
    let voice = Voice::general();
    for file in &files {
        // Read again only in this mode, and whole (journal included): the
        // library keeps none of the headers this needs.
        let Ok(cassette) = crate::recorder::load_with_journal(file) else {
            continue;
        };
        let mut found_here: Vec<String> = Vec::new();
        for interaction in &cassette.interactions {
            // On the wire and in the maps of HTTP headers of its bodies.
            for name in crate::redact::header_values::redacted_header_names(interaction) {
                let name = name.to_ascii_lowercase();
                if !covered_header(&config.redaction, &name) && headers.insert(name.clone()) {
                    found_here.push(format!("--redact-header {name}"));
                }
            }
            for (name, value) in interaction.request.query.pairs() {
                if is_placeholder(value)
                    && !covered_param(&config.redaction, name)
                    && query.insert(name.clone())
                {
                    found_here.push(format!("--redact-query {name}"));
                }
            }
        }
        if !found_here.is_empty() {
            voice.say(&format!(
                "datovcr: warning: {} was recorded with {}, which this run was not given; \
                 new episodes are redacted that way too. Pass the same --redact-header, \
                 --redact-query and --redact-pointer rules the cassettes were recorded with.",
                file.display(),
                found_here.join(", ")
            ));
        }
    }
    config.redaction.headers.extend(headers);
    config.redaction.query_params.extend(query);
    if let Some(forward) = &mut config.forward {
        forward.redaction = config.redaction.clone();
    }
}
