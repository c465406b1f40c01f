//! Secrets and their placeholders.
//!
//! Two jobs that must agree: [`Redactor`] replaces secrets with
//! placeholders before anything is written or logged, and [`find_leaks`]
//! says whether a recorded interaction still holds one (`schema-check`).
//! Both find secrets the same way: [`rules`] says which names and shapes
//! mark one, [`places`] finds them in JSON and URLs, [`text`] in other
//! text, [`credentials`] in credential headers. Known secrets are then
//! searched for in every encoded form ([`forms`], over the decoded views
//! `escapes` gives), including those of earlier exchanges (`memory`).
//! Placeholders keep the JSON type of what they replace and URLs stay
//! URLs, so a redacted cassette still satisfies the contract.

mod clean_headers;
pub mod credentials;
mod escapes;
pub mod forms;
pub mod header_values;
mod leaks;
mod memory;
pub mod places;
mod prefilter;
mod redacted;
#[cfg(test)]
mod rewrite_tests;
pub mod rules;
pub mod screen;
mod secrets;
#[cfg(test)]
mod shortcut_tests;
#[cfg(test)]
mod tests;
pub mod text;

pub use leaks::{find_body_leaks, find_leaks, find_leaks_with};
pub use redacted::RedactedInteraction;
use redacted::Serialized;
pub use rules::{CREDENTIAL_HEADERS, is_secret_header};
pub use secrets::{LeakError, MIN_SEARCHABLE_SECRET, Secrets};

use crate::cassette::{Body, FieldValue, Headers, Interaction, Query, RecordedRequest};
use places::{json_places, param_secrets, query_secrets, string_text_secrets, url_secrets};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use text::text_secrets;

/// What a secret string becomes.
pub const PLACEHOLDER: &str = "[REDACTED]";
/// [`PLACEHOLDER`] percent-encoded: what a secret inside a URL becomes, so
/// the URL stays valid.
pub const URL_PLACEHOLDER: &str = "%5BREDACTED%5D";
/// What an `Authorization: Bearer …` value becomes. Still `Bearer <non-empty>`,
/// so the header rule holds. Other schemes keep theirs the same way.
pub const BEARER_PLACEHOLDER: &str = "Bearer [REDACTED]";

/// True for a value datovcr wrote in place of a secret.
pub fn is_placeholder(value: &str) -> bool {
    value == PLACEHOLDER
        || value.eq_ignore_ascii_case(URL_PLACEHOLDER)
        || credentials::is_header_placeholder(value, PLACEHOLDER)
}

pub use memory::REMEMBERED_SECRETS;

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
    headers: header_values::HeaderRules,
    pointers: Vec<String>,
    query_params: Vec<String>,
    /// Secrets seen in earlier exchanges: a token issued by one exchange can
    /// turn up in a later one where nothing marks it as a secret (an error
    /// message quoting it, say).
    remembered: Arc<Mutex<memory::Memory>>,
    /// Header fields the header rules found nothing in, read again as one
    /// lookup.
    clean_headers: clean_headers::CleanHeaders,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&RedactionRules::default())
    }
}

impl Redactor {
    pub fn new(rules: &RedactionRules) -> Self {
        Self {
            headers: header_values::HeaderRules::new(&rules.headers),
            pointers: rules.pointers.clone(),
            query_params: rules.query_params.clone(),
            remembered: Arc::default(),
            clean_headers: Default::default(),
        }
    }

    fn is_secret_param(&self, name: &str) -> bool {
        rules::is_secret_url_param(name) || self.query_params.iter().any(|param| param == name)
    }

    /// Finds every secret in the exchange, replaces each with its
    /// placeholder, then scrubs every other occurrence of those secrets, in
    /// any encoded form, from the path, query, headers and bodies.
    pub fn redact(&self, mut interaction: Interaction) -> RedactedInteraction {
        let mut secrets = Secrets::default();
        self.replace_named(&mut interaction, &mut secrets);
        secrets.scrub_interaction(&mut interaction);
        let serialized = self.scrub_remembered(&mut interaction, &mut secrets);
        RedactedInteraction {
            interaction,
            secrets,
            serialized: std::sync::Mutex::new(serialized),
        }
    }

