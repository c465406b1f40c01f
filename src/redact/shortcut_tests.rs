//! The redactor's two shortcuts against the long way round, on random
//! exchanges that carry secrets in every encoded form the search knows:
//!
//! - [`Secrets::scrub_interaction`] searches every text of an exchange
//!   once, joined, and skips the text-by-text scrub when nothing is found;
//!   it must leave exactly what [`Secrets::scrub_each_text`] leaves.
//! - [`RedactedInteraction::to_journal_line`] checks the bytes and views
//!   made for the search of remembered secrets; it must answer exactly as
//!   serializing again and [`Secrets::check_absent`] do.
//! - Both, with the `+`-as-space view skipped and the memory's pair scan,
//!   against a reference of the pipeline as it was before them
//!   ([`Before`]): the same exchange written, or refused, either way.

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
    padded_interaction(texts, 0)
}

/// [`interaction`] with `pad` bytes before the response's message.
fn padded_interaction(texts: &[String], pad: usize) -> Interaction {
    let at = |n: usize| texts[n % texts.len()].clone();
    let query = Query::parse(&format!(
        "q={}&{}=1",
        url_escape(&at(1)),
        url_escape(&at(2))
    ));
    let message = format!("{}{}", "p".repeat(pad), at(8));
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
                Body::Text(message)
            } else {
                Body::Json(json!({"message": message, "meta": {"n": 1, at(9): null}}))
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
        // The first call took the bytes made for the search; a second (or a
        // clone) serializes afresh, with the same answer.
        for later in [redacted.to_journal_line(), redacted.clone().to_journal_line()] {
            prop_assert_eq!(
                later.as_ref().map_err(ToString::to_string),
                expected.as_ref().map_err(ToString::to_string)
            );
        }
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
        serialized: std::sync::Mutex::new(Some(Serialized::new(bytes, true))),
    };
    let afresh = RedactedInteraction {
        interaction: exchange,
        secrets,
        serialized: std::sync::Mutex::new(None),
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

/// The redactor as it was before the shortcuts: every text scrubbed on
/// its own, remembered secrets searched in every view (`+` as space
/// included) by a plain substring search, the line serialized again and
/// checked in every view.
struct Before {
    rules: Redactor,
    remembered: Vec<String>,
}

impl Before {
    fn redact(&mut self, mut interaction: Interaction) -> (Interaction, Result<Vec<u8>, String>) {
        let mut secrets = Secrets::default();
        self.rules.replace_named(&mut interaction, &mut secrets);
        secrets.scrub_each_text(&mut interaction);
        let bytes = serde_json::to_vec(&interaction).unwrap();
        let views = escapes::views(&bytes);
        let lowered = bytes.to_ascii_lowercase();
        let mut found = Secrets::default();
        for secret in &self.remembered {
            let mut all = forms::forms(secret);
            all.push(secret.to_ascii_lowercase().into_bytes());
            let hit = all.iter().filter(|f| f.len() >= 8).any(|form| {
                views
                    .iter()
                    .map(AsRef::as_ref)
                    .chain([lowered.as_slice()])
                    .any(|view| memchr::memmem::find(view, form).is_some())
            });
            if hit && !secrets.contains(secret) {
                found.add(secret.clone());
            }
        }
        for secret in secrets.searchable() {
            if !self.remembered.iter().any(|known| known == secret) {
                self.remembered.push(secret.to_owned());
            }
        }
        if !found.is_empty() {
            found.scrub_each_text(&mut interaction);
            secrets.extend(found);
        }
        let line = (|| -> Result<Vec<u8>, String> {
            for body in [&interaction.request.body, &interaction.response.body] {
                if let Body::Binary(bytes) = body {
                    secrets
                        .check_binary(bytes, "b")
                        .map_err(|e| e.to_string())?;
                }
            }
            let line = serde_json::to_vec(&interaction).unwrap();
            let needles = forms::Needles::new(&secrets.searchable());
            if !needles.is_empty()
                && !needles
                    .occurring_in_views(&escapes::views(&line))
                    .is_empty()
            {
                return Err("leak".into());
            }
            secrets
                .check_absent(&line, "c")
                .map_err(|e| e.to_string())?;
            Ok([line.as_slice(), b"\n"].concat())
        })();
        (interaction, line)
    }
}

/// A secret with the bytes escapes act on, NUL, a space, `"`, and
/// characters whose UTF-16 holds the space byte (`€`, `Ġ`).
fn wide_secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+ %&\\\\é€Ġ=_\"/;#\u{0}-]{8,20}"
}

