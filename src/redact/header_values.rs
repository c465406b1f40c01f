//! Header values read by the header rules, wherever they stand: on the
//! wire, and in the JSON maps of HTTP headers that bodies carry (a
//! webhook's custom `headers`, a webhook call's `request_headers`). One
//! reading for both, so a rule that redacts a header on the wire redacts
//! it in a body too.

use super::credentials::{self, looks_like_credential};
use super::places::{query_secrets, url_secrets};
use super::rules::is_secret_header;
use super::text::text_secrets;
use super::{PLACEHOLDER, URL_PLACEHOLDER, is_placeholder};
use crate::cassette::Interaction;
use serde_json::Value;
use std::ops::Range;

/// Which headers carry credentials: the built-in rules
/// ([`is_secret_header`]) and the `--redact-header` names, compared
/// without case (RFC 9110 §5.1).
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    /// `--redact-header` names, lowercased.
    names: Vec<String>,
}

/// What the header rules found in one header value.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundInValue {
    /// The value with its secrets replaced.
    pub replaced: String,
    /// The secrets, for the repeat rule: the whole credential and its
    /// parts (a bearer's token, a basic credential's password).
    pub secrets: Vec<String>,
}

impl HeaderRules {
    pub fn new(names: &[String]) -> Self {
        let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        Self { names }
    }

    /// True for a header, in any case, whose every value is a credential.
    pub fn is_credential(&self, name: &str) -> bool {
        is_secret_header(name) || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// True when every one of `values`, all the values of header `name`,
    /// is a credential: the name is a credential header's, or one of the
    /// values is spelled like a credential (challenges excepted). The field
    /// lines of one name are one list (RFC 9110 §5.3): `X-Forward: Token a`
    /// and `X-Forward: b` are `X-Forward: Token a, b`, read whole.
    pub fn is_credential_field<'v>(
        &self,
        name: &str,
        mut values: impl Iterator<Item = &'v str>,
    ) -> bool {
        self.is_credential(name) || (!is_challenge(name) && values.any(looks_like_credential))
    }

    /// The secrets in one value of header `name` (any case): all of it
    /// when `credential` (the name is a credential header's, or the caller
    /// knows the header holds one), or when the value is spelled like a
    /// credential (`Token …`), challenges (`WWW-Authenticate: Bearer
    /// realm=…`) excepted; else credentials in URLs and `name: value`
    /// text inside it (`Location: /cb?code=…`). `None` when it holds none.
    pub fn secrets_in_value(
        &self,
        name: &str,
        credential: bool,
        value: &str,
    ) -> Option<FoundInValue> {
        // A placeholder as this header's would be written: `sk_live_…
        // [REDACTED]` under `X-Api-Key` is not one, and is read as live.
        if value.eq_ignore_ascii_case(URL_PLACEHOLDER)
            || credentials::is_header_value_placeholder(name, value, PLACEHOLDER)
        {
            return None;
        }
        if credential || (!is_challenge(name) && looks_like_credential(value)) {
            let mut secrets = if name.eq_ignore_ascii_case("cookie") {
                credentials::cookie_secrets(value, false)
            } else if name.eq_ignore_ascii_case("set-cookie") {
                credentials::cookie_secrets(value, true)
            } else {
                credentials::authorization_secrets(value)
            };
            secrets.extend(credentials::dropped_first_word(name, value));
            return Some(FoundInValue {
                replaced: credentials::header_placeholder(name, value, PLACEHOLDER),
                secrets,
            });
        }
        // A value with none of these characters holds neither a URL nor
        // `name: value` text.
        if !value.contains(['?', '#', '=', ':']) {
            return None;
        }
        let mut spans = text_secrets(value);
        spans.extend(url_secrets(value).unwrap_or_default());
        spans.extend(query_secrets(value));
        (!spans.is_empty()).then(|| replace_found(value, spans))
    }
}

/// True for a challenge header (`WWW-Authenticate`, `Proxy-Authenticate`),
/// in any case: its `Bearer realm=…` names a scheme, not a credential.
fn is_challenge(name: &str) -> bool {
    ends_with_ignoring_case(name, "-authenticate")
}