    /// A received request in the form its recorded twin has on disk: every
    /// secret replaced as [`Redactor::redact`] replaces it. Replay matches on
    /// this form, so a request carrying a live password or `?access_token=`
    /// finds the interaction recorded with placeholders. Returns the
    /// request's secrets, for scrubbing what is logged about it.
    pub fn redact_request(&self, request: &mut RecordedRequest) -> Secrets {
        let mut secrets = Secrets::default();
        self.replace_named_in_request(request, &mut secrets);
        secrets.scrub_request(request);
        secrets
    }

    /// Replaces what the rules find by name, shape and type (not repeats)
    /// in both halves of an exchange, collecting the values.
    fn replace_named(&self, interaction: &mut Interaction, secrets: &mut Secrets) {
        self.replace_named_in_request(&mut interaction.request, secrets);
        self.redact_headers(&mut interaction.response.headers, secrets);
        self.redact_body(&mut interaction.response.body, secrets);
    }

    fn replace_named_in_request(&self, request: &mut RecordedRequest, secrets: &mut Secrets) {
        self.redact_headers(&mut request.headers, secrets);
        self.redact_query(&mut request.query, secrets);
        self.redact_body(&mut request.body, secrets);
    }

    /// True unless JSON pointers are redacted in every body (`--redact-pointer`).
    pub fn redacts_no_pointers(&self) -> bool {
        self.pointers.is_empty()
    }

    /// True when the request's query or body holds a secret that a rule
    /// finds by name or shape: only then does its recorded form differ
    /// from it where replay matches (a header's secret repeated in the
    /// body is left to the miss report, which scrubs it).
    pub fn holds_named_secrets(&self, request: &RecordedRequest) -> bool {
        let query = request.query.pairs().iter().any(|(name, value)| {
            !is_placeholder(value)
                && (self.is_secret_param(name)
                    || url_secrets(value).is_some()
                    || string_text_secrets(value, false).is_some())
        });
        query
            || match &request.body {
                Body::Empty => false,
                Body::Json(json) => {
                    !json_places(json, &self.headers).is_empty() || !self.pointers.is_empty()
                }
                Body::Text(text) => match lenient_json(text) {
                    Some(json) => {
                        !json_places(&json, &self.headers).is_empty()
                            || !text_secrets(text).is_empty()
                    }
                    None => true,
                },
                Body::Binary(bytes) => utf16_text(bytes).is_some(),
            }
    }

    /// The secrets an interaction holds, found as [`Redactor::redact`] finds
    /// them, without remembering them: for reports about an exchange that is
    /// not being recorded (`schema-check`, `--record none`).
    pub fn secrets_in(&self, interaction: &Interaction) -> Secrets {
        self.secrets_in_owned(interaction.clone())
    }

    /// [`Redactor::secrets_in`] for an interaction the caller has no more
    /// use for: the search replaces what it finds in place, so no copy is
    /// made.
    pub fn secrets_in_owned(&self, mut interaction: Interaction) -> Secrets {
        let mut secrets = Secrets::default();
        self.replace_named(&mut interaction, &mut secrets);
        secrets
    }

