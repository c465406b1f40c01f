//! Property: whatever JSON:API document carries a secret, and wherever it
//! hides, the write path never emits it; what it cannot redact it refuses.

use datovcr::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use datovcr::redact::{RedactionRules, Redactor};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Secrets long enough to be searched for, with characters JSON escapes.
fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_/\"\\\\é-]{8,24}".prop_map(|tail| format!("s3cr{tail}"))
}

/// Filler that cannot contain a secret (no `s3cr`).
fn filler() -> impl Strategy<Value = String> {
    "[a-q ]{0,12}"
}

/// Where a generated document hides the secret; replaced before use.
const MARKER: &str = "<SECRET>";

/// A JSON value whose leaf strings may embed [`MARKER`] in filler, at any
/// depth, in arrays and objects.
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        filler().prop_map(Value::String),
        (filler(), filler())
            .prop_map(|(before, after)| Value::String(format!("{before}{MARKER}{after}"))),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-q]{1,6}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An access_token resource whose token is `token`, wrapped at some depth.
fn with_token_resource(body: Value, token: &str, depth: usize) -> Value {
    let mut resource =
        json!({"type": "access_token", "id": "1", "attributes": {"name": "n", "token": token}});
    for _ in 0..depth {
        resource = json!({"data": [resource]});
    }
    json!({"data": [resource, body]})
}

fn exchange(bearer: &str, request_body: Body, response_body: Body) -> Interaction {
    let mut headers = Headers::new();
    headers.append("authorization", format!("Bearer {bearer}"));
    headers.append("accept", "application/json");
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "POST".into(),
            path: "/access_tokens".into(),
            query: Query::parse(&format!("echo={}", urlencode(bearer))),
            headers,
            body: request_body,
        },
        response: RecordedResponse {
            status: 200,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: response_body,
        },
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_bearer_and_every_token_are_gone_from_the_written_line(
        bearer in secret(),
        token in secret(),
        depth in 0usize..4,
        request_doc in document(),
        response_doc in document(),
    ) {
        prop_assume!(!bearer.contains(&token) && !token.contains(&bearer));
        // The bearer hides anywhere in both bodies; the token sits in an
        // access_token resource at some depth.
        let request_doc = replace_marker(request_doc, &bearer);
        let response_doc = with_token_resource(replace_marker(response_doc, &bearer), &token, depth);
        let interaction = exchange(&bearer, Body::Json(request_doc), Body::Json(response_doc));
        let line = Redactor::new(&RedactionRules::default()).redact(interaction).to_journal_line();
        let line = line.expect("text and JSON can always be redacted");
        let text = String::from_utf8(line).unwrap();
        let escaped_bearer = serde_json::to_string(&bearer).unwrap();
        let escaped_token = serde_json::to_string(&token).unwrap();
        prop_assert!(!text.contains(&bearer) && !text.contains(&escaped_bearer[1..escaped_bearer.len() - 1]), "bearer in {}", text);
        prop_assert!(!text.contains(&token) && !text.contains(&escaped_token[1..escaped_token.len() - 1]), "token in {}", text);
    }

    #[test]
    fn a_secret_in_a_binary_body_is_refused(bearer in secret(), prefix in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = prefix;
        bytes.extend_from_slice(bearer.as_bytes());
        bytes.push(0xff);
        let interaction = exchange(&bearer, Body::Empty, Body::Binary(bytes));
        prop_assert!(Redactor::default().redact(interaction).to_journal_line().is_err());
    }
}

/// `value` with every [`MARKER`] replaced by `secret`.
fn replace_marker(value: Value, secret: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(MARKER, secret)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| replace_marker(item, secret))
                .collect(),
        ),
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| (k, replace_marker(v, secret)))
                .collect(),
        ),
        other => other,
    }
}
