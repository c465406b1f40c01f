use super::*;
use serde_json::json;

fn view<'a>(query: &'a Query, headers: &'a Headers, body: &'a Body) -> RequestView<'a> {
    RequestView {
        method: "PUT",
        path: "/access_tokens/1",
        query,
        headers,
        body,
    }
}

#[test]
fn query_order_key_order_and_whitespace_do_not_matter() {
    let rules = MatchRules::default();
    let headers = Headers::new();
    let a_query = Query::parse("a=1&b=2");
    let b_query = Query::parse("b=2&a=1");
    let a_body = Body::from_bytes(br#"{"data":{"id":"1","type":"access_token"}}"#, None);
    let b_body = Body::from_bytes(
        b"{\n  \"data\": {\n    \"type\": \"access_token\",\n    \"id\": \"1\"\n  }\n}",
        None,
    );
    assert_eq!(
        rules.key(&view(&a_query, &headers, &a_body)),
        rules.key(&view(&b_query, &headers, &b_body))
    );
    let other = Body::Json(json!({"data": {"id": "2", "type": "access_token"}}));
    assert_ne!(
        rules.key(&view(&a_query, &headers, &a_body)),
        rules.key(&view(&a_query, &headers, &other))
    );
}

#[test]
fn environment_header_matters_and_authorization_never_does() {
    let rules = MatchRules::default();
    let query = Query::default();
    let body = Body::Empty;
    let sandbox: Headers = [("x-environment", "sandbox"), ("authorization", "Bearer a")]
        .into_iter()
        .collect();
    let main: Headers = [("authorization", "Bearer b")].into_iter().collect();
    let main_other_token: Headers = [("authorization", "Bearer c")].into_iter().collect();
    assert_ne!(
        rules.key(&view(&query, &sandbox, &body)),
        rules.key(&view(&query, &main, &body))
    );
    assert_eq!(
        rules.key(&view(&query, &main, &body)),
        rules.key(&view(&query, &main_other_token, &body))
    );
    assert!(MatchRules::parse("method,header:authorization").is_err());
}

#[test]
fn credential_headers_are_never_matched() {
    for name in [
        "authorization",
        "Authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "proxy-authorization",
        "x-session-id",
        "x-csrf-token",
    ] {
        let error = MatchRules::parse(&format!("method,header:{name}")).unwrap_err();
        assert!(error.contains("credential header"), "{name}: {error}");
    }
    let rules = MatchRules::parse("method,header:x-tenant").unwrap();
    assert!(
        rules
            .refuse_credential_headers(&RedactionRules::default())
            .is_ok()
    );
    let redacted = RedactionRules {
        headers: vec!["X-Tenant".into()],
        ..RedactionRules::default()
    };
    assert!(rules.refuse_credential_headers(&redacted).is_err());
}

#[test]
fn match_spec_can_drop_the_body_and_pointers_can_be_ignored() {
    let rules = MatchRules::parse("method,path,query").unwrap();
    let (query, headers) = (Query::default(), Headers::new());
    let one = Body::Json(json!({"a": 1}));
    let two = Body::Json(json!({"a": 2}));
    assert_eq!(
        rules.key(&view(&query, &headers, &one)),
        rules.key(&view(&query, &headers, &two))
    );

    let mut rules = MatchRules::default();
    rules.ignore_body_pointers.push("/meta/nonce".into());
    let one = Body::Json(json!({"a": 1, "meta": {"nonce": "x"}}));
    let two = Body::Json(json!({"a": 1, "meta": {"nonce": "y"}}));
    assert_eq!(
        rules.key(&view(&query, &headers, &one)),
        rules.key(&view(&query, &headers, &two))
    );
    assert!(MatchRules::parse("method,bodies").is_err());
    // A header part names a header as it is sent (RFC 9110 §5.1 token).
    assert!(MatchRules::parse("method,header:x-environment").is_ok());
    assert!(MatchRules::parse("method,header:X-Env_2").is_ok());
    for spec in ["header:x env", "header:x:y", "header:ümlaut", "header:x\"y"] {
        let error = MatchRules::parse(spec).unwrap_err();
        assert!(error.contains("not an HTTP token"), "{spec}: {error}");
    }
}
