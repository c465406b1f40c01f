//! Where secrets sit in JSON documents, URLs and free text, found without
//! changing anything: the redactor replaces what this finds, `schema-check`
//! reports it, and log scrubbing collects it.

use super::header_values::{FoundInValue, HeaderRules, is_header_map, replace_found};
use super::rules::{
    PUBLIC_TYPES, is_public_attribute, is_secret_name, is_secret_url_param, type_has_secret_id,
};
use super::text::{text_secrets, url_secrets_in_text};
use super::{URL_PLACEHOLDER, is_placeholder};
use crate::contract::push_pointer_token;
use serde_json::Value;
use std::fmt::Write as _;
use std::ops::Range;

/// A secret string at a JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPlace {
    pub pointer: String,
    pub what: Secret,
}

/// What is secret in one string.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    /// The whole string.
    Whole(String),
    /// Parts of it (URL parameters, userinfo, `name=value` pairs): each
    /// byte range and the decoded secret it holds.
    Spans(Vec<(Range<usize>, String)>),
    /// A number under a secret name, as written.
    Number(String),
    /// A header value in a map of HTTP headers, read by the header rules,
    /// or a string read as text ([`string_text_secrets`]): what it
    /// becomes, and the secrets it held.
    Header(super::header_values::FoundInValue),
}

impl Secret {
    pub fn values(&self) -> Vec<&str> {
        match self {
            Secret::Whole(value) | Secret::Number(value) => vec![value],
            Secret::Spans(spans) => spans.iter().map(|(_, value)| value.as_str()).collect(),
            Secret::Header(found) => found.secrets.iter().map(String::as_str).collect(),
        }
    }

    /// `text` with the secret replaced: the whole string by `placeholder`,
    /// spans by the URL-safe placeholder.
    pub fn apply(&self, text: &str, placeholder: &str) -> String {
        match self {
            Secret::Whole(_) | Secret::Number(_) => placeholder.to_owned(),
            Secret::Spans(spans) => replace_spans(text, spans.iter().map(|(r, _)| r.clone())),
            Secret::Header(found) => found.replaced.clone(),
        }
    }
}

