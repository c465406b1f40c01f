//! What is said about an exchange: its log line on stderr, and the line
//! printed if its response never reaches the client. Both pass through the
//! exchange's secret scrubber.

use super::arrived::Unbuilt;
use crate::contract::Finding;
use crate::redact::{Redactor, Secrets};
use crate::server::Undelivered;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What the log line reports about an exchange.
#[derive(Default)]
pub(super) struct Report {
    pub(super) findings: Vec<Finding>,
    pub(super) cassette: Option<PathBuf>,
    pub(super) secrets: Secrets,
    pub(super) error: Option<String>,
    /// The request met a stale upstream connection and was sent again.
    pub(super) retried: bool,
    /// The exchange is in the journal.
    pub(super) recorded: bool,
    /// Keep a copy of what was recorded ([`super::Proxy::handle_buffered`]).
    pub(super) keep_recorded: bool,
    /// That copy, redacted as written.
    pub(super) recorded_interaction: Option<crate::cassette::Interaction>,
    /// `--record none`: the exchange whose secrets `secrets` does not hold
    /// yet. Nothing is written, so they matter only if something is said
    /// about the exchange, which [`Report::settle`] (or the undelivered
    /// note) finds out first; most exchanges are never spoken of.
    pub(super) unscanned: Option<(Arc<Redactor>, Unbuilt)>,
}

impl Report {
    /// Adds the unscanned exchange's secrets to `secrets`. Call it before
    /// anything about the exchange is said.
    pub(super) fn settle(&mut self) {
        if let Some((redactor, exchange)) = self.unscanned.take() {
            self.secrets.extend(exchange.secrets(&redactor));
        }
    }
}

/// The line the server prints if `response` never reaches the client: the
/// exchange went on without it (issue 12, A2), and the log says what became
/// of it. Scrubbed like the exchange's own line.
/// Written only if needed: most responses are delivered.
pub(super) fn undelivered_note(
    method: &http::Method,
    path: &str,
    status: StatusCode,
    report: Report,
) -> Undelivered {
    let method = method.clone();
    let path = path.to_owned();
    let recorded_in = report.cassette.filter(|_| report.recorded);
    let failed = report.error.is_some();
    let known = report.secrets;
    let unscanned = report.unscanned;
    Undelivered::new(move || {
        let mut secrets = known.clone();
        if let Some((redactor, interaction)) = &unscanned {
            secrets.extend(interaction.secrets(redactor));
        }
        let outcome = match (&recorded_in, failed) {
            (Some(cassette), _) => format!("the exchange is recorded -> {}", cassette.display()),
            (None, true) => "datovcr's error answer was lost with it".to_owned(),
            (None, false) => "nothing was recorded (--record none)".to_owned(),
        };
        secrets.scrub(&format!(
            "datovcr: {method} {path} {}: client gone: the client went away before the response \
             reached it; {outcome}",
            status.as_u16()
        ))
        .into_owned()
    })
}

/// One line per exchange on stderr, then one per finding. Everything passes
/// through the exchange's secret scrubber first.
pub(super) fn log_exchange(
    method: &http::Method,
    path: &str,
    response: &Response<Full<Bytes>>,
    started: Instant,
    violations: usize,
    report: &Report,
) {
    let elapsed = started.elapsed();
    // The arrow says where the exchange went: only when it was written.
    let cassette = report
        .cassette
        .as_ref()
        .filter(|_| report.recorded)
        .map(|path| format!(" -> {}", path.display()))
        .unwrap_or_default();
    let mut text = format!(
        "datovcr: {method} {path} {} {:.1}ms violations={violations}{cassette}",
        response.status().as_u16(),
        elapsed.as_secs_f64() * 1000.0
    );
    if report.retried {
        text.push_str(" upstream-retry=stale-connection");
    }
    if let Some(error) = &report.error {
        text.push_str(&format!(" error={error}"));
    }
    for finding in &report.findings {
        text.push_str(&format!("\n  {}: {finding}", finding.category));
    }
    eprintln!("{}", report.secrets.scrub(&text));
}
