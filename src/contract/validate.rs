//! One validator run turned into findings.

use super::finding::{Category, Finding, Part, Side, pointer_token};
use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// Runs one validator and turns its errors into findings. Undocumented
/// properties in a response are drift; everywhere else they are violations.
pub(super) fn validate(
    schema: &Validator,
    instance: &Value,
    side: Side,
    part: Part,
    findings: &mut Vec<Finding>,
) {
    if schema.is_valid(instance) {
        return;
    }
    for error in schema.iter_errors(instance) {
        let at = error.instance_path().as_str().to_owned();
        let violation = |pointer: String, rule: &str, message: String| Finding {
            category: Category::Violation,
            side,
            part,
            pointer,
            rule: rule.to_owned(),
            message,
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let (category, message) = match side {
                        Side::Response => (
                            Category::Drift,
                            format!("`{name}` is not in the documented contract (API drift?)"),
                        ),
                        Side::Request => {
                            (Category::Violation, format!("`{name}` is not allowed here"))
                        }
                    };
                    findings.push(Finding {
                        category,
                        side,
                        part,
                        pointer: format!("{at}/{}", pointer_token(name)),
                        rule: "additionalProperties".into(),
                        message,
                    });
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| property.to_string());
                findings.push(violation(
                    format!("{at}/{}", pointer_token(&name)),
                    "required",
                    format!("`{name}` is required but missing"),
                ));
            }
            kind => findings.push(violation(at, kind.keyword(), error.to_string())),
        }
    }
}
