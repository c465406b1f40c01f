//! The secret values of one exchange, and the scrubbing of every other
//! place they occur.

use super::forms::{self, Needles};
use super::{PLACEHOLDER, URL_PLACEHOLDER, is_placeholder};
use crate::cassette::{Body, Headers, Interaction, RecordedRequest};
use serde_json::Value;
use std::borrow::Cow;

/// Secrets shorter than this are still replaced where they are known to
/// be (headers, named attributes, configured pointers), but are not searched
/// for elsewhere: a search for `x` would match half the cassette.
pub const MIN_SEARCHABLE_SECRET: usize = 8;

/// How far a compressed binary body is inflated to search it; larger
/// cannot be proven clean and is refused.
const MAX_DECODED_BINARY: usize = 64 * 1024 * 1024;

/// The secret values seen in one exchange.
#[derive(Clone, Default)]
pub struct Secrets {
    list: Vec<String>,
    /// The same secrets, for constant-time duplicate checks: a hostile
    /// body can hold tens of thousands.
    seen: std::collections::HashSet<String, foldhash::fast::RandomState>,
    /// The searcher for `list`, built on first use and dropped when a
    /// secret is added: one exchange scrubs many strings and log lines.
    scrubber: std::sync::OnceLock<std::sync::Arc<Scrubber>>,
}

/// Never prints the secrets: a `{:?}` in a log line must not leak them.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} hidden)", self.list.len())
    }
}

/// A secret survived redaction; nothing was written.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refusing to record: a secret seen in this exchange would still be in the written bytes \
     ({where_found}); nothing was written. Add a --redact-pointer or --redact-header rule for it"
)]
pub struct LeakError {
    pub where_found: String,
}

/// True when `lower` could be cut out of a placeholder: part of
/// `[redacted]` or `%5bredacted%5d`, or of `Scheme [redacted]`.
fn inside_placeholder(lower: &str) -> bool {
    let placeholder = PLACEHOLDER.to_ascii_lowercase();
    if placeholder.contains(lower) || URL_PLACEHOLDER.to_ascii_lowercase().contains(lower) {
        return true;
    }
    match lower.split_once(' ') {
        Some((scheme, rest)) => {
            scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                && placeholder.starts_with(rest)
        }
        None => false,
    }
}

impl Secrets {
    /// Adds a secret; a quoted value is added without its quotes too.
    pub fn add(&mut self, secret: String) {
        let trimmed = secret.trim();
        if let Some(inner) = trimmed
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            && !inner.is_empty()
        {
            self.add(inner.to_owned());
        }
        // A "secret" that is part of the placeholder text itself (`Bearer [`,
        // found by fuzzing) cannot be told apart from the placeholder: it is
        // replaced where it stands, but never searched for.
        // Case is ignored: the search ignores it too.
        let lower = secret.to_ascii_lowercase();
        let inside_placeholder = inside_placeholder(&lower) || is_placeholder(&secret);
        // A secret's non-ASCII characters may be spelled otherwise where it
        // is echoed (a header value that is not UTF-8 is read as ISO-8859-1,
        // so `é` is the byte E9 in an echo, not C3 A9): its ASCII runs long
        // enough to search for are secrets too.
        if !secret.is_ascii() {
            for run in secret.split(|c: char| !c.is_ascii()) {
                if run.trim().len() >= MIN_SEARCHABLE_SECRET {
                    self.add(run.to_owned());
                }
            }
        }
        if !secret.is_empty() && !inside_placeholder && !self.seen.contains(&secret) {
            self.seen.insert(secret.clone());
            self.list.push(secret);
            self.scrubber = std::sync::OnceLock::new();
        }
    }

    pub fn extend(&mut self, other: Secrets) {
        other.list.into_iter().for_each(|secret| self.add(secret));
    }

    pub fn contains(&self, secret: &str) -> bool {
        self.seen.contains(secret)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The secrets long enough to search for, longest first so a secret
    /// that contains another is replaced whole.
    pub fn searchable(&self) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .list
            .iter()
            .map(String::as_str)
            .filter(|secret| secret.len() >= MIN_SEARCHABLE_SECRET)
            .collect();
        found.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        found
    }

    fn scrubber(&self) -> &Scrubber {
        self.scrubber
            .get_or_init(|| recent_scrubber(self.searchable()))
    }

