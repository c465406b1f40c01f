//! Secrets and their placeholders.
//!
//! Two jobs that must agree: [`find_leaks`] says whether a recorded
//! interaction still holds a secret (used by `schema-check`), and
//! [`Redactor`] replaces secrets with placeholders before anything is
//! written. Placeholders keep the JSON type of what they replace, so a
//! redacted cassette still satisfies the contract.

use crate::cassette::{Body, Headers, Interaction, RecordedRequest};
use crate::contract::{Category, Finding, Part, Side, pointer_token};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What a secret string becomes.
pub const PLACEHOLDER: &str = "[REDACTED]";
/// What an `Authorization: Bearer …` value becomes. Still `Bearer <non-empty>`,
/// so the header rule holds.
pub const BEARER_PLACEHOLDER: &str = "Bearer [REDACTED]";

/// Header names whose every value is a credential.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

pub fn is_placeholder(value: &str) -> bool {
    value == PLACEHOLDER || value == BEARER_PLACEHOLDER
}

/// Every secret still present in a recorded interaction.
pub fn find_leaks(interaction: &Interaction) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (side, headers, body) in [
        (
            Side::Request,
            &interaction.request.headers,
            &interaction.request.body,
        ),
        (
            Side::Response,
            &interaction.response.headers,
            &interaction.response.body,
        ),
    ] {
        header_leaks(side, headers, &mut findings);
        if let Some(json) = body.as_json() {
            findings.extend(find_body_leaks(side, json));
        }
    }
    findings
}

/// Every `access_token` secret in a JSON body that is not a placeholder.
pub fn find_body_leaks(side: Side, body: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    token_leaks(side, body, &mut String::new(), &mut findings);
    findings
}

fn header_leaks(side: Side, headers: &Headers, findings: &mut Vec<Finding>) {
    for name in CREDENTIAL_HEADERS {
        for (index, value) in headers.get_all(name).iter().enumerate() {
            if !is_placeholder(value) {
                findings.push(Finding {
                    category: Category::LeakedSecret,
                    side,
                    part: Part::Headers,
                    pointer: format!("/{name}/{index}"),
                    rule: "placeholder".into(),
                    message: format!(
                        "`{name}` holds a live value; it must be `{}` (re-record through datovcr proxy, which redacts it)",
                        if *name == "authorization" { BEARER_PLACEHOLDER } else { PLACEHOLDER }
                    ),
                });
            }
        }
    }
}

/// Walks the document and reports every `access_token` resource whose
/// `attributes.token` is a string other than the placeholder.
fn token_leaks(side: Side, value: &Value, pointer: &mut String, findings: &mut Vec<Finding>) {
    let len = pointer.len();
    match value {
        Value::Object(object) => {
            if is_access_token(value)
                && let Some(Value::String(token)) = value.pointer("/attributes/token")
                && !is_placeholder(token)
            {
                findings.push(Finding {
                    category: Category::LeakedSecret,
                    side,
                    part: Part::Body,
                    pointer: format!("{pointer}/attributes/token"),
                    rule: "placeholder".into(),
                    message: format!(
                        "an access_token's secret is on disk; it must be `{PLACEHOLDER}`"
                    ),
                });
            }
            for (key, child) in object {
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
                token_leaks(side, child, pointer, findings);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&index.to_string());
                token_leaks(side, child, pointer, findings);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_access_token(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("access_token")
}

/// Secrets shorter than this are still replaced where they are known to
/// be (headers, token attributes, configured pointers), but are not searched
/// for elsewhere: a search for `x` would match half the cassette.
pub const MIN_SEARCHABLE_SECRET: usize = 8;

/// Redaction beyond the built-in rules (`--redact-header`, `--redact-pointer`,
/// `--redact-query`).
#[derive(Debug, Clone, Default)]
pub struct RedactionRules {
    /// More header names whose values are credentials.
    pub headers: Vec<String>,
    /// JSON pointers redacted in every JSON request and response body.
    pub pointers: Vec<String>,
    /// Query parameter names whose values are credentials.
    pub query_params: Vec<String>,
}

/// Applies the redaction rules. The output type, [`RedactedInteraction`],
/// is the only thing the recorder accepts, so nothing reaches disk without
/// passing through here.
#[derive(Debug, Clone)]
pub struct Redactor {
    header_names: Vec<String>,
    pointers: Vec<String>,
    query_params: Vec<String>,
    /// Secrets seen in earlier exchanges: a token issued by one exchange can
    /// turn up in a later one where nothing marks it as a secret (an error
    /// message quoting it, say).
    remembered: Arc<Mutex<VecDeque<String>>>,
}

/// How many earlier secrets a redactor remembers.
pub const REMEMBERED_SECRETS: usize = 1024;

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&RedactionRules::default())
    }
}

