//! Recorded headers and query strings, in their canonical cassette form.

use super::field::{FieldValue, StoredValue, check_name};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

/// Header names lowercased and sorted (a `BTreeMap`), each name with all of
/// its values in the order they were received. Sorting makes re-recording the
/// same traffic produce the same file.
///
/// Read from a cassette by [`read_header_object`], the rules every reader
/// shares: names are RFC 9110 tokens, lowercased, a name given twice (in any
/// case) keeps all its values in order, and values pass
/// [`check_value`](super::field::check_value).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Headers(BTreeMap<String, Vec<FieldValue>>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value; the name is lowercased so lookups need no care.
    pub fn append(&mut self, name: &str, value: impl Into<FieldValue>) {
        self.0
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.into());
    }

    /// Replaces every value of `name`.
    pub fn set<V: Into<FieldValue>>(&mut self, name: &str, values: impl IntoIterator<Item = V>) {
        self.0.insert(
            name.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
    }

    pub fn remove(&mut self, name: &str) -> Option<Vec<FieldValue>> {
        self.0.remove(&name.to_ascii_lowercase())
    }

    pub fn get_all(&self, name: &str) -> &[FieldValue] {
        self.0
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The first value of `name`, as text ([`FieldValue::as_str`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).first().map(FieldValue::as_str)
    }

    /// Every value of `name` joined with ", ", the combination RFC 9110
    /// §5.3 allows; empty when there is none.
    pub fn joined(&self, name: &str) -> String {
        join(self.get_all(name))
    }

    /// [`Headers::joined`] by bytes, for comparing: the values' bytes
    /// joined with ", ", in [`exact_text`] form. So `é` sent as UTF-8 and
    /// as ISO-8859-1 are two values, as they are on the wire.
    pub fn joined_exact(&self, name: &str) -> String {
        let mut bytes = Vec::new();
        for (at, value) in self.get_all(name).iter().enumerate() {
            if at > 0 {
                bytes.extend_from_slice(b", ");
            }
            bytes.extend_from_slice(value.as_bytes());
        }
        exact_text(&bytes).into_owned()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[FieldValue])> {
        self.0
            .iter()
            .map(|(name, values)| (name.as_str(), values.as_slice()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Vec<FieldValue>)> {
        self.0
            .iter_mut()
            .map(|(name, values)| (name.as_str(), values))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON object the header rules are checked against: one string per
    /// name, repeated values joined with ", " as RFC 9110 §5.3 allows.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(name, values)| (name.clone(), Value::String(join(values))))
                .collect(),
        )
    }
}

fn join(values: &[FieldValue]) -> String {
    let mut joined = String::new();
    for (at, value) in values.iter().enumerate() {
        if at > 0 {
            joined.push_str(", ");
        }
        joined.push_str(value.as_str());
    }
    joined
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.append(name, value);
        }
        headers
    }
}

impl From<&http::HeaderMap> for Headers {
    /// Every field of `map`, its bytes kept exactly.
    fn from(map: &http::HeaderMap) -> Self {
        let mut headers = Headers::new();
        for (name, value) in map {
            headers.append(name.as_str(), FieldValue::from(value));
        }
        headers
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let lists = read_header_object::<D, String, StoredValue<'de>>(deserializer)?;
        Ok(Headers(
            lists
                .into_iter()
                .map(|(name, values)| (name, values.into_iter().map(FieldValue::from).collect()))
                .collect(),
        ))
    }
}

/// A header name as a reader keeps it: lowercased once read.
pub(super) trait FieldName: Ord + Sized {
    fn as_str(&self) -> &str;
    fn into_lowercase(self) -> Self;
}

impl FieldName for String {
    fn as_str(&self) -> &str {
        self
    }

    fn into_lowercase(mut self) -> Self {
        self.make_ascii_lowercase();
        self
    }
}

/// Reads a cassette `headers` object: `{"name": ["value", …], …}`. Every
/// reader of the format goes through here, borrowed ([`super::wire`]) or
/// owned ([`Headers`]), so all accept and refuse the same files.
pub(super) fn read_header_object<'de, D, N, V>(
    deserializer: D,
) -> Result<BTreeMap<N, Vec<V>>, D::Error>
where
    D: Deserializer<'de>,
    N: FieldName + Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct ObjectVisitor<N, V>(std::marker::PhantomData<(N, V)>);

    impl<'de, N, V> serde::de::Visitor<'de> for ObjectVisitor<N, V>
    where
        N: FieldName + Deserialize<'de>,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<N, Vec<V>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of header names, each with an array of values")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut lists: BTreeMap<N, Vec<V>> = BTreeMap::new();
            while let Some(name) = map.next_key::<N>()? {
                check_name(name.as_str()).map_err(A::Error::custom)?;
                let values: Vec<V> = map.next_value()?;
                match lists.entry(name.into_lowercase()) {
                    // A name given once (nearly always): its list as read.
                    Entry::Vacant(vacant) => {
                        vacant.insert(values);
                    }
                    Entry::Occupied(mut occupied) => occupied.get_mut().extend(values),
                }
            }
            Ok(lists)
        }
    }

    deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
}

