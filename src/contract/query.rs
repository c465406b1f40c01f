//! Reading a query string the way the API reads it, before it is checked.
//!
//! A query arrives as `name=value` pairs of strings. The CMA reads bracketed
//! names as nested objects (`page[limit]=10` is `{"page": {"limit": 10}}`,
//! Rails' convention, which JSON:API's `filter[…]` and `page[…]` follow) and
//! types each value as its schema says. [`QueryShape`] is what a query schema
//! expects at each key, taken once from the schema; [`read`] turns the pairs
//! into the JSON value the schema is checked against:
//!
//! - `a[b][c]=v` sets `/a/b/c`; `a[]=v` appends to the array `/a`; a name
//!   whose brackets do not parse, or that clashes with an earlier one
//!   (`a=1&a[b]=2`), is kept as it is, so the schema reports it as unknown;
//! - a string becomes an integer, a number or a boolean (`true`/`false`) when
//!   the schema expects that type and not a string; anything else stays a
//!   string, and the schema reports the wrong type;
//! - a name given more than once is an array, except `include`, which JSON:API
//!   reads as one comma-separated list: `include=a&include=b` is `"a,b"`.

use jsonschema::{Registry, Uri};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// JSON:API's comma-separated list parameter (JSON:API 1.1, "Inclusion of
/// Related Resources").
const INCLUDE: &str = "include";
/// Schemas nest a handful of levels; this bounds a cycle of `$ref`s.
const MAX_DEPTH: usize = 24;

/// Where `$ref`s of the schema being read resolve.
struct Scope<'r> {
    registry: &'r Registry<'r>,
    base: Arc<Uri<String>>,
}

/// The JSON types a schema node admits, as bits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Types(u8);

impl Types {
    const STRING: u8 = 1;
    const INTEGER: u8 = 2;
    const NUMBER: u8 = 4;
    const BOOLEAN: u8 = 8;
    const ARRAY: u8 = 16;

    fn of_name(name: &str) -> u8 {
        match name {
            "string" => Self::STRING,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "boolean" => Self::BOOLEAN,
            "array" => Self::ARRAY,
            _ => 0,
        }
    }

    fn of_value(value: &Value) -> u8 {
        match value {
            Value::String(_) => Self::STRING,
            Value::Number(number) if number.is_i64() || number.is_u64() => Self::INTEGER,
            Value::Number(_) => Self::NUMBER,
            Value::Bool(_) => Self::BOOLEAN,
            Value::Array(_) => Self::ARRAY,
            _ => 0,
        }
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// What a query schema expects at one key: its types, and the shapes of
/// what it contains.
#[derive(Debug, Default)]
pub struct QueryShape {
    types: Types,
    properties: HashMap<String, QueryShape>,
    additional: Option<Box<QueryShape>>,
    items: Option<Box<QueryShape>>,
}

impl QueryShape {
    /// The shape of `schema`, which sits in a document with base URI `base`
    /// in `registry`. A reference that does not resolve adds nothing: the
    /// validator reports it.
    pub fn of(schema: &Value, registry: &Registry<'_>, base: Arc<Uri<String>>) -> Self {
        let mut shape = Self::default();
        shape.add(schema, &Scope { registry, base }, 0);
        shape
    }

    fn add(&mut self, schema: &Value, scope: &Scope<'_>, depth: usize) {
        let Some(schema) = schema.as_object() else {
            return;
        };
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
            && let Ok(resolved) = scope
                .registry
                .resolver((*scope.base).clone())
                .lookup(reference)
        {
            let inner = Scope {
                registry: scope.registry,
                base: resolved.resolver().base_uri(),
            };
            self.add(resolved.contents(), &inner, depth + 1);
        }
        match schema.get("type") {
            Some(Value::String(name)) => self.types.0 |= Types::of_name(name),
            Some(Value::Array(names)) => {
                for name in names.iter().filter_map(Value::as_str) {
                    self.types.0 |= Types::of_name(name);
                }
            }
            _ => {}
        }
        if let Some(value) = schema.get("const") {
            self.types.0 |= Types::of_value(value);
        }
        for value in schema
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.types.0 |= Types::of_value(value);
        }
        for keyword in ["anyOf", "oneOf", "allOf"] {
            for branch in schema
                .get(keyword)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.add(branch, scope, depth + 1);
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                self.properties
                    .entry(name.clone())
                    .or_default()
                    .add(property, scope, depth + 1);
            }
        }
        if let Some(additional) = schema.get("additionalProperties") {
            self.additional
                .get_or_insert_with(Box::default)
                .add(additional, scope, depth + 1);
        }
        if let Some(items) = schema.get("items") {
            self.items
                .get_or_insert_with(Box::default)
                .add(items, scope, depth + 1);
        }
    }

    fn child(&self, name: &str) -> Option<&QueryShape> {
        self.properties.get(name).or(self.additional.as_deref())
    }

