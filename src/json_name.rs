//! A JSON member name (or string) read through serde, borrowed from the
//! input where it holds no escape: the one-pass readers (replay's request
//! key, the proxy's quick check) compare names without allocating.

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The name serde_json's `arbitrary_precision` feature gives the one member
/// of the map it presents a number as; its `Value` takes any object that
/// starts with it for a number, and so do the one-pass readers. A test
/// fails if a serde_json release changes it.
pub(crate) const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The name serde_json's `raw_value` feature gives the one member of the
/// map it presents a raw value as. Its `Value` reads an object whose first
/// member has this name as the JSON text of that member's string: a body
/// can spell a whole different document that way.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Reads one JSON string as `Cow<str>`: borrowed when serde_json can lend
/// it (no escape), owned otherwise.
pub(crate) struct JsonName;

impl<'de> DeserializeSeed<'de> for JsonName {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for JsonName {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}
