//! The redactor's two shortcuts against the long way round, on random
//! exchanges that carry secrets in every encoded form the search knows:
//!
//! - [`Secrets::scrub_interaction`] searches every text of an exchange
//!   once, joined, and skips the text-by-text scrub when nothing is found;
//!   it must leave exactly what [`Secrets::scrub_each_text`] leaves.
//! - [`RedactedInteraction::to_journal_line`] checks the bytes and views
//!   made for the search of remembered secrets; it must answer exactly as
//!   serializing again and [`Secrets::check_absent`] do.

use super::secrets::texts_of;
use super::*;
use crate::cassette::{RecordedRequest, RecordedResponse};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::json;

/// A secret made of what escapes and encodings act on.
fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+ %&\\\\é=_-]{8,20}"
}

/// One way a secret can be written in a message.
fn spelled(secret: &str, how: u8) -> String {
    let percent_all = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    match how % 14 {
        0 => secret.to_owned(),
        1 => secret.to_ascii_uppercase(),
        2 => percent_all(true),
        3 => percent_all(false),
        4 => secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        5 => secret.chars().map(|c| format!("&#{};", c as u32)).collect(),
        6 => base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}")),
        7 => base64::engine::general_purpose::URL_SAFE.encode(format!("x{secret}")),
        8 => secret.replace(' ', "+"),
        9 => {
            let cut = secret.len() / 2;
            let cut = (cut..secret.len())
                .find(|at| secret.is_char_boundary(*at))
                .unwrap_or(0);
            format!("{}\r\n{}", &secret[..cut], &secret[cut..])
        }
        10 => percent_all(true).replace('%', "%25"),
        11 => secret.bytes().map(|b| format!("{b:02X}")).collect(),
        12 => secret
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .map(char::from)
            .filter(|c| c.is_ascii())
            .collect(),
        _ => secret.bytes().map(|b| format!("={b:02X}")).collect(),
    }
}

/// Text made of escape characters and a little else: no secret.
fn noise() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "",
        "%",
        "\\",
        "&",
        "=",
        "+",
        "\n",
        "\\n",
        "&amp;",
        "%2B",
        "=3D",
        "\0",
        "é",
        " ",
        "x",
        "abc",
        "2026-11-30",
        "application/vnd.api+json",
    ]);
    prop::collection::vec(pieces, 0..6).prop_map(|pieces| pieces.concat())
}

fn interaction(texts: &[String]) -> Interaction {
    let at = |n: usize| texts[n % texts.len()].clone();
    let query = Query::parse(&format!(
        "q={}&{}=1",
        url_escape(&at(1)),
        url_escape(&at(2))
    ));
    Interaction {
        recorded_at: "2026-11-30T00:00:00Z".into(),
        request: RecordedRequest {
            method: "POST".into(),
            path: format!("/items/{}", url_escape(&at(0))),
            query,
            headers: [("x-note", at(3).as_str()), ("accept", "application/json")]
                .into_iter()
                .collect(),
            body: Body::Json(json!({"data": {"attributes": {at(4): at(5), "list": [at(6)]}}})),
        },
        response: RecordedResponse {
            status: 200,
            headers: [("x-echo", at(7).as_str())].into_iter().collect(),
            body: if texts[9 % texts.len()].len().is_multiple_of(2) {
                Body::Text(at(8))
            } else {
                Body::Json(json!({"message": at(8), "meta": {"n": 1, at(9): null}}))
            },
        },
    }
}

