//! The quick check against the full one: wherever it says "clean", the
//! full check finds nothing; and the ordinary clean exchange is vouched for
//! (else the proxy would gain nothing).

use super::*;
use crate::cassette::{Body, Headers, RecordedRequest, RecordedResponse};
use http::{HeaderName, HeaderValue};
use serde_json::Value;

const CREATE: &str = r#"{
  "data": {
    "type": "access_token",
    "attributes": {
      "name": "Read-only API token",
      "can_access_cda": true,
      "can_access_cda_preview": true,
      "can_access_cma": true
    },
    "relationships": { "role": { "data": { "type": "role", "id": "34" } } }
  }
}"#;

const CREATED: &str = r#"{"data":{"type":"access_token","id":"312","attributes":{"name":"Read-only API token","hardcoded_type":null,"can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":false,"last_cma_access":"never","last_cda_access":"today","token":"5f3a9c0e7b2d4f6a8c1e3b5d7f9a0c2e"},"relationships":{"role":{"data":{"type":"role","id":"34"}}}}}"#;

fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(value).expect("value"),
        );
    }
    headers
}

/// The cassette form the proxy builds of the same headers.
fn recorded(headers: &HeaderMap, skip: &[&str]) -> Headers {
    let mut recorded = Headers::from(headers);
    for name in skip {
        recorded.remove(name);
    }
    recorded
}

const CLIENT: &[(&str, &[u8])] = &[
    ("content-type", b"application/vnd.api+json"),
    ("accept", b"application/json"),
    ("authorization", b"Bearer 9b2f0c7d4e1a8b3c6d5e0f1a2b3c4d"),
    ("x-api-version", b"3"),
    ("host", b"localhost"),
    ("content-length", b"12"),
];

/// Headers of the client's, with `name` set to `values` (none: removed).
fn client_with(name: &str, values: &[&[u8]]) -> HeaderMap {
    let mut headers = map(CLIENT);
    headers.remove(name);
    for value in values {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(value).expect("value"),
        );
    }
    headers
}

fn request_agrees(
    contract: &ContractSet,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    let endpoint = contract.route(method, path).expect("routed");
    let skip = ["host", "content-length"];
    let query = Query::parse("");
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let quick = contract.request_is_clean(
        endpoint,
        WireRequest {
            path,
            query: &query,
            headers,
            skip: &skip,
            body,
            content_type,
            screen: None,
        },
    );
    let form = RecordedRequest {
        method: method.into(),
        path: path.into(),
        query,
        headers: recorded(headers, &skip),
        body: Body::from_bytes(body, content_type),
    };
    let findings = contract.check_request(endpoint, (&form).into());
    assert!(
        !quick || findings.is_empty(),
        "quick says clean, the full check found {findings:?} in {headers:?} {}",
        String::from_utf8_lossy(body)
    );
    quick
}

#[test]
fn a_request_the_quick_check_passes_has_no_finding() {
    let contract = ContractSet::embedded().expect("contract");
    let body = CREATE.as_bytes();
    let post = |headers: &HeaderMap, body: &[u8]| {
        request_agrees(&contract, "POST", "/access_tokens", headers, body)
    };
    // The official client's request is vouched for, with its variants.
    let clean: Vec<HeaderMap> = vec![
        map(CLIENT),
        client_with("accept", &[b"*/*"]),
        client_with("accept", &[b"text/html, application/*;q=0.8"]),
        client_with("accept", &[b"text/html", b"application/json"]),
        client_with("accept", &[b"Application/JSON; q=1"]),
        client_with("content-type", &[b"application/json; charset=utf-8"]),
        client_with("x-extra", &[b"\xff\xfe"]),
        client_with("authorization", &[b"Bearer a", b"Bearer b"]),
    ];
    for headers in &clean {
        assert!(post(headers, body), "not vouched for: {headers:?}");
    }
    let compact: Value = serde_json::from_str(CREATE).expect("json");
    let compact = serde_json::to_vec(&compact).expect("json");
    assert!(post(&map(CLIENT), &compact));
    // Whatever the full check would report, the quick check leaves to it.
    let doubtful: Vec<(HeaderMap, &[u8])> = vec![
        (client_with("accept", &[b"text/html"]), body),
        (client_with("accept", &[b"application/json;q=0"]), body),
        (client_with("accept", &[b"application/json;q=0.0"]), body),
        (client_with("accept", &[]), body),
        (client_with("authorization", &[b"Token x"]), body),
        (client_with("authorization", &[b"Bearer"]), body),
        (client_with("x-api-version", &[b"2"]), body),
        (client_with("x-api-version", &[b"3", b"3"]), body),
        (client_with("x-api-version", &[b"\xb3"]), body),
        (client_with("content-type", &[b"text/plain"]), body),
        (client_with("content-type", &[]), body),
        (map(CLIENT), b"not json"),
        (map(CLIENT), b""),
        (map(CLIENT), b"{\"data\":{}}"),
        (map(CLIENT), b"\xff\xfe"),
        (map(&[("host", b"x"), ("content-length", b"2")]), body),
        (
            map(CLIENT),
            br#"{"data":{"type":"access_token","attributes":{}}} x"#,
        ),
    ];
    for (headers, body) in &doubtful {
        assert!(!post(headers, body), "vouched for: {headers:?}");
    }
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    assert!(!post(&map(CLIENT), deep.as_bytes()));
}

