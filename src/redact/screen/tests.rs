use super::json_document_is_clean;
use crate::cassette::{Body, Interaction, RecordedRequest, RecordedResponse};
use crate::redact::Redactor;
use proptest::prelude::*;
use serde_json::Value;

/// The secrets the redactor finds in `bytes` as a JSON request body and as
/// a JSON response body.
fn secrets_found(bytes: &[u8]) -> usize {
    let body = Body::from_bytes(bytes, Some("application/json"));
    let interaction = Interaction {
        recorded_at: "2026-11-30T00:00:00Z".to_owned(),
        request: RecordedRequest {
            method: "POST".to_owned(),
            path: "/items".to_owned(),
            query: Default::default(),
            headers: Default::default(),
            body: body.clone(),
        },
        response: RecordedResponse {
            status: 200,
            headers: Default::default(),
            body,
        },
    };
    Redactor::default().secrets_in(&interaction).len()
}

/// JSON documents built from names and strings the redaction reacts to
/// (secret names, header maps, a secret resource type beside an `id`, URLs
/// with credentials) among plain ones, so both answers are common.
pub(crate) fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,4})?".prop_map(|n| serde_json::from_str(&n).unwrap()),
        prop_oneof![
            "[a-z \"\\\\\u{e9}]{0,10}",
            Just("https://u:p@h/x".to_owned()),
            Just("/x?access_token=1".to_owned()),
            Just("//h/x?signature=abc".to_owned()),
            // Text inside a string: prose quoting a URL, a relative URL, a
            // document or a form serialized into it, and look-alikes.
            Just("fetch https://u:p@h/x failed".to_owned()),
            Just("go to /cb?code=1 now".to_owned()),
            Just("{\"token\":\"x\"}".to_owned()),
            Just("a=1&password=x".to_owned()),
            Just("a%3D1%26password%3Dx".to_owned()),
            Just("token&#61;x".to_owned()),
            Just("2026-11-30T08:47:11Z".to_owned()),
            Just("note: fine".to_owned()),
            Just("session".to_owned()),
            Just("Session".to_owned()),
            Just("item".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let name = prop_oneof![
            "[a-z_]{0,6}",
            Just("type".to_owned()),
            Just("id".to_owned()),
            Just("token".to_owned()),
            Just("password".to_owned()),
            Just("headers".to_owned()),
            Just("attributes".to_owned()),
        ];
        // A JSON:API resource: its `type` decides whether its `id` is a
        // secret.
        let resource = (
            prop_oneof![Just("session"), Just("Session"), Just("item")],
            any::<bool>(),
            inner.clone(),
        )
            .prop_map(|(kind, with_id, attributes)| {
                let mut object = serde_json::json!({"type": kind, "attributes": attributes});
                if with_id {
                    object["id"] = Value::from("1");
                }
                object
            });
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((name, inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            resource,
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// What the screen clears, the redactor finds nothing in.
    #[test]
    fn a_cleared_body_holds_nothing_the_redactor_finds(value in json(), pretty in any::<bool>()) {
        let bytes = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        if json_document_is_clean(&bytes) {
            prop_assert_eq!(secrets_found(&bytes), 0, "cleared with secrets: {}", value);
        }
    }
}

#[test]
fn plain_documents_are_cleared() {
    for body in [
        r#"{"data":{"type":"item","id":"1","attributes":{"title":"x","n":1.5e3}}}"#,
        r#"[1,2,{"a":[null,true,"https://example.com/x?page=2"]}]"#,
        r#"{"data":[{"type":"access_token","id":"312","relationships":{"role":{"data":{"type":"role","id":"9"}}}}]}"#,
        r#"{"type":"session","name":"no id here"}"#,
        r#"{"a":"caf\u00e9","b":123456789012345678901234567890}"#,
        "  {}  ",
    ] {
        assert!(json_document_is_clean(body.as_bytes()), "{body}");
        assert_eq!(secrets_found(body.as_bytes()), 0, "{body}");
    }
}

/// Each holds something the redactor would find, or is not a JSON
/// document the cassette holds as one: the screen must not clear it.
#[test]
fn documents_with_secrets_or_odd_shapes_are_not_cleared() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let bodies: Vec<String> = [
        r#"{"data":{"attributes":{"token":"sk_live_1"}}}"#,
        r#"{"pass\u0077ord":"hunter2"}"#,
        r#"{"PASSWORD":"hunter2"}"#,
        r#"{"headers":{"Authorization":"Bearer x"}}"#,
        r#"{"type":"session","id":"abc"}"#,
        r#"{"id":"abc","type":"SESSION"}"#,
        r#"{"type":"item","id":"1","type":"session"}"#,
        r#"{"callback":"https://user:pass@example.com/hook"}"#,
        r#"{"url":"/upload?X-Amz-Signature=abc"}"#,
        r#"{"a":{"$serde_json::private::Number":"1"}}"#,
        r#"{"$serde_json::private::RawValue":"{\"password\":\"x\"}"}"#,
        r#"{"a":"$serde_json::private::Number"}"#,
        r#"{"a":1} trailing"#,
        r#"{"a":1,}"#,
        "",
        "not json",
    ]
    .iter()
    .map(|body| (*body).to_owned())
    .chain([deep])
    .collect();
    for body in &bodies {
        assert!(!json_document_is_clean(body.as_bytes()), "{body}");
    }
    // Below the depth limit, a plain document is cleared.
    let shallow = format!("{}{}", "[".repeat(99), "]".repeat(99));
    assert!(json_document_is_clean(shallow.as_bytes()));
}