    /// `text` with every searchable secret replaced by the placeholder, in
    /// whatever form it occurs (raw, percent-encoded, JSON- or
    /// HTML-escaped, base64): for log lines, violation summaries, error
    /// bodies and report messages.
    ///
    /// A text that still shows a secret in a form no span can be cut from
    /// (its UTF-16 encoding, say: a request body quoted in a miss report)
    /// is replaced whole: what is said must not hold a form the recorder's
    /// check would refuse.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let scrubber = self.scrubber();
        let scrubbed = scrubber.scrub(text);
        if scrubber.occurs_in_bytes(scrubbed.as_bytes()) {
            return Cow::Owned(PLACEHOLDER.to_owned());
        }
        scrubbed
    }

    /// Every string of a JSON value (an error answer's details), object
    /// keys included, passed through [`Secrets::scrub`].
    pub fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Cow::Owned(clean) = self.scrub(text) {
                    *text = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_json(item)),
            Value::Object(object) => {
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
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// True when any searchable secret occurs in `text`, in any form:
    /// a cassette name that is a credential, say.
    pub fn occur_in(&self, text: &str) -> bool {
        self.scrubber().occurs_in_bytes(text.as_bytes())
    }

    pub(super) fn scrub_interaction(&self, interaction: &mut Interaction) {
        let scrubber = self.scrubber();
        if scrubber.needles.is_empty() || !scrubber.may_occur_in(&texts_of(interaction)) {
            return;
        }
        self.scrub_each_text(interaction);
    }

    /// [`Secrets::scrub_interaction`] without the one search that usually
    /// shows there is nothing to scrub: every text searched on its own.
    pub(super) fn scrub_each_text(&self, interaction: &mut Interaction) {
        let scrubber = self.scrubber();
        scrubber.scrub_request(&mut interaction.request);
        scrubber.scrub_headers(&mut interaction.response.headers);
        scrubber.scrub_body(&mut interaction.response.body);
    }

    pub(super) fn scrub_request(&self, request: &mut RecordedRequest) {
        let scrubber = self.scrubber();
        if !scrubber.needles.is_empty() {
            scrubber.scrub_request(request);
        }
    }

    /// True when a form of a searchable secret holds a space byte, so the
    /// `+`-as-space view must be searched (`escapes::views_with`).
    pub(super) fn searches_spaces(&self) -> bool {
        self.scrubber().needles.spaces()
    }

    /// Fails when any searchable secret occurs in `bytes` in any form.
    pub fn check_absent(&self, bytes: &[u8], what: &str) -> Result<(), LeakError> {
        if self.scrubber().occurs_in_bytes(bytes) {
            return Err(LeakError {
                where_found: what.to_owned(),
            });
        }
        self.check_compressed_runs(bytes, what)
    }

    /// [`Secrets::check_absent`] with the views of `bytes`
    /// (`escapes::views(bytes)`) already made.
    pub(super) fn check_absent_in_views<V: AsRef<[u8]>>(
        &self,
        bytes: &[u8],
        views: &[V],
        what: &str,
    ) -> Result<(), LeakError> {
        let needles = &self.scrubber().needles;
        if !needles.is_empty() && !needles.occurring_in_views(views).is_empty() {
            return Err(LeakError {
                where_found: what.to_owned(),
            });
        }
        self.check_compressed_runs(bytes, what)
    }

    fn check_compressed_runs(&self, bytes: &[u8], what: &str) -> Result<(), LeakError> {
        // A compressed payload carried as base64 inside a string (a trace
        // field, a data: URL): decoded, inflated and searched too.
        for run in compressed_base64_runs(bytes) {
            if self.scrubber().occurs_in_bytes(&run) {
                return Err(LeakError {
                    where_found: format!("{what}, inside a base64-encoded compressed string"),
                });
            }
        }
        Ok(())
    }

    /// [`Secrets::check_absent`] for a binary body, searched as stored and
    /// through every compression layer it holds. A body that looks
    /// compressed but cannot be decoded cannot be proven clean: refused.
    pub fn check_binary(&self, bytes: &[u8], what: &str) -> Result<(), LeakError> {
        self.check_absent(bytes, what)?;
        match crate::content_coding::decode(&[], bytes, MAX_DECODED_BINARY) {
            Ok(decoded) if decoded.changed => {
                self.check_absent(&decoded.bytes, &format!("{what}, decompressed"))
            }
            Ok(_) => Ok(()),
            Err(err) => Err(LeakError {
                where_found: format!("{what}: {err}"),
            }),
        }
    }
}

/// An exchange's searchable secrets, prepared once for the many strings of
/// one exchange rather than once per string.
/// Base64 runs in `bytes` that start like a gzip (`H4sI`) or zstd (`KLUv`)
/// stream, decoded and inflated (bounded by [`MAX_DECODED_BINARY`]).
fn compressed_base64_runs(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let is_b64 =
        |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=');
    let mut found = Vec::new();
    for magic in [&b"H4sI"[..], b"KLUv"] {
        for at in memchr::memmem::find_iter(bytes, magic) {
            let len = bytes[at..].iter().take_while(|b| is_b64(b)).count();
            let run: Vec<u8> = bytes[at..at + len]
                .iter()
                .copied()
                .filter(|b| *b != b'=')
                .map(|b| match b {
                    b'-' => b'+',
                    b'_' => b'/',
                    other => other,
                })
                .collect();
            let lenient = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                    .with_decode_allow_trailing_bits(true),
            );
            let usable = run.len() / 4 * 4 + if run.len() % 4 >= 2 { run.len() % 4 } else { 0 };
            let Ok(decoded) = lenient.decode(&run[..usable]) else {
                continue;
            };
            if let Ok(inflated) = crate::content_coding::decode(&[], &decoded, MAX_DECODED_BINARY)
                && inflated.changed
            {
                found.push(inflated.bytes);
            }
        }
    }
    found
}

