//! Header field values and the rules every cassette reader and writer share
//! for statuses, field names and field values.
//!
//! A field value is a sequence of bytes (RFC 9110 §5.5). Nearly always they
//! are UTF-8 text, and a cassette stores them as a JSON string. Bytes that are
//! not UTF-8 (`obs-text`, such as ISO-8859-1 `é`, the single byte 0xE9) are
//! stored as `{"base64": "…"}`, so that replay sends back exactly the bytes
//! the upstream sent. Code that reads a value as text sees the bytes decoded
//! as ISO-8859-1 ([`FieldValue::as_str`]): one character per byte, so an
//! ASCII credential inside such a value is still found where it is.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Recorded response statuses are final ones, valid per RFC 9110 §15:
/// 1xx are interim (never a whole response) and 600 and up are invalid.
pub const FINAL_STATUSES: std::ops::RangeInclusive<u16> = 200..=599;

/// Checks a recorded response status; the error says what is accepted.
pub fn check_status(status: u16) -> Result<(), String> {
    if FINAL_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(format!(
            "status {status} is not a final HTTP status: a cassette holds final responses, \
             200 to 599 (RFC 9110 §15)"
        ))
    }
}

/// Checks a field name: an RFC 9110 §5.1 token. Case is not checked here;
/// names are lowercased when read.
///
/// The rule is `http::HeaderName::from_bytes`'s (a tested equivalence),
/// checked without building a name: every reader checks every recorded
/// name, and `from_bytes` allocates for each one it does not know.
pub fn check_name(name: &str) -> Result<(), String> {
    /// `http`'s limit on a header name's length.
    const MAX_NAME_LEN: usize = (1 << 16) - 1;
    let is_tchar = |byte: &u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(byte);
    if !name.is_empty() && name.len() <= MAX_NAME_LEN && name.as_bytes().iter().all(is_tchar) {
        return Ok(());
    }
    Err(format!(
        "header name {name:?} is not an HTTP token (RFC 9110 §5.1: letters, digits and \
         !#$%&'*+-.^_`|~, no spaces or colons)"
    ))
}

/// Checks field value bytes: no CR, LF, NUL or other control character but
/// horizontal tab (RFC 9110 §5.5), so that the value can be sent as it is.
/// The rule is `http::HeaderValue::from_bytes`'s (a tested equivalence),
/// checked without copying the value.
pub fn check_value(bytes: &[u8]) -> Result<(), String> {
    let sendable = |&byte: &u8| byte >= 32 && byte != 127 || byte == b'\t';
    if bytes.iter().all(sendable) {
        return Ok(());
    }
    Err(format!(
        "header value {:?} holds a control character (CR, LF, NUL …), which HTTP forbids \
         in a field value (RFC 9110 §5.5)",
        String::from_utf8_lossy(bytes)
    ))
}

/// One header field value, as recorded: UTF-8 text, or bytes that are not.
///
/// Equality is by bytes and form, so a value read from a cassette compares
/// equal to the one written.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldValue(Repr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    Text(String),
    /// The bytes, and their ISO-8859-1 reading for [`FieldValue::as_str`].
    Bytes {
        bytes: Vec<u8>,
        latin1: String,
    },
}

impl FieldValue {
    /// The value of these bytes: text when they are UTF-8, bytes otherwise.
    pub fn from_bytes(bytes: &[u8]) -> FieldValue {
        match std::str::from_utf8(bytes) {
            Ok(text) => FieldValue(Repr::Text(text.to_owned())),
            Err(_) => FieldValue::opaque(bytes.to_vec()),
        }
    }

    fn opaque(bytes: Vec<u8>) -> FieldValue {
        let latin1 = bytes.iter().map(|&byte| char::from(byte)).collect();
        FieldValue(Repr::Bytes { bytes, latin1 })
    }

