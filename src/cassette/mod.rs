//! The cassette format, version 1: one JSON file holding recorded exchanges.
//!
//! ```json
//! {
//!   "version": 1,
//!   "interactions": [
//!     {
//!       "recorded_at": "2026-11-27T10:00:00Z",
//!       "request": { "method": "GET", "path": "/access_tokens/312",
//!                    "headers": { "authorization": ["Bearer [REDACTED]"] } },
//!       "response": { "status": 200,
//!                     "headers": { "content-type": ["application/json"] },
//!                     "body": { "json": { "data": { "type": "access_token" } } } }
//!     }
//!   ]
//! }
//! ```
//!
//! The file is written pretty-printed with a trailing newline, header names
//! sorted, and JSON bodies as values, so that loading and saving a cassette
//! gives the same bytes. See `docs/cassette-format.md` for every field.

mod body;
mod compact;
mod field;
pub mod fs;
mod headers;
mod select;
mod stream;
mod wire;

pub(crate) use body::names_serde_json_private;
pub use body::{Body, MAX_JSON_DEPTH, check_json_text, is_json_media_type, json_depth};
pub use field::{FINAL_STATUSES, FieldValue, check_name, check_status, check_value};
pub use headers::{Headers, Query};
pub use select::{CASSETTE_HEADER, cassette_in, shown_name};
pub use stream::{count_interactions, for_each_interaction, for_each_wire_interaction};
pub use wire::{WireBody, WireInteraction, WireRequest, WireResponse};

use crate::json_object::objects_only;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Larger cassette files are refused before they are read: a cassette is
/// held in memory whole, and one this size is almost certainly a mistake.
pub const MAX_CASSETTE_BYTES: u64 = 256 * 1024 * 1024;

/// A whole cassette file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Cassette {
    pub version: FormatVersion,
    pub interactions: Vec<Interaction>,
}

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Interaction {
    /// RFC 3339 time of recording, UTC, whole seconds.
    #[serde(deserialize_with = "rfc3339")]
    pub recorded_at: String,
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as the upstream saw it, without the query string.
    pub path: String,
    #[serde(default, skip_serializing_if = "Query::is_empty")]
    pub query: Query,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Body::is_empty")]
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RecordedResponse {
    /// A final status, 200 to 599 ([`check_status`]).
    #[serde(deserialize_with = "final_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Body::is_empty")]
    pub body: Body,
}

// Every one of these is an object in the file (see `json_object`).
objects_only!(both Cassette);
objects_only!(both Interaction);
objects_only!(both RecordedRequest);
objects_only!(both RecordedResponse);

/// The `version` field. Deserializing any other number fails, so the error
/// carries the line and column of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatVersion;

impl Default for FormatVersion {
    fn default() -> Self {
        FormatVersion
    }
}

impl Serialize for FormatVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(FORMAT_VERSION)
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let found = serde_json::Value::deserialize(deserializer)?;
        if found.as_u64() == Some(u64::from(FORMAT_VERSION)) {
            Ok(FormatVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported cassette format version {found}; this datovcr reads version {FORMAT_VERSION} \
                 (upgrade datovcr, or re-record the cassette)"
            )))
        }
    }
}

pub(super) fn final_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let status = u16::deserialize(deserializer)?;
    check_status(status).map_err(serde::de::Error::custom)?;
    Ok(status)
}

fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_rfc3339::<D::Error>(&text)?;
    Ok(text)
}

/// The check behind `recorded_at`, shared with [`WireInteraction`].
fn check_rfc3339<E: serde::de::Error>(text: &str) -> Result<(), E> {
    humantime::parse_rfc3339(text).map(drop).map_err(|err| {
        E::custom(format!(
            "recorded_at `{text}` is not an RFC 3339 UTC time like 2026-11-27T10:00:00Z: {err}"
        ))
    })
}

