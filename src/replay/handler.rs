//! One replayed request: look it up, serve the recorded response, or
//! explain the miss (or forward it, when asked).

use super::library::{Exhaustion, Library, Lookup, PreparedResponse};
use super::matching::RequestView;
use super::miss;
use super::output::{SecretFinder, Voice};
use super::{MissPolicy, ReplayConfig, ReplayStats};
use crate::api_error::ApiError;
use crate::body_reader;
use crate::cassette::{self, Body, Headers, Query, RecordedRequest};
use crate::content_coding;
use crate::contract::{ContractSet, Finding, RequestParts, ResponseParts};
use crate::proxy::{Proxy, strip_path_prefix};
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
    stats: Arc<ReplayStats>,
}

impl ReplayHandler {
    pub fn new(
        config: ReplayConfig,
        library: Arc<Library>,
        contract: Option<Arc<ContractSet>>,
        forwarder: Option<Proxy>,
        stats: Arc<ReplayStats>,
    ) -> Self {
        Self {
            finder: SecretFinder::new(&config.redaction),
            config,
            library,
            contract,
            forwarder,
            stats,
        }
    }

    /// Persists new episodes recorded by `--on-miss record`.
    pub async fn close(&self) {
        if let Some(forwarder) = &self.forwarder
            && let Err(err) = forwarder.recorder.close().await
        {
            Voice::general().say(&format!(
                "datovcr: compacting recorded misses failed (the journal keeps them): {err}"
            ));
        }
    }
}

impl Handler for ReplayHandler {
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
            Some(name) => match self.library.cassette_named(name) {
                Some(index) => Some(index),
                None if self.config.on_miss == MissPolicy::Record => None,
                None => return self.unknown_cassette(name, &voice),
            },
            None => None,
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
        match self.library.lookup(&key, selected) {
            Lookup::Hit { cassette, index } => {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
                let prepared = &cassette.responses[index];
                let mut response = prepared.response_to(&parts.method);
                let findings = self.check(&view, prepared);
                if !findings.is_empty() {
                    voice.mark_violations(&mut response, &findings);
                }
                if !self.config.quiet || !findings.is_empty() {
                    voice.say(&hit_line(
                        &view,
                        prepared.status,
                        &cassette.path,
                        index,
                        &findings,
                    ));
                }
                response
            }
            outcome => {
                let exhausted = match outcome {
                    Lookup::Exhausted(exhaustion) => Some(exhaustion),
                    _ => None,
                };
                match (&self.forwarder, self.config.on_miss) {
                    (Some(forwarder), MissPolicy::Forward | MissPolicy::Record) => {
                        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                        let target = self.record_target(cassette_name.as_deref(), selected);
                        match target {
                            // The proxy's pipeline logs and answers this
                            // exchange, scrubbed by the same rules.
                            Ok(target) => forwarder.handle_buffered(parts, body, target).await,
                            Err(error) => voice.answer(error),
                        }
                    }
                    _ => self.miss(&view, selected, exhausted, &voice),
                }
            }
        }
    }
}

impl ReplayHandler {
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

    /// Where `--on-miss record` appends: the named cassette, else the
    /// forwarder's default cassette.
    fn record_target(
        &self,
        name: Option<&str>,
        selected: Option<usize>,
    ) -> Result<PathBuf, ApiError> {
        let forward = self
            .config
            .forward
            .as_ref()
            .expect("a forwarder has a config");
        if let Some(index) = selected {
            return Ok(self.library.cassettes[index].path.clone());
        }
        match name {
            Some(name) => cassette::cassette_in(&forward.cassette_dir, name).map_err(|reason| {
                ApiError::new(StatusCode::BAD_REQUEST, "DATOVCR_BAD_CASSETTE_NAME", reason)
            }),
            None => Ok(forward.cassette.clone()),
        }
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
            name.escape_debug(),
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
    cassette: &std::path::Path,
    index: usize,
    findings: &[Finding],
) -> String {
    let mut line = format!(
        "datovcr: {} {} {} replayed {} #{index}",
        view.method,
        view.path,
        status.as_u16(),
        cassette.display()
    );
    for finding in findings {
        line.push_str(&format!("\n  {}: {finding}", finding.category));
    }
    line
}
