//! Where secrets sit in JSON documents, URLs and free text, found without
//! changing anything: the redactor replaces what this finds, `schema-check`
//! reports it, and log scrubbing collects it.

use super::credentials::looks_like_credential;
use super::header_values::{HeaderRules, is_header_map};
use super::rules::{
    PUBLIC_TYPES, is_public_attribute, is_secret_name, is_secret_url_param, type_has_secret_id,
};
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
    /// A header value in a map of HTTP headers, read by the header rules:
    /// what it becomes, and the secrets it held.
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
            let challenge = name.to_ascii_lowercase().ends_with("-authenticate");
            let spelled = |value: &Value| value.as_str().is_some_and(looks_like_credential);
            let credential = !value.is_boolean()
                && (secret_key
                    || self.headers.is_credential(name)
                    || (!challenge
                        && (spelled(value)
                            || value.as_array().is_some_and(|v| v.iter().any(spelled)))));
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

/// The credential parts of a URL-valued string: userinfo, and query or
/// fragment parameters that [`is_secret_url_param`] names. `None` when the
/// string is not a URL or holds no credential.
pub fn url_secrets(text: &str) -> Option<Vec<(Range<usize>, String)>> {
    // Asked of every string of every body: most hold no scheme, query or
    // fragment and do not start with an authority, and so hold no URL.
    if memchr::memchr3(b':', b'?', b'#', text.as_bytes()).is_none() && !text.starts_with("//") {
        return None;
    }
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
            let decoded = percent_decode(value);
            if !value.is_empty() && !is_placeholder(&decoded) && is_secret(&percent_decode(name)) {
                spans.push((value_start..value_start + value.len(), decoded));
            }
        }
        at += pair.len() + 1;
    }
    spans
}

