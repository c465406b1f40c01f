//! `datovcr replay`: serve recorded cassettes offline, deterministically.
//!
//! [`matching`] turns a request into a lookup key; [`library`] holds the
//! cassettes, indexed by key, with one response sequence per key; [`miss`]
//! explains requests that match nothing; `output` is the only place that
//! says anything about a request (stderr, error bodies, the violations
//! header), always scrubbed of that request's secrets. Nothing here opens an
//! outbound socket unless `--on-miss forward|record` asks for it.
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

mod framing;
mod handler;
pub mod library;
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
use handler::ReplayHandler;
use library::{Library, LibraryBuilder};
use output::Voice;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// Forward and append the exchange to the cassette, redacted (VCR's "new episodes").
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
    /// Used by `--on-miss forward|record`: upstream, TLS roots, where new
    /// episodes are written, limits and redaction.
    pub forward: Option<ProxyConfig>,
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
}

impl ReplayHandle {
    /// What was loaded at start-up.
    pub fn loaded(&self) -> Loaded {
        self.loaded
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
    if config.on_miss == MissPolicy::Record {
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
        stats.clone(),
    ));
    let task_stats = stats.clone();
    let server = server::RunningServer::spawn(addr, move |stopped| async move {
        let drained = server::serve(listener, handler.clone(), limits, async {
            let _ = stopped.await;
        })
        .await;
        handler.close().await;
        ReplaySummary {
            served: task_stats.served.load(Ordering::Relaxed),
            misses: task_stats.misses.load(Ordering::Relaxed),
            forwarded: task_stats.forwarded.load(Ordering::Relaxed),
            violations: task_stats.violations.load(Ordering::Relaxed),
            unused: library.unused(),
            skipped,
            written: Vec::new(),
            record_error: None,
            drained,
        }
    });
    Ok(ReplayHandle {
        server,
        stats,
        loaded,
    })
}

/// A cassette skipped at start-up, and why.
type Skipped = (PathBuf, String);

/// Loads every cassette once, at start-up. A cassette named on the command
/// line that cannot be read stops start-up with its file, line and column.
/// One found in a folder is skipped instead, with a warning naming it, and
/// the others are served: one unreadable cassette never stops replay of the
/// rest (the summary lists it, and `--strict` fails the run).
/// Also returns the loaded files, the skipped ones, and how many of the
/// interactions were still in journals.
fn load_library(
    config: &ReplayConfig,
) -> Result<(Library, Vec<PathBuf>, Vec<Skipped>, usize), ReplayError> {
    let found = crate::check::find_cassettes(&config.cassettes).map_err(ReplayError)?;
    let searched = || {
        config
            .cassettes
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if found.is_empty() {
        return Err(ReplayError(crate::check::no_cassette_found(
            &config.cassettes,
        )));
    }
    let mut skipped: Vec<Skipped> = Vec::new();
    // A cassette that fails half-way has added part of itself: build again
    // without it. Bounded by the number of cassettes; failures are rare.
    loop {
        let mut builder = LibraryBuilder::new(config.rules.clone(), config.exhausted);
        let mut failed = None;
        let mut pending = 0;
        let usable = found
            .iter()
            .filter(|cassette| !skipped.iter().any(|(path, _)| *path == cassette.path));
        for cassette in usable {
            builder
                .cassette(cassette.path.clone())
                .map_err(ReplayError)?;
            match load_cassette(&cassette.path, &mut builder) {
                Ok(in_journals) => pending += in_journals,
                Err(err) if cassette.named => return Err(err),
                Err(err) => {
                    failed = Some((cassette.path.clone(), err.0));
                    break;
                }
            }
        }
        let Some((path, reason)) = failed else {
            let files = found
                .into_iter()
                .map(|cassette| cassette.path)
                .filter(|path| !skipped.iter().any(|(skipped, _)| skipped == path))
                .collect();
            return Ok((builder.finish(), files, skipped, pending));
        };
        Voice::general().say(&format!(
            "datovcr: warning: skipping cassette {}: {reason}. It is left as it is; \
             the other cassettes are served",
            path.display()
        ));
        skipped.push((path, reason));
        if skipped.len() == found.len() {
            return Err(ReplayError(format!(
                "no readable cassette in {}: every one found was skipped (see above)",
                searched()
            )));
        }
    }
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
            let recorded = [&interaction.request.headers, &interaction.response.headers];
            for (name, values) in recorded.into_iter().flat_map(|headers| headers.iter()) {
                if values.iter().any(|value| is_placeholder(value.as_str()))
                    && !covered_header(&config.redaction, name)
                    && headers.insert(name.to_owned())
                {
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

/// Streams a cassette into the library, one interaction at a time, so the
/// whole file and all its parsed bodies are never in memory together. A
/// cassette with recorded exchanges still in its journal (or an interrupted
/// merge), or only a journal, is read whole through the recorder, which
/// knows how to combine them; any error is worded by the recorder's reader
/// too. Returns how many interactions came from outside the cassette file
/// (journal, merge file).
fn load_cassette(path: &Path, builder: &mut LibraryBuilder) -> Result<usize, ReplayError> {
    // The shared lock keeps a recorder from compacting meanwhile, as the
    // recorder's own reader does.
    let _shared = crate::recorder::lock_for_reading(path).ok().flatten();
    if crate::recorder::has_pending_entries(path) {
        return load_through_recorder(path, builder);
    }
    match crate::cassette::for_each_wire_interaction(path, &mut |interaction| {
        builder.add(interaction)
    }) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(problem)) => Err(ReplayError(problem)),
        Err(stream_error) => Err(ReplayError(
            crate::recorder::load_with_journal(path)
                .err()
                .map_or_else(|| stream_error.to_string(), |err| err.to_string()),
        )),
    }
}

fn load_through_recorder(path: &Path, builder: &mut LibraryBuilder) -> Result<usize, ReplayError> {
    let cassette =
        crate::recorder::load_with_journal(path).map_err(|err| ReplayError(err.to_string()))?;
    // Read under the same shared lock, so no compaction moved entries
    // between the two reads. A missing file (only a journal) holds none.
    let in_file = crate::cassette::count_interactions(path, crate::cassette::fs::Links::Follow)
        .unwrap_or_default();
    let total = cassette.interactions.len();
    for interaction in cassette.interactions {
        builder.add(interaction.into()).map_err(ReplayError)?;
    }
    Ok(total.saturating_sub(in_file))
}
