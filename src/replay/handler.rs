//! One replayed request: look it up, serve the recorded response, or
//! explain the miss (or forward it, when asked).

mod screened;

use super::episodes::{Episodes, RecordTargets, Scope};
use super::library::{Exhaustion, Library, Lookup, PreparedResponse};
use super::matching::RequestView;
use super::miss;
use super::output::{SecretFinder, Voice};
use super::{ReplayConfig, ReplayStats};
use crate::api_error::ApiError;
use crate::body_reader;
use crate::cassette::{self, Body, Headers, Query, RecordedRequest};
use crate::content_coding;
use crate::contract::{ContractSet, Finding, RequestParts, ResponseParts};
use crate::proxy::{Proxy, strip_path_prefix};
use crate::recorder::CassetteSummary;
use crate::server::Handler;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The status of a `DATOVCR_NO_MATCH` answer: outside what DatoCMS sends,
/// so nobody mistakes a miss for a real 404.
pub const MISS_STATUS: u16 = 599;

pub struct ReplayHandler {
    config: ReplayConfig,
    /// Collects each request's secrets with the replay's redaction rules.
    finder: SecretFinder,
    library: Arc<Library>,
    contract: Option<Arc<ContractSet>>,
    forwarder: Option<Proxy>,
    /// `--on-miss record`: where misses are recorded, and what was.
    targets: Option<RecordTargets>,
    episodes: Episodes,
    stats: Arc<ReplayStats>,
}

/// What a request asked to be served from.
enum Selected {
    /// No `x-datovcr-cassette`: every loaded cassette.
    All,
    /// A loaded cassette, by index.
    Loaded(usize),
    /// A cassette that is not loaded, which `--on-miss record` creates.
    New(PathBuf),
}

impl ReplayHandler {
    pub fn new(
        config: ReplayConfig,
        library: Arc<Library>,
        contract: Option<Arc<ContractSet>>,
        forwarder: Option<Proxy>,
        targets: Option<RecordTargets>,
        stats: Arc<ReplayStats>,
    ) -> Self {
        Self {
            finder: SecretFinder::new(&config.redaction),
            episodes: Episodes::new(config.exhausted),
            config,
            library,
            contract,
            forwarder,
            targets,
            stats,
        }
    }

    /// Compacts the new episodes `--on-miss record` appended. Returns the
    /// cassettes written to (with new episodes), or why compacting failed
    /// (the journals keep every episode).
    pub async fn close(&self) -> Result<Vec<CassetteSummary>, String> {
        let Some(forwarder) = &self.forwarder else {
            return Ok(Vec::new());
        };
        match forwarder.recorder.close().await {
            Ok(written) => Ok(written
                .into_iter()
                .filter(|cassette| cassette.appended > 0)
                .collect()),
            Err(err) => Err(err.to_string()),
        }
    }
}