    /// Types a string as the schema expects; unchanged when it cannot.
    fn convert(&self, text: String) -> Value {
        let types = self.types;
        if types.0 == 0 || types.has(Types::STRING) {
            return Value::String(text);
        }
        if types.has(Types::BOOLEAN) {
            match text.as_str() {
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            }
        }
        if (types.has(Types::INTEGER) || types.has(Types::NUMBER))
            && let Ok(number) = text.parse::<Number>()
            && (types.has(Types::NUMBER) || number.is_i64() || number.is_u64())
        {
            return Value::Number(number);
        }
        Value::String(text)
    }
}

/// One name's value before typing: a string, or the strings of a name
/// given more than once, or a nested object.
#[derive(Debug)]
enum Raw {
    One(String),
    Many(Vec<String>),
    Object(Vec<(String, Raw)>),
}

/// The pairs of a query as the value its schema is checked against.
pub fn read(pairs: &[(String, String)], shape: &QueryShape) -> Value {
    let mut root: Vec<(String, Raw)> = Vec::new();
    for (name, value) in pairs {
        match parse_name(name) {
            Some(path) => {
                if !insert(&mut root, &path, value) {
                    collapse(&mut root, &path, value);
                }
            }
            None => {
                insert(&mut root, &[Key::Name(name)], value);
            }
        }
    }
    typed_object(root, Some(shape))
}

