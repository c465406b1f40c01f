//! Recorded headers and query strings, in their canonical cassette form.

use super::field::{FieldValue, StoredValue, check_name};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

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
    /// joined with ", ", as text when they are UTF-8, else as a NUL (which
    /// no value holds) and the bytes in hex. So `é` sent as UTF-8 and as
    /// ISO-8859-1 are two values, as they are on the wire.
    pub fn joined_exact(&self, name: &str) -> String {
        let mut bytes = Vec::new();
        for (at, value) in self.get_all(name).iter().enumerate() {
            if at > 0 {
                bytes.extend_from_slice(b", ");
            }
            bytes.extend_from_slice(value.as_bytes());
        }
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let mut exact = String::from("\0");
                for byte in err.as_bytes() {
                    exact.push_str(&format!("{byte:02x}"));
                }
                exact
            }
        }
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
                lists
                    .entry(name.into_lowercase())
                    .or_default()
                    .extend(values);
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `a=1&b=2` (no leading `?`), percent-decoding names and values.
    pub fn parse(raw: &str) -> Self {
        Query(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn pairs_mut(&mut self) -> &mut [(String, String)] {
        &mut self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encodes the pairs back into a query string, in their original order.
    pub fn to_query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }

    /// The cassette form, which is also what the query schemas check.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for (name, value) in &self.0 {
            match object.get_mut(name) {
                None => {
                    object.insert(name.clone(), Value::String(value.clone()));
                }
                Some(Value::Array(values)) => values.push(Value::String(value.clone())),
                Some(first) => {
                    let first = first.take();
                    object.insert(
                        name.clone(),
                        Value::Array(vec![first, Value::String(value.clone())]),
                    );
                }
            }
        }
        Value::Object(object)
    }
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::<String, Value>::deserialize(deserializer)?;
        let mut pairs = Vec::with_capacity(object.len());
        for (name, value) in object {
            match value {
                Value::String(value) => pairs.push((name, value)),
                Value::Array(values) => {
                    for value in values {
                        let Value::String(value) = value else {
                            return Err(D::Error::custom(format!(
                                "query `{name}`: values must be strings"
                            )));
                        };
                        pairs.push((name.clone(), value));
                    }
                }
                _ => {
                    return Err(D::Error::custom(format!(
                        "query `{name}`: expected a string or an array of strings"
                    )));
                }
            }
        }
        Ok(Query(pairs))
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
    fn header_names_are_lowercased_and_values_kept() {
        let headers: Headers = [("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
            .into_iter()
            .collect();
        assert_eq!(headers.get_all("SET-COOKIE"), ["a=1", "b=2"]);
        assert_eq!(headers.to_json()["set-cookie"], "a=1, b=2");
    }
}
