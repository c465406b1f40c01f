//! Both halves of an exchange as they arrived (content codings removed),
//! and their cassette form, built once and only when needed.
//!
//! Recording needs the cassette form of every exchange. `--record none`
//! needs it only when something is said about the exchange (a finding, an
//! error, a log line, a client gone) or the quick contract check cannot
//! vouch for it ([`crate::contract::ContractSet::request_is_clean`]): most
//! validated exchanges never build it.

use super::headers::to_recorded;
use crate::cassette::{self, Body, Interaction, Query, RecordedRequest, RecordedResponse};
use crate::content_coding::{self, CodingError};
use crate::contract::{WireRequest, WireResponse};
use crate::redact::{Redactor, Secrets, screen};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header, request, response};
use std::sync::OnceLock;

/// Headers that describe the bytes on the wire rather than the message; the
/// cassette holds decoded bodies, so they are not recorded.
pub(super) const NOT_RECORDED: &[&str] = &["host", "content-length"];

/// What is not recorded of a response to `method` with `status`. A response
/// to HEAD, and a 304, have no body, and their `Content-Length` is the
/// length of the representation a GET would have been sent (RFC 9110 §8.6,
/// §9.3.2, §15.4.5): part of the message, so it is kept. A 204 (and a 1xx,
/// which hyper's client never hands over) must not carry one at all
/// (RFC 9110 §8.6), so one sent anyway is neither forwarded (hyper drops
/// it) nor recorded.
fn not_recorded(method: &Method, status: StatusCode) -> &'static [&'static str] {
    let describes_representation = status != StatusCode::NO_CONTENT
        && !status.is_informational()
        && (method == Method::HEAD || status == StatusCode::NOT_MODIFIED);
    if describes_representation {
        &["host"]
    } else {
        NOT_RECORDED
    }
}

/// A request as it arrived, its body decoded.
pub(super) struct ArrivedRequest {
    pub method: Method,
    /// Any `--path-prefix` removed.
    pub path: String,
    pub query: Query,
    headers: HeaderMap,
    skip: Vec<&'static str>,
    /// Every content coding removed (or the bytes as sent, when
    /// `--record none` could not decode them).
    body: Bytes,
    content_type: Option<String>,
    form: OnceLock<RecordedRequest>,
    /// What the quick check's read of the body says of its secrets
    /// ([`crate::contract::WireRequest::screen`]).
    screened: OnceLock<bool>,
}

impl ArrivedRequest {
    /// Decodes the body. A body that cannot be decoded is an error unless
    /// `keep_undecodable` (`--record none`), which keeps its bytes.
    pub fn new(
        parts: &request::Parts,
        path: String,
        body: &Bytes,
        limit: usize,
        keep_undecodable: bool,
    ) -> Result<Self, CodingError> {
        let mut skip = NOT_RECORDED.to_vec();
        let codings = header_values(&parts.headers, header::CONTENT_ENCODING);
        let body = match content_coding::decode(&codings, body, limit) {
            Ok(decoded) if decoded.changed => {
                skip.push("content-encoding");
                Bytes::from(decoded.bytes)
            }
            Ok(_) => body.clone(),
            Err(_) if keep_undecodable => body.clone(),
            Err(err) => return Err(err),
        };
        Ok(Self {
            method: parts.method.clone(),
            path,
            query: Query::parse(parts.uri.query().unwrap_or_default()),
            headers: parts.headers.clone(),
            skip,
            body,
            content_type: content_type(&parts.headers),
            form: OnceLock::new(),
            screened: OnceLock::new(),
        })
    }

    /// What the quick contract check reads. `screen`: have it note what
    /// the body holds for the secret search ([`Unbuilt::searched`]).
    pub fn wire(&self, screen: bool) -> WireRequest<'_> {
        WireRequest {
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            skip: &self.skip,
            body: &self.body,
            content_type: self.content_type.as_deref(),
            screen: screen.then_some(&self.screened),
        }
    }

    /// The cassette form, built on first use.
    pub fn form(&self) -> &RecordedRequest {
        self.form.get_or_init(|| {
            self.form_with(Body::from_bytes(&self.body, self.content_type.as_deref()))
        })
    }

    /// The cassette form with `body` for the body.
    fn form_with(&self, body: Body) -> RecordedRequest {
        RecordedRequest {
            method: self.method.as_str().to_owned(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: to_recorded(&self.headers, &self.skip),
            body,
        }
    }

    pub fn into_form(self) -> RecordedRequest {
        self.form();
        self.form.into_inner().expect("the form was just built")
    }

    /// The cassette form as the secret search reads it: the form itself
    /// once built, else built with a body the screen clears left out
    /// ([`searched_body`]).
    fn searched_form(&self, screen: bool) -> RecordedRequest {
        match self.form.get() {
            Some(form) => form.clone(),
            None => self.form_with(searched_body(
                &self.body,
                self.content_type.as_deref(),
                screen,
                &self.screened,
            )),
        }
    }
}

