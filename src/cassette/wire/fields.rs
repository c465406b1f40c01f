//! A `headers` object of a cassette, read the way replay uses it.
//!
//! The shared reader ([`read_header_object`]) builds a map with a list per
//! name; loading a large cassette spent about a third of its time there,
//! building maps that replay dropped at once (it keeps a request's matched
//! headers only, and a response's as `HeaderValue`s). Most objects are
//! exactly what datovcr writes: names lowercase, in ascending order, each
//! once; values plain strings. [`HeaderFields::Plain`] keeps such an
//! object as its text, checked once, and reads the pairs from it when asked.
//! Anything else (escapes, capitals, repeated or unsorted names, `base64`
//! values, empty lists) is read by the shared reader, so both accept the
//! same objects and give the same fields.

use super::Text;
use crate::cassette::compact::whitespace_end;
use crate::cassette::field::{FieldValue, StoredValue};
use crate::cassette::headers::{Headers, read_header_object};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Header names, each with its values, as a cassette lists them.
pub(super) type HeaderLists<'a> = BTreeMap<Text<'a>, Vec<StoredValue<'a>>>;

/// A cassette `headers` object.
#[derive(Debug, Clone)]
pub(super) enum HeaderFields<'a> {
    /// The pairs of an object [`plain_pairs`] accepted, in order.
    Plain(Vec<(&'a str, &'a str)>),
    /// Read by the shared rules.
    Read(HeaderLists<'a>),
}

impl Default for HeaderFields<'_> {
    fn default() -> Self {
        HeaderFields::Read(HeaderLists::new())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for HeaderFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if let Some(pairs) = plain_pairs(text) {
            return Ok(HeaderFields::Plain(pairs));
        }
        // Any error here is worded again by the full reader, which the
        // caller falls back to (see `cassette::stream`).
        let mut reader = serde_json::Deserializer::from_str(text);
        read_header_object(&mut reader)
            .map(HeaderFields::Read)
            .map_err(D::Error::custom)
    }
}

impl PartialEq for HeaderFields<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.lists() == other.lists()
    }
}

impl<'a> HeaderFields<'a> {
    /// Every value with its name, names in ascending order.
    pub(super) fn pairs(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let (plain, read) = match self {
            HeaderFields::Plain(pairs) => (Some(pairs), None),
            HeaderFields::Read(lists) => (None, Some(lists)),
        };
        let plain = plain
            .into_iter()
            .flatten()
            .map(|&(name, value)| (name, value.as_bytes()));
        let read = read.into_iter().flatten().flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| (name.0.as_ref(), value.as_bytes()))
        });
        plain.chain(read)
    }

    /// The headers among `names`, as [`Headers::get_all`] finds them.
    pub(super) fn named(&self, names: &[String]) -> Headers {
        let mut headers = Headers::new();
        for name in names {
            let lower = name.to_ascii_lowercase();
            let values: Vec<FieldValue> = match self {
                HeaderFields::Plain(pairs) => pairs
                    .iter()
                    .filter(|(field, _)| *field == lower)
                    .map(|&(_, value)| FieldValue::from(value))
                    .collect(),
                HeaderFields::Read(lists) => lists
                    .get(lower.as_str())
                    .into_iter()
                    .flatten()
                    .map(|value| FieldValue::from(value.clone()))
                    .collect(),
            };
            if !values.is_empty() {
                headers.set(name, values);
            }
        }
        headers
    }

    /// The fields as the shared reader gives them.
    fn lists(&self) -> Cow<'_, HeaderLists<'a>> {
        match self {
            HeaderFields::Plain(pairs) => {
                let mut lists = HeaderLists::new();
                for &(name, value) in pairs {
                    lists
                        .entry(Text(Cow::Borrowed(name)))
                        .or_default()
                        .push(StoredValue::Text(Cow::Borrowed(value)));
                }
                Cow::Owned(lists)
            }
            HeaderFields::Read(lists) => Cow::Borrowed(lists),
        }
    }

    pub(super) fn into_owned(self) -> HeaderFields<'static> {
        let lists = self
            .lists()
            .iter()
            .map(|(name, values)| {
                let values = values.iter().cloned().map(StoredValue::into_owned);
                (name.clone().into_owned(), values.collect())
            })
            .collect();
        HeaderFields::Read(lists)
    }

    /// The cassette's headers, owned.
    pub(super) fn of(headers: &Headers) -> HeaderFields<'static> {
        HeaderFields::Read(
            headers
                .iter()
                .map(|(name, values)| {
                    let values = values.iter().map(StoredValue::from).collect();
                    (Text(Cow::Owned(name.to_owned())), values)
                })
                .collect(),
        )
    }
}

