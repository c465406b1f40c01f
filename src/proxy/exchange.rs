//! One proxied exchange: read and check the request, forward it, read and
//! check the response, record it (redacted) and answer the client.

use super::answers::{
    client_response, contract_rejection, recording_refused, undecodable, violation_details,
};
use super::arrived::{ArrivedRequest, ArrivedResponse, NOT_RECORDED, Unbuilt};
use super::headers::{strip_hop_by_hop, strip_own, to_recorded};
use super::report::{Report, log_exchange, undelivered_note};
use super::upstream::{self, UpstreamClient};
use super::{ProxyConfig, ProxyStats, strip_path_prefix};
use crate::api_error::ApiError;
use crate::body_reader::{self};
use crate::cassette::{self, Body, Interaction, Query, RecordedRequest};
use crate::contract::{ContractSet, Finding};
use crate::recorder::{RecordMode, Recorder};
use crate::redact::Redactor;
use crate::server::Handler;
use bytes::Bytes;
use http::{Request, Response, StatusCode, request};
use http_body_util::Full;
use hyper::body::Incoming;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Response headers that tell the client what the contract check found.
pub const VIOLATIONS_HEADER: &str = "x-datovcr-violations";
pub const DRIFT_HEADER: &str = "x-datovcr-drift";

pub struct Proxy {
    pub(super) config: ProxyConfig,
    contract: Arc<ContractSet>,
    pub(super) client: UpstreamClient,
    /// For the one retry after a stale pooled connection: never pooled.
    pub(super) fresh_client: UpstreamClient,
    pub(crate) recorder: Recorder,
    redactor: Arc<Redactor>,
    pub(crate) stats: Arc<ProxyStats>,
}

impl Handler for Proxy {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut report = Report::default();
        let result = self.exchange(request, &mut report).await;
        self.finish(result, report, &method, &path, started)
    }
}

impl Proxy {
    /// Builds the forwarding pipeline: the TLS client, the recorder (after
    /// recovering any journal a crash left in the cassette folder).
    pub fn new(config: ProxyConfig, contract: Arc<ContractSet>) -> Result<Self, String> {
        let connector =
            upstream::build_connector(&config.ca_files, config.limits.upstream_connect_timeout)?;
        if config.record_mode != RecordMode::None
            && config.cassette_dir.is_dir()
            && let Err(failures) = crate::recorder::recover_dir(&config.cassette_dir)
        {
            // One unreadable cassette stops nothing: it is left as it is,
            // and exchanges meant for it are refused naming it.
            for failure in failures {
                eprintln!("datovcr: warning: {failure}");
            }
        }
        Ok(Self {
            redactor: Arc::new(Redactor::new(&config.redaction)),
            recorder: Recorder::with_fsync_interval(
                config.record_mode,
                config.fsync,
                config.fsync_interval,
            )
            .with_max_cassettes(config.limits.max_cassettes),
            contract,
            client: upstream::pooled(connector.clone()),
            fresh_client: upstream::fresh(connector),
            stats: Arc::new(ProxyStats::default()),
            config,
        })
    }

    /// Forwards (and records) a request whose body was already read, as
    /// replay's `--on-miss forward|record` does. Hop-by-hop and `x-datovcr-*`
    /// headers are stripped here. Also returns the exchange as it was
    /// recorded (redacted) into `cassette`, if it was, so replay can serve
    /// it as a new episode.
    pub async fn handle_buffered(
        &self,
        parts: request::Parts,
        body: Bytes,
        cassette: PathBuf,
    ) -> (Response<Full<Bytes>>, Option<Interaction>) {
        let started = Instant::now();
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let mut report = Report {
            keep_recorded: true,
            ..Report::default()
        };
        let result = self.process(parts, body, cassette, &mut report).await;
        let recorded = report.recorded_interaction.take();
        (
            self.finish(result, report, &method, &path, started),
            recorded,
        )
    }