/// A name used both for a value and for an object (`page=1&page[limit]=2`):
/// every string given under it, in order, as one array, which no schema of
/// the CMA takes, so the check reports it where it is.
fn collapse(root: &mut Vec<(String, Raw)>, path: &[Key<'_>], value: &str) {
    let Some(Key::Name(name)) = path.first() else {
        return;
    };
    let mut strings = Vec::new();
    if let Some(at) = root.iter().position(|(key, _)| key == name) {
        leaves(root.remove(at).1, &mut strings);
    }
    strings.push(value.to_owned());
    root.push(((*name).to_owned(), Raw::Many(strings)));
}

fn leaves(raw: Raw, into: &mut Vec<String>) {
    match raw {
        Raw::One(text) => into.push(text),
        Raw::Many(texts) => into.extend(texts),
        Raw::Object(entries) => entries.into_iter().for_each(|(_, raw)| leaves(raw, into)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Key<'a> {
    Name(&'a str),
    /// `[]`: append.
    Append,
}

/// `a[b][]` as `[Name(a), Name(b), Append]`; `None` when the brackets are
/// not of that form, or `[]` is not last (`a[][b]`: arrays of objects are
/// not a form the CMA reads).
fn parse_name(name: &str) -> Option<Vec<Key<'_>>> {
    let (head, mut rest) = match name.find('[') {
        Some(at) => name.split_at(at),
        None => return Some(vec![Key::Name(name)]),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![Key::Name(head)];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let key = &inner[..close];
        if key.contains('[') {
            return None;
        }
        rest = &inner[close + 1..];
        if key.is_empty() {
            if !rest.is_empty() {
                return None;
            }
            path.push(Key::Append);
        } else {
            path.push(Key::Name(key));
        }
    }
    Some(path)
}

/// Puts `value` at `path`; false when the path clashes with what is there.
fn insert(object: &mut Vec<(String, Raw)>, path: &[Key<'_>], value: &str) -> bool {
    let Some((Key::Name(name), rest)) = path.split_first() else {
        return false;
    };
    let existing = object.iter().position(|(key, _)| key == name);
    match (rest.first(), existing) {
        // `a=v` or `a[]=v`: a string, or one more value of the name.
        (None | Some(Key::Append), at) if rest.len() <= 1 => match at {
            None => {
                let raw = if rest.is_empty() {
                    Raw::One(value.to_owned())
                } else {
                    Raw::Many(vec![value.to_owned()])
                };
                object.push(((*name).to_owned(), raw));
                true
            }
            Some(at) => {
                let slot = &mut object[at].1;
                match slot {
                    Raw::One(first) => {
                        *slot = Raw::Many(vec![std::mem::take(first), value.to_owned()]);
                        true
                    }
                    Raw::Many(values) => {
                        values.push(value.to_owned());
                        true
                    }
                    Raw::Object(_) => false,
                }
            }
        },
        (Some(Key::Name(_)), None) => {
            let mut child = Vec::new();
            let inserted = insert(&mut child, rest, value);
            if inserted {
                object.push(((*name).to_owned(), Raw::Object(child)));
            }
            inserted
        }
        (Some(Key::Name(_)), Some(at)) => match &mut object[at].1 {
            Raw::Object(child) => insert(child, rest, value),
            _ => false,
        },
        _ => false,
    }
}

fn typed_object(entries: Vec<(String, Raw)>, shape: Option<&QueryShape>) -> Value {
    let mut object = Map::with_capacity(entries.len());
    for (name, raw) in entries {
        let child = shape.and_then(|shape| shape.child(&name));
        let value = typed(raw, child, &name);
        object.insert(name, value);
    }
    Value::Object(object)
}

fn typed(raw: Raw, shape: Option<&QueryShape>, name: &str) -> Value {
    match (raw, shape) {
        (Raw::One(text), Some(shape)) => shape.convert(text),
        (Raw::One(text), None) => Value::String(text),
        (Raw::Many(values), _) if name == INCLUDE => Value::String(values.join(",")),
        (Raw::Many(values), shape) => {
            let items = shape.and_then(|shape| shape.items.as_deref());
            Value::Array(
                values
                    .into_iter()
                    .map(|text| match items {
                        Some(items) => items.convert(text),
                        None => Value::String(text),
                    })
                    .collect(),
            )
        }
        (Raw::Object(entries), shape) => typed_object(entries, shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonschema::Registry;
    use serde_json::json;

    fn shape_of(schema: Value) -> QueryShape {
        let uri = "https://datovcr.invalid/test.json";
        let registry = Registry::new()
            .extend([(uri, schema.clone())])
            .and_then(|builder| builder.prepare())
            .unwrap();
        let base = Arc::new(jsonschema::uri::from_str(uri).unwrap());
        QueryShape::of(&schema, &registry, base)
    }

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn items_list_shape() -> QueryShape {
        shape_of(json!({
            "$defs": {
                "page": {"type": "object", "properties": {
                    "offset": {"type": "integer"}, "limit": {"type": "integer"}}}
            },
            "type": "object",
            "properties": {
                "nested": {"type": "boolean"},
                "filter": {"type": "object", "properties": {
                    "ids": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {}}
                }},
                "page": {"$ref": "#/$defs/page"},
                "ratio": {"type": ["null", "number"]},
                "version": {"enum": ["current", "published"]},
                "include": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "integer"}}
            }
        }))
    }

    #[test]
    fn bracketed_names_nest_and_values_take_the_schemas_types() {
        let shape = items_list_shape();
        let read = |query: &str| read(&pairs(query), &shape);
        assert_eq!(
            read("filter%5Btype%5D=12&page[limit]=500&page[offset]=0&nested=true&version=current"),
            json!({"filter": {"type": "12"}, "page": {"limit": 500, "offset": 0},
                   "nested": true, "version": "current"})
        );
        // Strings stay strings where the schema takes a string, even when
        // they look like numbers; open objects take any key.
        assert_eq!(
            read("filter[ids]=12,31&filter[fields][title][eq]=7"),
            json!({"filter": {"ids": "12,31", "fields": {"title": {"eq": "7"}}}})
        );
        assert_eq!(
            read("ratio=0.5&nested=false"),
            json!({"ratio": 0.5, "nested": false})
        );
        // What cannot be typed stays a string for the schema to report.
        assert_eq!(
            read("page[limit]=ten&nested=yes&page[offset]=1.5"),
            json!({"page": {"limit": "ten", "offset": "1.5"}, "nested": "yes"})
        );
        assert_eq!(read(""), json!({}));
    }

    #[test]
    fn include_is_one_list_whether_comma_separated_or_repeated() {
        let shape = items_list_shape();
        for query in [
            "include=item_types,item_types.fields",
            "include=item_types&include=item_types.fields",
        ] {
            assert_eq!(
                read(&pairs(query), &shape),
                json!({"include": "item_types,item_types.fields"}),
                "{query}"
            );
        }
        // Another name given twice is an array; typed when the schema takes one.
        assert_eq!(
            read(
                &pairs("tags=1&tags=2&version=current&version=published"),
                &shape
            ),
            json!({"tags": [1, 2], "version": ["current", "published"]})
        );
        assert_eq!(read(&pairs("tags[]=3"), &shape), json!({"tags": [3]}));
    }

    #[test]
    fn names_that_do_not_parse_are_kept_and_clashing_ones_collapse() {
        let shape = items_list_shape();
        for (query, expected) in [
            ("page[limit=1", json!({"page[limit": "1"})),
            ("[x]=1", json!({"[x]": "1"})),
            ("page[a]b=1", json!({"page[a]b": "1"})),
            ("page[[a]]=1", json!({"page[[a]]": "1"})),
            ("a[][b]=1", json!({"a[][b]": "1"})),
            ("a[][b]=1&a[][b]=2", json!({"a[][b]": ["1", "2"]})),
            ("page=1&page[limit]=2", json!({"page": ["1", "2"]})),
            ("page[limit]=2&page=1", json!({"page": ["2", "1"]})),
            (
                "page[limit]=2&page[limit][x]=3",
                json!({"page": ["2", "3"]}),
            ),
        ] {
            assert_eq!(read(&pairs(query), &shape), expected, "{query}");
        }
    }
}