/// The secret values seen in one exchange.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

/// A secret survived redaction; nothing was written.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to record: a secret seen in this exchange would still be in the written bytes \
     ({where_found}); nothing was written. Add a --redact-pointer or --redact-header rule for it"
)]
pub struct LeakError {
    pub where_found: String,
}

/// An interaction whose secrets were replaced, with the secrets remembered
/// so the serialized bytes can be checked once more before writing.
#[derive(Debug, Clone)]
pub struct RedactedInteraction {
    interaction: Interaction,
    secrets: Secrets,
}

impl Redactor {
    pub fn new(rules: &RedactionRules) -> Self {
        let mut header_names: Vec<String> = CREDENTIAL_HEADERS
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        header_names.extend(rules.headers.iter().map(|name| name.to_ascii_lowercase()));
        header_names.sort();
        header_names.dedup();
        Self {
            header_names,
            pointers: rules.pointers.clone(),
            query_params: rules.query_params.clone(),
            remembered: Arc::default(),
        }
    }

    /// Collects every secret in the exchange, replaces each with its
    /// placeholder, then scrubs any other occurrence of those secrets from
    /// headers, query values and bodies.
    pub fn redact(&self, mut interaction: Interaction) -> RedactedInteraction {
        let mut secrets = Secrets::default();
        for headers in [
            &mut interaction.request.headers,
            &mut interaction.response.headers,
        ] {
            self.redact_headers(headers, &mut secrets);
        }
        for (name, value) in interaction.request.query.pairs_mut() {
            if self.query_params.iter().any(|param| param == name) {
                secrets.add(std::mem::replace(value, PLACEHOLDER.to_owned()));
            }
        }
        for body in [
            &mut interaction.request.body,
            &mut interaction.response.body,
        ] {
            if let Some(json) = body.as_json_mut() {
                redact_tokens(json, &mut secrets);
                for pointer in &self.pointers {
                    if let Some(target) = json.pointer_mut(pointer) {
                        redact_value(target, &mut secrets);
                    }
                }
            }
        }
        secrets.scrub_interaction(&mut interaction);
        self.scrub_remembered(&mut interaction, &mut secrets);
        RedactedInteraction {
            interaction,
            secrets,
        }
    }

    /// Remembers this exchange's secrets, and scrubs any remembered one that
    /// still occurs. One search of the serialized exchange per remembered
    /// secret keeps the common case (none present) cheap, and when every
    /// remembered secret is one of this exchange's own (already scrubbed),
    /// the exchange is not even serialized.
    fn scrub_remembered(&self, interaction: &mut Interaction, secrets: &mut Secrets) {
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let candidates: Vec<&String> = remembered
            .iter()
            .filter(|secret| !secrets.0.contains(secret))
            .collect();
        let mut found = Secrets::default();
        if !candidates.is_empty() {
            let serialized =
                serde_json::to_vec(&*interaction).expect("cassette types always serialize");
            for secret in candidates {
                if memchr::memmem::find(&serialized, secret.as_bytes()).is_some() {
                    found.add(secret.clone());
                }
            }
        }
        for secret in secrets.searchable() {
            if !remembered.iter().any(|known| known == secret) {
                if remembered.len() == REMEMBERED_SECRETS {
                    remembered.pop_front();
                }
                remembered.push_back(secret.to_owned());
            }
        }
        drop(remembered);
        if !found.is_empty() {
            found.scrub_interaction(interaction);
            for secret in found.0 {
                secrets.add(secret);
            }
        }
    }

    /// The secrets a request carries, found the same way [`Redactor::redact`]
    /// finds them, so log lines can be scrubbed before a response exists.
    /// Reads only: nothing is copied, replaced or remembered, so it costs
    /// next to nothing on the proxy's path.
    pub fn secrets_of(&self, request: &RecordedRequest) -> Secrets {
        let mut secrets = Secrets::default();
        for (name, values) in request.headers.iter() {
            if self.header_names.iter().any(|secret| secret == name) {
                for value in values.iter().filter(|value| !is_placeholder(value)) {
                    add_credential(value, &mut secrets);
                }
            }
        }
        for (name, value) in request.query.pairs() {
            if self.query_params.iter().any(|param| param == name) {
                secrets.add(value.clone());
            }
        }
        if let Some(json) = request.body.as_json() {
            for pointer in &self.pointers {
                if let Some(target) = json.pointer(pointer) {
                    collect_value(target, &mut secrets);
                }
            }
        }
        secrets
    }