/// A response as it arrived, its body decoded.
pub(super) struct ArrivedResponse {
    status: StatusCode,
    headers: HeaderMap,
    skip: Vec<&'static str>,
    body: Bytes,
    content_type: Option<String>,
    form: OnceLock<RecordedResponse>,
    /// As [`ArrivedRequest`]'s.
    screened: OnceLock<bool>,
}

impl ArrivedResponse {
    /// Every content coding removed (declared or found by magic), so it can
    /// be checked and redacted.
    pub fn new(
        method: &Method,
        parts: &response::Parts,
        body: &Bytes,
        limit: usize,
    ) -> Result<Self, CodingError> {
        let mut skip = not_recorded(method, parts.status).to_vec();
        let codings = header_values(&parts.headers, header::CONTENT_ENCODING);
        let decoded = content_coding::decode(&codings, body, limit)?;
        let body = if decoded.changed {
            skip.push("content-encoding");
            Bytes::from(decoded.bytes)
        } else {
            body.clone()
        };
        Ok(Self {
            status: parts.status,
            headers: parts.headers.clone(),
            skip,
            body,
            content_type: content_type(&parts.headers),
            form: OnceLock::new(),
            screened: OnceLock::new(),
        })
    }

    /// `--record none` only: a response whose body could not be decoded is
    /// still checked (as the bytes it is, whatever its type) and relayed.
    pub fn undecoded(method: &Method, parts: &response::Parts, body: &Bytes) -> Self {
        Self {
            status: parts.status,
            headers: parts.headers.clone(),
            skip: not_recorded(method, parts.status).to_vec(),
            body: body.clone(),
            content_type: None,
            form: OnceLock::new(),
            screened: OnceLock::new(),
        }
    }

    /// As [`ArrivedRequest::wire`].
    pub fn wire(&self, screen: bool) -> WireResponse<'_> {
        WireResponse {
            status: self.status.as_u16(),
            headers: &self.headers,
            skip: &self.skip,
            body: &self.body,
            content_type: self.content_type.as_deref(),
            screen: screen.then_some(&self.screened),
        }
    }

    pub fn form(&self) -> &RecordedResponse {
        self.form.get_or_init(|| {
            self.form_with(Body::from_bytes(&self.body, self.content_type.as_deref()))
        })
    }

    /// The cassette form with `body` for the body.
    fn form_with(&self, body: Body) -> RecordedResponse {
        RecordedResponse {
            status: self.status.as_u16(),
            headers: to_recorded(&self.headers, &self.skip),
            body,
        }
    }

    pub fn into_form(self) -> RecordedResponse {
        self.form();
        self.form.into_inner().expect("the form was just built")
    }

    /// As [`ArrivedRequest::searched_form`].
    fn searched_form(&self, screen: bool) -> RecordedResponse {
        match self.form.get() {
            Some(form) => form.clone(),
            None => self.form_with(searched_body(
                &self.body,
                self.content_type.as_deref(),
                screen,
                &self.screened,
            )),
        }
    }
}

/// A body in the form the secret search reads. One the cassette holds as
/// `json` and in which the screen proves the search would find nothing
/// stands as empty: parsing it into a tree only to walk it in vain was half
/// of what a log line about a clean exchange cost (docs/performance.md,
/// "The log line"). The screen's answer is the quick check's when it read
/// the body (`noted`), else [`screen::json_document_is_clean`]'s. `screen`:
/// no `--redact-pointer` rule, which reads every JSON body.
fn searched_body(
    body: &Bytes,
    content_type: Option<&str>,
    screen: bool,
    noted: &OnceLock<bool>,
) -> Body {
    if screen
        && !body.is_empty()
        && content_type.is_none_or(cassette::is_json_media_type)
        && *noted.get_or_init(|| screen::json_document_is_clean(body))
    {
        return Body::Empty;
    }
    Body::from_bytes(body, content_type)
}

/// An exchange not yet in its cassette form ([`super::report::Report`]'s
/// `unscanned`): built only if something is said about it.
pub(super) struct Unbuilt {
    pub request: ArrivedRequest,
    pub response: ArrivedResponse,
}

impl Unbuilt {
    /// The secrets a line about the exchange must not show, found by
    /// `redactor` in the exchange as the secret search reads it: a body the
    /// screen clears is left out ([`searched_body`]).
    pub fn secrets(&self, redactor: &Redactor) -> Secrets {
        let screen = redactor.redacts_no_pointers();
        redactor.secrets_in_owned(Interaction {
            recorded_at: cassette::now_rfc3339(),
            request: self.request.searched_form(screen),
            response: self.response.searched_form(screen),
        })
    }
}

/// The `Content-Type` a body is read by: the first value, if it is text.
fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every value of a header, as text. A value that is not text names no
/// coding datovcr knows, so it stands as one (`\u{fffd}`) that is refused,
/// rather than vanishing and leaving the body looking plain.
fn header_values(headers: &HeaderMap, name: header::HeaderName) -> Vec<&str> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        .collect()
}