/// The `(name, value)` pairs of `text`, a JSON object serde_json has read,
/// when the shared reader would give exactly these: no escapes anywhere,
/// every name a lowercase token
/// ([`check_name`](crate::cassette::field::check_name)) greater than the one
/// before, every list one or more strings that pass
/// [`check_value`](crate::cassette::field::check_value) (a tab, which it
/// allows, cannot stand unescaped in a JSON string). `None` otherwise.
pub(super) fn plain_pairs(text: &str) -> Option<Vec<(&str, &str)>> {
    /// `http`'s limit on a header name's length.
    const MAX_NAME_LEN: usize = (1 << 16) - 1;
    let bytes = text.as_bytes();
    if memchr::memchr(b'\\', bytes).is_some() {
        return None;
    }
    let skip_whitespace = |at: &mut usize| *at = whitespace_end(bytes, *at);
    let take = |at: &mut usize, expected: u8| -> Option<()> {
        skip_whitespace(at);
        (*bytes.get(*at)? == expected).then(|| *at += 1)
    };
    let mut pairs = Vec::with_capacity(16);
    let mut at = 0;
    take(&mut at, b'{')?;
    skip_whitespace(&mut at);
    let mut more = bytes.get(at) != Some(&b'}');
    let mut previous = "";
    while more {
        take(&mut at, b'"')?;
        let start = at;
        while LOWERCASE_TCHAR[usize::from(*bytes.get(at)?)] {
            at += 1;
        }
        let name = text.get(start..at)?;
        if bytes[at] != b'"' || name.is_empty() || name.len() > MAX_NAME_LEN || name <= previous {
            return None;
        }
        previous = name;
        at += 1;
        take(&mut at, b':')?;
        take(&mut at, b'[')?;
        loop {
            take(&mut at, b'"')?;
            let start = at;
            at += memchr::memchr(b'"', &bytes[at..])?;
            let value = text.get(start..at)?;
            // No early exit: the compiler checks many bytes at a time.
            let sendable = value
                .bytes()
                .fold(true, |all, byte| all & (byte >= b' ') & (byte != 0x7f));
            if !sendable {
                return None;
            }
            pairs.push((name, value));
            at += 1;
            skip_whitespace(&mut at);
            match *bytes.get(at)? {
                b',' => at += 1,
                b']' => break,
                _ => return None,
            }
        }
        at += 1;
        skip_whitespace(&mut at);
        match *bytes.get(at)? {
            b',' => at += 1,
            b'}' => more = false,
            _ => return None,
        }
    }
    at += 1;
    skip_whitespace(&mut at);
    (at == bytes.len()).then_some(pairs)
}