/// Noise rich in escapes cut short (`%2`, `\\u00`, `&amp`), which a
/// neighbouring text could complete if the joined search let it.
fn wide_noise() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "",
        "%",
        "%2",
        "%5",
        "5C",
        "2B",
        "\\",
        "\\u",
        "\\u00",
        "u0041",
        "&",
        "&#",
        "&#x",
        "65;",
        ";",
        "=",
        "=3",
        "D",
        "+",
        "\n",
        "\r",
        "\\n",
        "&amp",
        "amp;",
        "%2B",
        "=3D",
        "\0",
        "é",
        "€",
        " ",
        "x",
        "\"",
        "\u{1}",
        "H4sI",
        "KLUv",
        "==",
        "abc",
        "application/vnd.api+json",
    ]);
    prop::collection::vec(pieces, 0..8).prop_map(|pieces| pieces.concat())
}

/// An exchange whose secrets are found by rule (a bearer token, a
/// named array: past 64 secrets with `many`), the texts in every place,
/// a header value that is not UTF-8 when `raw`, a body past 4096 bytes
/// when `pad` is.
fn wide_interaction(secrets: &[String], texts: &[String], pad: usize, raw: bool) -> Interaction {
    let at = |n: usize| texts[n % texts.len()].clone();
    let mut exchange = padded_interaction(texts, pad);
    let request_headers = &mut exchange.request.headers;
    request_headers.set("authorization", [format!("Bearer {}", secrets[0])]);
    if raw {
        let mut bytes = at(10).into_bytes();
        bytes.push(0xE9);
        bytes.extend_from_slice(at(11).as_bytes());
        request_headers.append("x-raw", crate::cassette::FieldValue::from_bytes(&bytes));
    }
    let tokens: Vec<serde_json::Value> = secrets.iter().skip(1).map(|s| json!(s)).collect();
    if let Body::Json(body) = &mut exchange.request.body
        && let Some(serde_json::Value::Object(attributes)) = body.pointer_mut("/data/attributes")
    {
        attributes.insert("api_tokens".into(), json!(tokens));
    }
    exchange
}

/// Secrets and twelve texts, the secrets spelled into one text or cut
/// across two neighbouring ones.
fn wide_exchange() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    prop::collection::vec(wide_secret(), 1..4).prop_flat_map(|secrets| {
        (
            Just(secrets),
            prop::collection::vec(wide_noise(), 12),
            prop::collection::vec((0..12usize, 0..3usize, any::<u8>(), 0..3u8), 1..4),
        )
            .prop_map(|(secrets, mut texts, places)| {
                for (slot, which, how, split) in places {
                    let secret = &secrets[which % secrets.len()];
                    let spelled = spelled(secret, how);
                    if split == 0 && spelled.len() > 2 {
                        // Straddling two texts.
                        let mut cut = spelled.len() / 2;
                        while !spelled.is_char_boundary(cut) {
                            cut += 1;
                        }
                        texts[slot] = format!("{}{}", texts[slot], &spelled[..cut]);
                        let next = (slot + 1) % texts.len();
                        texts[next] = format!("{}{}", &spelled[cut..], texts[next]);
                    } else {
                        texts[slot] = format!("{}{}", texts[slot], spelled);
                    }
                }
                (secrets, texts)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Two exchanges, the second quoting a secret of the first: each is
    /// left, and written or refused, exactly as before the shortcuts.
    #[test]
    fn the_redactor_answers_as_it_did_without_the_shortcuts(
        first in wide_exchange(),
        second in wide_exchange(),
        pad in prop::sample::select(vec![0usize, 0, 5000]),
        many in prop::sample::select(vec![0usize, 0, 70]),
        raw in any::<bool>(),
        quote_earlier in any::<u8>(),
    ) {
        let now = Redactor::default();
        let mut before = Before { rules: Redactor::default(), remembered: Vec::new() };
        let (secrets1, texts1) = first;
        let mut secrets1 = secrets1;
        for n in 0..many { secrets1.push(format!("many-secret-{n:04}-x")); }
        let one = wide_interaction(&secrets1, &texts1, pad, raw);
        let a = now.redact(one.clone());
        let b = before.redact(one);
        prop_assert_eq!(a.interaction(), &b.0);
        prop_assert_eq!(a.to_journal_line().map_err(|e| e.to_string()).is_ok(), b.1.is_ok());
        let (secrets2, mut texts2) = second;
        let earlier = &secrets1[usize::from(quote_earlier) % secrets1.len()];
        let slot = usize::from(quote_earlier) % texts2.len();
        texts2[slot] = format!("{}{}", texts2[slot], spelled(earlier, quote_earlier / 3));
        let two = wide_interaction(&secrets2, &texts2, pad, raw);
        let a = now.redact(two.clone());
        let b = before.redact(two);
        prop_assert_eq!(a.interaction(), &b.0);
        prop_assert_eq!(a.to_journal_line().map_err(|e| e.to_string()).is_ok(), b.1.is_ok());
    }
}
