//! Tests of the places where the rules find secrets: JSON by name, maps
//! of HTTP headers, URLs.

use super::*;
use crate::redact::PLACEHOLDER;
use serde_json::json;

fn pointers(value: &Value) -> Vec<String> {
    json_places(value, &HeaderRules::default())
        .into_iter()
        .map(|p| p.pointer)
        .collect()
}

#[test]
fn names_catch_values_not_booleans_and_respect_public_attributes() {
    let doc = json!({"data": [
        {"type": "site", "id": "1", "attributes": {
            "readwrite_token": "rw-secret", "readonly_token": "[REDACTED]",
            "google_maps_api_token": "maps", "name": "Blog"}},
        {"type": "role", "id": "2", "attributes": {"can_manage_access_tokens": true}},
        {"type": "item_type", "id": "3", "attributes": {"api_key": "blog_post"}},
        {"type": "plugin", "id": "4", "attributes": {"parameters": {"api_key": "k-1"}}},
        {"type": "session", "id": "sess-bearer"},
        {"type": "access_token", "id": "5", "relationships": {"role": {"data": {"type": "role", "id": "2"}}}},
        {"type": "user", "id": "6", "attributes": {"password": ["a", "b"], "token": 42}}
    ]});
    assert_eq!(
        pointers(&doc),
        [
            "/data/0/attributes/readwrite_token",
            "/data/0/attributes/google_maps_api_token",
            "/data/3/attributes/parameters/api_key",
            "/data/4/id",
            "/data/6/attributes/password/0",
            "/data/6/attributes/password/1",
            "/data/6/attributes/token",
        ]
    );
}

#[test]
fn objects_and_numbers_under_secret_names_are_secret_but_links_are_not() {
    let doc = json!({"data": {"type": "access_token", "id": "1",
        "attributes": {
            "token": {"value": "v-secret", "expires": 3600, "ok": true},
            "private_key": {"kty": "RSA", "d": "d-secret"},
            "password": 12345678,
            "can_manage_access_tokens": false
        },
        "relationships": {"access_token": {"data": {"type": "access_token", "id": "9"}},
                          "session": {"type": "session", "id": "sess-1"}}},
        "included": [{"type": "item", "id": "7", "attributes": {"session_title": "Keynote",
            "blocks": [{"type": "upload", "attributes": {"token": "in-a-block"}}]},
            "meta": {"token": "item-meta"}}]});
    assert_eq!(
        pointers(&doc),
        [
            "/data/attributes/token/value",
            "/data/attributes/token/expires",
            "/data/attributes/private_key/kty",
            "/data/attributes/private_key/d",
            "/data/attributes/password",
            "/data/relationships/session/id",
            "/included/0/attributes/blocks/0/attributes/token",
            "/included/0/meta/token",
        ]
    );
}

/// Issue 14's broad flow: a webhook's custom headers are HTTP headers,
/// and the header rules read them, not only the name rule.
#[test]
fn maps_of_http_headers_are_read_by_the_header_rules() {
    let doc = json!({"data": [
        {"type": "webhook", "id": "1", "attributes": {
            "name": "hook",
            "headers": {
                "Authorization": "Bearer a-1",
                "X-Webhook-Secret": "s-1",
                "X-Access-Key": "k-1",
                "X-Signature": "g-1",
                "X-Forward-To": "Token t-1",
                "Proxy-Authorization": "p-1",
                "X-Source": "datovcr",
                "X-Auth": "x-1",
                "X-Multi": ["plain", "Basic b-1"]
            }}},
        {"type": "webhook_call", "id": "2", "attributes": {
            "request_headers": {"Accept": "*/*", "User-Agent": "DatoCMS (datocms.com)",
                "X-Hub-Signature-256": "sha256=h-1"},
            "response_headers": {"WWW-Authenticate": "Bearer realm=\"hooks\"",
                "Set-Cookie": "sid=c-1; Path=/", "Content-Type": "text/plain",
                "Access-Control-Allow-Headers": "authorization"}}},
        {"type": "upload_request", "id": "3", "attributes": {
            "url": "https://s3.example/u?X-Amz-Signature=u-1",
            "request_headers": {"Content-Type": "image/png", "x-amz-acl": "public-read"}}},
        {"type": "item", "id": "4", "attributes": {
            "headers": {"X-Access-Key": "a record's own field", "token": "public too"}}}
    ]});
    let found: Vec<(String, Vec<String>)> = json_places(&doc, &HeaderRules::default())
        .into_iter()
        .map(|p| {
            // The whole value first; a credential's parts after it.
            let whole = p.what.values().first().map(|v| v.to_string());
            (p.pointer, whole.into_iter().collect())
        })
        .collect();
    let expected: Vec<(String, Vec<String>)> = [
        ("/data/0/attributes/headers/Authorization", "Bearer a-1"),
        ("/data/0/attributes/headers/X-Webhook-Secret", "s-1"),
        ("/data/0/attributes/headers/X-Access-Key", "k-1"),
        ("/data/0/attributes/headers/X-Signature", "g-1"),
        ("/data/0/attributes/headers/X-Forward-To", "Token t-1"),
        ("/data/0/attributes/headers/Proxy-Authorization", "p-1"),
        ("/data/0/attributes/headers/X-Auth", "x-1"),
        ("/data/0/attributes/headers/X-Multi/0", "plain"),
        ("/data/0/attributes/headers/X-Multi/1", "Basic b-1"),
        (
            "/data/1/attributes/request_headers/X-Hub-Signature-256",
            "sha256=h-1",
        ),
        (
            "/data/1/attributes/response_headers/Set-Cookie",
            "sid=c-1; Path=/",
        ),
        ("/data/2/attributes/url", "u-1"),
    ]
    .into_iter()
    .map(|(pointer, value)| (pointer.to_owned(), vec![value.to_owned()]))
    .collect();
    assert_eq!(found, expected);
}

