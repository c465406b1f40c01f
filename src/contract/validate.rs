//! One validator run turned into findings.
//!
//! Two kinds of difference between a response and the contract are drift (a
//! warning), not violations, because they are what an API that moves on
//! looks like (PRODUCT.md: "documented-but-absent is fine; undocumented-but-
//! present is drift"):
//!
//! - a key the contract does not document (`additionalProperties`);
//! - a key the *generated* contract requires that the response lacks, unless
//!   JSON:API itself requires it (a document's `data`, a resource object's
//!   `id` and `type`). The hand-written overlay's `required` stays a
//!   violation: it states what real traffic always carries.
//!
//! In a request both are violations. An `anyOf`/`oneOf` that fails only
//! because of drift in one branch is that branch's drift.

use super::finding::{Category, Finding, Part, Side, pointer_token};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use std::collections::HashSet;

/// Which schema documents are generated (their `$id`s): the lenient ones.
pub(super) type Generated = HashSet<String>;

/// Runs one validator and turns its errors into findings.
pub(super) fn validate(
    schema: &Validator,
    instance: &Value,
    side: Side,
    part: Part,
    generated: &Generated,
    findings: &mut Vec<Finding>,
) {
    if schema.is_valid(instance) {
        return;
    }
    let context = Context {
        side,
        part,
        generated,
    };
    for error in schema.iter_errors(instance) {
        context.push(&error, findings);
    }
}

struct Context<'a> {
    side: Side,
    part: Part,
    generated: &'a Generated,
}

impl Context<'_> {
    fn push(&self, error: &ValidationError<'_>, findings: &mut Vec<Finding>) {
        let at = error.instance_path().as_str();
        let finding = |category, pointer: String, rule: &str, message: String| Finding {
            category,
            side: self.side,
            part: self.part,
            pointer,
            rule: rule.to_owned(),
            message,
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let pointer = format!("{at}/{}", pointer_token(name));
                    findings.push(match self.side {
                        Side::Response => finding(
                            Category::Drift,
                            pointer,
                            "additionalProperties",
                            format!("`{name}` is not in the documented contract (API drift?)"),
                        ),
                        Side::Request => finding(
                            Category::Violation,
                            pointer,
                            "additionalProperties",
                            format!("`{name}` is not allowed here"),
                        ),
                    });
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| property.to_string());
                let pointer = format!("{at}/{}", pointer_token(&name));
                findings.push(if self.absent_is_drift(error, at, &name) {
                    finding(
                        Category::Drift,
                        pointer,
                        "required",
                        format!("`{name}` is documented but absent (API drift?)"),
                    )
                } else {
                    finding(
                        Category::Violation,
                        pointer,
                        "required",
                        format!("`{name}` is required but missing"),
                    )
                });
            }
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                // The branch that fails with drift only, and the least of it.
                let passing = context
                    .iter()
                    .map(|branch| {
                        let mut branch_findings = Vec::new();
                        for inner in branch {
                            self.push(inner, &mut branch_findings);
                        }
                        branch_findings
                    })
                    .filter(|branch| !branch.iter().any(Finding::is_error))
                    .min_by_key(Vec::len);
                match passing {
                    Some(drift) => findings.extend(drift),
                    None => findings.push(finding(
                        Category::Violation,
                        at.to_owned(),
                        error.kind().keyword(),
                        error.to_string(),
                    )),
                }
            }
            kind => findings.push(finding(
                Category::Violation,
                at.to_owned(),
                kind.keyword(),
                error.to_string(),
            )),
        }
    }

    /// A response lacks `name` at `at`, which a generated schema requires.
    fn absent_is_drift(&self, error: &ValidationError<'_>, at: &str, name: &str) -> bool {
        if self.side != Side::Response || json_api_requires(at, name) {
            return false;
        }
        error.absolute_keyword_location().is_some_and(|location| {
            let document = location.as_str().split('#').next().unwrap_or_default();
            self.generated.contains(document)
        })
    }
}

/// True for the members JSON:API 1.1 itself requires: a document's `data`
/// (§7.1; the contract's documents all carry it) and a resource object's
/// `id` and `type` (§7.2), wherever resource objects sit: `/data`,
/// `/data/N`, `/included/N`, a relationship's `…/data` or `…/data/N`.
fn json_api_requires(at: &str, name: &str) -> bool {
    match name {
        "data" => at.is_empty(),
        "id" | "type" => {
            let mut tokens = at.rsplit('/');
            match tokens.next() {
                Some("data") => true,
                Some(last) if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => {
                    matches!(tokens.next(), Some("data" | "included"))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::json_api_requires;

    #[test]
    fn json_api_requires_data_and_the_identity_of_resource_objects() {
        for (at, name) in [
            ("", "data"),
            ("/data", "id"),
            ("/data", "type"),
            ("/data/3", "id"),
            ("/included/0", "type"),
            ("/data/relationships/item_type/data", "id"),
            ("/data/0/relationships/fields/data/12", "type"),
            ("/data/attributes/payload/data", "id"),
        ] {
            assert!(json_api_requires(at, name), "{at} {name}");
        }
        for (at, name) in [
            ("/data", "data"),
            ("", "meta"),
            ("", "included"),
            ("/data", "attributes"),
            ("/data", "meta"),
            ("/data/attributes/theme", "type"),
            ("/data/attributes", "id"),
            ("/meta/3", "id"),
            ("", "id"),
        ] {
            assert!(!json_api_requires(at, name), "{at} {name}");
        }
    }
}