/// The current time in the form `recorded_at` uses.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A cassette that could not be read. The message names the file and, for
/// content errors, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    #[error("cannot read cassette {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cassette {}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Interaction {
    /// Checks the rules every reader applies to an interaction (status,
    /// header names and values, body depth), so that a writer can refuse
    /// what the readers would refuse. The error names the part.
    pub fn check(&self) -> Result<(), String> {
        check_status(self.response.status).map_err(|rule| format!("response: {rule}"))?;
        for (side, headers) in [
            ("request", &self.request.headers),
            ("response", &self.response.headers),
        ] {
            for (name, values) in headers.iter() {
                check_name(name).map_err(|rule| format!("{side} headers: {rule}"))?;
                for value in values {
                    check_value(value.as_bytes())
                        .map_err(|rule| format!("{side} header `{name}`: {rule}"))?;
                }
            }
        }
        for (side, body) in [
            ("request", &self.request.body),
            ("response", &self.response.body),
        ] {
            body.check()
                .map_err(|rule| format!("{side} body: {rule}"))?;
        }
        Ok(())
    }
}

impl Cassette {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and checks a cassette file. A link is followed; anything but a
    /// regular file (a folder, a FIFO) is refused without blocking.
    pub fn load(path: &Path) -> Result<Cassette, CassetteError> {
        Self::load_with(path, fs::Links::Follow)
    }

    /// [`Cassette::load`], following a link only if `links` says so: the
    /// recorder reads the cassette it is about to replace with
    /// [`fs::Links::Refuse`].
    pub fn load_with(path: &Path, links: fs::Links) -> Result<Cassette, CassetteError> {
        let io = |source| CassetteError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = fs::open_regular(path, links).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        check_size(path, size)?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(io)?;
        Self::from_slice(&bytes, path)
    }

    /// Parses cassette bytes; `path` only names the source in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Cassette, CassetteError> {
        serde_json::from_slice(bytes).map_err(|err| CassetteError::Invalid {
            path: path.to_owned(),
            line: err.line(),
            column: err.column(),
            message: match bom_advice(bytes) {
                Some(advice) => advice.to_owned(),
                None => describe_json_error(&err),
            },
        })
    }

    /// The canonical file contents: pretty-printed, trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes =
            serde_json::to_vec_pretty(self).expect("cassette types always serialize to JSON");
        bytes.push(b'\n');
        bytes
    }
}

/// Every reader refuses a file over [`MAX_CASSETTE_BYTES`] before reading it.
fn check_size(path: &Path, size: u64) -> Result<(), CassetteError> {
    if size <= MAX_CASSETTE_BYTES {
        return Ok(());
    }
    Err(CassetteError::Invalid {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message: format!(
            "the file is {size} bytes, over the {MAX_CASSETTE_BYTES}-byte limit; split it into several cassettes"
        ),
    })
}

/// serde_json appends " at line L column C" to its messages; the position is
/// already in our prefix, so drop the duplicate.
/// What to say of JSON text that starts with a UTF-8 byte order mark,
/// which serde_json reads as a stray character at 1:1. RFC 8259 §8.1 lets a
/// reader ignore it; datovcr's readers refuse it alike (one file, one
/// meaning) and say how to save the file.
pub fn bom_advice(bytes: &[u8]) -> Option<&'static str> {
    bytes.starts_with(b"\xEF\xBB\xBF").then_some(
        "the file starts with a UTF-8 byte order mark (EF BB BF), which JSON text here must \
         not have; save it as UTF-8 without a BOM",
    )
}

fn describe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    match err.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not valid JSON: {message}")
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_named_with_the_fix() {
        for bytes in [
            &b"\xEF\xBB\xBF{\"version\": 1, \"interactions\": []}\n"[..],
            &b"\xEF\xBB\xBF"[..],
        ] {
            let message = Cassette::from_slice(bytes, Path::new("bom.json"))
                .unwrap_err()
                .to_string();
            assert!(message.contains("bom.json"), "{message}");
            assert!(message.contains("byte order mark"), "{message}");
            assert!(message.contains("without a BOM"), "{message}");
        }
        // Without one, serde_json's own words.
        let message = Cassette::from_slice(b"x", Path::new("x.json"))
            .unwrap_err()
            .to_string();
        assert!(!message.contains("byte order mark"), "{message}");
    }

    #[test]
    fn unknown_version_names_the_position() {
        let err = Cassette::from_slice(
            b"{\n  \"version\": 7,\n  \"interactions\": []\n}\n",
            Path::new("x.json"),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("cassette x.json:2:"), "{message}");
        assert!(message.contains("unsupported cassette format version 7"));
    }

    #[test]
    fn truncated_json_is_reported_as_not_json() {
        let err =
            Cassette::from_slice(b"{\"version\": 1, \"inter", Path::new("t.json")).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}
