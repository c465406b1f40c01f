//! Everything replay says about a request, said in one place, scrubbed.
//!
//! A received request can carry credentials anywhere: the `Authorization`
//! bearer, a cookie, an `X-Api-Key`, any header whose name marks it as a
//! credential, a query parameter such as `?access_token=`, a pointer named
//! by `--redact-pointer`, and, copied from any of those, its path and body.
//! [`SecretFinder`] collects them from the request (through
//! [`Redactor::secrets_of`], with the replay's redaction rules: the same
//! search the recorder makes before writing), and a
//! [`Voice`] made for that request is the only way to say anything about
//! it: stderr lines ([`Voice::say`]), error answers such as the 599
//! `DATOVCR_NO_MATCH` with its `nearest`/`differences` ([`Voice::answer`]),
//! and the `x-datovcr-violations` header ([`Voice::mark_violations`]). Each
//! passes its text through [`Secrets::scrub`] before it leaves.
//!
//! The other replay files never print and never turn an [`ApiError`] into a
//! response themselves; a test below holds them to it, so a new message
//! cannot skip scrubbing by accident.

use crate::api_error::ApiError;
use crate::cassette::{Headers, RecordedRequest};
use crate::contract::{Finding, violations_summary};
use crate::proxy::VIOLATIONS_HEADER;
use crate::redact::{RedactionRules, Redactor, Secrets};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::Full;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// Finds the secrets of received requests, with the replay's rules.
pub struct SecretFinder {
    redactor: Redactor,
}

impl SecretFinder {
    pub fn new(rules: &RedactionRules) -> Self {
        Self {
            redactor: Redactor::new(rules),
        }
    }

    /// Whether a body that [`crate::redact::screen`] passes needs no
    /// redaction: true unless `--redact-pointer`s apply to every body.
    pub fn screens_bodies(&self) -> bool {
        self.redactor.redacts_no_pointers()
    }

    /// `request` as its recorded twin was written: every secret replaced as
    /// the recorder replaces it, so a request carrying a live password,
    /// `?access_token=` or a token repeated in its path matches the
    /// interaction recorded with placeholders. `all_headers`: as for
    /// [`SecretFinder::voice_for`]; the result keeps only `request`'s headers.
    pub fn recorded_form<'r>(
        &self,
        request: &'r RecordedRequest,
        all_headers: Option<&HeaderMap>,
    ) -> Cow<'r, RecordedRequest> {
        // Most requests carry their credentials in headers only, which
        // matching does not read: they are matched as they are.
        if !self.redactor.holds_named_secrets(request) {
            return Cow::Borrowed(request);
        }
        let mut full = request.clone();
        if let Some(headers) = all_headers {
            // Only credentials can repeat into what matching reads; the
            // other headers need not be converted.
            for (name, value) in headers {
                let value = crate::cassette::FieldValue::from(value);
                let matched = request.headers.get(name.as_str()).is_some();
                if !matched
                    && (crate::redact::is_secret_header(name.as_str())
                        || crate::redact::credentials::looks_like_credential(value.as_str()))
                {
                    full.headers.append(name.as_str(), value);
                }
            }
        }
        self.redactor.redact_request(&mut full);
        if all_headers.is_some() {
            let mut kept = crate::cassette::Headers::new();
            for (name, _) in request.headers.iter() {
                for value in full.headers.get_all(name) {
                    kept.append(name, value.clone());
                }
            }
            full.headers = kept;
        }
        Cow::Owned(full)
    }

    /// The voice for everything said about `request`. `all_headers`: the
    /// request's every header, when `request` holds only those matching
    /// reads (a secret can hide in any of them and be repeated where
    /// matching looks, as in the path).
    pub fn voice_for<'r>(
        &'r self,
        request: &'r RecordedRequest,
        all_headers: Option<&'r HeaderMap>,
    ) -> Voice<'r> {
        Voice {
            source: Some(Source {
                finder: self,
                request,
                all_headers,
            }),
            secrets: OnceCell::new(),
        }
    }
}

/// What a voice collects its secrets from.
struct Source<'r> {
    finder: &'r SecretFinder,
    request: &'r RecordedRequest,
    all_headers: Option<&'r HeaderMap>,
}

impl Source<'_> {
    /// Every secret of the request, found as the recorder finds them.
    fn secrets(&self) -> Secrets {
        let Some(all_headers) = self.all_headers else {
            return self.finder.redactor.secrets_of(self.request);
        };
        let mut headers = Headers::new();
        for (name, value) in all_headers {
            headers.append(name.as_str(), crate::cassette::FieldValue::from(value));
        }
        let whole = RecordedRequest {
            headers,
            ..self.request.clone()
        };
        self.finder.redactor.secrets_of(&whole)
    }
}

/// What replay says about one request (or about none, [`Voice::general`]).
/// The request's secrets are collected before the first word, once.
pub struct Voice<'r> {
    source: Option<Source<'r>>,
    /// Collected on first use: a quiet hit with nothing to report says
    /// nothing, and costs nothing.
    secrets: OnceCell<Secrets>,
}

