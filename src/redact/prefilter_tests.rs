//! The prefilter against the exact search it stands in front of: a view
//! that [`Needles::hits`] finds a secret in (any set, pattern by pattern or
//! through the automaton) is never cleared, so [`Needles::occurring`]
//! answers as it did without the prefilter.

use super::*;
use crate::redact::escapes::views_with;
use proptest::prelude::*;

/// The same needles with the prefilter off (it clears nothing).
fn exact(needles: &Needles) -> Needles {
    let mut exact = needles.clone();
    exact.prefilter = Prefilter::new(std::iter::empty::<&[u8]>());
    exact
}

/// The property, view by view: every view of `haystack` in which a set
/// finds a pattern passes the prefilter; and the secrets found are those
/// found without it.
fn check(needles: &Needles, haystack: &[u8]) -> Result<(), TestCaseError> {
    let views = views_with(haystack, needles.spaces());
    for view in &views {
        let found = [PLAIN, BASE64, UTF16]
            .into_iter()
            .any(|set| !needles.hits(set, view).is_empty());
        prop_assert!(
            !found || needles.prefilter.may_occur(view),
            "a view holding a secret was cleared: {:?}",
            String::from_utf8_lossy(view)
        );
    }
    prop_assert_eq!(
        needles.occurring_in_views(&views),
        exact(needles).occurring_in_views(&views)
    );
    Ok(())
}

/// Characters whose encodings stress ASCII case folding: ASCII letters of
/// both cases, the Kelvin sign, `İ`, `ß`, NUL, and characters whose UTF-16
/// holds an ASCII letter byte next to a NUL (`U+4100` is `41 00` / `00 41`,
/// `A` in one byte order) or an upper-case byte (`U+4B4B`).
const CHARS: &[char] = &[
    'a',
    'b',
    'Z',
    'K',
    'k',
    '0',
    '9',
    ' ',
    '+',
    '%',
    '/',
    '=',
    '-',
    '_',
    '\0',
    'é',
    '€',
    'İ',
    '\u{212A}',
    'ß',
    '\u{100}',
    '\u{4100}',
    '\u{4B4B}',
    '\u{1F600}',
];

fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 0..14)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Secrets, some repeated in another ASCII case (two secrets, one pattern
/// once lowered) or as they are.
fn secrets() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(secret(), 1..8),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..4),
    )
        .prop_map(|(mut secrets, repeats)| {
            for (which, upper) in repeats {
                let mut again = secrets[which.index(secrets.len())].clone();
                if upper {
                    again.make_ascii_uppercase();
                }
                secrets.push(again);
            }
            secrets
        })
}

/// One piece of a haystack: noise, or a form of a secret spelled some way.
#[derive(Clone, Debug)]
enum Piece {
    Noise(Vec<u8>),
    Form {
        secret: prop::sample::Index,
        form: prop::sample::Index,
        /// Per byte: flip its ASCII case.
        flips: Vec<bool>,
        /// 0 as is, 1 one byte short, 2 percent-encoded, 3 spaces as `+`,
        /// 4 the whole secret base64-encoded behind a prefix, 5 as a JSON
        /// string (a UTF-16 form's NULs as `\u0000`), 6 every byte as a
        /// JSON `\u00XX` escape.
        spelling: u8,
    },
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Piece::Noise),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<bool>(), 0..40),
            0u8..7,
        )
            .prop_map(|(secret, form, flips, spelling)| Piece::Form {
                secret,
                form,
                flips,
                spelling
            }),
    ]
}