/// A decoded query string, pairs in the order they were sent.
///
/// In a cassette it is an object: each key once, in order of first
/// appearance, with a string value, or an array of strings when it repeats.
/// A value whose decoded bytes are not UTF-8 (`?x=%FF`) is kept exactly, as
/// `{"base64": "…"}` like a header value, and reads as ISO-8859-1 text in
/// [`Query::pairs`]; [`Query::exact_pairs`] tells such values apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Names and values as text.
    pairs: Vec<(String, String)>,
    /// Per pair: the value's bytes when they are not UTF-8.
    bytes: Vec<Option<Vec<u8>>>,
}

impl Query {
    /// Decodes `a=1&b=2` (no leading `?`) as `application/x-www-form-urlencoded`
    /// (`+` is a space), percent-decoding names and values; value bytes
    /// that are not UTF-8 are kept exactly (names are read lossily).
    pub fn parse(raw: &str) -> Self {
        let mut query = Query::default();
        for piece in raw.split('&').filter(|piece| !piece.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |text: &str| -> Vec<u8> {
                let spaced = text.replace('+', " ");
                percent_encoding::percent_decode_str(&spaced).collect()
            };
            let name = String::from_utf8_lossy(&decode(name)).into_owned();
            query.push(name, FieldValue::from_bytes(&decode(value)));
        }
        query
    }

    fn push(&mut self, name: String, value: FieldValue) {
        let bytes = (!value.is_text()).then(|| value.as_bytes().to_vec());
        self.pairs.push((name, value.as_str().to_owned()));
        self.bytes.push(bytes);
    }

    /// The pairs as text; a value that is not UTF-8 reads as ISO-8859-1.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The pairs with each value's bytes in [`exact_text`] form, equal
    /// exactly when the bytes are. For matching.
    pub fn exact_pairs(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.pairs
            .iter()
            .zip(&self.bytes)
            .map(|((name, text), bytes)| {
                let value = bytes.as_deref().unwrap_or(text.as_bytes());
                (name.as_str(), exact_text(value))
            })
    }

    /// Edits each name and value as text, as the redactor does. A value
    /// kept as bytes stays bytes where its edited text can still be
    /// written as ISO-8859-1 ([`FieldValue::edit`]).
    pub fn edit(&mut self, mut edit: impl FnMut(&mut String, &mut String)) {
        for ((name, text), bytes) in self.pairs.iter_mut().zip(self.bytes.iter_mut()) {
            let mut value = match bytes {
                Some(raw) => FieldValue::from_bytes(raw),
                None => FieldValue::from(text.as_str()),
            };
            value.edit(|value| edit(name, value));
            *text = value.as_str().to_owned();
            *bytes = (!value.is_text()).then(|| value.as_bytes().to_vec());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Encodes the pairs back into a query string, in their original
    /// order, each value from its exact bytes.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        for ((name, text), bytes) in self.pairs.iter().zip(&self.bytes) {
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(form_urlencoded::byte_serialize(name.as_bytes()));
            out.push('=');
            let value = bytes.as_deref().unwrap_or(text.as_bytes());
            out.extend(form_urlencoded::byte_serialize(value));
        }
        out
    }

    /// The values of the cassette form, each a string or `{"base64": …}`.
    fn stored_values(&self) -> impl Iterator<Item = (&String, Value)> {
        self.pairs
            .iter()
            .zip(&self.bytes)
            .map(|((name, text), bytes)| {
                let value = match bytes {
                    Some(bytes) => {
                        serde_json::to_value(FieldValue::from_bytes(bytes)).unwrap_or(Value::Null)
                    }
                    None => Value::String(text.clone()),
                };
                (name, value)
            })
    }

    /// The query as the query schemas check it: every value as text.
    pub fn to_json(&self) -> Value {
        group(
            self.pairs
                .iter()
                .map(|(name, value)| (name, Value::String(value.clone()))),
        )
    }
}

