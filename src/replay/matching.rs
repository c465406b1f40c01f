//! Which parts of a request must match a recorded one, and the lookup key
//! built from them.
//!
//! A key is a canonical string of the matched parts: the method, the path,
//! the query pairs sorted (so order does not matter), the body as canonical
//! JSON (sorted keys, no whitespace, ignored pointers removed) or as raw
//! bytes, and the chosen headers. Requests with equal keys are the "same"
//! request, so lookup is one hash-map probe however large the cassette.

use crate::cassette::{Body, Headers, Query};
use crate::redact::RedactionRules;
use crate::redact::rules::is_secret_header;
use base64::Engine as _;
use serde_json::Value;
use std::fmt::Write as _;

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
                    Some(name) if !name.is_empty() => rules.headers.push(name.to_owned()),
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

    /// The lookup key for a request.
    pub fn key(&self, request: &RequestView<'_>) -> String {
        let mut key = String::with_capacity(64);
        if self.method {
            key.push_str(&request.method.to_ascii_uppercase());
        }
        key.push('\u{0}');
        if self.path {
            key.push_str(
                request
                    .path
                    .strip_suffix('/')
                    .filter(|p| !p.is_empty())
                    .unwrap_or(request.path),
            );
        }
        key.push('\u{0}');
        if self.query {
            let mut pairs: Vec<&(String, String)> = request.query.pairs().iter().collect();
            pairs.sort();
            for (name, value) in pairs {
                let _ = write!(key, "{}={}&", name.escape_default(), value.escape_default());
            }
        }
        key.push('\u{0}');
        for name in &self.headers {
            let _ = write!(key, "{}={}\u{1}", name, request.headers.joined(name).trim());
        }
        key.push('\u{0}');
        if self.body {
            self.write_body(&mut key, request.body);
        }
        key
    }

    fn write_body(&self, key: &mut String, body: &Body) {
        match body {
            Body::Empty => {}
            Body::Json(value) if self.ignore_body_pointers.is_empty() => canonical_json(key, value),
            Body::Json(value) => canonical_json(key, &self.without_ignored(value)),
            Body::Text(text) => {
                key.push_str("text:");
                key.push_str(text);
            }
            Body::Binary(bytes) => {
                key.push_str("base64:");
                key.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            }
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

/// JSON with object keys sorted and no whitespace, so `{"b":1,"a":2}` and a
/// pretty-printed `{"a": 2, "b": 1}` give the same text.
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
                // The key as a JSON string, escaped, without copying it into a Value.
                out.push_str(&serde_json::to_string(name).expect("a string serializes"));
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
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view<'a>(query: &'a Query, headers: &'a Headers, body: &'a Body) -> RequestView<'a> {
        RequestView {
            method: "PUT",
            path: "/access_tokens/1",
            query,
            headers,
            body,
        }
    }

    #[test]
    fn query_order_key_order_and_whitespace_do_not_matter() {
        let rules = MatchRules::default();
        let headers = Headers::new();
        let a_query = Query::parse("a=1&b=2");
        let b_query = Query::parse("b=2&a=1");
        let a_body = Body::from_bytes(br#"{"data":{"id":"1","type":"access_token"}}"#, None);
        let b_body = Body::from_bytes(
            b"{\n  \"data\": {\n    \"type\": \"access_token\",\n    \"id\": \"1\"\n  }\n}",
            None,
        );
        assert_eq!(
            rules.key(&view(&a_query, &headers, &a_body)),
            rules.key(&view(&b_query, &headers, &b_body))
        );
        let other = Body::Json(json!({"data": {"id": "2", "type": "access_token"}}));
        assert_ne!(
            rules.key(&view(&a_query, &headers, &a_body)),
            rules.key(&view(&a_query, &headers, &other))
        );
    }

    #[test]
    fn environment_header_matters_and_authorization_never_does() {
        let rules = MatchRules::default();
        let query = Query::default();
        let body = Body::Empty;
        let sandbox: Headers = [("x-environment", "sandbox"), ("authorization", "Bearer a")]
            .into_iter()
            .collect();
        let main: Headers = [("authorization", "Bearer b")].into_iter().collect();
        let main_other_token: Headers = [("authorization", "Bearer c")].into_iter().collect();
        assert_ne!(
            rules.key(&view(&query, &sandbox, &body)),
            rules.key(&view(&query, &main, &body))
        );
        assert_eq!(
            rules.key(&view(&query, &main, &body)),
            rules.key(&view(&query, &main_other_token, &body))
        );
        assert!(MatchRules::parse("method,header:authorization").is_err());
    }

    #[test]
    fn credential_headers_are_never_matched() {
        for name in [
            "authorization",
            "Authorization",
            "cookie",
            "x-api-key",
            "x-auth-token",
            "proxy-authorization",
            "x-session-id",
            "x-csrf-token",
        ] {
            let error = MatchRules::parse(&format!("method,header:{name}")).unwrap_err();
            assert!(error.contains("credential header"), "{name}: {error}");
        }
        let rules = MatchRules::parse("method,header:x-tenant").unwrap();
        assert!(
            rules
                .refuse_credential_headers(&RedactionRules::default())
                .is_ok()
        );
        let redacted = RedactionRules {
            headers: vec!["X-Tenant".into()],
            ..RedactionRules::default()
        };
        assert!(rules.refuse_credential_headers(&redacted).is_err());
    }

    #[test]
    fn match_spec_can_drop_the_body_and_pointers_can_be_ignored() {
        let rules = MatchRules::parse("method,path,query").unwrap();
        let (query, headers) = (Query::default(), Headers::new());
        let one = Body::Json(json!({"a": 1}));
        let two = Body::Json(json!({"a": 2}));
        assert_eq!(
            rules.key(&view(&query, &headers, &one)),
            rules.key(&view(&query, &headers, &two))
        );

        let mut rules = MatchRules::default();
        rules.ignore_body_pointers.push("/meta/nonce".into());
        let one = Body::Json(json!({"a": 1, "meta": {"nonce": "x"}}));
        let two = Body::Json(json!({"a": 1, "meta": {"nonce": "y"}}));
        assert_eq!(
            rules.key(&view(&query, &headers, &one)),
            rules.key(&view(&query, &headers, &two))
        );
        assert!(MatchRules::parse("method,bodies").is_err());
    }
}
