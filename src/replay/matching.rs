//! Which parts of a request must match a recorded one, each in its normal
//! form, and the lookup key written from them.
//!
//! [`MatchRules::parts`] reduces a request to its [`MatchParts`]: the method
//! in capitals; the path with its percent-encoding normalised (RFC 3986
//! §6.2.2) and one trailing slash dropped; the query pairs sorted (order does
//! not matter, repeats do); each matched header's values joined; the body as
//! JSON (ignored pointers removed, numbers compared by value), text or bytes.
//! The key is those parts written out so that no two different parts give
//! one key ([`MatchParts::key`]): requests with equal keys are the "same"
//! request, so lookup is one hash-map probe however large the cassette. A
//! miss is explained by comparing the parts of two requests ([`super::miss`]),
//! never the requests themselves, so an explanation names a difference
//! exactly when the keys differ.

use super::number;
use crate::cassette::{Body, Headers, Query, RecordedRequest};
use crate::redact::RedactionRules;
use crate::redact::rules::is_secret_header;
use base64::Engine as _;
use serde_json::Value;
use std::borrow::Cow;

/// `--match` and `--ignore-body-pointer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRules {
    pub method: bool,
    pub path: bool,
    pub query: bool,
    pub body: bool,
    /// Lowercase header names whose values must match. Never a credential
    /// header (`authorization`, `cookie`, `x-api-key`, any name
    /// [`is_secret_header`] catches, any `--redact-header`).
    pub headers: Vec<String>,
    /// JSON pointers left out of body comparison (volatile fields).
    pub ignore_body_pointers: Vec<String>,
}

impl Default for MatchRules {
    fn default() -> Self {
        Self {
            method: true,
            path: true,
            query: true,
            body: true,
            headers: vec!["x-environment".into()],
            ignore_body_pointers: Vec::new(),
        }
    }
}

/// The parts of a request that matching looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a Query,
    pub headers: &'a Headers,
    pub body: &'a Body,
}

impl<'a> From<&'a RecordedRequest> for RequestView<'a> {
    /// A recorded request as matching sees it, every part as recorded.
    fn from(request: &'a RecordedRequest) -> Self {
        RequestView {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
        }
    }
}