fn spell(secrets: &[String], piece: &Piece, out: &mut Vec<u8>) {
    let Piece::Form {
        secret,
        form,
        flips,
        spelling,
    } = piece
    else {
        if let Piece::Noise(bytes) = piece {
            out.extend_from_slice(bytes);
        }
        return;
    };
    let text = &secrets[secret.index(secrets.len())];
    let all = forms(text);
    let mut bytes = all[form.index(all.len())].clone();
    for (byte, flip) in bytes.iter_mut().zip(flips) {
        if *flip && byte.is_ascii_alphabetic() {
            *byte ^= 0x20;
        }
    }
    match spelling {
        1 => {
            bytes.pop();
        }
        2 => {
            bytes = bytes
                .iter()
                .flat_map(|b| format!("%{b:02X}").into_bytes())
                .collect()
        }
        3 => {
            bytes = bytes
                .iter()
                .map(|&b| if b == b' ' { b'+' } else { b })
                .collect()
        }
        4 => {
            let mut padded = b"u:".to_vec();
            padded.extend_from_slice(text.as_bytes());
            bytes = STANDARD.encode(&padded).into_bytes();
        }
        5 => {
            bytes = serde_json::to_vec(&String::from_utf8_lossy(&bytes)).expect("a JSON string");
        }
        6 => {
            bytes = bytes
                .iter()
                .flat_map(|b| format!("\\u{b:04x}").into_bytes())
                .collect();
        }
        _ => {}
    }
    out.extend_from_slice(&bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random secrets (empty, short, non-ASCII, repeated in another case)
    /// spelled in random forms and cases among random bytes; sometimes
    /// past [`SMALL_HAYSTACK`], so the automaton searches.
    #[test]
    fn a_view_the_exact_search_finds_a_secret_in_is_never_cleared(
        secrets in secrets(),
        pieces in prop::collection::vec(piece(), 0..8),
        pad in prop::option::of((SMALL_HAYSTACK - 64..SMALL_HAYSTACK + 64, any::<u8>())),
    ) {
        let needles = Needles::new(&secrets);
        let mut haystack = Vec::new();
        for piece in &pieces {
            spell(&secrets, piece, &mut haystack);
        }
        if let Some((len, byte)) = pad {
            let at = haystack.len() / 2;
            haystack.splice(at..at, std::iter::repeat_n(byte, len));
        }
        check(&needles, &haystack)?;
    }

    /// One secret repeated, in either case of its one letter: the plain
    /// set passes [`FEW_PATTERNS`] (the automaton searches a small
    /// haystack) while the prefilter, its patterns lowered and
    /// deduplicated, stays on.
    #[test]
    fn many_copies_of_one_secret_search_through_the_automaton(
        secret in "[0-9]{6,10}[a-z][0-9]{1,3}",
        uppers in prop::collection::vec(any::<bool>(), 25..40),
        planted in any::<prop::sample::Index>(),
        noise in "[ -~]{0,64}",
    ) {
        let secrets: Vec<String> = uppers
            .iter()
            .map(|&upper| if upper { secret.to_ascii_uppercase() } else { secret.clone() })
            .collect();
        let needles = Needles::new(&secrets);
        prop_assert!(needles.sets[PLAIN].len() > FEW_PATTERNS);
        prop_assert!(needles.prefilter.is_active());
        let planted = &secrets[planted.index(secrets.len())];
        for haystack in [
            format!("{noise}{planted}{noise}"),
            format!("{noise}{}{noise}", hex(planted).to_ascii_uppercase()),
            format!("{noise}{}{noise}", STANDARD.encode(format!("u:{planted}"))),
            noise.clone(),
        ] {
            check(&needles, haystack.as_bytes())?;
        }
    }
}

/// An empty secret is found everywhere by the exact search (an empty
/// pattern matches at every position); a view must not be cleared because
/// the other secrets' patterns are absent from it.
#[test]
fn an_empty_secret_is_found_as_without_the_prefilter() {
    for secrets in [&["", "tok3nValue"][..], &["tok3nValue", ""], &[""]] {
        let needles = Needles::new(secrets);
        for haystack in [&b""[..], b"x", b"clean text, no secret", b"TOK3NVALUE"] {
            assert_eq!(
                needles.occurring(haystack),
                exact(&needles).occurring(haystack),
                "{secrets:?} in {haystack:?}"
            );
            check(&needles, haystack).unwrap();
        }
    }
}

/// Secrets whose forms come to exactly 64 distinct patterns (the most a
/// prefilter takes) and 65: each form is found alone, as the shortest
/// haystack holding it, and between other bytes; clean text is cleared
/// at 64 and searched at 65.
#[test]
fn at_the_pattern_limit_every_form_is_found() {
    // Short secrets have no base64 run (nor has their UTF-16): four
    // patterns each (raw, hex, UTF-16 LE and BE), so 16 secrets make 64
    // patterns. `K0` adds one: its raw and UTF-16 forms lowered are `k0`'s,
    // its hex is its own.
    let sixteen: Vec<String> = (0..16).map(|i| format!("k{i:x}")).collect();
    let needles = Needles::new(&sixteen);
    assert!(needles.prefilter.is_active(), "64 patterns: on");
    assert!(!needles.prefilter.may_occur(b"nothing of them here"));
    let mut seventeen = sixteen.clone();
    seventeen.push("K0".into());
    let over = Needles::new(&seventeen);
    assert!(!over.prefilter.is_active(), "over 64 patterns: off");
    for needles in [&needles, &over] {
        for set in &needles.sets {
            for (pattern, _) in set {
                let pattern = pattern.needle();
                check(needles, pattern).unwrap();
                check(needles, &[b"<", pattern, b">"].concat()).unwrap();
                check(needles, &pattern.to_ascii_uppercase()).unwrap();
                assert!(!needles.occurring(pattern).is_empty());
            }
        }
    }
}

/// Haystacks shorter than the packed searcher's minimum length: every
/// prefix and suffix of every form, down to one byte.
#[test]
fn short_haystacks_answer_as_the_exact_search() {
    let needles = Needles::new(&["Tok3n\0Secret", "é€İ\u{4100}", "pw word"]);
    assert!(needles.prefilter.is_active());
    for set in &needles.sets {
        for (pattern, _) in set {
            let pattern = pattern.needle();
            for cut in 0..=pattern.len() {
                check(&needles, &pattern[..cut]).unwrap();
                check(&needles, &pattern[cut..]).unwrap();
            }
        }
    }
}
