//! The fast path must write exactly the text the tree path writes, and
//! must never take a body whose recorded form differs from it.

use super::{is_json_number, screened_key};
use crate::redact::places::json_places;
use crate::replay::matching::canonical_json;
use proptest::prelude::*;
use serde_json::Value;

/// The slow path's text for `bytes`: parse, then write the tree.
fn tree_key(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut out = String::new();
    canonical_json(&mut out, &value);
    Some(out)
}

fn assert_same(body: &str) {
    let fast = screened_key(body.as_bytes()).unwrap_or_else(|| panic!("screened out: {body}"));
    assert_eq!(Some(fast), tree_key(body.as_bytes()), "{body}");
}

#[test]
fn writes_what_the_tree_writes() {
    for body in [
        r#"{"data":{"type":"access_token","attributes":{"name":"x","can_access_cma":true},"relationships":{"role":{"data":{"type":"role","id":"34"}}}}}"#,
        "{\n  \"b\": 1,\n  \"a\": [1, 2.50, -0, 1e3, 10E-1, null, false, {}, []]\n}",
        r#"{"a":1,"a":2,"b":{"x":1,"x":{"y":3}}}"#,
        r#"{"\u0062":"\u00e9\n\"q\"\\","":0,"~/":"~/"}"#,
        r#"[1,"two",{"three":3}]"#,
        r#""just a string""#,
        "123456789012345678901234567890.000",
        "-0.0e-7",
        "true",
        "null",
        r#"{"z":{"y":{"x":{"w":[[[[]]]]}}}}"#,
    ] {
        assert_same(body);
    }
}

/// A number is read through serde_json's private map form; if a release
/// renames it, numbers stop matching and this fails.
#[test]
fn numbers_keep_their_exact_text() {
    let fast = screened_key(b"[0.1, 1e400, 123456789012345678901234567890]").unwrap();
    assert_eq!(
        Some(fast.clone()),
        tree_key(b"[0.1, 1e400, 123456789012345678901234567890]")
    );
    // Exact digits, not a float's: 1e400 overflows an f64, and 30 digits
    // do not fit its mantissa.
    assert_eq!(fast, "[1e-1,1e400,12345678901234567890123456789e1]");
}

#[test]
fn what_is_not_one_json_document_is_left_to_the_slow_path() {
    for body in [
        "",
        "{",
        "{} {}",
        "[1,]",
        "{\"a\" 1}",
        "nul",
        "\u{feff}{}",
        "{\"a\":1}x",
    ] {
        assert_eq!(screened_key(body.as_bytes()), None, "{body:?}");
    }
    assert_eq!(screened_key(b"{\"a\":\"\xff\"}"), None);
}

