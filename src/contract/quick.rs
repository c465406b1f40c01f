//! The proxy's quick check: "the full check would find nothing", from the
//! message as it arrived, without the cassette form of the exchange.
//!
//! Most proxied exchanges meet the contract. For those the full check
//! ([`ContractSet::check_request`], [`ContractSet::check_response`]) builds
//! a `serde_json::Value` of each body and a JSON object of each header set,
//! only to say nothing. The quick check reads bodies into [`Light`] trees
//! and headers into an object of the headers the rules name, and validates
//! them with validators compiled from the same schemas. It answers `true`
//! only where every step of the full check would add no finding; wherever a
//! step could (a failing rule, a body that is not JSON, a job the ledger
//! must note, a contract that cannot be compiled), it answers `false`, and
//! the caller runs the full check, which says what it says, in its words.

use super::endpoint::{Endpoint, SchemaRef};
use super::light::Light;
use super::manifest::StatusKey;
use super::{ContractSet, query};
use crate::cassette::{MAX_JSON_DEPTH, Query, is_json_media_type, names_serde_json_private};
use crate::redact::screen;
use http::HeaderMap;
use std::sync::OnceLock;

/// A request as it arrived, for [`ContractSet::request_is_clean`].
#[derive(Debug, Clone, Copy)]
pub struct WireRequest<'a> {
    /// The path the contract routes (any `--path-prefix` removed).
    pub path: &'a str,
    pub query: &'a Query,
    pub headers: &'a HeaderMap,
    /// Header names the cassette form leaves out (`host`, `content-length` …).
    pub skip: &'a [&'a str],
    /// The body, every content coding removed.
    pub body: &'a [u8],
    /// The `Content-Type` the cassette form reads the body by.
    pub content_type: Option<&'a str>,
    /// Where to note, once the body is read, whether the redaction could
    /// find anything in it ([`screened`]); `None` when nobody asks.
    pub screen: Option<&'a OnceLock<bool>>,
}

/// A response as it arrived, for [`ContractSet::response_is_clean`].
#[derive(Debug, Clone, Copy)]
pub struct WireResponse<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub skip: &'a [&'a str],
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    /// As [`WireRequest::screen`].
    pub screen: Option<&'a OnceLock<bool>>,
}

impl ContractSet {
    /// True when [`ContractSet::check_request`] would find nothing in the
    /// cassette form of `request`. False means "run it".
    pub fn request_is_clean(&self, endpoint: &Endpoint, request: WireRequest<'_>) -> bool {
        let Some(light_headers) = &self.headers.light else {
            return false;
        };
        let rules = &endpoint.rules;
        let with_body = rules.body.is_some() && !request.body.is_empty();
        if !light_headers.request_is_clean(request.headers, request.skip, with_body) {
            return false;
        }
        let Ok(compiled) = self.compiled(endpoint) else {
            return false;
        };
        let query = query::read(request.query.pairs(), &compiled.query_shape);
        if !compiled.query.is_valid(&query) {
            return false;
        }
        match &rules.body {
            None => request.body.is_empty(),
            Some(_) if request.body.is_empty() && rules.body_optional => true,
            Some(schema) => {
                let Some(body) = self.light_body(schema, request.body, request.content_type) else {
                    return false;
                };
                note_screen(request.screen, &body, request.body);
                rules.path_params.iter().all(|(segment, pointer)| {
                    let in_path = endpoint.path.segment(request.path, *segment);
                    match (in_path, pointer_str(&body, pointer)) {
                        (Some(in_path), Ok(Some(in_body))) => in_path == in_body,
                        (_, Ok(_)) => true,
                        (_, Err(())) => false,
                    }
                })
            }
        }
    }