/// Issue 14 loose end: `--redact-header NAME` reaches the maps of HTTP
/// headers in bodies as it reaches real headers: in any case, several
/// names, maps nested anywhere in the document.
#[test]
fn redact_header_names_reach_maps_of_http_headers() {
    let doc = json!({"data": {"type": "webhook", "id": "1", "attributes": {
        "headers": {"x-tenant-ref": "t-1", "X-Customer": "c-1", "X-Source": "datovcr"}}},
        "included": [{"type": "webhook_call", "id": "2", "attributes": {
            "request_headers": {"X-TENANT-REF": "t-2", "Accept": "*/*"},
            "response_headers": {"X-Customer": ["c-2", "c-3"]}}}],
        "meta": {"upload": {"REQUEST_HEADERS": {"X-Tenant-Ref": "t-3"}}}});
    let rules = HeaderRules::new(&["X-Tenant-Ref".into(), "x-customer".into()]);
    let found: Vec<(String, String)> = json_places(&doc, &rules)
        .into_iter()
        .map(|p| (p.pointer, p.what.apply("", PLACEHOLDER)))
        .collect();
    let expected = [
        "/data/attributes/headers/x-tenant-ref",
        "/data/attributes/headers/X-Customer",
        "/included/0/attributes/request_headers/X-TENANT-REF",
        "/included/0/attributes/response_headers/X-Customer/0",
        "/included/0/attributes/response_headers/X-Customer/1",
        "/meta/upload/REQUEST_HEADERS/X-Tenant-Ref",
    ];
    assert_eq!(
        found,
        expected.map(|p| (p.to_owned(), PLACEHOLDER.to_owned()))
    );
    // Without the rules, none of those names is a credential.
    assert!(json_places(&doc, &HeaderRules::default()).is_empty());
}

#[test]
fn url_credentials_are_spans_and_the_url_stays_a_url() {
    let url = "https://user:pw@s3.example/b?X-Amz-Credential=AK%2F1&X-Amz-Date=2022&X-Amz-Signature=abc#t";
    let spans = url_secrets(url).unwrap();
    let values: Vec<&str> = spans.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["user:pw", "AK/1", "abc"]);
    assert_eq!(
        Secret::Spans(spans).apply(url, "[R]"),
        "https://%5BREDACTED%5D@s3.example/b?X-Amz-Credential=%5BREDACTED%5D&X-Amz-Date=2022&X-Amz-Signature=%5BREDACTED%5D#t"
    );
    let otp = url_secrets("otpauth://totp/Dato:me?secret=JBSWY3DP&issuer=Dato").unwrap();
    assert_eq!(otp[0].1, "JBSWY3DP");
    assert_eq!(url_secrets("https://example.com/a?page=2"), None);
    for relative in [
        "?code=c1",
        "cb?code=c1",
        "/x?a=1&code=c1",
        "//cdn.example/x?key=c1",
    ] {
        let found = url_secrets(relative).unwrap_or_default();
        assert_eq!(found.len(), 1, "{relative}");
        assert_eq!(found[0].1, "c1", "{relative}");
    }
    let link = query_secrets("</p?sig=s1>; rel=\"next\", <x.html?a=1&amp;key=k1>");
    let values: Vec<&str> = link.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["s1", "k1"]);
    assert_eq!(url_secrets("not a url: ?key=1"), None);
    assert_eq!(
        url_secrets("https://x/?X-Amz-Signature=%5BREDACTED%5D"),
        None,
        "placeholders are not secrets"
    );
}

