//! A quick test of whether the redaction could find anything in a JSON
//! body, made while the body is read, before any tree exists.
//!
//! Every secret [`super::places::json_places`] finds comes from one of two
//! places: a member whose name marks it (the name rule, a map of HTTP
//! headers, the `id` of a resource type whose ids are secrets), or a string
//! that is a URL with credentials in it or text holding one or a named value. The screen asks only those
//! questions and ignores what makes a named member public again (a
//! project's own field names, a JSON:API linkage), so it may send a clean
//! body down the slow path, never a body with secrets down the fast one.

use super::header_values::is_header_map;
use super::places::{string_text_secrets, url_secrets};
use super::rules::is_secret_name;
pub use super::rules::type_has_secret_id;
use crate::cassette::MAX_JSON_DEPTH;
use crate::json_name::{JsonName, NUMBER_TOKEN};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// True if a member named `name` could hold a secret, or its value could.
pub fn name_may_mark_secret(name: &str) -> bool {
    is_secret_name(name) || is_header_map(name)
}

/// True if a string value could hold a secret wherever it stands.
pub fn text_may_hold_secret(text: &str) -> bool {
    url_secrets(text).is_some() || string_text_secrets(text, false).is_some()
}

/// True if `bytes` is one JSON document that the cassette form holds as a
/// `json` body in which the redaction finds nothing by name or shape: no
/// member the screen stops, no string that may be a URL with credentials,
/// less than [`MAX_JSON_DEPTH`] levels deep, no serde_json private name
/// (such a body is held as text, which other rules read). One pass of
/// serde_json's tokenizer, no tree. `false` says only "look closer".
///
/// Holds only for a body read as JSON: one whose `Content-Type` is JSON or
/// absent ([`crate::cassette::Body::from_bytes`]), with no
/// `--redact-pointer` rule.
pub fn json_document_is_clean(bytes: &[u8]) -> bool {
    if crate::cassette::names_serde_json_private(bytes) {
        return false;
    }
    // UTF-8 checked once, not string by string.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut reader = serde_json::Deserializer::from_str(text);
    Screen { depth: 0 }.deserialize(&mut reader).is_ok() && reader.end().is_ok()
}

/// Reads one JSON value, stopping at the first thing the redaction could
/// replace. Hands back the value's text when it is a string (an object's
/// `type` decides whether its `id` is a secret).
struct Screen {
    /// Arrays and objects around this value.
    depth: usize,
}

fn stopped<E: de::Error>() -> E {
    E::custom("may hold a secret")
}

impl<'de> DeserializeSeed<'de> for Screen {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Screen {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        if text_may_hold_secret(text) {
            return Err(stopped());
        }
        Ok(Some(Cow::Owned(text.to_owned())))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        if text_may_hold_secret(text) {
            return Err(stopped());
        }
        Ok(Some(Cow::Borrowed(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth >= MAX_JSON_DEPTH {
            return Err(stopped());
        }
        while items.next_element_seed(Screen { depth })?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth >= MAX_JSON_DEPTH {
            return Err(stopped());
        }
        // With `arbitrary_precision` serde_json hands a number over as a
        // map of one private member; the body names no private member
        // itself (checked first), so this is a number.
        let mut name = members.next_key_seed(JsonName)?;
        if name.as_deref() == Some(NUMBER_TOKEN) {
            members.next_value::<IgnoredAny>()?;
            return Ok(None);
        }
        // The tree keeps the last of repeated names, and so does this.
        let mut resource_type: Option<Cow<'de, str>> = None;
        let mut has_id = false;
        while let Some(key) = name {
            if name_may_mark_secret(&key) {
                return Err(stopped());
            }
            let value = members.next_value_seed(Screen { depth })?;
            match &*key {
                "type" => resource_type = value,
                "id" => has_id = true,
                _ => {}
            }
            name = members.next_key_seed(JsonName)?;
        }
        if has_id && resource_type.is_some_and(|kind| type_has_secret_id(&kind)) {
            return Err(stopped());
        }
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod tests;
