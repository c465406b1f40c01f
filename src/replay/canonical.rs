//! A JSON request body's part of the lookup key, written straight from its
//! bytes.
//!
//! Replay matches a JSON body by its canonical text
//! ([`super::matching::canonical_json`]: members sorted by name, numbers in
//! normal form). Parsing a serde_json tree only to write that text, walking
//! it once more for secrets and dropping it again took about half of
//! replay's instructions per request (docs/performance.md, "Profile").
//! [`screened_key`] writes the same text in one pass of serde_json's
//! parser, and screens the body for anything the redaction could replace
//! ([`crate::redact::screen`]). A body that fails the screen, nests deep, or
//! is not JSON gives `None`, and the caller takes the slow path, which
//! decides exactly; so this path only ever answers for a body whose
//! recorded form is the body itself.

use super::matching::push_quoted;
use super::number;
use crate::cassette::MAX_JSON_DEPTH;
use crate::json_name::{JsonName, NUMBER_TOKEN, RAW_VALUE_TOKEN};
use crate::redact::screen;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// The canonical text of the JSON document `bytes`, exactly as
/// [`super::matching::canonical_json`] writes its parsed tree; `None` when
/// `bytes` is not one JSON document, nests [`MAX_JSON_DEPTH`] levels or
/// more, or may hold a secret.
pub fn screened_key(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    // UTF-8 checked once, not string by string (`from_slice` checks each).
    let mut reader = serde_json::Deserializer::from_str(std::str::from_utf8(bytes).ok()?);
    Writer {
        out: &mut out,
        depth: 0,
    }
    .deserialize(&mut reader)
    .ok()?;
    reader.end().ok()?;
    Some(out)
}

/// Writes one JSON value's canonical text to `out`.
struct Writer<'o> {
    out: &'o mut String,
    /// Arrays and objects around this value.
    depth: usize,
}

/// Why a body left the fast path; never shown (the slow path takes over).
fn refused<E: de::Error>() -> E {
    E::custom("left to the slow path")
}

impl<'de> DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    // With `arbitrary_precision`, serde_json hands numbers over as maps
    // (below); these are here for completeness and keep exact integers.
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        number::write_canonical(&value.to_string(), self.out);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        number::write_canonical(&value.to_string(), self.out);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        // Its text is gone; the tree keeps it.
        Err(refused())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        if screen::text_may_hold_secret(text) {
            return Err(refused());
        }
        push_quoted(self.out, text);
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<(), E> {
        if screen::text_may_hold_secret(text) {
            return Err(refused());
        }
        // Borrowed from the body: it held no escape.
        push_plain(self.out, text);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let depth = self.depth + 1;
        if depth >= MAX_JSON_DEPTH {
            return Err(refused());
        }
        self.out.push('[');
        let mut first = true;
        while items
            .next_element_seed(Item {
                out: self.out,
                depth,
                comma: !first,
            })?
            .is_some()
        {
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        let Some(first) = members.next_key_seed(JsonName)? else {
            self.out.push_str("{}");
            return Ok(());
        };
        if first == NUMBER_TOKEN {
            // A number, or a body's own object spelled like one, which the
            // tree reads as a number only when its text is one: any other
            // text would be written into the key as it stands.
            let text: Cow<'de, str> = members.next_value_seed(JsonName)?;
            if !is_json_number(&text) {
                return Err(refused());
            }
            number::write_canonical(&text, self.out);
            return Ok(());
        }
        if first == RAW_VALUE_TOKEN {
            // The tree reads the document this member's string spells.
            return Err(refused());
        }
        let depth = self.depth + 1;
        if depth >= MAX_JSON_DEPTH {
            return Err(refused());
        }
        // Members are written in document order, straight to `out`; only
        // an object whose names arrive out of order (or repeated) is
        // rewritten, sorted, from a copy of its own text.
        let object = self.out.len();
        self.out.push('{');
        let mut entries: Vec<Member<'de>> = Vec::with_capacity(8);
        let mut in_order = true;
        let mut name = Some(first);
        while let Some(key) = name {
            if screen::name_may_mark_secret(&key) {
                return Err(refused());
            }
            if let Some(last) = entries.last() {
                in_order &= last.name < key;
                self.out.push(',');
            }
            let member = self.out.len();
            match &key {
                Cow::Borrowed(plain) => push_plain(self.out, plain),
                Cow::Owned(text) => push_quoted(self.out, text),
            }
            self.out.push(':');
            let value = self.out.len();
            members.next_value_seed(Writer {
                out: &mut *self.out,
                depth,
            })?;
            entries.push(Member {
                name: key,
                text: member..self.out.len(),
                value,
            });
            name = members.next_key_seed(JsonName)?;
        }
        let resource_type = entries
            .iter()
            .rev()
            .find(|member| member.name == "type")
            .and_then(|member| self.out[member.value..member.text.end].strip_prefix('"'))
            .and_then(|text| text.strip_suffix('"'));
        if resource_type.is_some_and(screen::type_has_secret_id)
            && entries.iter().any(|member| member.name == "id")
        {
            return Err(refused());
        }
        if in_order {
            self.out.push('}');
            return Ok(());
        }
        // A stable sort keeps repeated names in document order; the tree
        // keeps the last value of a repeated name, and so does this.
        let written = self.out.split_off(object);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.out.push('{');
        let mut first = true;
        for (index, member) in entries.iter().enumerate() {
            if entries
                .get(index + 1)
                .is_some_and(|next| next.name == member.name)
            {
                continue;
            }
            if !first {
                self.out.push(',');
            }
            first = false;
            let text = member.text.start - object..member.text.end - object;
            self.out.push_str(&written[text]);
        }
        self.out.push('}');
        Ok(())
    }
}

/// One member of an object as written: its name, where its `"name":value`
/// text lies in the output, and where the value starts.
struct Member<'de> {
    name: Cow<'de, str>,
    text: Range<usize>,
    value: usize,
}

/// A string JSON held with no escape in it, quoted. JSON strings hold no
/// raw quote, backslash or control character, so such a string is written
/// as it stands; an unescaped one goes through [`push_quoted`].
fn push_plain(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// Whether `text` is one JSON number (RFC 8259 §6), as serde_json's
/// `Number::from_str` accepts it: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
/// ([eE] [+-]? [0-9]+)?`, nothing around it.
fn is_json_number(text: &str) -> bool {
    fn digits(bytes: &[u8]) -> usize {
        bytes.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let bytes = text.as_bytes();
    let mut at = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits(&bytes[at..]),
        _ => return false,
    }
    if bytes.get(at) == Some(&b'.') {
        let frac = digits(&bytes[at + 1..]);
        if frac == 0 {
            return false;
        }
        at += 1 + frac;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits(&bytes[at..]);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == bytes.len()
}

/// An array item: its comma is written only once it is known to exist.
struct Item<'o> {
    out: &'o mut String,
    depth: usize,
    comma: bool,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        if self.comma {
            self.out.push(',');
        }
        Writer {
            out: self.out,
            depth: self.depth,
        }
        .deserialize(reader)
    }
}

#[cfg(test)]
mod tests;