    /// True when [`ContractSet::check_response`] would find nothing in the
    /// cassette form of `response`. False means "run it".
    pub fn response_is_clean(&self, endpoint: &Endpoint, response: WireResponse<'_>) -> bool {
        let Some(light_headers) = &self.headers.light else {
            return false;
        };
        let has_content = !response.body.is_empty();
        if !light_headers.response_is_clean(response.headers, response.skip, has_content) {
            return false;
        }
        if self.compiled(endpoint).is_err() {
            return false;
        }
        let rules = &endpoint.rules;
        let status = response.status;
        if status / 100 == 2 && !rules.success_statuses.contains(&status) {
            return false;
        }
        // As `Compiled::response` picks: an exact status over its class.
        let class = u8::try_from(status / 100).unwrap_or(0);
        let documented = rules
            .responses
            .iter()
            .find(|(key, _)| *key == StatusKey::Exact(status))
            .or_else(|| {
                rules
                    .responses
                    .iter()
                    .find(|(key, _)| *key == StatusKey::Class(class))
            });
        match documented {
            None => false,
            Some((_, None)) => !has_content,
            Some((_, Some(schema))) => {
                // A job started or finished is the ledger's business.
                if status == 202 && rules.job.is_some() {
                    return false;
                }
                let Some(body) = self.light_body(schema, response.body, response.content_type)
                else {
                    return false;
                };
                note_screen(response.screen, &body, response.body);
                let job_result = body
                    .get("data")
                    .and_then(|data| data.get("type"))
                    .and_then(Light::as_str)
                    == Some("job_result");
                !(status / 100 == 2 && job_result)
            }
        }
    }

    /// The body read as the cassette form reads it (`Body::from_bytes`), if
    /// that makes it JSON that meets `schema`.
    fn light_body<'b>(
        &self,
        schema: &SchemaRef,
        body: &'b [u8],
        content_type: Option<&str>,
    ) -> Option<Light<'b>> {
        if body.is_empty() || !content_type.is_none_or(is_json_media_type) {
            return None;
        }
        let validator = self.compiler.light_validator(schema).ok()?;
        let light = Light::parse(body, MAX_JSON_DEPTH)?;
        validator.is_valid(&light).then_some(light)
    }
}

/// Notes in `cell` what [`screened`] says of a body already read: the
/// redaction's screen over the tree costs a walk, where over the bytes it
/// would cost a parse (the proxy's log line asks; docs/performance.md).
fn note_screen(cell: Option<&OnceLock<bool>>, body: &Light<'_>, bytes: &[u8]) {
    if let Some(cell) = cell {
        let _ = cell.get_or_init(|| !names_serde_json_private(bytes) && screened(body, 0));
    }
}

/// [`crate::redact::screen::json_document_is_clean`] over a tree read from
/// a body whose every private name was ruled out: true when the redaction
/// could find nothing in it by name or shape. The tree holds what
/// `serde_json::Value` holds (the last of repeated names, decoded strings),
/// at most [`MAX_JSON_DEPTH`] levels, one less here as there.
fn screened(value: &Light<'_>, depth: usize) -> bool {
    match value {
        Light::String(text) => !screen::text_may_hold_secret(text),
        Light::Array(items) => {
            depth + 1 < MAX_JSON_DEPTH && items.iter().all(|item| screened(item, depth + 1))
        }
        Light::Object(members) => {
            if depth + 1 >= MAX_JSON_DEPTH {
                return false;
            }
            let mut secret_type = false;
            let mut has_id = false;
            for (name, member) in members {
                if screen::name_may_mark_secret(name) || !screened(member, depth + 1) {
                    return false;
                }
                match &**name {
                    "type" => secret_type = member.as_str().is_some_and(screen::type_has_secret_id),
                    "id" => has_id = true,
                    _ => {}
                }
            }
            !(secret_type && has_id)
        }
        Light::Null | Light::Bool(_) | Light::Number(_) => true,
    }
}

/// The string at an RFC 6901 pointer, as `Value::pointer(..).as_str()`
/// reads it; `Err` for a pointer this reader does not follow (escapes,
/// array indices), which sends the caller to the full check.
fn pointer_str<'l>(root: &'l Light<'_>, pointer: &str) -> Result<Option<&'l str>, ()> {
    if pointer.is_empty() {
        return Ok(root.as_str());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Ok(None);
    };
    let mut at = root;
    for token in rest.split('/') {
        if token.contains('~') || matches!(at, Light::Array(_)) {
            return Err(());
        }
        match at.get(token) {
            Some(next) => at = next,
            None => return Ok(None),
        }
    }
    Ok(at.as_str())
}

#[cfg(test)]
#[path = "quick_tests.rs"]
mod tests;