impl MatchRules {
    /// Parses `method,path,query,body,header:x-environment`. The list
    /// replaces the default, so `--match method,path,query` ignores bodies.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = MatchRules {
            method: false,
            path: false,
            query: false,
            body: false,
            headers: Vec::new(),
            ignore_body_pointers: Vec::new(),
        };
        for part in spec
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            match part.to_ascii_lowercase().as_str() {
                "method" => rules.method = true,
                "path" => rules.path = true,
                "query" => rules.query = true,
                "body" => rules.body = true,
                other => match other.strip_prefix("header:") {
                    Some(name) if is_secret_header(name) => {
                        return Err(credential_header_refusal(name));
                    }
                    Some(name) if !name.is_empty() => {
                        // A name no request can carry would match nothing,
                        // silently.
                        crate::cassette::check_name(name).map_err(|rule| {
                            format!("--match: `{part}`: {rule}; name a header as it is sent")
                        })?;
                        rules.headers.push(name.to_owned());
                    }
                    _ => {
                        return Err(format!(
                            "--match: unknown part `{part}`; use method, path, query, body or header:NAME, comma-separated"
                        ));
                    }
                },
            }
        }
        Ok(rules)
    }

    /// Refuses to match on a header the redaction rules treat as a
    /// credential (`--redact-header`, besides the built-in ones [`MatchRules::parse`]
    /// already refuses): cassettes hold a placeholder for it, and a miss
    /// explanation would print the received value next to it.
    pub fn refuse_credential_headers(&self, redaction: &RedactionRules) -> Result<(), String> {
        match self.headers.iter().find(|name| {
            is_secret_header(name)
                || redaction
                    .headers
                    .iter()
                    .any(|redacted| redacted.eq_ignore_ascii_case(name))
        }) {
            Some(name) => Err(credential_header_refusal(name)),
            None => Ok(()),
        }
    }

    /// The lookup key for a request: [`MatchRules::parts`], written out.
    pub fn key(&self, request: &RequestView<'_>) -> String {
        self.parts(request).key()
    }

    /// The parts of `request` these rules compare, each in its normal form.
    pub fn parts<'a>(&'a self, request: &RequestView<'a>) -> MatchParts<'a> {
        MatchParts {
            method: self.method.then(|| capitals(request.method)),
            path: self.path.then(|| normal_path(request.path)),
            query: self.query.then(|| {
                // By bytes: `%FF` and `%FE` are two values, though both
                // are read as text one character each.
                let mut pairs: Vec<(&str, Cow<'a, str>)> = request.query.exact_pairs().collect();
                pairs.sort_unstable();
                pairs
            }),
            headers: self
                .headers
                .iter()
                .map(|name| {
                    (
                        name.as_str(),
                        request.headers.joined_exact(name).trim().to_owned(),
                    )
                })
                .collect(),
            body: self.body.then(|| match request.body {
                Body::Empty => BodyPart::Empty,
                Body::Json(value) if self.ignore_body_pointers.is_empty() => {
                    BodyPart::Json(Cow::Borrowed(value))
                }
                Body::Json(value) => BodyPart::Json(Cow::Owned(self.without_ignored(value))),
                Body::Text(text) => BodyPart::Text(text),
                Body::Binary(bytes) => BodyPart::Binary(bytes),
            }),
        }
    }

    /// The body with every ignored pointer removed.
    pub fn without_ignored(&self, value: &Value) -> Value {
        let mut value = value.clone();
        for pointer in &self.ignore_body_pointers {
            remove_pointer(&mut value, pointer);
        }
        value
    }
}

fn credential_header_refusal(name: &str) -> String {
    format!(
        "--match: header:{name} is a credential header and is never matched: cassettes hold a \
         placeholder for it, and a miss explanation would print the value received"
    )
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.shift_remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>()
                && index < items.len()
            {
                items[index] = Value::Null;
            }
        }
        _ => {}
    }
}

/// A request reduced to what [`MatchRules`] compare, each part in its
/// normal form; `None` for a part the rules leave out.
#[derive(Debug, Clone)]
pub struct MatchParts<'a> {
    /// In capitals: `get` is `GET`.
    pub method: Option<Cow<'a, str>>,
    /// See [`normal_path`].
    pub path: Option<Cow<'a, str>>,
    /// Decoded pairs, sorted: `b=2&a=1` is `a=1&b=2`, `a=2&a=1` is
    /// `a=1&a=2`; `a=1` is not `a=1&a=1`.
    pub query: Option<Vec<(&'a str, Cow<'a, str>)>>,
    /// Each matched header in the rules' order, its values joined with ", "
    /// and trimmed (RFC 9110 §5.3: field lines combine that way); absent is "".
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<BodyPart<'a>>,
}

