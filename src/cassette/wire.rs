//! An interaction read the way replay uses it: the response ready for the
//! wire, borrowed from the cassette's bytes where it can be.
//!
//! Replay never looks inside a recorded response body; it serves it. So
//! [`WireInteraction`] reads a JSON response body as raw text and turns it
//! straight into the compact bytes that would be served
//! ([`compact_json`](super::compact::compact_json)), instead of building a
//! `Value` tree first and serializing it again; a request body is read
//! the same way (matching writes a JSON body's key from the compact bytes).
//! A `headers` object as datovcr writes it is read in one pass over its
//! text ([`fields`]); response headers become `HeaderValue`s from there,
//! and matching takes only the few request headers it compares
//! ([`WireRequest::headers_named`]). The rest of the request is read as in
//! [`RecordedRequest`]: matching looks at all of it.
//!
//! The rules are those of [`Interaction`] (unknown fields, `recorded_at`,
//! one of `json`/`text`/`base64`, statuses), so a cassette is accepted or
//! refused the same either way. A JSON body that compacting cannot vouch
//! for is refused here; the reader then parses that interaction as an
//! [`Interaction`] and converts it (`From<Interaction>`), which also words
//! any real error.

mod fields;

use super::compact::compact_json;
use super::headers::FieldName;
use super::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use crate::json_object::objects_only;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use fields::HeaderFields;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::{Borrow, Cow};

/// One recorded exchange, its response as replay serves it.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct WireInteraction<'a> {
    #[serde(borrow, deserialize_with = "recorded_at")]
    pub recorded_at: Cow<'a, str>,
    #[serde(borrow)]
    pub request: WireRequest<'a>,
    #[serde(borrow)]
    pub response: WireResponse<'a>,
}

/// A recorded request, headers borrowed.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct WireRequest<'a> {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Query,
    /// Sorted by name, as in [`Headers`].
    #[serde(default, borrow)]
    headers: HeaderFields<'a>,
    /// In wire form, as a response body: matching writes a JSON body's
    /// key from its compact bytes, and a miss explanation parses them.
    #[serde(default, borrow)]
    pub body: WireBody<'a>,
}

/// A recorded response, headers borrowed and the body in wire form.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct WireResponse<'a> {
    #[serde(deserialize_with = "super::final_status")]
    pub status: u16,
    /// Sorted by name, like [`Headers`](super::Headers), and read by the
    /// same rules.
    #[serde(default, borrow)]
    headers: HeaderFields<'a>,
    #[serde(default, borrow)]
    pub body: WireBody<'a>,
}

// Objects in the file, as in `Interaction`.
objects_only!(deserialize WireInteraction<'a>);
objects_only!(deserialize WireRequest<'a>);
objects_only!(deserialize WireResponse<'a>);

/// A recorded body as the bytes to send.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum WireBody<'a> {
    #[default]
    Empty,
    /// Compact JSON, byte for byte what [`Body::to_bytes`] gives.
    Json(Vec<u8>),
    Text(Cow<'a, str>),
    Binary(Vec<u8>),
}

/// A string borrowed from the cassette unless it holds escapes. (serde
/// borrows a `Cow` only when told to, which a field inside a map or a
/// `Vec` cannot be: this newtype carries the instruction there.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl WireInteraction<'_> {
    /// The same interaction, owning its strings.
    pub fn into_owned(self) -> WireInteraction<'static> {
        WireInteraction {
            recorded_at: Cow::Owned(self.recorded_at.into_owned()),
            request: WireRequest {
                headers: self.request.headers.into_owned(),
                body: self.request.body.into_owned(),
                ..self.request
            },
            response: WireResponse {
                status: self.response.status,
                headers: self.response.headers.into_owned(),
                body: self.response.body.into_owned(),
            },
        }
    }
}

impl WireRequest<'_> {
    /// The headers among `names`, as [`Headers::get_all`] finds them: all
    /// that matching compares, and all a miss explanation shows.
    pub fn headers_named(&self, names: &[String]) -> Headers {
        self.headers.named(names)
    }
}

impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FieldName for Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }

    fn into_lowercase(self) -> Self {
        if self.0.bytes().any(|byte| byte.is_ascii_uppercase()) {
            Text(Cow::Owned(self.0.to_ascii_lowercase()))
        } else {
            self
        }
    }
}

impl Text<'_> {
    fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }
}

impl WireResponse<'_> {
    /// Every header value with its name, names in order; values as the
    /// bytes to send (not always UTF-8: see [`super::FieldValue`]).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.pairs()
    }
}

impl WireBody<'_> {
    pub fn into_owned(self) -> WireBody<'static> {
        match self {
            WireBody::Empty => WireBody::Empty,
            WireBody::Json(bytes) => WireBody::Json(bytes),
            WireBody::Text(text) => WireBody::Text(Cow::Owned(text.into_owned())),
            WireBody::Binary(bytes) => WireBody::Binary(bytes),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            WireBody::Empty => &[],
            WireBody::Json(bytes) | WireBody::Binary(bytes) => bytes,
            WireBody::Text(text) => text.as_bytes(),
        }
    }
}

impl From<Interaction> for WireInteraction<'static> {
    fn from(interaction: Interaction) -> Self {
        WireInteraction {
            recorded_at: Cow::Owned(interaction.recorded_at),
            request: interaction.request.into(),
            response: interaction.response.into(),
        }
    }
}

impl From<RecordedResponse> for WireResponse<'static> {
    fn from(response: RecordedResponse) -> Self {
        WireResponse {
            status: response.status,
            headers: HeaderFields::of(&response.headers),
            body: response.body.into(),
        }
    }
}

impl From<RecordedRequest> for WireRequest<'static> {
    fn from(request: RecordedRequest) -> Self {
        WireRequest {
            headers: HeaderFields::of(&request.headers),
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body.into(),
        }
    }
}

impl From<Body> for WireBody<'static> {
    fn from(body: Body) -> Self {
        match body {
            Body::Empty => WireBody::Empty,
            Body::Json(_) => WireBody::Json(body.to_bytes().into_owned()),
            Body::Text(text) => WireBody::Text(Cow::Owned(text)),
            Body::Binary(bytes) => WireBody::Binary(bytes),
        }
    }
}

fn recorded_at<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Cow<'a, str>, D::Error> {
    let Text(text) = Text::deserialize(deserializer)?;
    super::check_rfc3339(&text)?;
    Ok(text)
}

/// The on-disk shape, as [`Body`] reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum StoredBody<'a> {
    Json(#[serde(borrow)] &'a RawValue),
    Text(#[serde(borrow)] Cow<'a, str>),
    Base64(#[serde(borrow)] Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for WireBody<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<StoredBody<'a>>::deserialize(deserializer)? {
            None => WireBody::Empty,
            Some(StoredBody::Json(raw)) => {
                // The full reader's rule for the text, so replay serves no
                // body `schema-check` would read as something else.
                super::check_json_text(raw.get().as_bytes()).map_err(D::Error::custom)?;
                let mut compact = Vec::with_capacity(raw.get().len());
                compact_json(raw.get(), &mut compact).ok_or_else(|| {
                    D::Error::custom("body.json: left to the parser (see compact_json)")
                })?;
                // Most of a pretty-printed body is indentation: give it back.
                compact.shrink_to_fit();
                WireBody::Json(compact)
            }
            Some(StoredBody::Text(text)) if text.is_empty() => WireBody::Empty,
            Some(StoredBody::Text(text)) => WireBody::Text(text),
            Some(StoredBody::Base64(encoded)) => WireBody::Binary(
                BASE64
                    .decode(encoded.as_bytes())
                    .map_err(|err| D::Error::custom(format!("body.base64: {err}")))?,
            ),
        })
    }
}