/// `text.ends_with(suffix)`, ASCII case ignored, without a lowercased copy.
fn ends_with_ignoring_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// `text` with each span replaced by [`URL_PLACEHOLDER`] (spans in URLs and
/// forms) or [`PLACEHOLDER`] (values quoted in prose), with the values.
pub(super) fn replace_found(text: &str, mut spans: Vec<(Range<usize>, String)>) -> FoundInValue {
    spans.sort_by_key(|(range, _)| range.start);
    let mut secrets = Vec::with_capacity(spans.len() * 2);
    // Two rules can find overlapping spans (a form field and a `name:
    // value` in it): the union is replaced, never just the first.
    let mut merged: Vec<Range<usize>> = Vec::new();
    for (range, value) in spans {
        secrets.push(text[range.clone()].to_owned());
        secrets.push(value);
        match merged.last_mut() {
            Some(last) if range.start < last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let first_url = text.find("://");
    let mut replaced = String::with_capacity(text.len());
    let mut last = 0;
    for range in merged {
        replaced.push_str(&text[last..range.start]);
        let in_url =
            first_url.is_some_and(|at| at < range.start) || text[..range.start].ends_with('=');
        replaced.push_str(if in_url { URL_PLACEHOLDER } else { PLACEHOLDER });
        last = range.end;
    }
    replaced.push_str(&text[last..]);
    FoundInValue { replaced, secrets }
}

/// True for a JSON attribute that maps HTTP header names to their values:
/// a webhook's custom `headers`, a webhook call's `request_headers` and
/// `response_headers`, an upload request's `request_headers` (5.8.1), and
/// any other `headers` or `…_headers` object, in any case.
pub fn is_header_map(key: &str) -> bool {
    // Asked of every member name of every body: no lowercased copy.
    key.eq_ignore_ascii_case("headers") || ends_with_ignoring_case(key, "_headers")
}

/// The names of the headers a recorded interaction holds as placeholders
/// that no built-in rule redacts: on the wire, and in the maps of HTTP
/// headers of its JSON bodies. The recording was made with
/// `--redact-header` for each; what reads the cassette later
/// (`schema-check`, `replay --on-miss record`) applies the same rules.
pub fn redacted_header_names(interaction: &Interaction) -> Vec<String> {
    let mut names = Vec::new();
    let sides = [
        (&interaction.request.headers, &interaction.request.body),
        (&interaction.response.headers, &interaction.response.body),
    ];
    for (headers, body) in sides {
        for (name, values) in headers.iter() {
            if values.iter().any(|value| is_placeholder(value.as_str())) {
                names.push(name.to_owned());
            }
        }
        if let crate::cassette::Body::Json(json) = body {
            placeholder_names_in_maps(json, 0, &mut names);
        }
    }
    names.retain(|name| !is_secret_header(name));
    names.sort_by_key(|name| name.to_ascii_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
}

fn placeholder_names_in_maps(value: &Value, depth: usize, names: &mut Vec<String>) {
    // Cassette JSON is bounded in depth already; this keeps the walk so
    // whatever reads it.
    if depth > crate::cassette::MAX_JSON_DEPTH {
        return;
    }
    let holds_placeholder = |value: &Value| match value {
        Value::String(text) => is_placeholder(text),
        Value::Array(items) => items
            .iter()
            .any(|item| item.as_str().is_some_and(is_placeholder)),
        _ => false,
    };
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|item| placeholder_names_in_maps(item, depth + 1, names)),
        Value::Object(object) => {
            for (key, child) in object {
                if let Value::Object(map) = child
                    && is_header_map(key)
                {
                    names.extend(
                        map.iter()
                            .filter(|(_, value)| holds_placeholder(value))
                            .map(|(name, _)| name.clone()),
                    );
                }
                placeholder_names_in_maps(child, depth + 1, names);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_header_names_match_in_any_case() {
        let rules = HeaderRules::new(&["X-Tenant-Ref".into(), "x-customer".into()]);
        for name in [
            "x-tenant-ref",
            "X-TENANT-REF",
            "X-Customer",
            "authorization",
        ] {
            assert!(rules.is_credential(name), "{name}");
        }
        assert!(!rules.is_credential("x-tenant"));
        assert!(!HeaderRules::default().is_credential("x-customer"));
    }

    #[test]
    fn a_value_is_read_the_same_whatever_the_name_case() {
        let rules = HeaderRules::default();
        let found = rules
            .secrets_in_value("Set-Cookie", true, "sid=c-1; Path=/")
            .unwrap();
        assert_eq!(found.replaced, PLACEHOLDER);
        assert!(found.secrets.contains(&"c-1".to_owned()));
        let bearer = rules
            .secrets_in_value("X-Forward", false, "Bearer t-1")
            .unwrap();
        assert_eq!(bearer.replaced, format!("Bearer {PLACEHOLDER}"));
        assert!(bearer.secrets.contains(&"t-1".to_owned()));
        assert_eq!(
            rules.secrets_in_value("WWW-Authenticate", false, "Bearer realm=\"x\""),
            None
        );
        let link = rules
            .secrets_in_value("Link", false, "</p?sig=s-1>; rel=\"next\"")
            .unwrap();
        assert_eq!(
            link.replaced,
            format!("</p?sig={URL_PLACEHOLDER}>; rel=\"next\"")
        );
        assert_eq!(rules.secrets_in_value("X-Source", false, "datovcr"), None);
    }
}
