//! A light JSON tree for checks that only need a yes: strings borrowed from
//! the received bytes, members in a `Vec`, names hashed only while reading
//! an object wider than 16 members (to find a repeated one).
//!
//! `serde_json::Value` (ordered maps, each member name hashed and owned)
//! costs the proxy more than the validation itself. [`Light`] is read by
//! serde_json's own parser, so it accepts the documents `Value` does
//! (less the raw-value objects below), and holds what `Value` would: a repeated member keeps its
//! first place and its last value, numbers are `serde_json::Number`s
//! (`arbitrary_precision`), and an object whose first member is serde_json's
//! private number token reads as that number, as it does for `Value`. An
//! object whose first member is its private raw-value token (`raw_value`)
//! is refused: `Value` parses that member's string as a document of its own
//! (`{"$serde_json::private::RawValue":"5"}` is `5`), and the callers
//! leave whatever is refused here to the full check.
//! jsonschema validates it through its [`Json`] trait, with validators
//! compiled from the same schemas ([`super::schema_set::Compiler`]).

use crate::json_name::{JsonName, NUMBER_TOKEN, RAW_VALUE_TOKEN};
use jsonschema::JsonType;
use jsonschema::json::{Array, Json, Node, NodeIdentity, Object, cmp};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The representation jsonschema validates [`Light`] trees through.
pub(super) struct LightJson;

/// One JSON value, its strings borrowed from the text where they hold no
/// escape.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Light<'s> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'s, str>),
    Array(Vec<Light<'s>>),
    /// Members in document order, names unique.
    Object(Vec<(Cow<'s, str>, Light<'s>)>),
}

impl<'s> Light<'s> {
    /// Parses `bytes` as one JSON document, as `serde_json::from_slice`
    /// parses a `Value`. `None` when serde_json refuses it, when it nests
    /// deeper than `max_depth` arrays and objects (the cassette format keeps
    /// such a body as text; see [`crate::cassette::MAX_JSON_DEPTH`]), or
    /// when an object starts with serde_json's raw-value token, which
    /// `Value` reads as another document.
    pub fn parse(bytes: &'s [u8], max_depth: usize) -> Option<Light<'s>> {
        // UTF-8 checked once, not string by string (`from_slice` checks
        // each): what either refuses, the other does.
        let mut deserializer = serde_json::Deserializer::from_str(std::str::from_utf8(bytes).ok()?);
        let (value, depth) = Seed.deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        (depth <= max_depth).then_some(value)
    }

    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Light<'s>> {
        match self {
            Light::Object(members) => members
                .iter()
                .find(|(member, _)| member == name)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Light::String(text) => Some(text),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Light::Null => Value::Null,
            Light::Bool(flag) => Value::Bool(*flag),
            Light::Number(number) => Value::Number(number.clone()),
            Light::String(text) => Value::String(text.clone().into_owned()),
            Light::Array(items) => Value::Array(items.iter().map(Light::to_value).collect()),
            Light::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, value)| (name.clone().into_owned(), value.to_value()))
                    .collect(),
            ),
        }
    }
}

/// Members an object is scanned for a repeated name before it is indexed.
const SCAN_LIMIT: usize = 16;

/// Member name to its place, for objects wider than [`SCAN_LIMIT`].
type NameIndex<'de> = HashMap<Cow<'de, str>, usize, foldhash::fast::RandomState>;