fn replace_spans(text: &str, spans: impl Iterator<Item = Range<usize>>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        if span.start < last {
            continue;
        }
        out.push_str(&text[last..span.start]);
        out.push_str(URL_PLACEHOLDER);
        last = span.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Every secret string in a JSON document: by attribute name (strings
/// only, public attributes excepted), by resource type (a `session`'s id),
/// by `headers` inside a map of HTTP headers ([`is_header_map`]), and
/// URL-valued strings' credentials.
pub fn json_places(value: &Value, headers: &HeaderRules) -> Vec<JsonPlace> {
    let mut walk = Walk {
        headers,
        pointer: String::new(),
        places: Vec::new(),
    };
    walk.value(value, None, false, false);
    walk.places
}

struct Walk<'r> {
    headers: &'r HeaderRules,
    pointer: String,
    places: Vec<JsonPlace>,
}

impl Walk<'_> {
    /// `public_fields`: inside the `attributes` of a resource whose field
    /// names are the project's own ([`PUBLIC_TYPES`]), where the name rule
    /// does not apply.
    fn value(
        &mut self,
        value: &Value,
        resource_type: Option<&str>,
        secret_key: bool,
        public_fields: bool,
    ) {
        let len = self.pointer.len();
        match value {
            Value::String(text) => {
                if is_placeholder(text) {
                    return;
                }
                let what = if secret_key {
                    Secret::Whole(text.clone())
                } else if let Some(spans) = url_secrets(text) {
                    Secret::Spans(spans)
                } else if let Some(found) = string_text_secrets(text, public_fields) {
                    Secret::Header(found)
                } else {
                    return;
                };
                self.push(what);
            }
            // A numeric credential (`"password": 12345678`) is a secret too;
            // booleans and null never are.
            Value::Number(number) if secret_key && number.as_f64() != Some(0.0) => {
                self.push(Secret::Number(number.to_string()));
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.pointer.push('/');
                    let _ = write!(self.pointer, "{index}");
                    self.value(item, resource_type, secret_key, public_fields);
                    self.pointer.truncate(len);
                }
            }
            Value::Object(object) => {
                let own_type = object.get("type").and_then(Value::as_str);
                let kind = own_type.or(resource_type);
                // A nested resource of another type has DatoCMS's own names.
                let public_fields =
                    public_fields && own_type.is_none_or(|t| PUBLIC_TYPES.contains(&t));
                let own_fields_public = own_type.is_some_and(|t| PUBLIC_TYPES.contains(&t));
                // A secret-named object (a JWK, `{"value": …}`) is secret
                // throughout, except a JSON:API relationship or resource
                // identifier, which only links to something.
                let inherited = secret_key && !is_linkage(value);
                for (key, child) in object {
                    let secret = inherited
                        || (!child.is_boolean()
                            && ((key == "id" && own_type.is_some_and(type_has_secret_id))
                                || (is_secret_name(key)
                                    && !public_fields
                                    && !is_public_attribute(kind, key))));
                    self.pointer.push('/');
                    push_pointer_token(&mut self.pointer, key);
                    match child {
                        Value::Object(headers) if !public_fields && is_header_map(key) => {
                            self.header_map(headers, kind, secret);
                        }
                        _ => {
                            let child_public =
                                public_fields || (own_fields_public && key == "attributes");
                            self.value(child, kind, secret, child_public);
                        }
                    }
                    self.pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// The entries of a map of HTTP headers are read as headers are on the
    /// wire ([`HeaderRules::secrets_in_value`]): a credential header's value
    /// (built in or `--redact-header`, in any case), a value spelled like a
    /// credential under any name (`X-Forward-To: Token …`, one such value
    /// of a list makes the whole header one), URL credentials in any other.
    fn header_map(
        &mut self,
        headers: &serde_json::Map<String, Value>,
        resource_type: Option<&str>,
        secret_key: bool,
    ) {
        let len = self.pointer.len();
        for (name, value) in headers {
            // One value or a list of them, read as on the wire.
            let texts = (value.as_str().into_iter()).chain(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            let credential = !value.is_boolean()
                && (secret_key || self.headers.is_credential_field(name, texts));
            self.pointer.push('/');
            push_pointer_token(&mut self.pointer, name);
            match value {
                Value::String(text) => self.header_value(name, credential, text),
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    for (index, item) in items.iter().enumerate() {
                        let at = self.pointer.len();
                        self.pointer.push('/');
                        let _ = write!(self.pointer, "{index}");
                        self.header_value(name, credential, item.as_str().unwrap_or_default());
                        self.pointer.truncate(at);
                    }
                }
                _ => self.value(value, resource_type, credential, false),
            }
            self.pointer.truncate(len);
        }
    }

    fn header_value(&mut self, name: &str, credential: bool, text: &str) {
        if let Some(found) = self.headers.secrets_in_value(name, credential, text) {
            self.push(Secret::Header(found));
        }
    }

    fn push(&mut self, what: Secret) {
        self.places.push(JsonPlace {
            pointer: self.pointer.clone(),
            what,
        });
    }
}

/// A JSON:API relationship (`{"data": {"type", "id"}}`) or resource
/// identifier (`{"type", "id"}`): a link, never a credential by its name.
fn is_linkage(value: &Value) -> bool {
    let Value::Object(object) = value else {
        return false;
    };
    let within = |allowed: &[&str]| object.keys().all(|key| allowed.contains(&key.as_str()));
    (object.contains_key("data") && within(&["data", "links", "meta"]))
        || (object.contains_key("type")
            && object.contains_key("id")
            && within(&["type", "id", "meta"]))
}

/// The secrets of a string that is more than a URL, read as a text body
/// is: prose quoting a URL (`"failed: https://u:pw@host/x"`, `"go to
/// /cb?code=… now"`), or a document serialized into a string (a webhook
/// call's `request_payload`, a form, an error quoting a request), whose
/// named values (`"token": "…"`, `password=…`) are secrets as they are in
/// a text body. In a record's own fields (`public_fields`), whose words are
/// the project's, only the shape rule reads it (URL credentials). `None`
/// when it holds none.
pub fn string_text_secrets(text: &str, public_fields: bool) -> Option<FoundInValue> {
    if let Some(spans) = plain_text_secrets(text, public_fields) {
        return Some(replace_found(text, spans));
    }
    escaped_text_secrets(text, public_fields)
}

/// [`string_text_secrets`]' reading of the text as it stands.
fn plain_text_secrets(text: &str, public_fields: bool) -> Option<Vec<(Range<usize>, String)>> {
    // With none of these there is neither a URL nor `name: value` text.
    if !text.contains(['?', '#', '=', ':']) {
        return None;
    }
    let mut spans = if public_fields {
        url_secrets_in_text(text)
    } else {
        text_secrets(text)
    };
    spans.extend(query_secrets(text));
    (!spans.is_empty()).then_some(spans)
}

/// Text escaped inside a string (`password%3D…`, `token&#61;…`, a form
/// percent-encoded into a JSON string), read in its unescaped views as a
/// text body's are. The secrets found there have no span in the string as
/// it stands, so the whole string is replaced; each is a secret of its own,
/// scrubbed in every form wherever it repeats.
fn escaped_text_secrets(text: &str, public_fields: bool) -> Option<FoundInValue> {
    if !super::escapes::may_be_escaped(text.as_bytes()) {
        return None;
    }
    let mut secrets: Vec<String> = Vec::new();
    for view in super::escapes::views(text.as_bytes()).iter().skip(1) {
        let view = String::from_utf8_lossy(view);
        if let Some(spans) = plain_text_secrets(&view, public_fields) {
            secrets.extend(spans.into_iter().map(|(_, value)| value));
        }
    }
    secrets.retain(|secret| !secret.is_empty() && !is_placeholder(secret));
    (!secrets.is_empty()).then(|| FoundInValue {
        replaced: super::PLACEHOLDER.to_owned(),
        secrets,
    })
}

/// The credential parts of a URL-valued string: userinfo, and query or
/// fragment parameters that [`is_secret_url_param`] names. `None` when the
/// string is not a URL or holds no credential.
pub fn url_secrets(text: &str) -> Option<Vec<(Range<usize>, String)>> {
    // Asked of every string of every body: most hold no scheme, query or
    // fragment and do not start with an authority, and so hold no URL.
    if memchr::memchr3(b':', b'?', b'#', text.as_bytes()).is_none() && !text.starts_with("//") {
        return None;
    }
    url_secrets_read(text)
}

/// [`url_secrets`] without its early answer: the whole reading, which the
/// early answer must never change (`redact::rewrite_tests`).
pub(super) fn url_secrets_read(text: &str) -> Option<Vec<(Range<usize>, String)>> {
    // A relative reference (`/oauth/cb?code=…`, `cb?code=…`, `?code=…`,
    // `//cdn.example/x?key=…`) carries parameters too.
    let scheme_end = match text.find(':') {
        Some(at)
            if text[..at]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            at
        }
        _ => return relative_url_secrets(text),
    };
    let scheme = &text[..scheme_end];
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let mut spans = Vec::new();
    let after_scheme = scheme_end + 1;
    if text[after_scheme..].starts_with("//") {
        let authority_start = after_scheme + 2;
        let authority_end = text[authority_start..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |at| authority_start + at);
        if let Some(at) = text[authority_start..authority_end].rfind('@') {
            let userinfo = authority_start..authority_start + at;
            if !text[userinfo.clone()].is_empty() && !is_placeholder(&text[userinfo.clone()]) {
                spans.push((userinfo.clone(), percent_decode(&text[userinfo])));
            }
        }
    } else if !text[after_scheme..].contains(['?', '#']) {
        return None;
    }
    let query_start = text.find('?').map(|at| at + 1);
    let fragment_start = text.find('#').map(|at| at + 1);
    for start in [query_start, fragment_start].into_iter().flatten() {
        let end = text[start..].find('#').map_or(text.len(), |at| start + at);
        spans.extend(param_secrets(text, start..end, is_secret_url_param));
    }
    (!spans.is_empty()).then_some(spans)
}

/// [`url_secrets`] for a reference without a scheme: a string with no
/// whitespace holding a `?` or `#`, or starting with `//`.
pub(super) fn relative_url_secrets(text: &str) -> Option<Vec<(Range<usize>, String)>> {
    if text.is_empty() || text.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let mut spans = Vec::new();
    if let Some(rest) = text.strip_prefix("//") {
        let authority_end = rest.find(['/', '?', '#']).map_or(text.len(), |at| at + 2);
        if let Some(at) = text[2..authority_end].rfind('@') {
            let userinfo = 2..2 + at;
            if !is_placeholder(&text[userinfo.clone()]) {
                spans.push((userinfo.clone(), percent_decode(&text[userinfo])));
            }
        }
    }
    spans.extend(query_secrets(text));
    (!spans.is_empty()).then_some(spans)
}

/// Credential parameters after every `?` or `#` in `text`, each query
/// running to whitespace, a quote, `>` or the next `#`: for header values
/// that hold URLs among other things (`Link: </p?sig=…>; rel="next"`,
/// `Refresh: 0;URL=x?key=…`).
pub fn query_secrets(text: &str) -> Vec<(Range<usize>, String)> {
    let mut spans = Vec::new();
    for (at, _) in text.match_indices(['?', '#']) {
        let start = at + 1;
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '"' | '\'' | '#' | ','))
            .map_or(text.len(), |len| start + len);
        spans.extend(param_secrets(text, start..end, is_secret_url_param));
    }
    spans
}

