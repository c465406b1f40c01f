//! A recorded response, prepared once to be served many times.
//!
//! Its headers are parsed once (and shared between interactions by the
//! library's interning), its body serialized once; serving it is a clone of
//! shared bytes, framed for the method of the request it answers
//! ([`framing`]). `--check` rebuilds the recorded form on demand
//! ([`PreparedResponse::recorded`]).

use super::framing::{self, Content};
use crate::cassette::{Body, FieldValue, Headers, RecordedResponse, WireBody, WireResponse};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;

/// Headers that describe framing: replay computes them for what it sends
/// ([`framing`]).
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

/// datovcr's own header names. A response carrying one is datovcr's
/// (`x-datovcr-error` marks every error it makes), so a recorded one, from
/// a recording made through another datovcr, is never replayed.
const OWN_PREFIX: &str = "x-datovcr-";

/// How a response body was recorded, so [`PreparedResponse::recorded`]
/// can give the same [`Body`] back from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Empty,
    Json,
    Text,
    Binary,
}

/// A response ready to be sent.
#[derive(Debug, Clone)]
pub struct PreparedResponse {
    pub status: StatusCode,
    /// The headers to send, parsed once. A slice rather than a `HeaderMap`:
    /// a map keeps spare capacity (12 buckets for 7 headers), and the
    /// handler needs a fresh map per hit anyway ([`PreparedResponse::header_map`]).
    pub headers: Box<[(HeaderName, HeaderValue)]>,
    pub body: Bytes,
    kind: BodyKind,
    /// Recorded headers that are not sent (framing, datovcr's own), but are
    /// part of what was recorded.
    unsent: Vec<(String, FieldValue)>,
    /// What an answer without content says its representation's length is
    /// ([`framing::representation_length`]).
    representation_length: Option<u64>,
}

impl PreparedResponse {
    /// Prepares a recorded response: its headers exactly as recorded, parsed
    /// by `intern`, minus those that describe framing (replay frames what it
    /// sends itself, [`framing`]) and datovcr's own.
    pub(super) fn prepare(
        recorded: WireResponse<'_>,
        mut intern: impl FnMut(&str, &[u8]) -> Result<(HeaderName, HeaderValue), String>,
    ) -> Result<PreparedResponse, String> {
        // The cassette reader admits final statuses only (`cassette::check_status`).
        let status = StatusCode::from_u16(recorded.status)
            .map_err(|_| format!("status {} is not an HTTP status", recorded.status))?;
        let mut headers = Vec::with_capacity(recorded.headers().count());
        let mut unsent = Vec::new();
        for (name, value) in recorded.headers() {
            // Names written by hand can have capitals; any case is the same name.
            let own = name
                .as_bytes()
                .get(..OWN_PREFIX.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(OWN_PREFIX.as_bytes()));
            if own
                || FRAMING
                    .iter()
                    .any(|framing| framing.eq_ignore_ascii_case(name))
            {
                unsent.push((name.to_owned(), FieldValue::from_bytes(value)));
                continue;
            }
            headers.push(intern(name, value)?);
        }
        let kind = BodyKind::of_wire(&recorded.body);
        let body = match recorded.body {
            // Compacted into an allocation of exactly its size.
            WireBody::Json(bytes) => Bytes::from(bytes),
            // Copied so the allocation is exactly the body's size.
            body => Bytes::copy_from_slice(body.bytes()),
        };
        let representation_length = framing::representation_length(
            &body,
            unsent
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .map(|(_, value)| value.as_str()),
        );
        Ok(PreparedResponse {
            status,
            headers: headers.into_boxed_slice(),
            body,
            kind,
            unsent,
            representation_length,
        })
    }

    /// The headers to send, as the map a response holds.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, value) in self.headers.iter() {
            map.append(name.clone(), value.clone());
        }
        map
    }

    /// The response to a `method` request, framed for it (RFC 9110 §6.4.1,
    /// §8.6): see `replay::framing`.
    pub fn response_to(&self, method: &Method) -> Response<Full<Bytes>> {
        let content = framing::content(self.status, method);
        let body = match content {
            Content::Body => self.body.clone(),
            Content::Described | Content::Nothing | Content::Empty => Bytes::new(),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.header_map();
        if content == Content::Described
            && let Some(length) = self.representation_length
        {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        response
    }

    /// The response exactly as the cassette recorded it: status, every
    /// header (framing and datovcr's own included) and the body in its
    /// recorded form. Built on demand, for `--check`.
    pub fn recorded(&self) -> RecordedResponse {
        let mut headers = Headers::new();
        for (name, value) in self.headers.iter() {
            headers.append(name.as_str(), FieldValue::from(value));
        }
        for (name, value) in &self.unsent {
            headers.append(name, value.clone());
        }
        RecordedResponse {
            status: self.status.as_u16(),
            headers,
            body: self.kind.body(&self.body),
        }
    }
}

impl BodyKind {
    pub(super) fn of_wire(body: &WireBody<'_>) -> BodyKind {
        match body {
            WireBody::Empty => BodyKind::Empty,
            WireBody::Json(_) => BodyKind::Json,
            WireBody::Text(_) => BodyKind::Text,
            WireBody::Binary(_) => BodyKind::Binary,
        }
    }

    /// The [`Body`] whose [`Body::to_bytes`] gave `bytes`. Bytes that no
    /// longer parse as their kind (a reader with other limits) are kept as
    /// they are rather than lost.
    pub(super) fn body(self, bytes: &[u8]) -> Body {
        let raw = || match std::str::from_utf8(bytes) {
            Ok(text) if !text.is_empty() => Body::Text(text.to_owned()),
            Ok(_) => Body::Empty,
            Err(_) => Body::Binary(bytes.to_vec()),
        };
        match self {
            BodyKind::Empty => Body::Empty,
            BodyKind::Json => serde_json::from_slice(bytes).map_or_else(|_| raw(), Body::Json),
            BodyKind::Text => raw(),
            BodyKind::Binary => Body::Binary(bytes.to_vec()),
        }
    }
}