fn url_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Ten texts of noise, and in one or two of them (each a different place
/// of the exchange) a spelled secret: a place the joined search skipped
/// would show.
fn exchange() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    prop::collection::vec(secret(), 1..4).prop_flat_map(|secrets| {
        (
            Just(secrets),
            prop::collection::vec(noise(), 10),
            prop::collection::vec((0..10usize, 0..3usize, any::<u8>()), 1..3),
        )
            .prop_map(|(secrets, mut texts, places)| {
                for (slot, which, how) in places {
                    let secret = &secrets[which % secrets.len()];
                    texts[slot] = format!("{}{}", texts[slot], spelled(secret, how));
                }
                (secrets, texts)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn one_joined_search_leaves_what_the_text_by_text_scrub_leaves(
        (secret_list, texts) in exchange(),
    ) {
        let mut secrets = Secrets::default();
        secret_list.into_iter().for_each(|s| secrets.add(s));
        let original = interaction(&texts);
        let mut joined = original.clone();
        secrets.scrub_interaction(&mut joined);
        let mut each = original.clone();
        secrets.scrub_each_text(&mut each);
        prop_assert_eq!(&joined, &each);
    }

    #[test]
    fn the_journal_line_is_checked_as_if_serialized_again(
        (secret_list, texts) in exchange(),
        earlier in secret(),
    ) {
        let redactor = Redactor::default();
        // An earlier exchange's secret, quoted in this one: the memory
        // finds it, the exchange changes, and the line is made afresh.
        let mut first = interaction(std::slice::from_ref(&earlier));
        first.request.headers.set("authorization", [format!("Bearer {earlier}")]);
        let _ = redactor.redact(first);
        let mut texts = texts;
        texts.push(format!("quoted {earlier}"));
        let mut exchange = interaction(&texts);
        let tokens: Vec<String> = secret_list.iter().map(|s| format!("Bearer {s}")).collect();
        exchange.request.headers.set("authorization", tokens);
        let redacted = redactor.redact(exchange);
        let again = serde_json::to_vec(redacted.interaction()).unwrap();
        let expected = redacted
            .secrets()
            .check_absent(&again, "serialized interaction")
            .map(|()| [again.as_slice(), b"\n"].concat());
        let line = redacted.to_journal_line();
        prop_assert_eq!(
            line.as_ref().map_err(ToString::to_string),
            expected.as_ref().map_err(ToString::to_string)
        );
    }
}

#[test]
fn an_exchange_whose_secrets_are_replaced_is_not_searched_text_by_text() {
    // The official client's create exchange once its token and the
    // issued one are replaced: the one joined search finds nothing, which
    // is what makes the shortcut worth having.
    let mut secrets = Secrets::default();
    secrets.add("9b2f0c7d4e1a8b3c6d5e0f1a2b3c4d".into());
    secrets.add("f3a9c1e7b5d2408e6a1c9b3d7e5f2a4c8b6d0e1f".into());
    let mut exchange = interaction(&["Read-only API token".into(), "2026-11-30".into()]);
    exchange
        .request
        .headers
        .set("content-type", ["application/vnd.api+json"]);
    let joined = texts_of(&exchange);
    assert!(joined.contains("application/vnd.api+json"), "{joined}");
    let scrubber = forms::Needles::new(&secrets.searchable());
    assert!(scrubber.find_spans(&joined).is_empty());
    assert!(scrubber.occurring(joined.as_bytes()).is_empty());
    // The same exchange quoting one of them is searched text by text.
    exchange
        .response
        .headers
        .set("x-echo", ["token%3D9b2f0c7d4e1a8b3c6d5e0f1a2b3c4d"]);
    let joined = texts_of(&exchange);
    assert!(!scrubber.find_spans(&joined).is_empty());
    let mut scrubbed = exchange.clone();
    secrets.scrub_interaction(&mut scrubbed);
    assert_eq!(
        scrubbed.response.headers.get_all("x-echo")[0].as_str(),
        "token%3D[REDACTED]"
    );
}

#[test]
fn a_leak_left_in_the_serialized_bytes_is_refused_either_way() {
    let secret = "s3cret-value-42";
    let mut exchange = interaction(&[format!("left {secret} here")]);
    exchange.response.body = Body::Text(format!("left {secret} here"));
    let mut secrets = Secrets::default();
    secrets.add(secret.into());
    let bytes = serde_json::to_vec(&exchange).unwrap();
    let with_views = RedactedInteraction {
        interaction: exchange.clone(),
        secrets: secrets.clone(),
        serialized: Some(Serialized::new(bytes, true)),
    };
    let afresh = RedactedInteraction {
        interaction: exchange,
        secrets,
        serialized: None,
    };
    let refused = |redacted: &RedactedInteraction| {
        redacted
            .to_journal_line()
            .expect_err("the secret is still there")
            .to_string()
    };
    assert_eq!(refused(&with_views), refused(&afresh));
    assert!(refused(&with_views).contains("serialized interaction"));
}

/// Text with `+`, escapes and spelled secrets, and no NUL (the byte that
/// separates the views of the `+`-as-space view).
fn plus_rich(secrets: Vec<String>) -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "+", "++", "%2B", "%20", " ", "\\u002b", "&#43;", "a", "=", "\n", "é",
    ]);
    prop::collection::vec((pieces, any::<u8>(), any::<bool>()), 0..8).prop_map(move |parts| {
        parts
            .into_iter()
            .enumerate()
            .map(|(at, (piece, how, with_secret))| {
                let secret = &secrets[at % secrets.len()];
                if with_secret {
                    format!("{piece}{}", spelled(secret, how).replace('\0', ""))
                } else {
                    piece.to_owned()
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// The `+`-as-space view is searched only for patterns that hold a
    /// space; without one, every other view finds the same secrets.
    #[test]
    fn without_a_space_in_any_form_the_plus_as_space_view_adds_nothing(
        (list, text) in prop::collection::vec("[a-zA-Z0-9+%&\\\\=_-]{8,16}", 1..3)
            .prop_flat_map(|list| (Just(list.clone()), plus_rich(list))),
    ) {
        let needles = forms::Needles::new(&list);
        prop_assert!(!needles.spaces());
        let every_view = escapes::views(text.as_bytes());
        prop_assert_eq!(
            needles.occurring(text.as_bytes()),
            needles.occurring_in_views(&every_view)
        );
        let mut memory = memory::Memory::default();
        list.iter().for_each(|secret| memory.remember(secret));
        prop_assert!(!memory.spaces());
        prop_assert_eq!(
            memory.found_in(text.as_bytes()),
            memory.found_in_views(&every_view)
        );
    }
}

#[test]
fn a_secret_with_a_space_is_found_through_a_plus() {
    let needles = forms::Needles::new(&["pass word 2026"]);
    assert!(needles.spaces());
    assert_eq!(needles.occurring(b"q=pass+word+2026"), vec![0]);
    let mut memory = memory::Memory::default();
    memory.remember("pass word 2026");
    assert!(memory.spaces());
    assert_eq!(memory.found_in(b"q=pass+word+2026"), vec!["pass word 2026"]);
    // A character whose UTF-16 form holds the space byte (U+20AC, `€`).
    assert!(forms::Needles::new(&["price€€€€"]).spaces());
}
