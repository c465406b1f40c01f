//! How a message body is kept in a cassette.
//!
//! A JSON body is stored as a JSON value, so cassettes diff well and the
//! official client's pretty-printed bodies compare semantically. Anything
//! else is stored as text when it is UTF-8 and as base64 when it is not, so
//! no body is ever lost or altered on a load/save round trip.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

/// A recorded request or response body.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Body {
    /// No body, or a zero-length one: HTTP does not tell them apart.
    #[default]
    Empty,
    /// A body that parsed as JSON. Key order and number spelling are kept
    /// (serde_json's `preserve_order` and `arbitrary_precision`).
    Json(Value),
    /// A UTF-8 body that is not JSON.
    Text(String),
    /// Anything else, stored as base64.
    Binary(Vec<u8>),
}

impl Body {
    /// Classifies raw bytes. `content_type` decides whether a JSON parse is
    /// attempted: a body labelled as something else (say `text/plain` holding
    /// `123`) stays text, so it is replayed byte for byte.
    pub fn from_bytes(bytes: &[u8], content_type: Option<&str>) -> Body {
        if bytes.is_empty() {
            return Body::Empty;
        }
        let may_be_json = content_type.is_none_or(is_json_media_type);
        if may_be_json && let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return Body::Json(value);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_owned()),
            Err(_) => Body::Binary(bytes.to_vec()),
        }
    }

    /// The bytes to put on the wire. JSON is written compactly, in the
    /// recorded key order.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Body::Empty => Cow::Borrowed(&[]),
            Body::Json(value) => Cow::Owned(
                serde_json::to_vec(value).expect("a serde_json::Value always serializes"),
            ),
            Body::Text(text) => Cow::Borrowed(text.as_bytes()),
            Body::Binary(bytes) => Cow::Borrowed(bytes),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Body::Empty)
    }

    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Body::Json(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_json_mut(&mut self) -> Option<&mut Value> {
        match self {
            Body::Json(value) => Some(value),
            _ => None,
        }
    }
}

/// True for `application/json`, `application/vnd.api+json` and any other
/// `+json` type, parameters allowed.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The on-disk shape: exactly one of `json`, `text` or `base64`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum StoredBody {
    Json(Value),
    Text(String),
    Base64(String),
}

/// [`StoredBody`] borrowing what it writes: serializing a body (every
/// journal line, every redaction check) must not deep-copy its JSON.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum StoredBodyRef<'b> {
    Json(&'b Value),
    Text(&'b str),
    Base64(String),
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Empty => serializer.serialize_none(),
            Body::Json(value) => StoredBodyRef::Json(value).serialize(serializer),
            Body::Text(text) => StoredBodyRef::Text(text).serialize(serializer),
            Body::Binary(bytes) => {
                StoredBodyRef::Base64(BASE64.encode(bytes)).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Option::<StoredBody>::deserialize(deserializer)?;
        Ok(match stored {
            None => Body::Empty,
            Some(StoredBody::Json(value)) => Body::Json(value),
            Some(StoredBody::Text(text)) if text.is_empty() => Body::Empty,
            Some(StoredBody::Text(text)) => Body::Text(text),
            Some(StoredBody::Base64(encoded)) => Body::Binary(
                BASE64
                    .decode(encoded.as_bytes())
                    .map_err(|err| serde::de::Error::custom(format!("body.base64: {err}")))?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_recognised_by_content_type_or_its_absence() {
        assert!(matches!(
            Body::from_bytes(b"{\"a\":1}", Some("application/vnd.api+json")),
            Body::Json(_)
        ));
        assert!(matches!(
            Body::from_bytes(b"{\"a\":1}", None),
            Body::Json(_)
        ));
        assert_eq!(
            Body::from_bytes(b"123", Some("text/plain")),
            Body::Text("123".into())
        );
    }

    #[test]
    fn non_utf8_bytes_become_binary() {
        assert_eq!(
            Body::from_bytes(&[0xff, 0x00, 0xfe], Some("application/octet-stream")),
            Body::Binary(vec![0xff, 0x00, 0xfe])
        );
    }

    #[test]
    fn json_keeps_key_order_and_number_spelling() {
        let raw = br#"{"z":1.10,"a":100000000000000000000001}"#;
        let body = Body::from_bytes(raw, Some("application/json"));
        assert_eq!(body.to_bytes().as_ref(), raw);
    }
}