    /// The value as text: itself when UTF-8, else its bytes read as
    /// ISO-8859-1 (one character per byte, as RFC 9110 §5.5 `obs-text`
    /// was historically read).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Text(text) => text,
            Repr::Bytes { latin1, .. } => latin1,
        }
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Text(text) => text.as_bytes(),
            Repr::Bytes { bytes, .. } => bytes,
        }
    }

    /// Whether the value is stored as UTF-8 text (a JSON string).
    pub fn is_text(&self) -> bool {
        matches!(self.0, Repr::Text(_))
    }

    /// Edits the value through its text ([`FieldValue::as_str`]), as the
    /// redactor does. A value held as bytes stays bytes where the edited
    /// text can still be written as ISO-8859-1, so unchanged bytes around
    /// a `[REDACTED]` keep their exact form.
    pub fn edit(&mut self, edit: impl FnOnce(&mut String)) {
        let mut text = self.as_str().to_owned();
        edit(&mut text);
        if text == self.as_str() {
            return;
        }
        *self = match &self.0 {
            Repr::Bytes { .. } if text.chars().all(|c| u32::from(c) <= 0xFF) => {
                // Back to bytes; stored as text again if they now are UTF-8
                // (`Bearer [REDACTED]` once the non-ASCII secret is gone).
                FieldValue::from_bytes(&text.chars().map(|c| c as u8).collect::<Vec<u8>>())
            }
            _ => FieldValue(Repr::Text(text)),
        };
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Text(text) => fmt::Debug::fmt(text, f),
            Repr::Bytes { bytes, .. } => write!(f, "bytes{:?}", bstr_like(bytes)),
        }
    }
}

fn bstr_like(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for FieldValue {
    fn from(text: String) -> Self {
        FieldValue(Repr::Text(text))
    }
}

impl From<&str> for FieldValue {
    fn from(text: &str) -> Self {
        FieldValue(Repr::Text(text.to_owned()))
    }
}

impl From<&String> for FieldValue {
    fn from(text: &String) -> Self {
        FieldValue(Repr::Text(text.clone()))
    }
}

impl From<&http::HeaderValue> for FieldValue {
    fn from(value: &http::HeaderValue) -> Self {
        FieldValue::from_bytes(value.as_bytes())
    }
}

impl PartialEq<str> for FieldValue {
    fn eq(&self, other: &str) -> bool {
        self.is_text() && self.as_str() == other
    }
}

impl PartialEq<&str> for FieldValue {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Text(text) => serializer.serialize_str(text),
            Repr::Bytes { bytes, .. } => {
                use serde::ser::SerializeMap as _;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("base64", &BASE64.encode(bytes))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match StoredValue::deserialize(deserializer)? {
            StoredValue::Text(text) => FieldValue(Repr::Text(text.into_owned())),
            StoredValue::Bytes(bytes) => FieldValue::opaque(bytes),
        })
    }
}

/// A field value as a cassette stores it, borrowed where it can be; the one
/// reader of that form, so every reader accepts and refuses the same values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum StoredValue<'a> {
    Text(Cow<'a, str>),
    Bytes(Vec<u8>),
}

impl StoredValue<'_> {
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            StoredValue::Text(text) => text.as_bytes(),
            StoredValue::Bytes(bytes) => bytes,
        }
    }

    pub(super) fn into_owned(self) -> StoredValue<'static> {
        match self {
            StoredValue::Text(text) => StoredValue::Text(Cow::Owned(text.into_owned())),
            StoredValue::Bytes(bytes) => StoredValue::Bytes(bytes),
        }
    }
}

impl From<&FieldValue> for StoredValue<'static> {
    fn from(value: &FieldValue) -> Self {
        match &value.0 {
            Repr::Text(text) => StoredValue::Text(Cow::Owned(text.clone())),
            Repr::Bytes { bytes, .. } => StoredValue::Bytes(bytes.clone()),
        }
    }
}

impl From<StoredValue<'_>> for FieldValue {
    fn from(value: StoredValue<'_>) -> Self {
        match value {
            StoredValue::Text(text) => FieldValue(Repr::Text(text.into_owned())),
            StoredValue::Bytes(bytes) => FieldValue::opaque(bytes),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StoredValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(StoredValueVisitor)?;
        check_value(value.as_bytes()).map_err(D::Error::custom)?;
        Ok(value)
    }
}

struct StoredValueVisitor;