/// A body as matching compares it.
#[derive(Debug, Clone)]
pub enum BodyPart<'a> {
    Empty,
    /// Ignored pointers removed; compared by [`json_equal`].
    Json(Cow<'a, Value>),
    Text(&'a str),
    Binary(&'a [u8]),
}

impl BodyPart<'_> {
    /// Equal exactly when the key writes them alike.
    pub fn same_as(&self, other: &BodyPart<'_>) -> bool {
        match (self, other) {
            (BodyPart::Empty, BodyPart::Empty) => true,
            (BodyPart::Json(a), BodyPart::Json(b)) => json_equal(a, b),
            (BodyPart::Text(a), BodyPart::Text(b)) => a == b,
            (BodyPart::Binary(a), BodyPart::Binary(b)) => a == b,
            _ => false,
        }
    }
}

impl MatchParts<'_> {
    /// The parts written out, every string quoted as JSON quotes it, so that
    /// different parts never give one key (`a=b` = `c` is not `a` = `b=c`).
    pub fn key(&self) -> String {
        let mut key = String::with_capacity(64);
        if let Some(method) = &self.method {
            key.push('M');
            push_quoted(&mut key, method);
        }
        if let Some(path) = &self.path {
            key.push('P');
            push_quoted(&mut key, path);
        }
        if let Some(query) = &self.query {
            key.push('Q');
            for (name, value) in query {
                push_quoted(&mut key, name);
                push_quoted(&mut key, value);
            }
        }
        for (name, value) in &self.headers {
            key.push('H');
            push_quoted(&mut key, name);
            push_quoted(&mut key, value);
        }
        match &self.body {
            None => {}
            Some(BodyPart::Empty) => key.push_str("BE"),
            Some(BodyPart::Json(value)) => {
                key.push_str("BJ");
                canonical_json(&mut key, value);
            }
            Some(BodyPart::Text(text)) => {
                key.push_str("BT");
                push_quoted(&mut key, text);
            }
            Some(BodyPart::Binary(bytes)) => {
                key.push_str("BX");
                base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut key);
            }
        }
        key
    }
}

fn capitals(method: &str) -> Cow<'_, str> {
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(method.to_ascii_uppercase())
    } else {
        Cow::Borrowed(method)
    }
}

/// The path as matching compares it: percent-encoding normalised as RFC
/// 3986 §6.2.2.1-2 says (an encoded unreserved character is that character,
/// `%7e` is `~`; other encodings are kept, their hex digits in capitals, so
/// `%2f` is `%2F` and never `/`), then one trailing slash dropped (`/items/`
/// is `/items`, `/items//` is `/items/`; `/` stays).
pub fn normal_path(path: &str) -> Cow<'_, str> {
    let mut path = percent_normalized(path);
    if path.len() > 1 && path.ends_with('/') {
        match &mut path {
            Cow::Borrowed(borrowed) => *borrowed = &borrowed[..borrowed.len() - 1],
            Cow::Owned(owned) => {
                owned.pop();
            }
        }
    }
    path
}

fn percent_normalized(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let hex = |byte: Option<&u8>| byte.and_then(|&b| char::from(b).to_digit(16));
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match (
            bytes[index],
            hex(bytes.get(index + 1)),
            hex(bytes.get(index + 2)),
        ) {
            (b'%', Some(high), Some(low)) => {
                let byte = (high * 16 + low) as u8;
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(byte);
                } else {
                    out.push(b'%');
                    out.extend(
                        bytes[index + 1..index + 3]
                            .iter()
                            .map(u8::to_ascii_uppercase),
                    );
                }
                index += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    // Only ASCII was rewritten, so the bytes are still UTF-8.
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
    )
}

/// JSON with object keys sorted, no whitespace and numbers in one exact
/// decimal form (`[-]DIGITS` `e` `EXPONENT`, no float), so `{"b":1,"a":2.0}`
/// and a pretty-printed `{"a": 2, "b": 1}` give the same text.
pub fn canonical_json(out: &mut String, value: &Value) {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (name, child)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                push_quoted(out, name);
                out.push(':');
                canonical_json(out, child);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, child) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(out, child);
            }
            out.push(']');
        }
        Value::Number(number) => number::write_canonical(number.as_str(), out),
        Value::String(text) => push_quoted(out, text),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Null => out.push_str("null"),
    }
}

/// A string as JSON writes it: quoted, with quotes, backslashes and
/// control characters escaped, so where it ends is never in doubt.
pub(super) fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < b' ') {
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(text);
    }
    out.push('"');
}

/// Whether two JSON values have one [`canonical_json`] text: objects with
/// the same names and equal members in any order, arrays equal item by
/// item, numbers by value, other scalars exactly.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, x)| b.get(name).is_some_and(|y| json_equal(x, y)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y))
        }
        (Value::Number(a), Value::Number(b)) => number::same_value(a.as_str(), b.as_str()),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests;