#[test]
fn a_path_id_that_differs_from_the_body_is_left_to_the_full_check() {
    let contract = ContractSet::embedded().expect("contract");
    let update = |id: &str| {
        format!(
            r#"{{"data":{{"type":"access_token","id":"{id}","attributes":{{"name":"n","can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":true}},"relationships":{{"role":{{"data":{{"type":"role","id":"34"}}}}}}}}}}"#
        )
    };
    let headers = map(CLIENT);
    let put =
        |path: &str, body: &str| request_agrees(&contract, "PUT", path, &headers, body.as_bytes());
    assert!(put("/access_tokens/12", &update("12")));
    assert!(!put("/access_tokens/12", &update("13")));
}

fn response_agrees(contract: &ContractSet, status: u16, headers: &HeaderMap, body: &[u8]) -> bool {
    let endpoint = contract.route("POST", "/access_tokens").expect("routed");
    let skip = ["host", "content-length"];
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let quick = contract.response_is_clean(
        endpoint,
        WireResponse {
            status,
            headers,
            skip: &skip,
            body,
            content_type,
            screen: None,
        },
    );
    let form = RecordedResponse {
        status,
        headers: recorded(headers, &skip),
        body: Body::from_bytes(body, content_type),
    };
    let findings = contract.check_response(endpoint, (&form).into());
    assert!(
        !quick || findings.is_empty(),
        "quick says clean, the full check found {findings:?}"
    );
    quick
}

#[test]
fn a_response_the_quick_check_passes_has_no_finding() {
    let contract = ContractSet::embedded().expect("contract");
    let json = map(&[("content-type", b"application/json; charset=utf-8")]);
    let body = CREATED.as_bytes();
    assert!(response_agrees(&contract, 201, &json, body));
    let repeated = map(&[
        ("content-type", b"text/plain"),
        ("content-type", b"application/json"),
    ]);
    let doubtful: Vec<(u16, HeaderMap, &[u8])> = vec![
        (201, map(&[("content-type", b"text/html")]), body),
        (201, map(&[]), body),
        (201, repeated, body),
        (201, json.clone(), b"not json"),
        (201, json.clone(), b""),
        (201, json.clone(), br#"{"data":{}}"#),
        (204, json.clone(), b""),
        (500, json.clone(), body),
        (418, json.clone(), body),
        (422, json.clone(), br#"{"data":[]}"#),
        (201, json.clone(), &body[..body.len() - 1]),
    ];
    for (status, headers, body) in &doubtful {
        assert!(
            !response_agrees(&contract, *status, headers, body),
            "vouched for: {status} {headers:?}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The screen over the quick check's tree answers as the screen over
    /// the bytes does, so a body the proxy's log line leaves out of its
    /// secret search is one the redactor finds nothing in
    /// (`redact::screen::tests`).
    #[test]
    fn the_screen_over_the_tree_is_the_screen_over_the_bytes(
        value in crate::redact::screen::tests::json(),
        pretty in proptest::prelude::any::<bool>(),
    ) {
        let bytes = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        let light = Light::parse(&bytes, MAX_JSON_DEPTH).expect("a JSON document");
        let cell = OnceLock::new();
        note_screen(Some(&cell), &light, &bytes);
        proptest::prop_assert_eq!(
            cell.get().copied(),
            Some(crate::redact::screen::json_document_is_clean(&bytes)),
            "{}", value
        );
    }
}

/// The same, at the edges the generator does not reach: nesting at and
/// past the limit, serde_json's private names, escaped names, a secret
/// `id` decided by the last of repeated `type`s.
#[test]
fn the_screen_over_the_tree_agrees_at_the_edges() {
    let bodies = [
        format!("{}{}", "[".repeat(99), "]".repeat(99)),
        format!("{}{}", "[".repeat(100), "]".repeat(100)),
        r#"{"a":{"$serde_json::private::Number":"1"}}"#.to_owned(),
        r#"{"a":"$serde_json::private::Number"}"#.to_owned(),
        r#"{"pass\u0077ord":"x"}"#.to_owned(),
        r#"{"type":"session","id":"1","type":"item"}"#.to_owned(),
        r#"{"type":"item","id":"1","type":"session"}"#.to_owned(),
        r#"{"t\u0079pe":"Session","id":"1"}"#.to_owned(),
        r#"{"a":"https://u:p@h/"}"#.to_owned(),
    ];
    for body in &bodies {
        let cell = OnceLock::new();
        if let Some(light) = Light::parse(body.as_bytes(), MAX_JSON_DEPTH) {
            note_screen(Some(&cell), &light, body.as_bytes());
        }
        assert_eq!(
            cell.get().copied().unwrap_or(false),
            crate::redact::screen::json_document_is_clean(body.as_bytes()),
            "{body}"
        );
    }
}
