//! What a contract check reports about one exchange.

use serde::Serialize;
use std::fmt;

/// Which half of the exchange a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Request,
    Response,
}

/// Which part of that half. The finding's pointer is relative to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Path,
    Query,
    Headers,
    Status,
    Body,
}

/// Why it was reported. Drift and "not recorded" do not fail a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The exchange breaks the contract.
    Violation,
    /// A response carries something the documentation does not mention:
    /// probably a new API feature, reported so the schemas can catch up.
    Drift,
    /// A secret that should have been replaced by a placeholder.
    LeakedSecret,
    /// A part the recording did not keep (real traffic converted from
    /// recordings without request headers), so its rules were not checked.
    NotRecorded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem, located by side, part and JSON pointer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub category: Category,
    pub side: Side,
    pub part: Part,
    /// RFC 6901 pointer into `part` (`""` is the part itself).
    pub pointer: String,
    /// The schema keyword that failed (`required`, `type`, `enum` …) or one
    /// of datovcr's own rules (`path-id`, `no-body`, `status`, `json`,
    /// `placeholder`, `not-recorded`, `contract`).
    pub rule: String,
    /// A plain sentence for people.
    pub message: String,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        match self.category {
            Category::Drift | Category::NotRecorded => Severity::Warning,
            Category::Violation | Category::LeakedSecret => Severity::Error,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    /// The pointer, or `(root)` for the whole part.
    pub fn pointer_display(&self) -> &str {
        if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Request => "request",
            Side::Response => "response",
        })
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Path => "path",
            Part::Query => "query",
            Part::Headers => "headers",
            Part::Status => "status",
            Part::Body => "body",
        })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Violation => "violation",
            Category::Drift => "drift",
            Category::LeakedSecret => "leaked secret",
            Category::NotRecorded => "not recorded",
        })
    }
}

impl fmt::Display for Finding {
    /// `request body /data/type [const]: ...`, the form logs and reports use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} [{}]: {}",
            self.side,
            self.part,
            self.pointer_display(),
            self.rule,
            self.message
        )
    }
}

/// The `x-datovcr-violations` value: the error count, then up to three
/// errors as `side part pointer [rule]`, in visible ASCII within 1 KiB.
/// `None` when there is no error.
///
/// `scrub` is applied to each pointer before the summary is cut and its
/// other characters replaced: a secret cut at 1 KiB, or with a character
/// replaced, would no longer be found by a scrub of the whole.
pub fn violations_summary<'f>(
    findings: &'f [Finding],
    scrub: impl Fn(&'f str) -> std::borrow::Cow<'f, str>,
) -> Option<String> {
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.is_error()).collect();
    if errors.is_empty() {
        return None;
    }
    let mut summary = errors.len().to_string();
    for finding in errors.iter().take(3) {
        summary.push_str(&format!(
            "; {} {} {} [{}]",
            finding.side,
            finding.part,
            scrub(finding.pointer_display()),
            finding.rule
        ));
    }
    if errors.len() > 3 {
        summary.push_str("; ...");
    }
    Some(
        summary
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(1024)
            .collect(),
    )
}

/// Escapes one reference token per RFC 6901.
pub fn pointer_token(token: &str) -> String {
    let mut escaped = String::with_capacity(token.len());
    push_pointer_token(&mut escaped, token);
    escaped
}

/// Appends `token` to `pointer` escaped as [`pointer_token`] escapes it,
/// without a temporary string: walks over every key of a body use it.
pub fn push_pointer_token(pointer: &mut String, token: &str) {
    if !token.contains(['~', '/']) {
        pointer.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}
