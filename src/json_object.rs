//! Derived structs read from JSON objects only.
//!
//! A struct derived with `serde::Deserialize` also reads from a sequence,
//! its fields by position: `["2026-11-27T10:00:00Z", {…}, {…}]` would be
//! an interaction, and `[1, []]` a cassette. Nothing datovcr reads is
//! written that way (the cassette format, journal lines and manifests are
//! objects), so accepting it would make one file mean one thing to one
//! reader and another to a second (`schema-check` against replay, a hand
//! edit against a diff). A struct read from user input is derived with
//! `#[serde(remote = "Self")]`, which makes its derived reader an inherent
//! function, and [`objects_only!`] implements `Deserialize` through
//! [`ObjectOnly`], which asks the format for a map: serde_json refuses
//! anything else with the line and column, as for any other wrong type.

use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;

/// A deserializer that reads a struct only from a map (a JSON object).
/// Everything else is passed to the wrapped deserializer as it is.
pub(crate) struct ObjectOnly<D>(pub D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(MapVisitor {
            inner: visitor,
            fields,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }

    // A derived struct asks for nothing but a struct.
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The derived visitor, given maps only, and saying what a map must hold
/// when it is given something else: the error then names the fix.
struct MapVisitor<V> {
    inner: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for MapVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object with the fields ")?;
        for (index, field) in self.fields.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(formatter, "{separator}`{field}`")?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }
}

/// Implements `Deserialize` (and `Serialize`, when asked) for types derived
/// with `#[serde(remote = "Self")]`, the reader going through
/// [`ObjectOnly`]: `objects_only!(deserialize Type)`,
/// `objects_only!(both Type)`, or `objects_only!(deserialize Type<'a>)` for
/// a type borrowing from the input.
macro_rules! objects_only {
    (deserialize $ty:ident) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $ty::deserialize($crate::json_object::ObjectOnly(deserializer))
            }
        }
    };
    (deserialize $ty:ident<$lt:lifetime>) => {
        impl<'de: $lt, $lt> serde::Deserialize<'de> for $ty<$lt> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $ty::deserialize($crate::json_object::ObjectOnly(deserializer))
            }
        }
    };
    (both $ty:ident) => {
        $crate::json_object::objects_only!(deserialize $ty);
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }
    };
}

pub(crate) use objects_only;

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self", deny_unknown_fields)]
    struct Pair {
        a: u8,
        #[serde(default)]
        b: Vec<Inner>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self")]
    struct Inner {
        c: u8,
    }

    objects_only!(deserialize Pair);
    objects_only!(deserialize Inner);

    #[test]
    fn structs_read_from_objects_and_never_from_arrays() {
        let read: Pair = serde_json::from_str(r#"{"a": 1, "b": [{"c": 2}]}"#).unwrap();
        assert_eq!(
            read,
            Pair {
                a: 1,
                b: vec![Inner { c: 2 }]
            }
        );
        for refused in [
            r#"[1]"#,
            r#"[1, []]"#,
            r#"{"a": 1, "b": [[2]]}"#,
            r#"{"a": 1, "b": [2]}"#,
        ] {
            let err = serde_json::from_str::<Pair>(refused).unwrap_err();
            assert!(err.to_string().contains("invalid type"), "{refused}: {err}");
            assert!(
                err.to_string()
                    .contains("expected a JSON object with the fields `"),
                "{err}"
            );
        }
        // The same through a `Value`, as manifests are merged.
        let value = serde_json::json!({"a": 1, "b": [[3]]});
        assert!(serde_json::from_value::<Pair>(value).is_err());
        assert!(serde_json::from_value::<Pair>(serde_json::json!([1, []])).is_err());
    }
}
