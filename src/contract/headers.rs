//! The header rules (`request-headers.json` and its kin): checked like any
//! schema, reported in words.
//!
//! A header rule is a pattern or a constant over a header's text; the
//! validator's own message would quote the regular expression, which tells
//! a reader nothing. Each header property of the schemas carries a
//! `description` that says the rule in a sentence ("Accept must allow
//! application/json …"), and that sentence is the finding's message.

use super::endpoint::SchemaRef;
use super::finding::{Category, Finding, Part, Side};
use super::light::{Light, LightJson};
use super::schema_set::Compiler;
use super::validate::{Generated, validate};
use crate::cassette::Headers;
use http::HeaderMap;
use jsonschema::Validator;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub(super) struct HeaderRules {
    pub request: Arc<Validator>,
    pub request_with_body: Arc<Validator>,
    pub response: Arc<Validator>,
    /// Lowercase header name to the sentence of its rule, per side.
    pub request_sentences: HashMap<String, String>,
    pub response_sentences: HashMap<String, String>,
    /// The same rules over the headers they name, for the proxy's quick
    /// check; `None` when a rule may look at more than the headers it names.
    pub light: Option<LightRules>,
}

/// The header rules as [`Light`] validators, and the headers they name.
#[derive(Debug)]
pub(super) struct LightRules {
    pub request: Arc<Validator<LightJson>>,
    pub request_with_body: Arc<Validator<LightJson>>,
    pub response: Arc<Validator<LightJson>>,
    pub request_names: Vec<String>,
    pub response_names: Vec<String>,
}

/// The keywords a header schema may use at its root for its verdict to
/// depend only on the headers its `properties` and `required` name: a
/// property's own schema constrains that header's value alone. Anything
/// else (`additionalProperties`, `patternProperties`, `allOf` …) may look
/// at every header, and turns the quick check off.
const NAME_BOUND_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "$ref",
    "title",
    "description",
    "examples",
    "type",
    "required",
    "properties",
];

/// The header names a header schema's documents (itself and what its root
/// `$ref` extends, all of them) can look at; `None` when they may look at
/// more. Names that are not lower case are left out: a recorded header
/// name is lower case, so such a name is never present in either check.
pub(super) fn named_headers(documents: &[&Value], complete: bool) -> Option<Vec<String>> {
    if !complete {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if name == name.to_ascii_lowercase() && !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    };
    for document in documents {
        let document = document.as_object()?;
        if !document
            .keys()
            .all(|keyword| NAME_BOUND_KEYWORDS.contains(&keyword.as_str()))
        {
            return None;
        }
        if let Some(properties) = document.get("properties") {
            properties.as_object()?.keys().for_each(|name| add(name));
        }
        if let Some(required) = document.get("required") {
            for name in required.as_array()? {
                add(name.as_str()?);
            }
        }
    }
    Some(names)
}

impl LightRules {
    /// The rules for the proxy's quick check, if they look only at the
    /// headers they name ([`named_headers`]).
    pub fn new(compiler: &Compiler, schemas: [&SchemaRef; 3]) -> Option<Self> {
        let [request, request_with_body, response] = schemas;
        let named = |schema| {
            let (documents, complete) = compiler.header_documents(schema);
            named_headers(&documents, complete)
        };
        let mut request_names = named(request)?;
        for name in named(request_with_body)? {
            if !request_names.contains(&name) {
                request_names.push(name);
            }
        }
        Some(Self {
            request: compiler.light_validator(request).ok()?,
            request_with_body: compiler.light_validator(request_with_body).ok()?,
            response: compiler.light_validator(response).ok()?,
            request_names,
            response_names: named(response)?,
        })
    }

