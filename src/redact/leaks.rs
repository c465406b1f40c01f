//! `schema-check`'s leak search: a recorded interaction leaks wherever the
//! redactor would still change something. Defining a leak as "what
//! redaction would replace" keeps the two in step by construction: every
//! rule the recorder applies is a rule the checker enforces.

use super::{PLACEHOLDER, Redactor, Secrets, is_placeholder, lenient_json};
use crate::cassette::{Body, FieldValue, Headers, Interaction, Query};
use crate::contract::{Category, Finding, Part, Side, pointer_token};
use serde_json::Value;

/// Every secret still present in a recorded interaction, with `redactor`
/// remembering secrets across the interactions of one cassette (a token
/// issued in one exchange and quoted in a later one is a leak too).
///
/// Also returns the secrets found, so that every message reported about
/// the interaction can be scrubbed of them.
pub fn find_leaks_with(redactor: &Redactor, interaction: &Interaction) -> (Vec<Finding>, Secrets) {
    let redacted = redactor.redact(interaction.clone());
    let clean = redacted.interaction();
    let mut findings = Vec::new();
    let mut leak = |side: Side, part: Part, pointer: String, message: String| {
        findings.push(Finding {
            category: Category::LeakedSecret,
            side,
            part,
            pointer,
            rule: "placeholder".into(),
            message,
        });
    };
    if interaction.request.path != clean.request.path {
        leak(
            Side::Request,
            Part::Path,
            String::new(),
            "the path holds a secret seen elsewhere in this exchange".into(),
        );
    }
    query_leaks(&interaction.request.query, &clean.request.query, &mut leak);
    for (side, headers, clean_headers, body, clean_body) in [
        (
            Side::Request,
            &interaction.request.headers,
            &clean.request.headers,
            &interaction.request.body,
            &clean.request.body,
        ),
        (
            Side::Response,
            &interaction.response.headers,
            &clean.response.headers,
            &interaction.response.body,
            &clean.response.body,
        ),
    ] {
        header_leaks(side, headers, clean_headers, &mut leak);
        body_leaks(side, body, clean_body, &mut leak);
        if let Body::Binary(bytes) = body
            && let Err(err) = redacted.secrets().check_binary(bytes, "the binary body")
        {
            leak(side, Part::Body, String::new(), err.where_found);
        }
    }
    (findings, redacted.secrets().clone())
}

/// [`find_leaks_with`] for a lone interaction.
pub fn find_leaks(interaction: &Interaction) -> Vec<Finding> {
    find_leaks_with(&Redactor::default(), interaction).0
}

/// Every secret in a lone JSON body (`schema-check --request/--response`),
/// and the secrets found.
pub fn find_body_leaks(side: Side, body: &Value) -> (Vec<Finding>, Secrets) {
    let mut interaction = Interaction {
        recorded_at: String::new(),
        request: crate::cassette::RecordedRequest {
            method: "GET".into(),
            path: "/".into(),
            query: Query::default(),
            headers: Headers::new(),
            body: Body::Empty,
        },
        response: crate::cassette::RecordedResponse {
            status: 200,
            headers: Headers::new(),
            body: Body::Empty,
        },
    };
    match side {
        Side::Request => interaction.request.body = Body::Json(body.clone()),
        Side::Response => interaction.response.body = Body::Json(body.clone()),
    }
    find_leaks_with(&Redactor::default(), &interaction)
}

type Leak<'a> = dyn FnMut(Side, Part, String, String) + 'a;

fn query_leaks(query: &Query, clean: &Query, leak: &mut Leak<'_>) {
    for ((name, value), (_, clean_value)) in query.pairs().iter().zip(clean.pairs()) {
        if value != clean_value {
            leak(
                Side::Request,
                Part::Query,
                format!("/{}", pointer_token(name)),
                format!("query parameter `{name}` holds a live secret; it must be `{PLACEHOLDER}`"),
            );
        }
    }
    if query.pairs().len() == clean.pairs().len()
        && query
            .pairs()
            .iter()
            .zip(clean.pairs())
            .any(|((name, _), (clean_name, _))| name != clean_name)
    {
        leak(
            Side::Request,
            Part::Query,
            String::new(),
            "a query parameter name holds a secret".into(),
        );
    }
}

fn header_leaks(side: Side, headers: &Headers, clean: &Headers, leak: &mut Leak<'_>) {
    for (name, values) in headers.iter() {
        let clean_values = clean.get_all(name);
        for (index, value) in values.iter().enumerate() {
            if clean_values.get(index) != Some(value) {
                leak(
                    side,
                    Part::Headers,
                    format!("/{name}/{index}"),
                    format!(
                        "`{name}` holds a live secret; it must be a placeholder such as `{}` \
                         (re-record through datovcr proxy, which redacts it)",
                        clean_values
                            .get(index)
                            .map_or(PLACEHOLDER, FieldValue::as_str)
                    ),
                );
            }
        }
    }
}

fn body_leaks(side: Side, body: &Body, clean: &Body, leak: &mut Leak<'_>) {
    match (body, clean) {
        (Body::Json(original), Body::Json(redacted)) => {
            json_leaks(side, original, redacted, &mut String::new(), leak);
        }
        (Body::Text(text), Body::Json(redacted)) => match lenient_json(text) {
            Some(original) => json_leaks(side, &original, redacted, &mut String::new(), leak),
            None => whole_body_leak(side, leak),
        },
        (a, b) if a != b => whole_body_leak(side, leak),
        _ => {}
    }
}

fn whole_body_leak(side: Side, leak: &mut Leak<'_>) {
    leak(
        side,
        Part::Body,
        String::new(),
        "the body holds a live secret (a credential-named value, a URL credential, or a \
         secret seen elsewhere in the exchange)"
            .into(),
    );
}

fn json_leaks(
    side: Side,
    original: &Value,
    redacted: &Value,
    pointer: &mut String,
    leak: &mut Leak<'_>,
) {
    let len = pointer.len();
    match (original, redacted) {
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() && a.keys().eq(b.keys()) => {
            for ((key, x), y) in a.iter().zip(b.values()) {
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
                json_leaks(side, x, y, pointer, leak);
                pointer.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                pointer.push('/');
                pointer.push_str(&index.to_string());
                json_leaks(side, x, y, pointer, leak);
                pointer.truncate(len);
            }
        }
        (a, b) if a != b => {
            let message = match a {
                Value::String(text) if !is_placeholder(text) && b.as_str() == Some(PLACEHOLDER) => {
                    format!("a secret is on disk; it must be `{PLACEHOLDER}`")
                }
                _ => {
                    "a live secret is on disk here; it must be replaced by a placeholder".to_owned()
                }
            };
            leak(side, Part::Body, pointer.clone(), message);
        }
        _ => {}
    }
}