#[test]
fn deep_bodies_are_left_to_the_slow_path() {
    let depth = crate::cassette::MAX_JSON_DEPTH;
    let shallow = format!("{}{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    assert_same(&shallow);
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(screened_key(deep.as_bytes()), None);
}

#[test]
fn bodies_the_redaction_could_touch_are_left_to_the_slow_path() {
    for body in [
        r#"{"password":"hunter2hunter2"}"#,
        r#"{"data":{"attributes":{"api_token":"x"}}}"#,
        r#"{"nested":[{"Client_Secret":1}]}"#,
        r#"{"headers":{"X-Custom":"v"}}"#,
        r#"{"webhook":{"request_headers":{}}}"#,
        r#"{"url":"https://user:pw@example.com/x"}"#,
        r#"{"next":"/items?access_token=abc"}"#,
        r#"{"type":"session","id":"s3cr3t-session-id"}"#,
        r#"{"id":"s3cr3t-session-id","type":"Session"}"#,
    ] {
        assert_eq!(screened_key(body.as_bytes()), None, "{body}");
    }
}

/// Arbitrary JSON, with names drawn from a small set that includes secret
/// ones, so both outcomes are common.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,6})?([eE][-+]?[0-9]{1,3})?"
            .prop_map(|n| serde_json::from_str(&n).unwrap()),
        prop_oneof![
            "[a-z \"\\\\\u{e9}\n]{0,12}",
            Just("https://u:p@h/x".to_owned()),
            Just("/x?token=1".to_owned()),
            Just("session".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let name = prop_oneof![
            "[a-z~/]{0,6}",
            Just("type".to_owned()),
            Just("id".to_owned()),
            Just("token".to_owned()),
            Just("headers".to_owned()),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((name, inner), 0..5)
                .prop_map(|members| { Value::Object(members.into_iter().collect()) }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_text_is_the_tree_text_and_secrets_never_pass(value in json(), pretty in any::<bool>()) {
        let bytes = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        // A refusal is always safe (the slow path decides); what passes
        // must be exact and clean.
        if let Some(fast) = screened_key(&bytes) {
            prop_assert_eq!(Some(fast), tree_key(&bytes));
            let headers = crate::redact::header_values::HeaderRules::default();
            prop_assert!(json_places(&value, &headers).is_empty(), "passed with secrets: {}", value);
        }
    }

    /// Members written twice: the last value counts, as in the tree.
    #[test]
    fn repeated_names_keep_the_last_value(a in 0u32..5, b in 0u32..5, c in 0u32..5) {
        let body = format!(r#"{{"k":{a},"j":{b},"k":{c}}}"#);
        prop_assert_eq!(screened_key(body.as_bytes()), tree_key(body.as_bytes()));
    }
}

/// A body may spell the names serde_json gives its private maps (a number,
/// a raw value): the tree reads those as a number or as the document a
/// string spells, so what passes here must be what the tree writes, and
/// nothing the tree refuses may pass.
#[test]
fn bodies_spelling_serde_json_private_names_match_the_tree_or_go_slow() {
    let number = |text: &str| format!(r#"{{"a":{{"$serde_json::private::Number":{text}}}}}"#);
    let raw = |rest: &str| format!(r#"{{"$serde_json::private::RawValue":{rest}}}"#);
    let mut bodies: Vec<String> = [
        r#""1e0,\"b\":2e0""#,
        r#""1e0,\"password\":\"[REDACTED]\"""#,
        r#""01""#,
        r#"" 1""#,
        r#""1 ""#,
        r#""+1""#,
        r#""1.""#,
        r#"".5""#,
        r#""1e""#,
        r#""-""#,
        r#""""#,
        r#""NaN""#,
        r#""0x10""#,
        r#""1""#,
        r#""-0""#,
        r#""1E+2""#,
        r#""0.50e-3""#,
        r#""\u0031""#,
        "1",
    ]
    .iter()
    .map(|text| number(text))
    .collect();
    bodies.extend(
        [
            r#""[]","a":1"#,
            r#""{\"password\":\"x\"}""#,
            r#""{\"a\":1}""#,
            r#""1""#,
            r#""nope""#,
        ]
        .iter()
        .map(|rest| raw(rest)),
    );
    bodies.push(r#"{"a":1,"$serde_json::private::RawValue":"[]"}"#.to_owned());
    bodies.push(r#"{"a":1,"$serde_json::private::Number":"x"}"#.to_owned());
    for body in &bodies {
        if let Some(fast) = screened_key(body.as_bytes()) {
            assert_eq!(Some(fast), tree_key(body.as_bytes()), "{body}");
        }
    }
    // The valid spellings still take the fast path.
    assert_same(&number(r#""1E+2""#));
    assert_same(r#"{"a":1,"$serde_json::private::RawValue":"[]"}"#);
}

proptest! {
    /// The number check accepts exactly what the tree's number parse does.
    #[test]
    fn the_number_check_is_the_tree_s(text in "[-+0-9.eE x]{0,8}") {
        prop_assert_eq!(
            is_json_number(&text),
            text.parse::<serde_json::Number>().is_ok(),
            "{:?}", text
        );
    }
}
