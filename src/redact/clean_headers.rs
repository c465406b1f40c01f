//! Header fields the header rules already read and found nothing in.
//!
//! Every recorded exchange, and every exchange the proxy logs, runs the
//! header rules over each field of both halves: about 30 fields, 1 µs or
//! so each (the name rule, the credential spellings, URLs and `name: value`
//! text in the value). Most fields repeat from one exchange to the next
//! (`content-type`, `cache-control`, `user-agent`, `x-api-version`): their
//! answer is the same, because the rules read nothing but the name, the
//! value and the redactor's fixed `--redact-header` names. This set
//! remembers the fields whose answer was "nothing", so their next reading
//! is one hash lookup. A field with a secret is never kept, and is read
//! again every time.
//!
//! One more input: the other lines of the same name. They are one list
//! (RFC 9110 §5.3), and a value spelled like a credential makes the whole
//! list one. So a field is kept only when it holds nothing read alone
//! *and* its name is no credential's *and* it is not spelled like one;
//! a header is skipped only when every one of its lines is kept (then no
//! line is spelled like a credential either), else all its lines are read.
//!
//! Only the rules by name and shape are skipped: the repeat rule (an
//! exchange's secrets searched for in every text, the header values
//! included) runs over every field as before.

use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

/// Fields kept at most; past it the set starts again, so fields that
/// change with each exchange (`date`, request ids) cannot crowd out the
/// ones that repeat for long.
const CAPACITY: usize = 1024;

/// Longer values are always read: they rarely repeat.
const MAX_VALUE_LEN: usize = 256;

/// Longer names are always read. Names are not bounded otherwise (a head
/// may be 64 KiB on the client side, hundreds on the upstream's), and
/// 1,024 of them would be so much memory kept for good; the fields that
/// repeat have short names.
const MAX_NAME_LEN: usize = 64;

/// Whether a field is short enough to be kept: the set stays under
/// `CAPACITY * (MAX_NAME_LEN + MAX_VALUE_LEN)` bytes of text.
fn keepable(name: &str, value: &str) -> bool {
    name.len() <= MAX_NAME_LEN && value.len() <= MAX_VALUE_LEN
}

/// Hash of a field → the field (name, value).
type Fields = HashMap<u64, (Box<str>, Box<str>)>;

/// Header fields (name as sent, value as read) known to hold nothing the
/// header rules find. Shared by the clones of a redactor.
#[derive(Clone, Default)]
pub(super) struct CleanHeaders {
    /// Hash of the field → the field, compared in full on a hit (a hash
    /// collision must not skip a field).
    fields: Arc<Mutex<Fields>>,
}

/// Never prints the fields.
impl std::fmt::Debug for CleanHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CleanHeaders")
    }
}

fn hash(name: &str, value: &str) -> u64 {
    // A fixed seed: the set is private to the process, and a lookup must
    // not cost a random state per call.
    FixedState::with_seed(0x5eed_da70_c0de).hash_one((name, value))
}

impl CleanHeaders {
    /// True when the rules found nothing in exactly this field before.
    pub fn contains(&self, name: &str, value: &str) -> bool {
        if !keepable(name, value) {
            return false;
        }
        let key = hash(name, value);
        let fields = self.fields.lock().unwrap_or_else(PoisonError::into_inner);
        fields.get(&key).is_some_and(|(known_name, known_value)| {
            **known_name == *name && **known_value == *value
        })
    }

    /// Remembers a field the rules found nothing in. Call only with the
    /// rules' own "nothing" for this name and value, read with no other
    /// line of the name making it a credential (see the module's words).
    pub fn insert(&self, name: &str, value: &str) {
        if !keepable(name, value) {
            return;
        }
        let key = hash(name, value);
        let mut fields = self.fields.lock().unwrap_or_else(PoisonError::into_inner);
        if fields.len() >= CAPACITY {
            fields.clear();
        }
        fields.insert(key, (name.into(), value.into()));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.fields
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
    use crate::redact::{RedactionRules, Redactor, Secrets};
    use proptest::prelude::*;

    /// Header fields, clean and not, that repeat from exchange to exchange.
    const FIELDS: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("cache-control", "max-age=0, private, must-revalidate"),
        ("date", "Mon, 30 Nov 2026 07:00:00 GMT"),
        ("authorization", "Bearer 9b2f0c7d4e1a8b3c6d5e"),
        ("Authorization", "Token 9b2f0c7d4e1a8b3c6d5e"),
        ("x-api-key", "k-51f0e2a9c3"),
        ("location", "/oauth/cb?code=c0de-77ab31&state=1"),
        ("location", "/access_tokens/312"),
        ("x-tenant-ref", "tenant-8812-secret"),
        ("set-cookie", "sid=s3ss10n-4e2b; HttpOnly"),
        ("www-authenticate", "Bearer realm=\"dato\""),
        ("link", "</p?sig=s1g-0f9e>; rel=\"next\""),
        ("x-note", "token: t0k3n-ab12cd34"),
        ("authorization", "Bearer [REDACTED]"),
        ("user-agent", "@datocms/cma-client v5.8.1"),
        // Clean alone, a credential next to a value spelled like one.
        ("x-forward", "fwd-5c1e9a0b7d"),
        ("x-forward", "Token t-2e8f4c6a1b"),
        ("www-authenticate", "Basic realm=\"dato\""),
    ];