/// Reads one value and how many arrays and objects it nests.
struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = (Light<'de>, usize);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = (Light<'de>, usize);

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        Ok((Light::Bool(flag), 0))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok((Light::Number(number.into()), 0))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok((Light::Number(number.into()), 0))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        Ok((
            Number::from_f64(number).map_or(Light::Null, Light::Number),
            0,
        ))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((Light::Null, 0))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok((Light::String(Cow::Borrowed(text)), 0))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok((Light::String(Cow::Owned(text.to_owned())), 0))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok((Light::String(Cow::Owned(text)), 0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut deepest = 0;
        while let Some((item, depth)) = seq.next_element_seed(Seed)? {
            deepest = deepest.max(depth);
            items.push(item);
        }
        Ok((Light::Array(items), deepest + 1))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key_seed(JsonName)? else {
            return Ok((Light::Object(Vec::new()), 1));
        };
        if first == NUMBER_TOKEN {
            // As `Value` reads it: the number's text, then the map ends.
            let text: String = map.next_value()?;
            let number = text.parse::<Number>().map_err(de::Error::custom)?;
            return Ok((Light::Number(number), 0));
        }
        if first == RAW_VALUE_TOKEN {
            return Err(de::Error::custom("serde_json's raw-value token"));
        }
        let mut members: Vec<(Cow<'de, str>, Light<'de>)> = Vec::new();
        // Past `SCAN_LIMIT` members a repeated name is found through an
        // index: scanning made a wide object quadratic (40,000 members took
        // seconds where `Value` takes milliseconds).
        let mut index: Option<NameIndex<'de>> = None;
        let mut deepest = 0;
        let mut name = Some(first);
        while let Some(key) = name {
            let (value, depth) = map.next_value_seed(Seed)?;
            deepest = deepest.max(depth);
            // A repeated name keeps its first place and takes the last
            // value, as an ordered map's insert does.
            let found = match &index {
                Some(index) => index.get(&key).copied(),
                None => members.iter().position(|(member, _)| *member == key),
            };
            match found {
                Some(at) => members[at].1 = value,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), members.len());
                    }
                    members.push((key, value));
                    if index.is_none() && members.len() > SCAN_LIMIT {
                        index = Some(
                            members
                                .iter()
                                .enumerate()
                                .map(|(at, (member, _))| (member.clone(), at))
                                .collect(),
                        );
                    }
                }
            }
            name = map.next_key_seed(JsonName)?;
        }
        Ok((Light::Object(members), deepest + 1))
    }
}

impl Json for LightJson {
    type Node<'a> = &'a Light<'a>;
    type PreparedKey = String;
    type StringBuffer = Light<'static>;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Light<'static>,
        string: &str,
        f: impl FnOnce(Self::Node<'_>) -> T,
    ) -> T {
        *buffer = Light::String(Cow::Owned(string.to_owned()));
        f(buffer)
    }
}

impl<'a> Node<'a, LightJson> for &'a Light<'a> {
    type Object = &'a [(Cow<'a, str>, Light<'a>)];
    type Array = &'a [Light<'a>];
    type Number = &'a Number;

    fn as_object(&self) -> Option<Self::Object> {
        match self {
            Light::Object(members) => Some(members),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<Self::Array> {
        match self {
            Light::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Light::String(text) => Some(Cow::Borrowed(text)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Light::Number(number) => Some(number),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            Light::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Light::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            Light::Null => JsonType::Null,
            Light::Bool(_) => JsonType::Boolean,
            Light::Number(_) => JsonType::Number,
            Light::String(_) => JsonType::String,
            Light::Array(_) => JsonType::Array,
            Light::Object(_) => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (self, expected) {
            (Light::String(text), Value::String(other)) => text == other,
            (Light::String(_), _) => false,
            _ => cmp::equal(&Light::to_value(self), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Light::to_value(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Light<'a>>(*self) as usize
        ))
    }
}

impl<'a> Object<'a, LightJson> for &'a [(Cow<'a, str>, Light<'a>)] {
    type Node = &'a Light<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        <[_]>::len(self)
    }

    fn get(&self, key: &String) -> Option<&'a Light<'a>> {
        self.iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    fn members(&self) -> Members<'a> {
        Members(self.iter())
    }
}

pub(super) struct Members<'a>(std::slice::Iter<'a, (Cow<'a, str>, Light<'a>)>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a Light<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (&**name, value))
    }
}

impl<'a> Array<'a, LightJson> for &'a [Light<'a>] {
    type Node = &'a Light<'a>;
    type ElementsIter = std::slice::Iter<'a, Light<'a>>;

    fn len(&self) -> usize {
        <[_]>::len(self)
    }

    fn elements(&self) -> Self::ElementsIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests;
