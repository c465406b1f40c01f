//! How a message body is kept in a cassette.
//!
//! A JSON body is stored as a JSON value, so cassettes diff well and the
//! official client's pretty-printed bodies compare semantically. Anything
//! else is stored as text when it is UTF-8 and as base64 when it is not, so
//! no body is ever lost or altered on a load/save round trip.
//!
//! A `json` body nests at most [`MAX_JSON_DEPTH`] arrays and objects. The
//! limit is the cassette format's, not the parser's: serde_json refuses more
//! than 127 levels in one document, and a body sits 5 levels deep in a
//! cassette (3 in a journal line), so a deeper body would be written but
//! never read back. [`Body::from_bytes`] keeps a deeper body as text (byte
//! for byte), and every reader refuses a deeper `json` value, so the writer
//! and the readers apply one rule.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

/// The most arrays and objects a `json` body may nest (`[]` is 1, `[[]]`
/// is 2, a scalar 0). The cassette envelope adds 5 levels and serde_json
/// reads at most 127 in one document; 100 leaves room for the format to
/// grow. Shared by [`Body::from_bytes`] (deeper JSON is stored as text),
/// every reader (a deeper `json` value is refused), the recorder (which
/// checks before it writes) and the replay compactor.
pub const MAX_JSON_DEPTH: usize = 100;

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
    /// `123`) stays text, so it is replayed byte for byte. JSON nested deeper
    /// than [`MAX_JSON_DEPTH`] stays text too, so every reader accepts it.
    pub fn from_bytes(bytes: &[u8], content_type: Option<&str>) -> Body {
        if bytes.is_empty() {
            return Body::Empty;
        }
        let may_be_json = content_type.is_none_or(is_json_media_type);
        if may_be_json
            // UTF-8 checked once, not string by string (`from_slice`
            // checks each); either refuses what the other does.
            && let Ok(text) = std::str::from_utf8(bytes)
            && let Ok(value) = serde_json::from_str::<Value>(text)
            && check_depth(&value).is_ok()
            && !names_serde_json_private(bytes)
        {
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

    /// Whether a reader accepts this body once written: a `json` one must
    /// nest at most [`MAX_JSON_DEPTH`] levels and name none of serde_json's
    /// private names, in a member name or a string ([`check_json_text`]'s
    /// rule, on the tree). The error says which rule it breaks.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Body::Json(value) => {
                check_depth(value)?;
                if tree_names_serde_json_private(value) {
                    return Err(PRIVATE_NAME_RULE.to_owned());
                }
                Ok(())
            }
            _ => Ok(()),
        }
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

/// How many arrays and objects `value` nests: 0 for a scalar, 1 for `[]`
/// or `{"a": 1}`. Walks without recursion, whatever the depth.
pub fn json_depth(value: &Value) -> usize {
    // Containers only, each with its depth: a wide body costs no more
    // than its containers.
    fn push<'v>(value: &'v Value, depth: usize, pending: &mut Vec<(&'v Value, usize)>) {
        if value.is_array() || value.is_object() {
            pending.push((value, depth));
        }
    }
    let mut deepest = 0;
    let mut pending = Vec::new();
    push(value, 1, &mut pending);
    while let Some((value, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => items.iter().for_each(|v| push(v, depth + 1, &mut pending)),
            Value::Object(entries) => entries
                .values()
                .for_each(|v| push(v, depth + 1, &mut pending)),
            _ => {}
        }
    }
    deepest
}

/// The `json` body rule: at most [`MAX_JSON_DEPTH`] levels.
fn check_depth(value: &Value) -> Result<(), String> {
    let depth = json_depth(value);
    if depth <= MAX_JSON_DEPTH {
        return Ok(());
    }
    Err(format!(
        "body.json nests {depth} arrays and objects, over the cassette limit of {MAX_JSON_DEPTH}; \
         store such a body as `text` (datovcr records it that way)"
    ))
}