    /// True when [`HeaderRules::check_request`] would find nothing in the
    /// cassette form of `headers` (every name but `skip`). False when it
    /// would, or when a value is not what the quick check reads.
    pub fn request_is_clean(&self, headers: &HeaderMap, skip: &[&str], with_body: bool) -> bool {
        // No header at all is reported as such.
        if !headers.keys().any(|name| !skip.contains(&name.as_str())) {
            return false;
        }
        let rules = if with_body {
            &self.request_with_body
        } else {
            &self.request
        };
        rules.is_valid(&named_object(headers, &self.request_names, skip))
    }

    /// True when [`HeaderRules::check_response`] would find nothing.
    pub fn response_is_clean(&self, headers: &HeaderMap, skip: &[&str], has_content: bool) -> bool {
        !has_content
            || self
                .response
                .is_valid(&named_object(headers, &self.response_names, skip))
    }
}

/// The headers of `names` that `headers` holds, as [`Headers::to_json`]
/// writes them: repeated values joined with ", ", bytes that are not UTF-8
/// read as ISO-8859-1 (as [`crate::cassette::FieldValue`] keeps them).
fn named_object<'h>(headers: &'h HeaderMap, names: &'h [String], skip: &[&str]) -> Light<'h> {
    let mut members = Vec::new();
    for name in names {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let mut joined: Option<Cow<'h, str>> = None;
        for value in headers.get_all(name.as_str()) {
            let text = match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => Cow::Owned(value.as_bytes().iter().map(|&b| char::from(b)).collect()),
            };
            joined = Some(match joined {
                None => text,
                Some(before) => Cow::Owned(format!("{before}, {text}")),
            });
        }
        if let Some(joined) = joined {
            members.push((Cow::Borrowed(name.as_str()), Light::String(joined)));
        }
    }
    Light::Object(members)
}

impl HeaderRules {
    /// Checks request headers. A request recorded without any header (real
    /// traffic converted from recordings that kept none) cannot be checked:
    /// that is said once, as a note, not as violations.
    pub fn check_request(&self, headers: &Headers, with_body: bool, findings: &mut Vec<Finding>) {
        if headers.is_empty() {
            findings.push(Finding {
                category: Category::NotRecorded,
                side: Side::Request,
                part: Part::Headers,
                pointer: String::new(),
                rule: "not-recorded".into(),
                message: "the request headers were not recorded, so the header rules \
                          (X-Api-Version, Authorization, Accept, Content-Type) were not checked"
                    .into(),
            });
            return;
        }
        let rules = if with_body {
            &self.request_with_body
        } else {
            &self.request
        };
        self.check(rules, headers, Side::Request, findings);
    }

    /// Checks response headers. Content-Type describes content (RFC 9110
    /// §8.3), so a response without any (204) has no header rule to meet.
    pub fn check_response(
        &self,
        headers: &Headers,
        has_content: bool,
        findings: &mut Vec<Finding>,
    ) {
        if has_content {
            self.check(&self.response, headers, Side::Response, findings);
        }
    }

    fn check(&self, rules: &Validator, headers: &Headers, side: Side, findings: &mut Vec<Finding>) {
        let from = findings.len();
        let instance = headers.to_json();
        validate(
            rules,
            &instance,
            side,
            Part::Headers,
            &Generated::new(),
            findings,
        );
        for finding in &mut findings[from..] {
            if finding.rule == "required" {
                continue;
            }
            let name = finding
                .pointer
                .strip_prefix('/')
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            let sentences = match side {
                Side::Request => &self.request_sentences,
                Side::Response => &self.response_sentences,
            };
            let rule = match sentences.get(&name) {
                Some(sentence) => sentence.clone(),
                None => format!("`{name}` must have the documented form"),
            };
            finding.message = match instance.get(&name).and_then(|value| value.as_str()) {
                Some(value) => format!("{rule}; received \"{}\"", shortened(value)),
                None => rule,
            };
        }
    }
}

/// A header value as a message quotes it: at most 100 characters.
fn shortened(value: &str) -> String {
    const MAX: usize = 100;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}