    fn finish(
        &self,
        result: Result<Response<Full<Bytes>>, ApiError>,
        mut report: Report,
        method: &http::Method,
        path: &str,
        started: Instant,
    ) -> Response<Full<Bytes>> {
        let response = match result {
            Ok(response) => response,
            Err(mut error) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                // An answer is said too: whatever quoted the request (a
                // refused cassette name, say) is scrubbed here, once for
                // every error, as replay's voice does.
                report.settle();
                report.secrets.scrub_json(&mut error.details);
                report.error = Some(format!("{} {}", error.code, error.message()));
                error.into_response()
            }
        };
        self.stats.exchanges.fetch_add(1, Ordering::Relaxed);
        let violations = report.findings.iter().filter(|f| f.is_error()).count();
        self.stats
            .violations
            .fetch_add(violations as u64, Ordering::Relaxed);
        if !self.config.quiet
            || !report.findings.is_empty()
            || report.error.is_some()
            || report.retried
        {
            report.settle();
            log_exchange(method, path, &response, started, violations, &report);
        }
        let note = undelivered_note(method, path, response.status(), report);
        let mut response = response;
        response.extensions_mut().insert(note);
        response
    }
}

impl Proxy {
    async fn exchange(
        &self,
        request: Request<Incoming>,
        report: &mut Report,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let limits = &self.config.limits;
        let (parts, body) = request.into_parts();
        // Nothing about a request is logged or answered before its secrets
        // are known: every early refusal collects its head's first (even a
        // 414 names the path). On the way to a recording, the redactor
        // finds them all at once.
        if crate::server::uri_len(&parts.uri) > limits.max_uri_bytes {
            self.learn_head(report, &parts);
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                "DATOVCR_URI_TOO_LONG",
                format!(
                    "the request URI is longer than {} bytes (--max-uri-bytes)",
                    limits.max_uri_bytes
                ),
            ));
        }
        let cassette = match self.select_cassette(&parts) {
            Ok(cassette) => cassette,
            Err(err) => {
                self.learn_head(report, &parts);
                return Err(err);
            }
        };
        report.cassette = Some(cassette.clone());
        let body = match read_request_body(body, limits).await {
            Ok(body) => body,
            Err(err) => {
                self.learn_head(report, &parts);
                return Err(err);
            }
        };
        self.process(parts, body, cassette, report).await
    }

    /// Adds the secrets of a request's head (headers, path, query).
    fn learn_head(&self, report: &mut Report, parts: &request::Parts) {
        report
            .secrets
            .extend(self.redactor.secrets_of(&RecordedRequest {
                method: parts.method.as_str().to_owned(),
                path: parts.uri.path().to_owned(),
                query: Query::parse(parts.uri.query().unwrap_or_default()),
                headers: to_recorded(&parts.headers, NOT_RECORDED),
                body: Body::Empty,
            }));
    }

    /// Everything after the request is read: check, forward, check, record.
    async fn process(
        &self,
        mut parts: request::Parts,
        body: Bytes,
        cassette: PathBuf,
        report: &mut Report,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let limits = &self.config.limits;
        // The server refuses these before any handler sees them; replay's
        // forwarding comes here with a request it has already read.
        if let Err(refusal) = crate::server::target::check(&parts.method, &parts.uri) {
            self.learn_head(report, &parts);
            return Err(refusal);
        }
        report.cassette = Some(cassette.clone());
        let named = parts.headers.get(cassette::CASSETTE_HEADER).cloned();
        strip_hop_by_hop(&mut parts.headers);
        strip_own(&mut parts.headers);
        let path = strip_path_prefix(self.config.path_prefix.as_deref(), parts.uri.path());
        // A body whose codings cannot be removed cannot be redacted, so a
        // recording refuses it before the upstream acts on it; a proxy that
        // records nothing forwards it as sent, as a transparent proxy does,
        // and says so (its body is checked as the bytes they are).
        let request = match ArrivedRequest::new(
            &parts,
            path.to_owned(),
            &body,
            limits.max_request_body,
            false,
        ) {
            Ok(request) => request,
            Err(err) if self.recorder.mode() == RecordMode::None => {
                report.error = Some(format!(
                    "request body not decoded, forwarded as sent: {err}"
                ));
                ArrivedRequest::new(
                    &parts,
                    path.to_owned(),
                    &body,
                    limits.max_request_body,
                    true,
                )
                .expect("an undecodable body is kept as it is")
            }
            Err(err) => {
                self.learn_head(report, &parts);
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "DATOVCR_UNDECODABLE_BODY",
                    format!(
                        "the request was not forwarded, because it could not be recorded: {err}. \
                         Send the body plain, or compressed with gzip, deflate, br or zstd and \
                         labelled so; --record none forwards such a request unrecorded"
                    ),
                ));
            }
        };
        // With --record none a clean exchange is never put in the cassette
        // form: the quick check vouches for it, and what is said about it
        // later builds the form then (`Report::settle`).
        let quick = self.recorder.mode() == RecordMode::None;
        // The head's secrets are known already. The body's are collected
        // only when something is said about the request before the whole
        // exchange is redacted (a refusal, an upstream failure); on the way
        // to a recording the redactor finds them all at once.
        if let Some(name) = named {
            self.learn_request(report, request.form());
            if report
                .secrets
                .occur_in(&String::from_utf8_lossy(name.as_bytes()))
            {
                report.cassette = None;
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "DATOVCR_BAD_CASSETTE_NAME",
                    format!(
                        "{}: the cassette name holds a credential of this same request, so it \
                         would put the secret in a file name; choose a name without it",
                        cassette::CASSETTE_HEADER
                    ),
                ));
            }
        }
        let endpoint = self.contract.route(request.method.as_str(), &request.path);
        if let Some(endpoint) = endpoint
            && !(quick
                && self
                    .contract
                    .request_is_clean(endpoint, request.wire(!self.config.quiet)))
        {
            report.findings = self.contract.check_request(endpoint, request.form().into());
        }
        if self.config.enforcement.requests && report.findings.iter().any(Finding::is_error) {
            self.learn_request(report, request.form());
            return Err(contract_rejection(&report.findings, &report.secrets));
        }

        // Never forwarded unless it can be recorded: the upstream must not
        // act on an exchange the cassette could not hold.
        let ticket = match self.recorder.prepare(&cassette).await {
            Ok(ticket) => ticket,
            Err(err) => {
                self.learn_request(report, request.form());
                return Err(recording_refused(&err, &report.secrets));
            }
        };
        let (response_parts, response_body) =
            match self.forward(&parts, &request.path, body, report).await {
                Ok(forwarded) => forwarded,
                Err(err) => {
                    self.learn_request(report, request.form());
                    return Err(err);
                }
            };
        // The cassette format admits final statuses only (RFC 9110 §15), so
        // a recording never writes what its readers would refuse.
        if self.recorder.mode() != RecordMode::None
            && let Err(rule) = cassette::check_status(response_parts.status.as_u16())
        {
            self.learn_request(report, request.form());
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_UPSTREAM_PROTOCOL",
                format!(
                    "the upstream's answer cannot be recorded, so it is withheld: {rule}. \
                     Proxy with --record none to pass such answers through"
                ),
            )
            .with_detail("upstream_status", response_parts.status.as_u16()));
        }
        let response = match ArrivedResponse::new(
            &parts.method,
            &response_parts,
            &response_body,
            limits.max_upstream_body,
        ) {
            Ok(response) => response,
            Err(err) if self.recorder.mode() == RecordMode::None => {
                report.error = Some(format!("not decoded: {err}"));
                ArrivedResponse::undecoded(&parts.method, &response_parts, &response_body)
            }
            Err(err) => {
                self.learn_request(report, request.form());
                return Err(undecodable(&err, "response", response_parts.status));
            }
        };
        if let Some(endpoint) = endpoint
            && !(quick
                && self
                    .contract
                    .response_is_clean(endpoint, response.wire(!self.config.quiet)))
        {
            let response_findings = self
                .contract
                .check_response(endpoint, response.form().into());
            report.findings.extend(response_findings);
        }

        self.record(
            &cassette,
            ticket,
            Unbuilt { request, response },
            response_parts.status,
            report,
        )
        .await?;

        let response_violation = report
            .findings
            .iter()
            .any(|f| f.is_error() && f.side == crate::contract::Side::Response);
        if report.findings.iter().any(Finding::is_error) {
            // The violations are told in a header or an error body.
            report.settle();
        }
        if self.config.enforcement.responses && response_violation {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_RESPONSE_VIOLATION",
                "the upstream's response breaks the contract (--enforce-responses); it was recorded",
            )
            .with_detail("violations", violation_details(&report.findings, &report.secrets)));
        }
        Ok(client_response(
            response_parts,
            response_body,
            &report.findings,
            &report.secrets,
        ))
    }

    /// Adds the secrets of the whole request (its body's included) to
    /// what the exchange's log lines and errors are scrubbed of.
    fn learn_request(&self, report: &mut Report, request: &RecordedRequest) {
        report.secrets.extend(self.redactor.secrets_of(request));
    }

    fn select_cassette(&self, parts: &request::Parts) -> Result<PathBuf, ApiError> {
        let Some(value) = parts.headers.get(cassette::CASSETTE_HEADER) else {
            return Ok(self.config.cassette.clone());
        };
        let name = value.to_str().unwrap_or("\u{fffd}");
        cassette::cassette_in(&self.config.cassette_dir, name).map_err(|reason| {
            ApiError::new(StatusCode::BAD_REQUEST, "DATOVCR_BAD_CASSETTE_NAME", reason)
        })
    }

    async fn record(
        &self,
        cassette: &std::path::Path,
        ticket: crate::recorder::Ticket,
        exchange: Unbuilt,
        upstream_status: StatusCode,
        report: &mut Report,
    ) -> Result<(), ApiError> {
        if self.recorder.mode() == RecordMode::None {
            // Nothing is written, but what the response issued (a new
            // token, say) must still be kept out of anything said about it.
            report.unscanned = Some((Arc::clone(&self.redactor), exchange));
            return Ok(());
        }
        let interaction = Interaction {
            recorded_at: cassette::now_rfc3339(),
            request: exchange.request.into_form(),
            response: exchange.response.into_form(),
        };
        let redacted = self.redactor.redact(interaction);
        report.secrets.extend(redacted.secrets().clone());
        let appended = self
            .recorder
            .append_prepared(cassette, &redacted, ticket)
            .await;
        report.recorded = appended.is_ok();
        if report.recorded && report.keep_recorded {
            report.recorded_interaction = Some(redacted.interaction().clone());
        }
        appended.map_err(|err| {
            eprintln!(
                "datovcr: RECORDING FAILED for {}: {}",
                cassette.display(),
                report.secrets.scrub(&err.to_string())
            );
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "DATOVCR_RECORDING_FAILED",
                format!(
                    "the upstream answered {upstream_status}, but the exchange could not be recorded, so its response is withheld: {}",
                    report.secrets.scrub(&err.to_string())
                ),
            )
            .with_detail("upstream_status", upstream_status.as_u16())
            .with_detail("cassette", cassette.display().to_string())
        })
    }
}

async fn read_request_body(body: Incoming, limits: &super::Limits) -> Result<Bytes, ApiError> {
    let deadlines = body_reader::BodyDeadlines {
        idle: limits.body_idle_timeout,
        total: limits.request_body_timeout,
    };
    body_reader::read_limited(body, limits.max_request_body, deadlines)
        .await
        .map_err(ApiError::from)
}
