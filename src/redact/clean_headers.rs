//! Header fields the header rules already read and found nothing in.
//!
//! Every recorded exchange, and every exchange the proxy logs, runs the
//! header rules over each field of both halves: about 30 fields, 1 µs or
//! so each (the name rule, the credential spellings, URLs and `name: value`
//! text in the value). Most fields repeat from one exchange to the next
//! (`content-type`, `cache-control`, `user-agent`, `x-api-version`): their
//! answer is the same, because the rules read nothing but the name and the
//! value. This set remembers the fields whose answer was "nothing", so
//! their next reading is one hash lookup. A field with a secret is never
//! kept, and is read again every time.
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
        if value.len() > MAX_VALUE_LEN {
            return false;
        }
        let key = hash(name, value);
        let fields = self.fields.lock().unwrap_or_else(PoisonError::into_inner);
        fields.get(&key).is_some_and(|(known_name, known_value)| {
            **known_name == *name && **known_value == *value
        })
    }

    /// Remembers a field the rules found nothing in. Call only with the
    /// rules' own "nothing" for this name and value.
    pub fn insert(&self, name: &str, value: &str) {
        if value.len() > MAX_VALUE_LEN {
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

    #[test]
    fn the_set_is_bounded_and_long_values_are_never_kept() {
        let clean = CleanHeaders::default();
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        clean.insert("x-long", &long);
        assert!(!clean.contains("x-long", &long));
        for i in 0..CAPACITY * 3 {
            clean.insert("x-request-id", &i.to_string());
            assert!(clean.len() <= CAPACITY);
        }
        assert!(clean.contains("x-request-id", &(CAPACITY * 3 - 1).to_string()));
    }
}
