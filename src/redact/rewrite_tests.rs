//! The header-name and URL shortcuts answer as the code they replaced: the
//! versions that compared lowercased copies of header names, and
//! `url_secrets` without its early answer, are kept here and asked the
//! same random questions.

use super::PLACEHOLDER;
use super::credentials::{self, looks_like_credential};
use super::header_values::{FoundInValue, HeaderRules, replace_found};
use super::places::{query_secrets, url_secrets, url_secrets_read};
use super::rules::{
    CREDENTIAL_HEADERS, HEADER_WORDS, PUBLIC_HEADER_PREFIXES, is_secret_header, is_secret_name,
};
use super::text::text_secrets;
use proptest::prelude::*;

/// `is_secret_header` before it compared names in place.
fn old_is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let word = |words: &[&str]| lower.split(['-', '_']).any(|part| words.contains(&part));
    CREDENTIAL_HEADERS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(name))
        || ((is_secret_name(name) || word(HEADER_WORDS))
            && !PUBLIC_HEADER_PREFIXES
                .iter()
                .any(|prefix| name.to_ascii_lowercase().starts_with(prefix)))
}

/// `HeaderRules::secrets_in_value` before it compared names in place (with
/// the later rule that a placeholder is one only as its header would write
/// it, and that a dropped first word is a secret).
fn old_secrets_in_value(name: &str, credential: bool, value: &str) -> Option<FoundInValue> {
    if value.eq_ignore_ascii_case(crate::redact::URL_PLACEHOLDER)
        || credentials::is_header_value_placeholder(name, value, PLACEHOLDER)
    {
        return None;
    }
    let original_name = name;
    let name = name.to_ascii_lowercase();
    let challenge = name.ends_with("-authenticate");
    if credential || (!challenge && looks_like_credential(value)) {
        let mut secrets = match name.as_str() {
            "cookie" => credentials::cookie_secrets(value, false),
            "set-cookie" => credentials::cookie_secrets(value, true),
            _ => credentials::authorization_secrets(value),
        };
        secrets.extend(credentials::dropped_first_word(original_name, value));
        return Some(FoundInValue {
            replaced: credentials::header_placeholder(original_name, value, PLACEHOLDER),
            secrets,
        });
    }
    if !value.contains(['?', '#', '=', ':']) {
        return None;
    }
    let mut spans = text_secrets(value);
    spans.extend(url_secrets_read(value).unwrap_or_default());
    spans.extend(query_secrets(value));
    (!spans.is_empty()).then(|| replace_found(value, spans))
}

/// Header names from the words the rules look for, in mixed case, with
/// separators and characters ASCII case folding leaves alone (`İ`, the
/// Kelvin sign, `ß`, `ſ`) at any place, the public prefix included.
fn header_name() -> impl Strategy<Value = String> {
    let parts = prop::sample::select(vec![
        "auth",
        "AUTH",
        "Key",
        "sig",
        "SIGNATURE",
        "Pass",
        "jwt",
        "token",
        "x",
        "api",
        "-",
        "_",
        "access-control-",
        "Access-Control-",
        "ACCESS-CONTROL",
        "-Authenticate",
        "authenticate",
        "cookie",
        "Set-Cookie",
        "Authorization",
        "proxy-",
        "é",
        "İ",
        "\u{212A}ey",
        "ß",
        "ſig",
        "\u{0}",
        " ",
    ]);
    prop_oneof![
        prop::collection::vec(parts, 0..5).prop_map(|parts| parts.concat()),
        "\\PC{0,24}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    let parts = prop::sample::select(vec![
        "Bearer t-12345678",
        "Token ",
        "Basic dTpwdw==",
        "realm=\"x\"",
        "/cb?code=c1",
        "https://u:p@h/x?sig=s1#key=k1",
        "sid=c-1; Path=/",
        "password: hunter22",
        "[REDACTED]",
        "; ",
        "=",
        "?",
        "#",
        ":",
        "é",
    ]);
    prop_oneof![
        prop::collection::vec(parts, 0..4).prop_map(|parts| parts.concat()),
        "\\PC{0,32}",
    ]
}

/// Strings with and without each of `:`, `?`, `#` and a leading `//`,
/// around userinfo and credential parameters.
fn url_like() -> impl Strategy<Value = String> {
    let parts = prop::sample::select(vec![
        "//",
        "/",
        "u1@",
        "@",
        "h.example",
        ":",
        "?",
        "#",
        "key=k1",
        "sig=",
        "&",
        ";",
        "code=c1",
        "http",
        "mailto",
        "+",
        " ",
        "%41",
        "é",
        "=",
        "a",
    ]);
    prop_oneof![
        prop::collection::vec(parts, 0..7).prop_map(|parts| parts.concat()),
        "[a-z/@.=&;% é]{0,24}",
        "\\PC{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn is_secret_header_answers_as_before(name in header_name()) {
        prop_assert_eq!(is_secret_header(&name), old_is_secret_header(&name), "{:?}", name);
    }

    #[test]
    fn secrets_in_value_answers_as_before(
        name in header_name(),
        credential in any::<bool>(),
        value in header_value(),
    ) {
        prop_assert_eq!(
            HeaderRules::default().secrets_in_value(&name, credential, &value),
            old_secrets_in_value(&name, credential, &value),
            "{:?}: {:?}", name, value
        );
    }

    #[test]
    fn url_secrets_answers_as_before(text in url_like()) {
        prop_assert_eq!(url_secrets(&text), url_secrets_read(&text), "{:?}", text);
    }
}

/// The cases at the edges of each shortcut, asked outright.
#[test]
fn edge_cases_answer_as_before() {
    for name in [
        "",
        "Access-Control-X-Auth",
        "access-control-",
        "Access-ControlX-Auth",
        "access-contro\u{e9}-auth",
        "X-\u{212A}ey",
        "X-KEY",
        "x-key_AUTH",
        "www-AUTHENTICATE",
        "-authenticate",
        "authenticate",
        "COOKIE",
        "Set-Cookie\u{0}",
    ] {
        assert_eq!(is_secret_header(name), old_is_secret_header(name), "{name}");
        for value in ["Bearer t-12345678", "a=b?c", "realm=\"x\"", "x"] {
            for credential in [false, true] {
                assert_eq!(
                    HeaderRules::default().secrets_in_value(name, credential, value),
                    old_secrets_in_value(name, credential, value),
                    "{name}: {value}"
                );
            }
        }
    }
    for text in [
        "", "/", "//", "//@", "///u@x", "a//u1@x", " //u1@x", "u1@x", "%3A",
    ] {
        assert_eq!(url_secrets(text), url_secrets_read(text), "{text:?}");
    }
}