/// The `json` body rule for its text, for every reader: it names none of
/// serde_json's private names (`$serde_json::private::Number`,
/// `…::RawValue`), escapes undone. serde_json reads an object whose first
/// member is so named as the number or the document it names, so the same
/// text would be served as written by replay and checked as something else
/// by `schema-check`. [`Body::from_bytes`] stores such a body as `text`, so
/// the recorder never writes one.
pub fn check_json_text(text: &[u8]) -> Result<(), String> {
    if !names_serde_json_private(text) {
        return Ok(());
    }
    Err(PRIVATE_NAME_RULE.to_owned())
}

/// What every reader and the recorder say of a `json` body naming one of
/// serde_json's private names.
const PRIVATE_NAME_RULE: &str = "body.json names `$serde_json::private::…`, which datovcr's JSON \
     reader takes for a number or a raw document instead of what it says; store such a body as \
     `text` (datovcr records it that way)";

/// [`names_serde_json_private`] on a tree: a member name or a string that
/// holds the name, which the tree's writer would write as it stands.
fn tree_names_serde_json_private(value: &Value) -> bool {
    let names = |text: &str| text.contains("$serde_json::private::");
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if names(text) => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(entries) => {
                for (name, value) in entries {
                    if names(name) {
                        return true;
                    }
                    pending.push(value);
                }
            }
            _ => {}
        }
    }
    false
}

/// The on-disk shape: exactly one of `json`, `text` or `base64`. A `json`
/// body is read as its text first, for [`check_json_text`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum StoredBody {
    Json(Box<serde_json::value::RawValue>),
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
            Some(StoredBody::Json(raw)) => {
                check_json_text(raw.get().as_bytes()).map_err(serde::de::Error::custom)?;
                let value: Value =
                    serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
                check_depth(&value).map_err(serde::de::Error::custom)?;
                Body::Json(value)
            }
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