impl<'de> Visitor<'de> for StoredValueVisitor {
    type Value = StoredValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a header value: a string, or {"base64": "…"} for bytes that are not UTF-8"#)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(StoredValue::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(StoredValue::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(StoredValue::Text(Cow::Owned(text)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut bytes = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != "base64" || bytes.is_some() {
                return Err(A::Error::custom(format!(
                    r#"a header value object has one field, "base64"; found `{key}`"#
                )));
            }
            let encoded: Cow<'de, str> = map.next_value()?;
            bytes = Some(
                BASE64
                    .decode(encoded.as_bytes())
                    .map_err(|err| A::Error::custom(format!("header value base64: {err}")))?,
            );
        }
        bytes
            .map(StoredValue::Bytes)
            .ok_or_else(|| A::Error::custom(r#"a header value object needs "base64""#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_are_not_utf8_round_trip_as_base64() {
        let value = FieldValue::from_bytes(b"caf\xe9");
        assert_eq!(value.as_str(), "caf\u{e9}");
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"base64":"Y2Fm6Q=="}"#);
        let back: FieldValue = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_bytes(), b"caf\xe9");
        assert_eq!(back, value);
    }

    #[test]
    fn utf8_values_stay_strings() {
        let value = FieldValue::from_bytes("cache-münchen-1".as_bytes());
        assert!(value.is_text());
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#""cache-münchen-1""#
        );
    }

    #[test]
    fn editing_bytes_keeps_the_untouched_bytes() {
        let mut value = FieldValue::from_bytes(b"\xe9 token=abc \xff");
        value.edit(|text| *text = text.replace("abc", "[REDACTED]"));
        assert_eq!(value.as_bytes(), b"\xe9 token=[REDACTED] \xff");
        let mut utf8_again = FieldValue::from_bytes(b"Bearer tok\xe9n");
        utf8_again.edit(|text| *text = "Bearer [REDACTED]".to_owned());
        assert!(utf8_again.is_text());
        assert_eq!(utf8_again, "Bearer [REDACTED]");
        let mut unchanged = FieldValue::from_bytes(b"\xe9");
        unchanged.edit(|_| {});
        assert!(!unchanged.is_text());
    }

    #[test]
    fn control_characters_and_bad_objects_are_refused() {
        for bad in [
            r#""a\r\nb""#,
            r#""a\u0000""#,
            r#""\u0007""#,
            r#"{"base64": "DQo="}"#,
            r#"{"hex": "00"}"#,
            r#"{}"#,
            r#"{"base64": "!!"}"#,
            "7",
        ] {
            assert!(serde_json::from_str::<FieldValue>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<FieldValue>(r#""a\tb""#).is_ok());
    }

    #[test]
    fn statuses_and_names_follow_rfc_9110() {
        for status in [0, 1, 99, 100, 101, 199, 600, 999, 1000] {
            assert!(check_status(status).is_err(), "{status}");
        }
        for status in [200, 204, 304, 418, 599] {
            assert!(check_status(status).is_ok(), "{status}");
        }
        for name in ["x served", "", "a:b", "é", "x\r\n"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        assert!(check_name("X-Served-By").is_ok());
    }

    /// `check_name` and `check_value` are `http`'s own rules, without its
    /// allocations: every byte alone, in names and values of every length
    /// around `http`'s limits, and runs of random bytes.
    #[test]
    fn name_and_value_rules_are_https() {
        let same = |bytes: &[u8]| {
            if let Ok(name) = std::str::from_utf8(bytes) {
                assert_eq!(
                    check_name(name).is_ok(),
                    http::HeaderName::from_bytes(bytes).is_ok(),
                    "name {bytes:?}"
                );
            }
            assert_eq!(
                check_value(bytes).is_ok(),
                http::HeaderValue::from_bytes(bytes).is_ok(),
                "value {bytes:?}"
            );
        };
        for byte in 0..=255u8 {
            for bytes in [vec![byte], vec![b'a', byte], vec![byte; 70], vec![b'A'; 64]] {
                same(&bytes);
            }
        }
        for len in [0, 63, 64, 65, 65_535, 65_536] {
            same(&vec![b'x'; len]);
            same(&vec![b'X'; len]);
        }
        // A small generator is enough: the rules are per byte.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 12) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|at| {
                    let byte = (state >> (at * 5 % 56)) as u8;
                    // Mostly printable ASCII, where the two rules differ.
                    if state & (1 << at) == 0 {
                        byte % 95 + 32
                    } else {
                        byte
                    }
                })
                .collect();
            same(&bytes);
        }
    }
}