impl Handler for ReplayHandler {
    /// Only a forwarded miss acts outside datovcr.
    fn detaches(&self) -> bool {
        self.forwarder.is_some()
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        // The request as its secrets are collected from: everything said
        // about it below goes through a voice made for it.
        let (mut received, complete) = self.received_head(&parts);
        let all_headers = (!complete).then_some(&parts.headers);
        let body = match body_reader::read_limited(
            body,
            self.config.max_request_body,
            body_reader::BodyDeadlines {
                idle: self.config.body_idle_timeout,
                total: self.config.request_body_timeout,
            },
        )
        .await
        {
            Ok(body) => body,
            Err(err) => {
                return self
                    .finder
                    .voice_for(&received, all_headers)
                    .answer(err.into());
            }
        };
        if let Some(response) = self.serve_screened(&parts, &body, &received, all_headers) {
            return response;
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Decoded as the recorder decodes it; a body that does not decode
        // is matched as the bytes it is.
        let codings: Vec<&str> = parts
            .headers
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .map(|value| value.to_str().unwrap_or("\u{fffd}"))
            .collect();
        received.body = match content_coding::decode(&codings, &body, self.config.max_request_body)
        {
            Ok(decoded) if decoded.changed => Body::from_bytes(&decoded.bytes, content_type),
            _ => Body::from_bytes(&body, content_type),
        };
        let voice = self.finder.voice_for(&received, all_headers);

        let cassette_name = parts
            .headers
            .get(cassette::CASSETTE_HEADER)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let selected = match &cassette_name {
            None => Selected::All,
            Some(name) => match (self.library.cassette_named(name), &self.targets) {
                (Some(index), _) => Selected::Loaded(index),
                (None, Some(targets)) => match targets.named(name) {
                    Ok(path) => Selected::New(path),
                    Err(reason) => {
                        self.stats.misses.fetch_add(1, Ordering::Relaxed);
                        return voice.answer(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "DATOVCR_BAD_CASSETTE_NAME",
                            reason,
                        ));
                    }
                },
                (None, None) => return self.unknown_cassette(name, &voice),
            },
        };

        // Matched as the recorder wrote it: secrets as placeholders.
        let recorded_form = self.finder.recorded_form(&received, all_headers);
        let view = RequestView {
            method: &recorded_form.method,
            path: &recorded_form.path,
            query: &recorded_form.query,
            headers: &recorded_form.headers,
            body: &recorded_form.body,
        };
        let key = self.library.rules.key(&view);
        let outcome = match &selected {
            Selected::All => self.library.lookup(&key, None),
            Selected::Loaded(index) => self.library.lookup(&key, Some(*index)),
            Selected::New(_) => Lookup::Miss,
        };
        let exhausted = match outcome {
            Lookup::Hit { cassette, index } => {
                let prepared = &cassette.responses[index];
                let source = || format!("{} #{index}", cassette.path.display());
                return self.serve(&view, &parts.method, prepared, source, &voice);
            }
            Lookup::Exhausted(exhaustion) => Some(exhaustion),
            Lookup::Miss => None,
        };
        let Some(forwarder) = &self.forwarder else {
            let selected = match selected {
                Selected::Loaded(index) => Some(index),
                _ => None,
            };
            return self.miss(&view, selected, exhausted, &voice);
        };
        let Some(targets) = &self.targets else {
            // --on-miss forward: nothing is recorded.
            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            // The proxy records nothing (`--record none`); the cassette
            // only labels the exchange.
            let cassette = self
                .config
                .forward
                .as_ref()
                .map(|forward| forward.cassette.clone())
                .unwrap_or_default();
            return forwarder.handle_buffered(parts, body, cassette).await.0;
        };
        let (scope, target) = match selected {
            Selected::All => (Scope::All, targets.default.clone()),
            Selected::Loaded(index) => {
                let path = self.library.cassettes[index].path.clone();
                (Scope::Cassette(path.clone()), path)
            }
            Selected::New(path) => (Scope::Cassette(path.clone()), path),
        };
        // A new episode recorded earlier in this run is served like any
        // recorded interaction.
        if let Some(episode) = self.episodes.lookup(&key, &scope) {
            let source = || {
                format!(
                    "{} (new episode {})",
                    episode.cassette.display(),
                    episode.number
                )
            };
            return self.serve(&view, &parts.method, &episode.response, source, &voice);
        }
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        // The proxy's pipeline logs and answers this exchange, scrubbed by
        // the same rules.
        let (response, recorded) = forwarder.handle_buffered(parts, body, target.clone()).await;
        if let Some(recorded) = recorded
            && let Err(problem) = self
                .episodes
                .add(&self.library.rules, recorded, &target, &scope)
        {
            // Names no value of the request (whose secrets the request's
            // voice knows): a cassette whose name held one was refused.
            Voice::general().say(&format!(
                "datovcr: warning: the new episode in {} cannot be served: {problem}",
                target.display()
            ));
        }
        response
    }
}

impl ReplayHandler {
    /// Serves a recorded response (loaded, or a new episode) to a request
    /// that matched it; `source` names it in the log line.
    fn serve(
        &self,
        view: &RequestView<'_>,
        method: &http::Method,
        prepared: &PreparedResponse,
        source: impl FnOnce() -> String,
        voice: &Voice<'_>,
    ) -> Response<Full<Bytes>> {
        self.stats.served.fetch_add(1, Ordering::Relaxed);
        let mut response = prepared.response_to(method);
        let findings = self.check(view, prepared);
        if !findings.is_empty() {
            voice.mark_violations(&mut response, &findings);
        }
        if !self.config.quiet || !findings.is_empty() {
            // Named only when said: a quiet hit formats nothing.
            voice.say(&hit_line(view, prepared.status, &source(), &findings));
        }
        response
    }

    /// `--check`: the received request and the recorded response against the contract.
    fn check(&self, view: &RequestView<'_>, prepared: &PreparedResponse) -> Vec<Finding> {
        let Some(contract) = &self.contract else {
            return Vec::new();
        };
        let Some(endpoint) = contract.route(view.method, view.path) else {
            return Vec::new();
        };
        let mut findings = contract.check_request(
            endpoint,
            RequestParts {
                method: view.method,
                path: view.path,
                query: view.query,
                headers: view.headers,
                body: view.body,
            },
        );
        let recorded = prepared.recorded();
        findings.extend(contract.check_response(
            endpoint,
            ResponseParts {
                status: recorded.status,
                headers: &recorded.headers,
                body: &recorded.body,
            },
        ));
        let errors = findings.iter().filter(|f| f.is_error()).count();
        self.stats
            .violations
            .fetch_add(errors as u64, Ordering::Relaxed);
        findings
    }

    fn unknown_cassette(&self, name: &str, voice: &Voice<'_>) -> Response<Full<Bytes>> {
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let loaded: Vec<&str> = self
            .library
            .cassettes
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let message = format!(
            "{}: `{}` names no loaded cassette; loaded: {}",
            cassette::CASSETTE_HEADER,
            cassette::shown_name(name),
            loaded.join(", ")
        );
        voice.say(&format!("datovcr: MISS {message}"));
        voice.answer(miss_error(message).with_detail("loaded_cassettes", loaded))
    }