/// The bytes of a lowercase RFC 9110 token (`tchar` without capitals).
const LOWERCASE_TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        table[byte] = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the shared reader gives for `text`, or `None` when it refuses.
    fn shared(text: &str) -> Option<HeaderLists<'_>> {
        read_header_object(&mut serde_json::Deserializer::from_str(text)).ok()
    }

    fn fields(text: &str) -> Option<HeaderFields<'_>> {
        serde_json::from_str::<HeaderFields>(text).ok()
    }

    /// The pairs in the order replay sends them.
    fn pairs(read: &HeaderFields<'_>) -> Vec<(String, Vec<u8>)> {
        read.pairs()
            .map(|(name, value)| (name.to_owned(), value.to_vec()))
            .collect()
    }

    /// Both readers give the same fields, in the same order.
    fn same(text: &str, read: &HeaderFields<'_>, expected: HeaderLists<'_>) {
        assert_eq!(*read.lists(), expected, "{text}");
        assert_eq!(pairs(read), pairs(&HeaderFields::Read(expected)), "{text}");
    }

    #[test]
    fn plain_objects_are_kept_as_text_and_give_the_shared_readers_fields() {
        for text in [
            "{}",
            " { } ",
            "{\"a\": [\"1\"]}",
            "{\n  \"accept\": [\n    \"application/json\"\n  ],\n  \"set-cookie\": [\"a=1\", \"b=2\"],\n  \"x-empty\": [\"\"]\r\n}",
            "{\"content-type\":[\"text/plain; charset=é\"],\"x~!#$%&'*+-.^_`|\":[\"\\t\"]}",
        ] {
            let read = fields(text).unwrap();
            same(text, &read, shared(text).unwrap());
            if !text.contains('\\') {
                assert!(matches!(read, HeaderFields::Plain(_)), "{text}");
            }
        }
    }

    #[test]
    fn lowercase_tchar_is_check_names_rule_without_capitals() {
        for byte in 0..=255u8 {
            let accepted = std::str::from_utf8(&[byte])
                .is_ok_and(|name| crate::cassette::check_name(name).is_ok());
            assert_eq!(
                LOWERCASE_TCHAR[usize::from(byte)],
                accepted && !byte.is_ascii_uppercase(),
                "{byte:#x}"
            );
        }
    }

    #[test]
    fn other_objects_take_the_shared_reader() {
        for text in [
            "{\"A\": [\"1\"]}",
            "{\"b\": [\"1\"], \"a\": [\"2\"]}",
            "{\"a\": [\"1\"], \"a\": [\"2\"]}",
            "{\"a\": [\"1\"], \"A\": [\"2\"]}",
            "{\"a\": []}",
            "{\"a\": [{\"base64\": \"/w==\"}]}",
            "{\"a\": [\"x\\u0041\"]}",
            "{\"\\u0061\": [\"1\"]}",
            "{\"a b\": [\"1\"]}",
            "{\"\": [\"1\"]}",
            "{\"a\": [\"\\r\"]}",
            "{\"a\": [\"\u{7f}\"]}",
            "{\"a\": \"1\"}",
            "[]",
            "{\"a\": [1]}",
        ] {
            assert!(plain_pairs(text).is_none(), "{text}");
            match (fields(text), shared(text)) {
                (Some(read), Some(expected)) => same(text, &read, expected),
                (None, None) => {}
                (read, expected) => panic!("{text}: {read:?} against {expected:?}"),
            }
        }
    }

    fn header_object() -> impl Strategy<Value = String> {
        // Mostly plain (lowercase names, values without escapes), sorted
        // or not, and the odd capital, escape, control character or
        // `base64` value that the shared reader must take.
        let name = prop_oneof![6 => "[a-c][a-c0-9-]{0,2}", 1 => "[A-Za-z!#~ :\"é]{0,3}"];
        let value = prop_oneof![
            6 => "[a-z0-9 ;=/.é-]{0,8}".prop_map(|text| serde_json::to_string(&text).unwrap()),
            1 => "[ -~é\x7f]{0,6}".prop_map(|text| serde_json::to_string(&text).unwrap()),
            1 => any::<String>().prop_map(|text| serde_json::to_string(&text).unwrap()),
            1 => Just("{\"base64\": \"/w==\"}".to_owned()),
        ];
        let list = prop::collection::vec(value, 0..3);
        prop::collection::vec((name, list, "[ \n]{0,2}"), 0..5).prop_map(|fields| {
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(name, values, space)| {
                    format!(
                        "{space}{}{space}:{space}[{space}{}{space}]",
                        serde_json::to_string(&name).unwrap(),
                        values.join(&format!("{space},{space}"))
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(",\n"))
        })
    }

    proptest! {
        /// Plain or not, an object reads as the shared reader reads it, and
        /// is refused exactly when it refuses it.
        #[test]
        fn fields_are_the_shared_readers(text in header_object()) {
            match (fields(&text), shared(&text)) {
                (Some(read), Some(expected)) => same(&text, &read, expected),
                (None, None) => {}
                (read, expected) => prop_assert!(false, "{}: {:?} against {:?}", text, read, expected),
            }
        }
    }
}