/// `name=value` pairs in `text[range]` (separated by `&` or `;`) whose name
/// `is_secret` accepts: the value spans and their decoded values.
pub fn param_secrets(
    text: &str,
    range: Range<usize>,
    is_secret: impl Fn(&str) -> bool,
) -> Vec<(Range<usize>, String)> {
    let mut spans = Vec::new();
    let mut at = range.start;
    for pair in text[range.clone()].split(['&', ';']) {
        if let Some((name, value)) = pair.split_once('=') {
            let value_start = at + name.len() + 1;
            let span = value_start..value_start + value.len();
            let decoded = percent_decode(value);
            if !value.is_empty() && !is_placeholder(&decoded) && is_secret(&percent_decode(name)) {
                spans.push((span, decoded));
            } else if decoded != value
                && let Some(nested) = encoded_url_secrets(decoded.clone())
            {
                // A URL percent-encoded into a parameter (OAuth's
                // `redirect_uri`, a login's `next`): its credentials have
                // no span of their own in this text, so the whole value is
                // replaced, each of them a secret wherever it repeats.
                spans.push((span.clone(), decoded.clone()));
                spans.extend(nested.into_iter().map(|(_, secret)| (span.clone(), secret)));
            }
        }
        at += pair.len() + 1;
    }
    spans
}

/// The credentials of a URL percent-encoded (once or more, up to four
/// rounds, as the catch-all view unescapes) into a parameter value that is
/// `decoded` once.
fn encoded_url_secrets(mut decoded: String) -> Option<Vec<(Range<usize>, String)>> {
    for _ in 0..4 {
        if let Some(found) = url_secrets(&decoded) {
            return Some(found);
        }
        let again = percent_decode(&decoded);
        if again == decoded {
            return None;
        }
        decoded = again;
    }
    None
}

/// Percent-decoding with `+` as space, lossy on invalid UTF-8.
pub fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