    fn miss(
        &self,
        view: &RequestView<'_>,
        selected: Option<usize>,
        exhausted: Option<Exhaustion>,
        voice: &Voice<'_>,
    ) -> Response<Full<Bytes>> {
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let candidates: Vec<usize> = match selected {
            Some(index) => vec![index],
            None => (0..self.library.cassettes.len()).collect(),
        };
        let searched: Vec<String> = candidates
            .iter()
            .map(|&index| self.library.cassettes[index].path.display().to_string())
            .collect();
        let message = match &exhausted {
            Some(exhaustion) => format!(
                "{} {}: all {} recorded response(s) for this request were already served (--exhausted fail)",
                view.method, view.path, exhaustion.recorded
            ),
            None => format!(
                "{} {}: no recorded interaction matches",
                view.method, view.path
            ),
        };
        // Values are scrubbed before they are shortened: a cut could leave
        // half a secret that no longer matches it.
        let nearest = match &exhausted {
            Some(exhaustion) => Some(miss::exhausted(&self.library, exhaustion)),
            None => miss::nearest(&self.library, &candidates, view, voice.secrets()),
        };
        // A client whose baseUrl has a path puts it before every API path.
        let hint = nearest
            .as_ref()
            .and_then(|nearest| miss::prefix_hint(&nearest.path, view.path))
            .map(|prefix| {
                format!(
                    "the recorded path {} ends the received one: if the client's baseUrl has \
                     the path {prefix}, start replay with --path-prefix {prefix}",
                    nearest.as_ref().map_or("", |n| n.path.as_str())
                )
            });
        let message = match &hint {
            Some(hint) => format!("{message}; {hint}"),
            None => message,
        };
        // What the request has where the recording holds a placeholder is
        // a secret by the recording's rules, which this replay lacks.
        let hiding;
        let (voice, message) = match &nearest {
            Some(nearest) if !nearest.hidden.is_empty() => {
                hiding = voice.also_hiding(&nearest.hidden);
                (
                    &hiding,
                    format!(
                        "{message}; the request has a value where the recording holds a \
                         placeholder: start replay with the --redact-header, --redact-query \
                         and --redact-pointer rules the cassette was recorded with"
                    ),
                )
            }
            _ => (voice, message),
        };
        let mut log = format!("datovcr: MISS {message} (searched {})", searched.join(", "));
        if let Some(nearest) = &nearest {
            log.push_str(&format!(
                "\n  nearest: {} #{} {} {}",
                nearest.cassette, nearest.interaction, nearest.method, nearest.path
            ));
            for difference in &nearest.differences {
                log.push_str(&format!(
                    "\n  differs at {}: recorded {}, received {}",
                    difference.pointer, difference.recorded, difference.received
                ));
            }
        }
        voice.say(&log);
        voice.answer(
            miss_error(message)
                .with_detail("cassettes", searched)
                .with_detail("request", json!({"method": view.method, "path": view.path}))
                .with_detail(
                    "nearest",
                    serde_json::to_value(&nearest).expect("serializable"),
                ),
        )
    }
}

fn miss_error(message: String) -> ApiError {
    ApiError::new(
        StatusCode::from_u16(MISS_STATUS).expect("599 is a valid status code"),
        "DATOVCR_NO_MATCH",
        message,
    )
}

impl ReplayHandler {
    /// The request as matching and `--check` see it, its body still empty,
    /// and whether it holds every header. Matching reads only the headers
    /// the rules name, so without `--check` (which validates them all) and
    /// without a forwarder (whose miss path sees the view too) only those
    /// are converted: a dozen allocations less per request. (The secret
    /// search, when something is said, reads them all.)
    fn received_head(&self, parts: &http::request::Parts) -> (RecordedRequest, bool) {
        let mut headers = Headers::new();
        let everything = self.contract.is_some() || self.forwarder.is_some();
        for (name, value) in &parts.headers {
            let matched = || {
                let rules = &self.library.rules.headers;
                rules.iter().any(|h| h.eq_ignore_ascii_case(name.as_str()))
            };
            if everything || matched() {
                headers.append(name.as_str(), crate::cassette::FieldValue::from(value));
            }
        }
        let request = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: strip_path_prefix(self.config.path_prefix.as_deref(), parts.uri.path())
                .to_owned(),
            query: Query::parse(parts.uri.query().unwrap_or_default()),
            headers,
            body: Body::Empty,
        };
        (request, everything)
    }
}

/// The line a hit logs, then one per `--check` finding.
fn hit_line(
    view: &RequestView<'_>,
    status: StatusCode,
    source: &str,
    findings: &[Finding],
) -> String {
    let mut line = format!(
        "datovcr: {} {} {} replayed {source}",
        view.method,
        view.path,
        status.as_u16(),
    );
    for finding in findings {
        line.push_str(&format!("\n  {}: {finding}", finding.category));
    }
    line
}
