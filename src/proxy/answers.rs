//! What the proxy answers besides the upstream's bytes: the client's
//! response with the contract's headers, and datovcr's own error answers
//! (each scrubbed of the exchange's secrets).

use super::exchange::{DRIFT_HEADER, VIOLATIONS_HEADER};
use super::upstream;
use crate::api_error::ApiError;
use crate::body_reader::BodyError;
use crate::content_coding;
use crate::contract::{Finding, violations_summary};
use crate::redact::Secrets;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, response};
use http_body_util::Full;

/// The answer when the recorder refuses a cassette before forwarding.
pub(super) fn recording_refused(err: &crate::recorder::RecordError, secrets: &Secrets) -> ApiError {
    let status = if err.is_conflict() {
        StatusCode::CONFLICT
    } else if err.is_over_limit() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    // The exchange's log line carries the message.
    let message = secrets.scrub(&err.to_string()).into_owned();
    ApiError::new(
        status,
        err.code(),
        format!("the request was not forwarded: {message}"),
    )
}

pub(super) fn upstream_body_error(err: BodyError, upstream: &str) -> ApiError {
    match err {
        BodyError::TooLarge { limit } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "DATOVCR_UPSTREAM_TOO_LARGE",
            format!(
                "{upstream} sent a body larger than {limit} bytes (--max-upstream-body); not recorded"
            ),
        ),
        BodyError::IdleTimeout(after) | BodyError::TotalTimeout(after) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "DATOVCR_UPSTREAM_TIMEOUT",
            format!(
                "{upstream}'s response body stalled for {after:?} (--upstream-body-idle-timeout); not recorded"
            ),
        ),
        BodyError::Failed(err) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "DATOVCR_UPSTREAM_RESET",
            format!(
                "{upstream}'s response body broke off: {}",
                upstream::error_chain(&*err)
            ),
        ),
    }
}

/// The fail-closed answer for a response that cannot be decoded, and so
/// cannot be proven free of secrets: nothing is written, nothing relayed.
pub(super) fn undecodable(
    err: &content_coding::CodingError,
    side: &str,
    upstream_status: StatusCode,
) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "DATOVCR_RECORDING_FAILED",
        format!(
            "the upstream answered {upstream_status}, but the {side} could not be recorded, so it is withheld: {err}"
        ),
    )
    .with_detail("upstream_status", upstream_status.as_u16())
}

/// The upstream's response, byte for byte, plus the contract headers.
pub(super) fn client_response(
    parts: response::Parts,
    body: Bytes,
    findings: &[Finding],
    secrets: &Secrets,
) -> Response<Full<Bytes>> {
    let mut parts = parts;
    // hyper writes the version it is given; the client spoke HTTP/1.1 to us
    // whatever the upstream spoke.
    parts.version = http::Version::HTTP_11;
    let mut response = Response::from_parts(parts, Full::new(body));
    let drift = findings.iter().filter(|f| !f.is_error()).count();
    let headers = response.headers_mut();
    if let Some(summary) = violations_summary(findings, |text| secrets.scrub(text)) {
        let summary = secrets.scrub(&summary);
        if let Ok(value) = HeaderValue::from_str(&summary) {
            headers.insert(VIOLATIONS_HEADER, value);
        }
    }
    if drift > 0 {
        headers.insert(DRIFT_HEADER, HeaderValue::from(drift));
    }
    response
}

pub(super) fn violation_details(findings: &[Finding], secrets: &Secrets) -> serde_json::Value {
    findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| {
            serde_json::json!({
                "side": f.side,
                "part": f.part,
                // A pointer names members the client chose.
                "pointer": secrets.scrub(&f.pointer),
                "rule": f.rule,
                "message": secrets.scrub(&f.message),
            })
        })
        .collect()
}

pub(super) fn contract_rejection(findings: &[Finding], secrets: &Secrets) -> ApiError {
    let count = findings.iter().filter(|f| f.is_error()).count();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "DATOVCR_CONTRACT_VIOLATION",
        format!(
            "the request breaks the contract in {count} place(s); it was not forwarded (--enforce)"
        ),
    )
    .with_detail("violations", violation_details(findings, secrets))
}