#[test]
fn strings_without_a_scheme_query_fragment_or_authority_answer_at_once_and_the_rest_are_read() {
    for plain in [
        "",
        "Read-only API token",
        "access_token",
        "a/b/c",
        "user@example.com",
    ] {
        assert_eq!(url_secrets(plain), None, "{plain}");
    }
    // The early answer must not skip an authority's userinfo, which
    // needs none of `:`, `?` or `#`.
    let found = url_secrets("//u1@cdn.example/x").unwrap_or_default();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, "u1");
    assert_eq!(url_secrets("mailto:u@x?secret=s1").unwrap()[0].1, "s1");
    assert_eq!(url_secrets("p#token=t1").unwrap()[0].1, "t1");
}

/// A URL percent-encoded into a parameter of another (OAuth's
/// `redirect_uri`, a login's `next`, twice encoded, relative) had its
/// credentials read by no rule: the outer parameter's name is no secret's.
/// Each is replaced whole; its credentials are secrets of their own.
#[test]
fn a_url_encoded_into_a_parameter_gives_up_its_credentials() {
    for (text, secret) in [
        (
            "https://app.example/login?next=%2Fcb%3Fcode%3Dc0de11aa",
            "c0de11aa",
        ),
        (
            "https://id.example/a?redirect_uri=https%3A%2F%2Fu%3Apw22bb%40h.example%2F&x=1",
            "u:pw22bb",
        ),
        ("/login?next=%252Fcb%253Ftoken%253Dtk33cc44", "tk33cc44"),
        ("?return_to=https%3A%2F%2Fh%2F%3Fsig%3Dsg55dd66", "sg55dd66"),
    ] {
        let spans = url_secrets(text).unwrap_or_default();
        let values: Vec<&str> = spans.iter().map(|(_, v)| v.as_str()).collect();
        assert!(values.contains(&secret), "{text}: {values:?}");
        let replaced = replace_spans(text, spans.iter().map(|(r, _)| r.clone()));
        assert!(
            !replaced.contains(&secret[secret.len() - 4..]),
            "{replaced}"
        );
        assert!(replaced.contains("=%5BREDACTED%5D"), "{replaced}");
    }
    // A parameter that only happens to be encoded holds nothing.
    assert_eq!(url_secrets("https://h.example/s?q=a%20b%26c"), None);
    // In a JSON string, a header value and a text body alike.
    let value = json!({"a": "see https://app.example/login?next=%2Fcb%3Fcode%3Dc0de77ee then"});
    assert_eq!(pointers(&value), ["/a"]);
}

/// Text escaped inside a string (a form or `name=value` percent-encoded,
/// an HTML entity for `=`, a URL percent-encoded in prose) is read in its
/// unescaped views, as a text body's are; the whole string is replaced and
/// each value is a secret. Text that only looks escaped holds nothing.
#[test]
fn text_escaped_inside_a_string_gives_up_its_secrets() {
    for (text, secret) in [
        ("password%3Dpw11aa22bb", "pw11aa22bb"),
        ("a%3D1%26token%3Dtk33cc44dd", "tk33cc44dd"),
        ("token&#61;tk55ee66ff", "tk55ee66ff"),
        (
            "see https%3A%2F%2Fusr%3Apw77gg88%40h.example%2Fx now",
            "pw77gg88",
        ),
        ("password%253Dpw99hh00ii", "pw99hh00ii"),
    ] {
        let found = string_text_secrets(text, false).unwrap_or_else(|| panic!("{text}"));
        assert!(
            found.secrets.iter().any(|s| s.contains(secret)),
            "{text}: {:?}",
            found.secrets
        );
        assert!(
            !found.replaced.contains(&secret[..6]),
            "{text}: {}",
            found.replaced
        );
        let value = json!({ "note": text });
        assert_eq!(pointers(&value), ["/note"], "{text}");
    }
    for plain in [
        "100%25 sure",
        "a%3D1%26b%3D2",
        "x&amp;y",
        "line\nbreak",
        "[REDACTED]",
    ] {
        assert!(string_text_secrets(plain, false).is_none(), "{plain}");
    }
}