    fn redact_headers(&self, headers: &mut Headers, secrets: &mut Secrets) {
        for (name, values) in headers.iter_mut() {
            if !self.header_names.iter().any(|secret| secret == name) {
                continue;
            }
            for value in values.iter_mut() {
                if is_placeholder(value) {
                    continue;
                }
                let placeholder = match value.split_once(' ') {
                    Some((scheme, _)) if scheme.eq_ignore_ascii_case("bearer") => {
                        BEARER_PLACEHOLDER
                    }
                    _ => PLACEHOLDER,
                };
                let original = std::mem::replace(value, placeholder.to_owned());
                add_credential(&original, secrets);
            }
        }
    }
}

/// A credential header value, and the parts of it that may be echoed
/// elsewhere on their own: the token of `Bearer <token>`, the value of each
/// `name=value` cookie.
fn add_credential(value: &str, secrets: &mut Secrets) {
    if let Some((_, credential)) = value.split_once(' ') {
        secrets.add(credential.trim().to_owned());
    }
    for cookie in value.split(';') {
        if let Some((_, cookie_value)) = cookie.split_once('=') {
            secrets.add(cookie_value.trim().to_owned());
        }
    }
    secrets.add(value.to_owned());
}

/// The secrets [`redact_value`] would replace, without replacing them.
fn collect_value(value: &Value, secrets: &mut Secrets) {
    match value {
        Value::String(text) => secrets.add(text.clone()),
        Value::Number(number) => secrets.add(number.to_string()),
        Value::Array(items) => items.iter().for_each(|item| collect_value(item, secrets)),
        Value::Object(object) => object
            .values()
            .for_each(|child| collect_value(child, secrets)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Replaces every `attributes.token` of every `access_token` resource.
fn redact_tokens(value: &mut Value, secrets: &mut Secrets) {
    match value {
        Value::Object(object) => {
            let is_token_resource =
                object.get("type").and_then(Value::as_str) == Some("access_token");
            if is_token_resource
                && let Some(Value::Object(attributes)) = object.get_mut("attributes")
                && let Some(token) = attributes.get_mut("token")
            {
                redact_value(token, secrets);
            }
            for child in object.values_mut() {
                redact_tokens(child, secrets);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| redact_tokens(item, secrets)),
        _ => {}
    }
}

/// Type-preserving replacement: strings become the placeholder, numbers 0,
/// booleans false; containers are redacted leaf by leaf; null stays null.
fn redact_value(value: &mut Value, secrets: &mut Secrets) {
    match value {
        Value::String(text) if is_placeholder(text) => {}
        Value::String(text) => secrets.add(std::mem::replace(text, PLACEHOLDER.to_owned())),
        Value::Number(number) => {
            secrets.add(number.to_string());
            *value = Value::from(0);
        }
        Value::Bool(flag) => *flag = false,
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| redact_value(item, secrets)),
        Value::Object(object) => object
            .values_mut()
            .for_each(|child| redact_value(child, secrets)),
        Value::Null => {}
    }
}

impl Secrets {
    fn add(&mut self, secret: String) {
        // A "secret" that is part of the placeholder text itself (`Bearer [`,
        // found by fuzzing) cannot be told apart from the placeholder: it is
        // replaced where it stands, but never searched for.
        let inside_placeholder = BEARER_PLACEHOLDER.contains(secret.as_str());
        if !secret.is_empty() && !inside_placeholder && !self.0.contains(&secret) {
            self.0.push(secret);
        }
    }

    /// The secrets long enough to search for, longest first so a secret
    /// that contains another is replaced whole.
    fn searchable(&self) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .0
            .iter()
            .map(String::as_str)
            .filter(|secret| secret.len() >= MIN_SEARCHABLE_SECRET)
            .collect();
        found.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        found
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every searchable secret replaced by the placeholder: for
    /// log lines, violation summaries and error bodies.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        Scrubber::new(self).scrub(text)
    }

    fn scrub_interaction(&self, interaction: &mut Interaction) {
        let scrubber = Scrubber::new(self);
        if scrubber.is_empty() {
            return;
        }
        scrubber.scrub_string(&mut interaction.request.path);
        for (_, value) in interaction.request.query.pairs_mut() {
            scrubber.scrub_string(value);
        }
        for headers in [
            &mut interaction.request.headers,
            &mut interaction.response.headers,
        ] {
            for (_, values) in headers.iter_mut() {
                values
                    .iter_mut()
                    .for_each(|value| scrubber.scrub_string(value));
            }
        }
        for body in [
            &mut interaction.request.body,
            &mut interaction.response.body,
        ] {
            match body {
                Body::Json(value) => scrubber.scrub_json(value),
                Body::Text(text) => scrubber.scrub_string(text),
                Body::Empty | Body::Binary(_) => {}
            }
        }
    }

    /// Fails when any searchable secret occurs in `bytes`, raw or as it
    /// would be escaped inside a JSON string.
    pub fn check_absent(&self, bytes: &[u8], what: &str) -> Result<(), LeakError> {
        for secret in self.searchable() {
            let escaped = serde_json::to_string(secret).expect("a string serializes");
            let escaped = &escaped[1..escaped.len() - 1];
            if contains(bytes, secret.as_bytes()) || contains(bytes, escaped.as_bytes()) {
                return Err(LeakError {
                    where_found: what.to_owned(),
                });
            }
        }
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// An exchange's searchable secrets, sorted and prepared once for the many
/// strings of one exchange (every header value, JSON key and JSON string is
/// searched), rather than once per string.
struct Scrubber<'s> {
    /// Longest first, so a secret that contains another is replaced whole.
    needles: Vec<(&'s str, memchr::memmem::Finder<'s>)>,
}

impl<'s> Scrubber<'s> {
    fn new(secrets: &'s Secrets) -> Self {
        Scrubber {
            needles: secrets
                .searchable()
                .into_iter()
                .map(|secret| (secret, memchr::memmem::Finder::new(secret)))
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut result = Cow::Borrowed(text);
        for (secret, finder) in &self.needles {
            if finder.find(result.as_bytes()).is_some() {
                result = Cow::Owned(result.replace(secret, PLACEHOLDER));
            }
        }
        result
    }

    fn scrub_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.scrub(text) {
            *text = clean;
        }
    }

    fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => self.scrub_string(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_json(item)),
            Value::Object(object) => {
                // Keys can carry secrets too; rebuild only when one does.
                if object
                    .keys()
                    .any(|key| matches!(self.scrub(key), Cow::Owned(_)))
                {
                    let entries = std::mem::take(object);
                    for (key, child) in entries {
                        object.insert(self.scrub(&key).into_owned(), child);
                    }
                }
                object.values_mut().for_each(|child| self.scrub_json(child));
            }
            _ => {}
        }
    }
}

impl RedactedInteraction {
    pub fn interaction(&self) -> &Interaction {
        &self.interaction
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The interaction as one compact JSON line (with `\n`), checked for
    /// every secret seen in the exchange. Binary bodies are checked before
    /// they are base64-encoded, where a secret could hide from the search.
    pub fn to_journal_line(&self) -> Result<Vec<u8>, LeakError> {
        for (side, body) in [
            ("request", &self.interaction.request.body),
            ("response", &self.interaction.response.body),
        ] {
            if let Body::Binary(bytes) = body {
                self.secrets
                    .check_absent(bytes, &format!("binary {side} body"))?;
            }
        }
        let mut line =
            serde_json::to_vec(&self.interaction).expect("cassette types always serialize");
        self.secrets.check_absent(&line, "serialized interaction")?;
        line.push(b'\n');
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};
    use serde_json::json;

    fn interaction(auth: &str, body: Value) -> Interaction {
        Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::default(),
                headers: [("authorization", auth)].into_iter().collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: Headers::new(),
                body: Body::Json(body),
            },
        }
    }

    #[test]
    fn placeholders_are_not_leaks_and_live_values_are() {
        let clean = interaction(
            BEARER_PLACEHOLDER,
            json!({"data": [{"type": "access_token", "attributes": {"token": PLACEHOLDER}},
                            {"type": "access_token", "attributes": {"token": null}}]}),
        );
        assert_eq!(find_leaks(&clean), vec![]);

        let leaky = interaction(
            "Bearer abc123",
            json!({"data": [{"type": "access_token", "attributes": {"token": PLACEHOLDER}},
                            {"type": "access_token", "attributes": {"token": "f00d"}}]}),
        );
        let pointers: Vec<_> = find_leaks(&leaky)
            .into_iter()
            .map(|f| (f.side, f.part, f.pointer))
            .collect();
        assert_eq!(
            pointers,
            vec![
                (Side::Request, Part::Headers, "/authorization/0".to_owned()),
                (
                    Side::Response,
                    Part::Body,
                    "/data/1/attributes/token".to_owned()
                ),
            ]
        );
    }
}