/// True when `bytes` name one of serde_json's private tokens
/// (`$serde_json::private::Number`, `…::RawValue`), escapes undone.
/// serde_json reads an object whose first member is so named as the number
/// or the document it names, not as the object that was sent, so such a
/// body is kept as text, byte for byte. Conservative: the name anywhere (a
/// string value too) is enough.
pub(crate) fn names_serde_json_private(bytes: &[u8]) -> bool {
    // Every JSON body of every recorded exchange is searched: the searcher
    // is built once.
    static PREFIX: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"$serde_json::private::"));
    // Only a `\u` escape can spell a character of the name (`\"`, `\\`,
    // `\/`, `\n` … spell none), so most bodies need no decoding. A `\\u`
    // (an escaped backslash, then `u`) only sends a body the slow way.
    if memchr::memmem::find(bytes, b"\\u").is_none() {
        return PREFIX.find(bytes).is_some();
    }
    // Outside strings JSON holds no backslash: undoing every escape leaves
    // each decoded name in one piece.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match (bytes[at], bytes.get(at + 1)) {
            (b'\\', Some(b'u')) => {
                let code = bytes
                    .get(at + 2..at + 6)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                let ch = code.and_then(char::from_u32).unwrap_or('\u{fffd}');
                decoded.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                at += 6;
            }
            (b'\\', Some(&escaped)) => {
                decoded.push(escaped);
                at += 2;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    PREFIX.find(&decoded).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_naming_serde_json_private_tokens_is_kept_byte_for_byte() {
        for body in [
            r#"{"a":{"$serde_json::private::RawValue":"5"}}"#,
            r#"{"a":{"$serde_json::private::Number":"1.50"}}"#,
            r#"{"data":{"attributes":{"\u0024serde_json::private::RawValue":"[1]"}}}"#,
            r#"{"x":[{"$serde_js\u006fn::private::Number":"7"}]}"#,
            r#"[{"$serde_json::private::RawValue":"{\"b\":2}","c":1}]"#,
            r#"{"note":"$serde_json::private::Number"}"#,
        ] {
            let kept = Body::from_bytes(body.as_bytes(), Some("application/json"));
            assert_eq!(kept, Body::Text(body.to_owned()), "{body}");
            assert_eq!(kept.to_bytes().as_ref(), body.as_bytes());
        }
        // Lookalikes stay JSON.
        for body in [
            r#"{"$serde_json::public::Number":"1"}"#,
            r#"{"serde_json::private::Number":"1","a":"\u0041"}"#,
        ] {
            assert!(
                matches!(Body::from_bytes(body.as_bytes(), None), Body::Json(_)),
                "{body}"
            );
        }
    }

    #[test]
    fn readers_refuse_json_text_naming_private_names_escapes_undone() {
        for refused in [
            r#"{"$serde_json::private::Number":"1"}"#,
            r#"{"a":[{"$serde_json::private::RawValue":"5"}]}"#,
            r#"{"\u0024serde_json::pr\u0069vate::Number":"1"}"#,
            r#"{"note":"$serde_json::private::"}"#,
            r#"{"\"":1,"$serde_json::private::Number":"1"}"#,
        ] {
            let err = check_json_text(refused.as_bytes()).unwrap_err();
            assert!(
                err.contains("store such a body as `text`"),
                "{refused}: {err}"
            );
        }
        for accepted in [
            r#"{"serde_json::private::Number":"1"}"#,
            // An escaped backslash, then the letters `u0024`: no `$`.
            r#"{"\\u0024serde_json::private::Number":"1"}"#,
            r#"{"a":"\u0041","$serde_json::public::x":1}"#,
            r#"{"$serde_json::pr\nivate::Number":"1"}"#,
        ] {
            assert_eq!(check_json_text(accepted.as_bytes()), Ok(()), "{accepted}");
        }
    }

    /// The recorder's gate ([`Body::check`]) refuses the trees whose text
    /// the readers refuse.
    #[test]
    fn the_writers_check_refuses_trees_naming_private_names() {
        use serde_json::json;
        for refused in [
            json!({"a": 1, "$serde_json::private::RawValue": "[]"}),
            json!([{"b": {"$serde_json::private::Number": "1"}}]),
            json!({"note": "x $serde_json::private::y"}),
        ] {
            let err = Body::Json(refused.clone()).check().unwrap_err();
            assert_eq!(err, PRIVATE_NAME_RULE, "{refused}");
            let text = serde_json::to_vec(&refused).unwrap();
            assert_eq!(check_json_text(&text), Err(err));
        }
        let fine = json!({"serde_json::private::Number": ["$serde_json::public::"]});
        assert_eq!(Body::Json(fine).check(), Ok(()));
    }

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

    fn arrays(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_counts_arrays_and_objects_not_scalars_or_strings() {
        for (text, depth) in [
            ("1", 0),
            ("\"[[[\"", 0),
            ("[]", 1),
            ("{}", 1),
            ("[1, 2, {\"a\": [true]}]", 3),
            ("{\"a\": {}, \"b\": [[[]]], \"c\": []}", 4),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json_depth(&value), depth, "{text}");
        }
        // Wide bodies cost their containers, whatever their width.
        let wide = format!("[{}]", vec!["[]"; 100_000].join(","));
        assert_eq!(json_depth(&serde_json::from_str(&wide).unwrap()), 2);
    }

    #[test]
    fn json_deeper_than_the_format_allows_is_kept_as_exact_text() {
        let at_limit = arrays(MAX_JSON_DEPTH);
        assert!(matches!(
            Body::from_bytes(at_limit.as_bytes(), Some("application/json")),
            Body::Json(_)
        ));
        for depth in [MAX_JSON_DEPTH + 1, 126, 127, 128, 1000] {
            // Pretty-printed, so the bytes are not what a parser would write.
            let text = arrays(depth).replace("[]", "[ ]\n");
            for content_type in [None, Some("application/vnd.api+json")] {
                assert_eq!(
                    Body::from_bytes(text.as_bytes(), content_type),
                    Body::Text(text.clone()),
                    "depth {depth}"
                );
            }
        }
        let err = Body::Json(serde_json::from_str(&arrays(MAX_JSON_DEPTH + 1)).unwrap())
            .check()
            .unwrap_err();
        assert!(err.contains("nests 101 arrays and objects"), "{err}");
    }
}
