//! Secrets and their placeholders.
//!
//! Two jobs that must agree: [`find_leaks`] says whether a recorded
//! interaction still holds a secret (used by `schema-check`), and
//! [`Redactor`] replaces secrets with placeholders before anything is
//! written. Placeholders keep the JSON type of what they replace, so a
//! redacted cassette still satisfies the contract.

use crate::cassette::{Headers, Interaction};
use crate::contract::{Category, Finding, Part, Side, pointer_token};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Query, RecordedRequest, RecordedResponse};
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