#[cfg(test)]
mod redactor_tests {
    use super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};
    use serde_json::json;

    const CANARY: &str = "canary0123456789abcdef";
    const BEARER: &str = "bearer-canary-fedcba9876543210";

    fn exchange(response: Value) -> Interaction {
        Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::parse("api_key=querysecret123"),
                headers: [
                    ("Authorization", &*format!("Bearer {BEARER}")),
                    ("cookie", "session=cookievalue42; theme=dark"),
                ]
                .into_iter()
                .collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: [
                    ("content-type", "application/json"),
                    ("set-cookie", "sid=setcookie-secret-1"),
                ]
                .into_iter()
                .collect(),
                body: Body::Json(response),
            },
        }
    }

    #[test]
    fn every_known_secret_is_replaced_and_the_line_is_clean() {
        let redactor = Redactor::new(&RedactionRules {
            headers: vec![],
            pointers: vec!["/meta/signing_key".into()],
            query_params: vec!["api_key".into()],
        });
        let response = json!({
            "data": [
                {"type": "access_token", "id": "1", "attributes": {"token": CANARY}},
                {"type": "access_token", "id": "2", "attributes": {"token": null}}
            ],
            "meta": {"signing_key": 12345678901234u64, "echo": format!("you sent {BEARER}")}
        });
        let redacted = redactor.redact(exchange(response));
        let line = String::from_utf8(redacted.to_journal_line().unwrap()).unwrap();
        for secret in [
            CANARY,
            BEARER,
            "querysecret123",
            "cookievalue42",
            "setcookie-secret-1",
            "12345678901234",
        ] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
        let interaction = redacted.interaction();
        assert_eq!(
            interaction.request.headers.get("authorization"),
            Some(BEARER_PLACEHOLDER)
        );
        let body = interaction.response.body.as_json().unwrap();
        assert_eq!(body["data"][0]["attributes"]["token"], PLACEHOLDER);
        assert_eq!(body["data"][1]["attributes"]["token"], Value::Null);
        assert_eq!(
            body["meta"]["signing_key"], 0,
            "placeholders keep the JSON type"
        );
        assert_eq!(body["meta"]["echo"], "you sent [REDACTED]");
        assert!(find_leaks(interaction).is_empty());
    }

    #[test]
    fn a_secret_in_a_binary_body_is_refused_not_written() {
        let mut interaction =
            exchange(json!({"data": {"type": "access_token", "attributes": {"token": CANARY}}}));
        interaction.request.body =
            Body::Binary([b"\xff\x00".as_slice(), BEARER.as_bytes()].concat());
        let err = Redactor::default()
            .redact(interaction)
            .to_journal_line()
            .unwrap_err();
        assert!(err.to_string().contains("binary request body"), "{err}");
    }

    #[test]
    fn a_token_from_an_earlier_exchange_is_scrubbed_from_a_later_one() {
        let redactor = Redactor::default();
        let first = redactor.redact(exchange(
            json!({"data": {"type": "access_token", "attributes": {"token": CANARY}}}),
        ));
        assert!(
            !String::from_utf8(first.to_journal_line().unwrap())
                .unwrap()
                .contains(CANARY)
        );
        let mut later = exchange(
            json!({"data": [{"type": "api_error", "attributes": {"details": {"message": format!("token {CANARY} is invalid")}}}]}),
        );
        later.request.headers = Headers::new();
        let line = String::from_utf8(redactor.redact(later).to_journal_line().unwrap()).unwrap();
        assert!(!line.contains(CANARY), "{line}");
        assert!(line.contains("token [REDACTED] is invalid"), "{line}");
    }

    #[test]
    fn a_secret_that_is_part_of_the_placeholder_does_not_mangle_it() {
        let mut interaction = exchange(json!({}));
        interaction.request.headers = [("authorization", "Bearer [")].into_iter().collect();
        let line = String::from_utf8(
            Redactor::default()
                .redact(interaction)
                .to_journal_line()
                .unwrap(),
        )
        .unwrap();
        assert!(
            line.contains("\"authorization\":[\"Bearer [REDACTED]\"]"),
            "{line}"
        );
    }

    #[test]
    fn scrub_hides_secrets_in_log_text() {
        let redacted = Redactor::default().redact(exchange(json!({})));
        assert_eq!(
            redacted.secrets().scrub(&format!("token={BEARER}!")),
            "token=[REDACTED]!"
        );
    }
}