impl Voice<'_> {
    /// For what concerns no request: start-up warnings, shutdown errors.
    pub fn general() -> Voice<'static> {
        Voice {
            source: None,
            secrets: OnceCell::from(Secrets::default()),
        }
    }

    /// The secrets of the request this voice speaks about.
    pub fn secrets(&self) -> &Secrets {
        self.secrets.get_or_init(|| match &self.source {
            Some(source) => source.secrets(),
            None => Secrets::default(),
        })
    }

    fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.secrets().scrub(text)
    }

    /// This voice, scrubbing `more` too: what a miss report found secret by
    /// the recording's placeholders (`miss::Nearest::hidden`).
    pub fn also_hiding(&self, more: &[String]) -> Voice<'static> {
        let mut secrets = self.secrets().clone();
        more.iter().for_each(|value| secrets.add(value.clone()));
        Voice {
            source: None,
            secrets: OnceCell::from(secrets),
        }
    }

    /// One stderr message (lines included), scrubbed. Replay's only stderr.
    pub fn say(&self, text: &str) {
        eprintln!("{}", self.scrub(text));
    }

    /// An error answer, every string of its details (keys too) scrubbed.
    /// Replay's only way from an [`ApiError`] to a response.
    pub fn answer(&self, mut error: ApiError) -> Response<Full<Bytes>> {
        scrub_json(self.secrets(), &mut error.details);
        error.into_response()
    }

    /// `--check`: the `x-datovcr-violations` summary, scrubbed (its pointers
    /// can name keys a client sent).
    pub fn mark_violations(&self, response: &mut Response<Full<Bytes>>, findings: &[Finding]) {
        if let Some(summary) = violations_summary(findings, |text| self.scrub(text))
            && let Ok(value) = HeaderValue::from_str(&self.scrub(&summary))
        {
            response.headers_mut().insert(VIOLATIONS_HEADER, value);
        }
    }
}

/// Scrubs every string of a JSON value, object keys included.
pub fn scrub_json(secrets: &Secrets, value: &mut Value) {
    secrets.scrub_json(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Headers, Query};
    use serde_json::json;

    const SECRET: &str = "canarysecret0123456789abcdef";

    fn request(headers: &[(&str, &str)], query: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: format!("/access_tokens/{SECRET}"),
            query: Query::parse(query),
            headers: headers.iter().copied().collect::<Headers>(),
            body: Body::Empty,
        }
    }

    /// Every way a request can carry a credential gives the voice the secret.
    #[test]
    fn secrets_come_from_every_credential_carrier() {
        let finder = SecretFinder::new(&RedactionRules {
            headers: vec!["X-Tenant".into()],
            ..RedactionRules::default()
        });
        let bearer = format!("Bearer {SECRET}");
        let cookie = format!("theme=dark; session={SECRET}");
        let carriers: Vec<RecordedRequest> = vec![
            request(&[("authorization", &bearer)], ""),
            request(&[("cookie", &cookie)], ""),
            request(&[("x-api-key", SECRET)], ""),
            request(&[("x-session-id", SECRET)], ""),
            request(&[("x-tenant", SECRET)], ""),
            request(&[], &format!("access_token={SECRET}")),
            request(&[], &format!("page=1&api_key={SECRET}")),
        ];
        for carrier in &carriers {
            let voice = finder.voice_for(carrier, None);
            let said = voice.scrub(&carrier.path).into_owned();
            assert_eq!(said, "/access_tokens/[REDACTED]", "{carrier:?}");
        }
        let plain = request(&[("x-request-id", "0123456789abcdef")], "page=1");
        assert_eq!(
            finder.voice_for(&plain, None).scrub(&plain.path),
            plain.path.as_str(),
            "a header or parameter that is no credential is no secret"
        );
    }

    /// Headers matching does not read are searched too.
    #[test]
    fn secrets_come_from_headers_matching_never_reads() {
        let finder = SecretFinder::new(&RedactionRules::default());
        let without_headers = request(&[], "");
        let mut all = HeaderMap::new();
        all.insert("x-api-key", SECRET.parse().unwrap());
        let voice = finder.voice_for(&without_headers, Some(&all));
        assert_eq!(
            voice.scrub(&without_headers.path),
            "/access_tokens/[REDACTED]"
        );
    }

    #[test]
    fn answers_are_scrubbed_in_keys_and_values() {
        let finder = SecretFinder::new(&RedactionRules::default());
        let carrier = request(&[("x-api-key", SECRET)], "");
        let mut details = json!({"nested": [{SECRET: format!("at {SECRET}")}]});
        scrub_json(finder.voice_for(&carrier, None).secrets(), &mut details);
        assert_eq!(
            details,
            json!({"nested": [{"[REDACTED]": "at [REDACTED]"}]})
        );
    }

    /// The other replay files say nothing themselves: no print, no error
    /// response built outside [`Voice`].
    #[test]
    fn nothing_else_in_replay_prints_or_answers() {
        for (file, source) in [
            ("handler.rs", include_str!("handler.rs")),
            ("miss.rs", include_str!("miss.rs")),
            ("matching.rs", include_str!("matching.rs")),
            ("library.rs", include_str!("library.rs")),
            ("framing.rs", include_str!("framing.rs")),
            ("response.rs", include_str!("response.rs")),
            ("number.rs", include_str!("number.rs")),
            ("mod.rs", include_str!("mod.rs")),
        ] {
            for forbidden in [
                "eprintln!",
                "println!",
                "eprint!",
                "print!",
                "stderr(",
                "stdout(",
                ".into_response()",
            ] {
                assert!(
                    !source.contains(forbidden),
                    "src/replay/{file} uses `{forbidden}`: say it through output::Voice"
                );
            }
        }
    }
}