    fn exchange(request: &[usize], response: &[usize]) -> Interaction {
        let headers = |picked: &[usize]| -> Headers {
            picked.iter().map(|&i| FIELDS[i % FIELDS.len()]).collect()
        };
        Interaction {
            recorded_at: "2026-11-30T07:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::default(),
                headers: headers(request),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: headers(response),
                body: Body::Empty,
            },
        }
    }

    /// What the rules by name and shape make of an exchange: the exchange
    /// with its secrets replaced, and the secrets.
    fn named(redactor: &Redactor, mut interaction: Interaction) -> (Interaction, Vec<String>) {
        let mut secrets = Secrets::default();
        redactor.replace_named(&mut interaction, &mut secrets);
        let mut found: Vec<String> = secrets
            .searchable()
            .into_iter()
            .map(str::to_owned)
            .collect();
        found.sort();
        (interaction, found)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A redactor that has read many exchanges (its set of clean
        /// fields filled) answers each exactly as a fresh one does.
        #[test]
        fn a_redactor_with_known_clean_fields_answers_as_a_fresh_one(
            exchanges in prop::collection::vec(
                (prop::collection::vec(0..FIELDS.len(), 0..8),
                 prop::collection::vec(0..FIELDS.len(), 0..8)),
                1..24,
            ),
            custom in any::<bool>(),
        ) {
            let rules = RedactionRules {
                headers: if custom { vec!["X-Tenant-Ref".into()] } else { Vec::new() },
                ..Default::default()
            };
            let shared = Redactor::new(&rules);
            for (request, response) in &exchanges {
                let fresh = Redactor::new(&rules);
                prop_assert_eq!(
                    named(&shared, exchange(request, response)),
                    named(&fresh, exchange(request, response))
                );
            }
        }
    }

    #[test]
    fn fields_with_secrets_are_never_kept_and_clean_ones_are() {
        let redactor = Redactor::default();
        let all: Vec<usize> = (0..FIELDS.len()).collect();
        for _ in 0..3 {
            let (redacted, secrets) = named(&redactor, exchange(&all, &all));
            assert!(secrets.iter().any(|s| s.contains("9b2f0c7d4e1a8b3c6d5e")));
            assert!(secrets.iter().any(|s| s == "c0de-77ab31"), "{secrets:?}");
            let text = format!("{:?}", redacted.request.headers);
            assert!(!text.contains("c0de-77ab31"), "{text}");
        }
        let kept = &redactor.clean_headers;
        assert!(kept.contains("content-type", "application/json"));
        assert!(kept.contains("location", "/access_tokens/312"));
        for (name, value) in FIELDS {
            // A placeholder holds nothing: it may be kept.
            if crate::redact::is_placeholder(value) {
                continue;
            }
            if ["authorization", "Authorization", "x-api-key", "set-cookie"].contains(name)
                || value.contains("code=")
                || value.contains("sig=")
                || value.contains("t0k3n")
            {
                assert!(!kept.contains(name, value), "{name} kept");
            }
        }
    }

    #[test]
    fn a_field_is_known_only_as_inserted_name_and_value_both() {
        let clean = CleanHeaders::default();
        assert!(!clean.contains("content-type", "application/json"));
        clean.insert("content-type", "application/json");
        assert!(clean.contains("content-type", "application/json"));
        assert!(
            !clean.contains("Content-Type", "application/json"),
            "names as sent"
        );
        assert!(!clean.contains("content-type", "application/json "));
        assert!(!clean.contains("accept", "application/json"));
        let shared = clean.clone();
        assert!(
            shared.contains("content-type", "application/json"),
            "clones share"
        );
    }

    /// Field lines: a name and a value's bytes.
    type Lines<'a> = &'a [(&'a str, &'a [u8])];

    /// The field lines of one name, each value as bytes or text.
    fn with_lines(lines: Lines<'_>) -> Interaction {
        let mut interaction = exchange(&[], &[]);
        for (name, value) in lines {
            let value = crate::cassette::FieldValue::from_bytes(value);
            interaction.request.headers.append(name, value.clone());
            interaction.response.headers.append(name, value);
        }
        interaction
    }

    /// RFC 9110 §5.3: `X-Forward: Token a` and `X-Forward: b` are one
    /// field, `X-Forward: Token a, b`, which is read whole as a credential
    /// (and so is it in a body's map of headers). Each line was read on
    /// its own, so `b` reached the cassette.
    #[test]
    fn field_lines_of_one_name_are_read_as_one_list() {
        let cases: &[(&str, Lines<'_>, &str)] = &[
            (
                "credential first",
                &[
                    ("x-forward", b"Token t-9a1c"),
                    ("x-forward", b"cnry-4e7b2d"),
                ],
                "cnry-4e7b2d",
            ),
            (
                "credential last",
                &[
                    ("x-forward", b"cnry-4e7b2d"),
                    ("X-Forward", b"Bearer t-9a1c"),
                ],
                "cnry-4e7b2d",
            ),
            (
                "credential later on one line",
                &[("x-forward", b"cnry-4e7b2d, Token t-9a1c")],
                "cnry-4e7b2d",
            ),
            (
                "not UTF-8",
                &[("x-relay", b"Basic dTpw"), ("x-relay", b"cnry-\xe9-51f0")],
                "cnry-\u{e9}-51f0",
            ),
            (
                "three lines",
                &[
                    ("x-relay", b"cnry-4e7b2d"),
                    ("x-relay", b"plain-too"),
                    ("x-relay", b"Digest username=u, response=r"),
                ],
                "cnry-4e7b2d",
            ),
        ];
        for (case, lines, canary) in cases {
            let (redacted, secrets) = named(&Redactor::default(), with_lines(lines));
            assert!(secrets.iter().any(|s| s == canary), "{case}: {secrets:?}");
            for headers in [&redacted.request.headers, &redacted.response.headers] {
                for (_, values) in headers.iter() {
                    for value in values {
                        assert!(
                            crate::redact::is_placeholder(value.as_str()),
                            "{case}: {value:?} kept"
                        );
                    }
                }
            }
            // The same values on one line are read the same way.
            let joined: Vec<&str> = lines
                .iter()
                .map(|(_, value)| std::str::from_utf8(value).unwrap_or("cnry-\u{e9}-51f0"))
                .collect();
            let one_line = joined.join(", ");
            let (_, secrets) = named(
                &Redactor::default(),
                with_lines(&[(lines[0].0, one_line.as_bytes())]),
            );
            assert!(
                secrets.iter().any(|s| s == canary),
                "{case} joined: {secrets:?}"
            );
        }
        // Challenges name schemes, and values spelled like nothing stay.
        for lines in [
            &[
                ("www-authenticate", &b"Bearer realm=\"a\""[..]),
                ("www-authenticate", b"Basic realm=\"b\""),
            ][..],
            &[("x-forward", b"plain-1"), ("x-forward", b"plain-2")],
        ] {
            let interaction = with_lines(lines);
            let (redacted, secrets) = named(&Redactor::default(), interaction.clone());
            assert_eq!(redacted, interaction);
            assert!(secrets.is_empty(), "{secrets:?}");
        }
    }

    /// A value kept as clean on a line of its own is read again when a
    /// value spelled like a credential stands next to it.
    #[test]
    fn a_value_known_clean_alone_is_a_credential_beside_one() {
        let redactor = Redactor::default();
        let alone = with_lines(&[("x-forward", b"cnry-4e7b2d")]);
        assert_eq!(named(&redactor, alone.clone()).0, alone);
        assert!(redactor.clean_headers.contains("x-forward", "cnry-4e7b2d"));
        let beside = with_lines(&[
            ("x-forward", b"cnry-4e7b2d"),
            ("x-forward", b"Token t-9a1c"),
        ]);
        let (redacted, secrets) = named(&redactor, beside.clone());
        assert_eq!((redacted, secrets), named(&Redactor::default(), beside));
        let beside = with_lines(&[
            ("x-forward", b"Token t-9a1c"),
            ("x-forward", b"cnry-4e7b2d"),
        ]);
        let (_, secrets) = named(&redactor, beside);
        assert!(secrets.iter().any(|s| s == "cnry-4e7b2d"), "{secrets:?}");
    }

    #[test]
    fn the_set_is_bounded_and_long_values_are_never_kept() {
        let clean = CleanHeaders::default();
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        clean.insert("x-long", &long);
        assert!(!clean.contains("x-long", &long));
        // Names too: a head holds many long ones, each kept for good.
        let long_name = format!("x-{}", "n".repeat(MAX_NAME_LEN));
        clean.insert(&long_name, "1");
        assert!(!clean.contains(&long_name, "1"));
        assert_eq!(clean.len(), 0);
        let longest = "n".repeat(MAX_NAME_LEN);
        clean.insert(&longest, "1");
        assert!(clean.contains(&longest, "1"));
        for i in 0..CAPACITY * 3 {
            clean.insert("x-request-id", &i.to_string());
            assert!(clean.len() <= CAPACITY);
        }
        assert!(clean.contains("x-request-id", &(CAPACITY * 3 - 1).to_string()));
    }
}