/// Percent-decoding with `+` as space, lossy on invalid UTF-8.
pub fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::PLACEHOLDER;
    use serde_json::json;

    fn pointers(value: &Value) -> Vec<String> {
        json_places(value, &HeaderRules::default())
            .into_iter()
            .map(|p| p.pointer)
            .collect()
    }

    #[test]
    fn names_catch_values_not_booleans_and_respect_public_attributes() {
        let doc = json!({"data": [
            {"type": "site", "id": "1", "attributes": {
                "readwrite_token": "rw-secret", "readonly_token": "[REDACTED]",
                "google_maps_api_token": "maps", "name": "Blog"}},
            {"type": "role", "id": "2", "attributes": {"can_manage_access_tokens": true}},
            {"type": "item_type", "id": "3", "attributes": {"api_key": "blog_post"}},
            {"type": "plugin", "id": "4", "attributes": {"parameters": {"api_key": "k-1"}}},
            {"type": "session", "id": "sess-bearer"},
            {"type": "access_token", "id": "5", "relationships": {"role": {"data": {"type": "role", "id": "2"}}}},
            {"type": "user", "id": "6", "attributes": {"password": ["a", "b"], "token": 42}}
        ]});
        assert_eq!(
            pointers(&doc),
            [
                "/data/0/attributes/readwrite_token",
                "/data/0/attributes/google_maps_api_token",
                "/data/3/attributes/parameters/api_key",
                "/data/4/id",
                "/data/6/attributes/password/0",
                "/data/6/attributes/password/1",
                "/data/6/attributes/token",
            ]
        );
    }

    #[test]
    fn objects_and_numbers_under_secret_names_are_secret_but_links_are_not() {
        let doc = json!({"data": {"type": "access_token", "id": "1",
            "attributes": {
                "token": {"value": "v-secret", "expires": 3600, "ok": true},
                "private_key": {"kty": "RSA", "d": "d-secret"},
                "password": 12345678,
                "can_manage_access_tokens": false
            },
            "relationships": {"access_token": {"data": {"type": "access_token", "id": "9"}},
                              "session": {"type": "session", "id": "sess-1"}}},
            "included": [{"type": "item", "id": "7", "attributes": {"session_title": "Keynote",
                "blocks": [{"type": "upload", "attributes": {"token": "in-a-block"}}]},
                "meta": {"token": "item-meta"}}]});
        assert_eq!(
            pointers(&doc),
            [
                "/data/attributes/token/value",
                "/data/attributes/token/expires",
                "/data/attributes/private_key/kty",
                "/data/attributes/private_key/d",
                "/data/attributes/password",
                "/data/relationships/session/id",
                "/included/0/attributes/blocks/0/attributes/token",
                "/included/0/meta/token",
            ]
        );
    }

    /// Issue 14's broad flow: a webhook's custom headers are HTTP headers,
    /// and the header rules read them, not only the name rule.
    #[test]
    fn maps_of_http_headers_are_read_by_the_header_rules() {
        let doc = json!({"data": [
            {"type": "webhook", "id": "1", "attributes": {
                "name": "hook",
                "headers": {
                    "Authorization": "Bearer a-1",
                    "X-Webhook-Secret": "s-1",
                    "X-Access-Key": "k-1",
                    "X-Signature": "g-1",
                    "X-Forward-To": "Token t-1",
                    "Proxy-Authorization": "p-1",
                    "X-Source": "datovcr",
                    "X-Auth": "x-1",
                    "X-Multi": ["plain", "Basic b-1"]
                }}},
            {"type": "webhook_call", "id": "2", "attributes": {
                "request_headers": {"Accept": "*/*", "User-Agent": "DatoCMS (datocms.com)",
                    "X-Hub-Signature-256": "sha256=h-1"},
                "response_headers": {"WWW-Authenticate": "Bearer realm=\"hooks\"",
                    "Set-Cookie": "sid=c-1; Path=/", "Content-Type": "text/plain",
                    "Access-Control-Allow-Headers": "authorization"}}},
            {"type": "upload_request", "id": "3", "attributes": {
                "url": "https://s3.example/u?X-Amz-Signature=u-1",
                "request_headers": {"Content-Type": "image/png", "x-amz-acl": "public-read"}}},
            {"type": "item", "id": "4", "attributes": {
                "headers": {"X-Access-Key": "a record's own field", "token": "public too"}}}
        ]});
        let found: Vec<(String, Vec<String>)> = json_places(&doc, &HeaderRules::default())
            .into_iter()
            .map(|p| {
                // The whole value first; a credential's parts after it.
                let whole = p.what.values().first().map(|v| v.to_string());
                (p.pointer, whole.into_iter().collect())
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = [
            ("/data/0/attributes/headers/Authorization", "Bearer a-1"),
            ("/data/0/attributes/headers/X-Webhook-Secret", "s-1"),
            ("/data/0/attributes/headers/X-Access-Key", "k-1"),
            ("/data/0/attributes/headers/X-Signature", "g-1"),
            ("/data/0/attributes/headers/X-Forward-To", "Token t-1"),
            ("/data/0/attributes/headers/Proxy-Authorization", "p-1"),
            ("/data/0/attributes/headers/X-Auth", "x-1"),
            ("/data/0/attributes/headers/X-Multi/0", "plain"),
            ("/data/0/attributes/headers/X-Multi/1", "Basic b-1"),
            (
                "/data/1/attributes/request_headers/X-Hub-Signature-256",
                "sha256=h-1",
            ),
            (
                "/data/1/attributes/response_headers/Set-Cookie",
                "sid=c-1; Path=/",
            ),
            ("/data/2/attributes/url", "u-1"),
        ]
        .into_iter()
        .map(|(pointer, value)| (pointer.to_owned(), vec![value.to_owned()]))
        .collect();
        assert_eq!(found, expected);
    }

    /// Issue 14 loose end: `--redact-header NAME` reaches the maps of HTTP
    /// headers in bodies as it reaches real headers: in any case, several
    /// names, maps nested anywhere in the document.
    #[test]
    fn redact_header_names_reach_maps_of_http_headers() {
        let doc = json!({"data": {"type": "webhook", "id": "1", "attributes": {
            "headers": {"x-tenant-ref": "t-1", "X-Customer": "c-1", "X-Source": "datovcr"}}},
            "included": [{"type": "webhook_call", "id": "2", "attributes": {
                "request_headers": {"X-TENANT-REF": "t-2", "Accept": "*/*"},
                "response_headers": {"X-Customer": ["c-2", "c-3"]}}}],
            "meta": {"upload": {"REQUEST_HEADERS": {"X-Tenant-Ref": "t-3"}}}});
        let rules = HeaderRules::new(&["X-Tenant-Ref".into(), "x-customer".into()]);
        let found: Vec<(String, String)> = json_places(&doc, &rules)
            .into_iter()
            .map(|p| (p.pointer, p.what.apply("", PLACEHOLDER)))
            .collect();
        let expected = [
            "/data/attributes/headers/x-tenant-ref",
            "/data/attributes/headers/X-Customer",
            "/included/0/attributes/request_headers/X-TENANT-REF",
            "/included/0/attributes/response_headers/X-Customer/0",
            "/included/0/attributes/response_headers/X-Customer/1",
            "/meta/upload/REQUEST_HEADERS/X-Tenant-Ref",
        ];
        assert_eq!(
            found,
            expected.map(|p| (p.to_owned(), PLACEHOLDER.to_owned()))
        );
        // Without the rules, none of those names is a credential.
        assert!(json_places(&doc, &HeaderRules::default()).is_empty());
    }

    #[test]
    fn url_credentials_are_spans_and_the_url_stays_a_url() {
        let url = "https://user:pw@s3.example/b?X-Amz-Credential=AK%2F1&X-Amz-Date=2022&X-Amz-Signature=abc#t";
        let spans = url_secrets(url).unwrap();
        let values: Vec<&str> = spans.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["user:pw", "AK/1", "abc"]);
        assert_eq!(
            Secret::Spans(spans).apply(url, "[R]"),
            "https://%5BREDACTED%5D@s3.example/b?X-Amz-Credential=%5BREDACTED%5D&X-Amz-Date=2022&X-Amz-Signature=%5BREDACTED%5D#t"
        );
        let otp = url_secrets("otpauth://totp/Dato:me?secret=JBSWY3DP&issuer=Dato").unwrap();
        assert_eq!(otp[0].1, "JBSWY3DP");
        assert_eq!(url_secrets("https://example.com/a?page=2"), None);
        for relative in [
            "?code=c1",
            "cb?code=c1",
            "/x?a=1&code=c1",
            "//cdn.example/x?key=c1",
        ] {
            let found = url_secrets(relative).unwrap_or_default();
            assert_eq!(found.len(), 1, "{relative}");
            assert_eq!(found[0].1, "c1", "{relative}");
        }
        let link = query_secrets("</p?sig=s1>; rel=\"next\", <x.html?a=1&amp;key=k1>");
        let values: Vec<&str> = link.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["s1", "k1"]);
        assert_eq!(url_secrets("not a url: ?key=1"), None);
        assert_eq!(
            url_secrets("https://x/?X-Amz-Signature=%5BREDACTED%5D"),
            None,
            "placeholders are not secrets"
        );
    }

    #[test]
    fn strings_without_a_scheme_query_fragment_or_authority_answer_at_once_and_the_rest_are_read() {
        for plain in [
            "",
            "Read-only API token",
            "access_token",
            "a/b/c",
            "user@example.com",
        ] {
            assert_eq!(url_secrets(plain), None, "{plain}");
        }
        // The early answer must not skip an authority's userinfo, which
        // needs none of `:`, `?` or `#`.
        let found = url_secrets("//u1@cdn.example/x").unwrap_or_default();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "u1");
        assert_eq!(url_secrets("mailto:u@x?secret=s1").unwrap()[0].1, "s1");
        assert_eq!(url_secrets("p#token=t1").unwrap()[0].1, "t1");
    }
}