/// Bytes as a string that is equal exactly when the bytes are: the text
/// itself when they are UTF-8 and do not start with NUL, else a NUL and the
/// bytes in hex (both cases encode the bytes, so no two byte strings meet).
fn exact_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.starts_with('\0') => Cow::Borrowed(text),
        _ => {
            let mut form = String::with_capacity(1 + 2 * bytes.len());
            form.push('\0');
            for byte in bytes {
                form.push_str(&format!("{byte:02x}"));
            }
            Cow::Owned(form)
        }
    }
}

/// Each name once, in order of first appearance; a repeated name's values
/// become an array.
fn group<'a>(values: impl Iterator<Item = (&'a String, Value)>) -> Value {
    let mut object = Map::new();
    for (name, value) in values {
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                object.insert(name.clone(), Value::Array(vec![first, value]));
            }
        }
    }
    Value::Object(object)
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        group(self.stored_values()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::<String, Value>::deserialize(deserializer)?;
        let mut query = Query::default();
        let value_of = |name: &str, value: Value| -> Result<FieldValue, D::Error> {
            match value {
                Value::String(text) => Ok(FieldValue::from(text)),
                // Unlike a header value, a query value may hold any byte.
                Value::Object(object) => match object.get("base64").and_then(Value::as_str) {
                    Some(encoded) if object.len() == 1 => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .map(|bytes| FieldValue::from_bytes(&bytes))
                            .map_err(|err| {
                                D::Error::custom(format!("query `{name}` base64: {err}"))
                            })
                    }
                    _ => Err(D::Error::custom(format!(
                        r#"query `{name}`: a value object has one field, "base64""#
                    ))),
                },
                _ => Err(D::Error::custom(format!(
                    "query `{name}`: values must be strings (or {{\"base64\": …}} for bytes)"
                ))),
            }
        };
        for (name, value) in object {
            match value {
                Value::Array(values) => {
                    for value in values {
                        if value.is_array() {
                            return Err(D::Error::custom(format!(
                                "query `{name}`: values must be strings"
                            )));
                        }
                        let value = value_of(&name, value)?;
                        query.push(name.clone(), value);
                    }
                }
                Value::String(_) | Value::Object(_) => {
                    let value = value_of(&name, value)?;
                    query.push(name, value);
                }
                _ => {
                    return Err(D::Error::custom(format!(
                        "query `{name}`: expected a string or an array of strings"
                    )));
                }
            }
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_keys_become_an_array_and_round_trip() {
        let query = Query::parse("a=1&b=x%20y&a=2");
        let json = query.to_json();
        assert_eq!(json, serde_json::json!({"a": ["1", "2"], "b": "x y"}));
        let back: Query = serde_json::from_value(json).unwrap();
        assert_eq!(back.pairs().len(), 3);
    }

    #[test]
    fn query_bytes_that_are_not_utf8_are_kept_exactly() {
        let query = Query::parse("x=%FF&x=%fe&y=a+b&z=%C3%A9&w=%E9");
        assert_eq!(query.pairs()[2], ("y".to_owned(), "a b".to_owned()));
        let json = serde_json::to_value(&query).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"x": [{"base64": "/w=="}, {"base64": "/g=="}], "y": "a b",
                               "z": "é", "w": {"base64": "6Q=="}})
        );
        let back: Query = serde_json::from_value(json).unwrap();
        assert_eq!(back, query);
        assert_eq!(back.to_query_string(), "x=%FF&x=%FE&y=a+b&z=%C3%A9&w=%E9");
        // `é` as UTF-8 and as the byte E9 read alike but compare apart.
        let exact: Vec<_> = query
            .exact_pairs()
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_ne!(exact[3], exact[4]);
        assert_eq!(query.pairs()[3].1, query.pairs()[4].1);
        // A text value spelled like the bytes form stays apart from it.
        let lookalike = Query::parse("w=%00b");
        let lookalike: Vec<_> = lookalike
            .exact_pairs()
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_ne!(lookalike[0], exact[4]);
    }

    #[test]
    fn editing_a_query_keeps_untouched_bytes() {
        let mut query = Query::parse("token=abc%FFdef&keep=%FE");
        query.edit(|name, value| {
            if name == "token" {
                *value = "[REDACTED]".to_owned();
            }
        });
        assert_eq!(query.pairs()[0].1, "[REDACTED]");
        assert_eq!(query.to_query_string(), "token=%5BREDACTED%5D&keep=%FE");
    }

    #[test]
    fn header_names_are_lowercased_and_values_kept() {
        let headers: Headers = [("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
            .into_iter()
            .collect();
        assert_eq!(headers.get_all("SET-COOKIE"), ["a=1", "b=2"]);
        assert_eq!(headers.to_json()["set-cookie"], "a=1, b=2");
    }
}
