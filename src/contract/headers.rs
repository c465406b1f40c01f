//! The header rules (`request-headers.json` and its kin): checked like any
//! schema, reported in words.
//!
//! A header rule is a pattern or a constant over a header's text; the
//! validator's own message would quote the regular expression, which tells
//! a reader nothing. Each header property of the schemas carries a
//! `description` that says the rule in a sentence ("Accept must allow
//! application/json …"), and that sentence is the finding's message.

use super::finding::{Category, Finding, Part, Side};
use super::validate::{Generated, validate};
use crate::cassette::Headers;
use jsonschema::Validator;
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