/// How many recently built searchers are kept. Building one costs tens of
/// microseconds (an Aho-Corasick automaton over every form of every
/// secret), and a client sends the same credential exchange after
/// exchange, so most exchanges find theirs here.
const RECENT_SCRUBBERS: usize = 32;

type Recent = Vec<(Vec<String>, std::sync::Arc<Scrubber>)>;

fn recent_scrubber(secrets: Vec<&str>) -> std::sync::Arc<Scrubber> {
    static RECENT: std::sync::Mutex<Recent> = std::sync::Mutex::new(Vec::new());
    let mut recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(at) = recent
        .iter()
        .position(|(key, _)| key.iter().eq(secrets.iter()))
    {
        let entry = recent.remove(at);
        let scrubber = entry.1.clone();
        recent.push(entry);
        return scrubber;
    }
    drop(recent);
    let scrubber = std::sync::Arc::new(Scrubber {
        needles: Needles::new(&secrets),
    });
    let mut recent = RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if recent.len() == RECENT_SCRUBBERS {
        recent.remove(0);
    }
    recent.push((
        secrets.iter().map(|s| (*s).to_owned()).collect(),
        scrubber.clone(),
    ));
    scrubber
}

#[derive(Debug)]
pub(super) struct Scrubber {
    needles: Needles,
}

/// Every text [`Scrubber::scrub_request`], `scrub_headers` and `scrub_body`
/// search one by one (the path, query names and values, header values as
/// [`crate::cassette::FieldValue::as_str`] reads them, JSON member names
/// and strings, a text body), joined by NUL bytes.
///
/// Searched once, it answers for all of them: every escape the views undo
/// (`%XX`, `\\`-escapes, `&…;` references, `=XX`, line breaks) is a local
/// pattern that a NUL never completes, so each view of the joined text holds
/// each text's own view between NULs, and a secret found in one text is
/// found in the joined one. The converse need not hold (a match across a
/// NUL): then the texts are searched one by one, as before.
pub(super) fn texts_of(interaction: &Interaction) -> String {
    fn json(value: &Value, out: &mut String) {
        match value {
            Value::String(text) => push(out, text),
            Value::Array(items) => items.iter().for_each(|item| json(item, out)),
            Value::Object(object) => object.iter().for_each(|(key, child)| {
                push(out, key);
                json(child, out);
            }),
            _ => {}
        }
    }
    fn push(out: &mut String, text: &str) {
        out.push_str(text);
        out.push('\0');
    }
    fn headers(headers: &Headers, out: &mut String) {
        for (_, values) in headers.iter() {
            values.iter().for_each(|value| push(out, value.as_str()));
        }
    }
    fn body(body: &Body, out: &mut String) {
        match body {
            Body::Json(value) => json(value, out),
            Body::Text(text) => push(out, text),
            Body::Empty | Body::Binary(_) => {}
        }
    }
    let mut out = String::with_capacity(1024);
    let request = &interaction.request;
    push(&mut out, &request.path);
    for (name, value) in request.query.pairs() {
        push(&mut out, name);
        push(&mut out, value);
    }
    headers(&request.headers, &mut out);
    body(&request.body, &mut out);
    headers(&interaction.response.headers, &mut out);
    body(&interaction.response.body, &mut out);
    out
}

impl Scrubber {
    /// False only when no text [`texts_of`] joined can hold a secret:
    /// the whole search [`Scrubber::scrub`] makes per text, made once.
    pub(super) fn may_occur_in(&self, joined: &str) -> bool {
        self.needles.contains_any(joined)
    }

    pub(super) fn occurs_in_bytes(&self, bytes: &[u8]) -> bool {
        !self.needles.is_empty() && self.needles.bytes_contain_any(bytes)
    }

    fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        forms::scrub(text, &self.needles, PLACEHOLDER, URL_PLACEHOLDER)
    }

    fn scrub_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.scrub(text) {
            *text = clean;
        }
    }

    fn scrub_request(&self, request: &mut RecordedRequest) {
        self.scrub_string(&mut request.path);
        request.query.edit(|name, value| {
            self.scrub_string(name);
            self.scrub_string(value);
        });
        self.scrub_headers(&mut request.headers);
        self.scrub_body(&mut request.body);
    }

    fn scrub_headers(&self, headers: &mut Headers) {
        for (_, values) in headers.iter_mut() {
            for value in values.iter_mut() {
                if let Cow::Owned(clean) = self.scrub(value.as_str()) {
                    value.edit(|text| *text = clean);
                }
            }
        }
    }

    fn scrub_body(&self, body: &mut Body) {
        match body {
            Body::Json(value) => self.scrub_json(value),
            Body::Text(text) => self.scrub_string(text),
            Body::Empty | Body::Binary(_) => {}
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