    /// The secrets a request carries, found the same way [`Redactor::redact`]
    /// finds them, so every log line and error about it can be scrubbed
    /// before a response exists. Remembered secrets of earlier exchanges
    /// are included: a request can quote a token issued before.
    pub fn secrets_of(&self, request: &RecordedRequest) -> Secrets {
        let mut secrets = Secrets::default();
        self.replace_named_in_request(&mut request.clone(), &mut secrets);
        // Earlier exchanges' secrets that this request quotes.
        let serialized = serde_json::to_vec(request).expect("cassette types always serialize");
        for secret in self.memory().found_in(&serialized) {
            secrets.add(secret);
        }
        secrets
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, memory::Memory> {
        self.remembered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers this exchange's secrets, and scrubs any remembered one that
    /// still occurs. Returns the interaction serialized, with its views,
    /// when it did not change here.
    fn scrub_remembered(
        &self,
        interaction: &mut Interaction,
        secrets: &mut Secrets,
    ) -> Option<Serialized> {
        let bytes = serde_json::to_vec(&*interaction).expect("cassette types always serialize");
        let mut memory = self.memory();
        // The views serve this search and the line's final check.
        let spaces = memory.spaces() || secrets.searches_spaces();
        let serialized = Serialized::new(bytes, spaces);
        let mut found = Secrets::default();
        for secret in memory.found_in_views(&serialized.views()) {
            if !secrets.contains(&secret) {
                found.add(secret);
            }
        }
        for secret in secrets.searchable() {
            memory.remember(secret);
        }
        drop(memory);
        if found.is_empty() {
            return Some(serialized);
        }
        found.scrub_interaction(interaction);
        secrets.extend(found);
        None
    }

    fn redact_headers(&self, headers: &mut Headers, secrets: &mut Secrets) {
        for (name, values) in headers.iter_mut() {
            // Values that are not UTF-8 are searched as ISO-8859-1 text,
            // one character per byte (see `FieldValue::edit`).
            //
            // A value is remembered clean only when its name is no
            // credential's and it is not spelled like one, so a header
            // whose every value is remembered is no credential as a whole
            // either: nothing to read. Otherwise a value clean alone can
            // be a credential beside another (`Token a` and `b`, one list).
            if values
                .iter()
                .all(|value| self.clean_headers.contains(name, value.as_str()))
            {
                continue;
            }
            let credential = self
                .headers
                .is_credential_field(name, values.iter().map(FieldValue::as_str));
            for value in values.iter_mut() {
                match self
                    .headers
                    .secrets_in_value(name, credential, value.as_str())
                {
                    Some(found) => {
                        found.secrets.into_iter().for_each(|s| secrets.add(s));
                        value.edit(|value| *value = found.replaced);
                    }
                    // Not read as a credential: the answer is the
                    // value's own, whatever lines stand beside it.
                    None if !credential => self.clean_headers.insert(name, value.as_str()),
                    None => {}
                }
            }
        }
    }

    fn redact_query(&self, query: &mut Query, secrets: &mut Secrets) {
        query.edit(|name, value| {
            if is_placeholder(value) {
                return;
            }
            if self.is_secret_param(name) {
                secrets.add(std::mem::replace(value, PLACEHOLDER.to_owned()));
            } else if let Some(spans) = url_secrets(value) {
                *value = replace_found(value, spans, secrets);
            } else if let Some(found) = string_text_secrets(value, false) {
                found.secrets.into_iter().for_each(|s| secrets.add(s));
                *value = found.replaced;
            }
        });
    }

    /// JSON by content, not by label: a text body that reads as JSON is
    /// redacted as JSON, and stored as JSON when anything in it was secret.
    fn redact_body(&self, body: &mut Body, secrets: &mut Secrets) {
        let utf16 = match body {
            Body::Binary(bytes) => utf16_text(bytes),
            Body::Text(text) if text.contains('\0') => utf16_text(text.as_bytes()),
            _ => None,
        };
        if let Some(text) = utf16 {
            let mut as_text = Body::Text(text);
            if self.redact_readable_body(&mut as_text, secrets) {
                *body = as_text;
            }
            return;
        }
        self.redact_readable_body(body, secrets);
    }

    /// Redacts a JSON or text body; true when anything was replaced.
    fn redact_readable_body(&self, body: &mut Body, secrets: &mut Secrets) -> bool {
        if let Body::Json(json) = body {
            return self.redact_json(json, secrets);
        }
        let mut changed = false;
        // Replacing a secret can leave a text that now reads as JSON (the
        // secret held the stray byte that broke it), with more to find:
        // again until nothing changes.
        for _ in 0..4 {
            let Body::Text(text) = body else {
                break;
            };
            if let Some(mut json) = lenient_json(text) {
                // The parse keeps the last of duplicate keys; the text may
                // hold a live value under an earlier one. Stored as JSON,
                // the duplicates are gone, and their values are known.
                let shadowed = text_secrets(text);
                let mut rewrite = !shadowed.is_empty();
                for (_, value) in shadowed {
                    secrets.add(value);
                }
                rewrite |= self.redact_json(&mut json, secrets);
                if rewrite {
                    *body = Body::Json(json);
                    changed = true;
                }
                break;
            }
            // Names escaped in JSON that does not parse (`pass\u0077ord`):
            // their values are found in the unescaped text, then scrubbed
            // wherever they stand by the repeat rule.
            for view in escapes::views(text.as_bytes()).iter().skip(1) {
                let view = String::from_utf8_lossy(view);
                for (_, value) in text_secrets(&view).into_iter().chain(query_secrets(&view)) {
                    secrets.add(value);
                }
            }
            // Relative URLs too (`<a href="/cb?code=…">`), as in header values.
            let mut spans = text_secrets(text);
            spans.extend(query_secrets(text));
            if looks_like_form(text) {
                spans.extend(param_secrets(text, 0..text.trim_end().len(), |name| {
                    self.is_secret_param(name)
                }));
            }
            if spans.is_empty() {
                break;
            }
            *text = replace_found(text, spans, secrets);
            changed = true;
        }
        changed
    }

    /// Redacts a JSON document; true when anything was replaced.
    fn redact_json(&self, json: &mut Value, secrets: &mut Secrets) -> bool {
        let places = json_places(json, &self.headers);
        let mut changed = !places.is_empty();
        for place in places {
            for value in place.what.values() {
                secrets.add(value.to_owned());
            }
            match json.pointer_mut(&place.pointer) {
                Some(Value::String(text)) => *text = place.what.apply(text, PLACEHOLDER),
                // Type-preserving: a number stays a number.
                Some(number @ Value::Number(_)) => *number = Value::from(0),
                _ => {}
            }
        }
        for pointer in &self.pointers {
            if let Some(target) = json.pointer_mut(pointer) {
                redact_value(target, secrets);
                changed = true;
            }
        }
        changed
    }
}

/// `text` with each span replaced by its placeholder
/// ([`header_values::replace_found`]), the values added to `secrets`.
fn replace_found(
    text: &str,
    spans: Vec<(std::ops::Range<usize>, String)>,
    secrets: &mut Secrets,
) -> String {
    let found = header_values::replace_found(text, spans);
    found.secrets.into_iter().for_each(|s| secrets.add(s));
    found.replaced
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

/// A body read the way lenient JSON readers read it: a UTF-8 byte order
/// mark and an anti-XSSI prefix (`)]}'`) are skipped, whitespace around it
/// is allowed. Scalars are not JSON documents worth redacting.
pub fn lenient_json(text: &str) -> Option<Value> {
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    if let Some(after) = rest.strip_prefix(")]}'") {
        rest = after.trim_start_matches(',').trim_start();
    }
    if !rest.starts_with(['{', '[']) {
        return None;
    }
    // Deeper than a cassette holds as `json`: it stays text (and is
    // redacted as text), as `Body::from_bytes` keeps it.
    serde_json::from_str(rest)
        .ok()
        .filter(|value| crate::cassette::json_depth(value) <= crate::cassette::MAX_JSON_DEPTH)
}

/// A UTF-16 body, as text: with a byte order mark, or without one when
/// every other byte is NUL (ASCII text in UTF-16, which is also valid
/// UTF-8 and so arrives as a text body).
fn utf16_text(bytes: &[u8]) -> Option<String> {
    let nul_at = |parity: usize| {
        bytes.len() >= 4
            && bytes.len().is_multiple_of(2)
            && bytes.iter().skip(parity).step_by(2).all(|b| *b == 0)
    };
    let (le, rest) = match bytes {
        [0xff, 0xfe, rest @ ..] => (true, rest),
        [0xfe, 0xff, rest @ ..] => (false, rest),
        _ if nul_at(1) => (true, bytes),
        _ if nul_at(0) => (false, bytes),
        _ => return None,
    };
    let units: Vec<u16> = rest
        .chunks_exact(2)
        .map(|pair| {
            if le {
                u16::from_le_bytes([pair[0], pair[1]])
            } else {
                u16::from_be_bytes([pair[0], pair[1]])
            }
        })
        .collect();
    String::from_utf16(&units).ok()
}

/// `a=1&b=2` with no whitespace or quotes (which a form would have
/// percent-encoded): an `application/x-www-form-urlencoded` body.
fn looks_like_form(text: &str) -> bool {
    let text = text.trim_end();
    !text.is_empty()
        && text.contains('=')
        && !text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'{' | b'<'))
        && text
            .split('&')
            .all(|pair| pair.is_empty() || pair.contains('='))
}
