//! Unit tests of the redactor and the leak search together.

mod leak_tests {
    use super::super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};
    use crate::contract::{Part, Side};
    use serde_json::json;

    fn interaction(auth: &str, body: Value) -> Interaction {
        Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::default(),
                headers: [("authorization", auth)].into_iter().collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: Headers::new(),
                body: Body::Json(body),
            },
        }
    }

    #[test]
    fn placeholders_are_not_leaks_and_live_values_are() {
        let clean = interaction(
            BEARER_PLACEHOLDER,
            json!({"data": [{"type": "access_token", "attributes": {"token": PLACEHOLDER}},
                            {"type": "access_token", "attributes": {"token": null}}]}),
        );
        assert_eq!(find_leaks(&clean), vec![]);

        let leaky = interaction(
            "Bearer abc123",
            json!({"data": [{"type": "access_token", "attributes": {"token": PLACEHOLDER}},
                            {"type": "access_token", "attributes": {"token": "f00d"}}]}),
        );
        let pointers: Vec<_> = find_leaks(&leaky)
            .into_iter()
            .map(|f| (f.side, f.part, f.pointer))
            .collect();
        assert_eq!(
            pointers,
            vec![
                (Side::Request, Part::Headers, "/authorization/0".to_owned()),
                (
                    Side::Response,
                    Part::Body,
                    "/data/1/attributes/token".to_owned()
                ),
            ]
        );
    }
}

mod redactor_tests {
    use super::super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};
    use serde_json::json;

    const CANARY: &str = "canary0123456789abcdef";
    const BEARER: &str = "bearer-canary-fedcba9876543210";

    fn exchange(response: Value) -> Interaction {
        Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::parse("api_key=querysecret123"),
                headers: [
                    ("Authorization", &*format!("Bearer {BEARER}")),
                    ("cookie", "session=cookievalue42; theme=dark"),
                ]
                .into_iter()
                .collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: [
                    ("content-type", "application/json"),
                    ("set-cookie", "sid=setcookie-secret-1"),
                ]
                .into_iter()
                .collect(),
                body: Body::Json(response),
            },
        }
    }

    #[test]
    fn every_known_secret_is_replaced_and_the_line_is_clean() {
        let redactor = Redactor::new(&RedactionRules {
            headers: vec![],
            pointers: vec!["/meta/signing_key".into()],
            query_params: vec!["api_key".into()],
        });
        let response = json!({
            "data": [
                {"type": "access_token", "id": "1", "attributes": {"token": CANARY}},
                {"type": "access_token", "id": "2", "attributes": {"token": null}}
            ],
            "meta": {"signing_key": 12345678901234u64, "echo": format!("you sent {BEARER}")}
        });
        let redacted = redactor.redact(exchange(response));
        let line = String::from_utf8(redacted.to_journal_line().unwrap()).unwrap();
        for secret in [
            CANARY,
            BEARER,
            "querysecret123",
            "cookievalue42",
            "setcookie-secret-1",
            "12345678901234",
        ] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
        let interaction = redacted.interaction();
        assert_eq!(
            interaction.request.headers.get("authorization"),
            Some(BEARER_PLACEHOLDER)
        );
        let body = interaction.response.body.as_json().unwrap();
        assert_eq!(body["data"][0]["attributes"]["token"], PLACEHOLDER);
        assert_eq!(body["data"][1]["attributes"]["token"], Value::Null);
        assert_eq!(
            body["meta"]["signing_key"], 0,
            "placeholders keep the JSON type"
        );
        assert_eq!(body["meta"]["echo"], "you sent [REDACTED]");
        assert!(find_leaks(interaction).is_empty());
    }

    #[test]
    fn a_secret_in_a_binary_body_is_refused_not_written() {
        let mut interaction =
            exchange(json!({"data": {"type": "access_token", "attributes": {"token": CANARY}}}));
        interaction.request.body =
            Body::Binary([b"\xff\x00".as_slice(), BEARER.as_bytes()].concat());
        let err = Redactor::default()
            .redact(interaction)
            .to_journal_line()
            .unwrap_err();
        assert!(err.to_string().contains("binary request body"), "{err}");
    }

    #[test]
    fn a_token_from_an_earlier_exchange_is_scrubbed_from_a_later_one() {
        let redactor = Redactor::default();
        let first = redactor.redact(exchange(
            json!({"data": {"type": "access_token", "attributes": {"token": CANARY}}}),
        ));
        assert!(
            !String::from_utf8(first.to_journal_line().unwrap())
                .unwrap()
                .contains(CANARY)
        );
        let mut later = exchange(
            json!({"data": [{"type": "api_error", "attributes": {"details": {"message": format!("token {CANARY} is invalid")}}}]}),
        );
        later.request.headers = Headers::new();
        let line = String::from_utf8(redactor.redact(later).to_journal_line().unwrap()).unwrap();
        assert!(!line.contains(CANARY), "{line}");
        assert!(line.contains("token [REDACTED] is invalid"), "{line}");
    }

    #[test]
    fn a_secret_that_is_part_of_the_placeholder_does_not_mangle_it() {
        let mut interaction = exchange(json!({}));
        interaction.request.headers = [("authorization", "Bearer [")].into_iter().collect();
        let line = String::from_utf8(
            Redactor::default()
                .redact(interaction)
                .to_journal_line()
                .unwrap(),
        )
        .unwrap();
        assert!(
            line.contains("\"authorization\":[\"Bearer [REDACTED]\"]"),
            "{line}"
        );
    }

    #[test]
    fn scrub_hides_secrets_in_log_text() {
        let redacted = Redactor::default().redact(exchange(json!({})));
        assert_eq!(
            redacted.secrets().scrub(&format!("token={BEARER}!")),
            "token=[REDACTED]!"
        );
    }
}

mod fuzz_regressions {
    use super::super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};

    fn redact_twice(body: &str) -> Vec<crate::contract::Finding> {
        let interaction = Interaction {
            recorded_at: "2026-11-29T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/".into(),
                query: Query::default(),
                headers: [("authorization", "Bearer canary0123456789abcdef")]
                    .into_iter()
                    .collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: Headers::new(),
                body: Body::from_bytes(body.as_bytes(), Some("application/json")),
            },
        };
        let line = Redactor::default()
            .redact(interaction)
            .to_journal_line()
            .unwrap();
        let parsed: Interaction = serde_json::from_slice(&line).unwrap();
        let leaks = find_leaks(&parsed);
        assert!(
            leaks.is_empty(),
            "{leaks:?} in {}",
            String::from_utf8_lossy(&line)
        );
        leaks
    }

    #[test]
    fn a_redacted_text_body_is_not_a_leak_when_checked_again() {
        for body in [
            r#"plain text with "token":bearer-se"#,
            r#"{"data":[{"type":"access_token","id":"1","attributes":{"token"=:"tok0123456789abcdefabcdef"}},{"message":"-0canary0123456789abcdef"}]}"#,
            "{\"data\":[{\"typbearer-secret-value insidee\":\"access_token\",\"id\":\"1\",\"attributes\":{\"token\":\"tok0123456789abc\u{1a}defabcdef\"}},{\"message\":\"canary0123456789abcdef\"}]}",
            "{\"data\":[{\"type\":\"access_token\",\"idth bearer-secret-value inside\":\"1\",\"attributes\":{\"token\":\"t\r\nok0123456789abcderer-secret-value\nplain tfabcdef\"}},{\"message\":\"canary0123456789abcdef\"}]}",
            "{\"data\":[{\"type\":\"access_token\",\"t-value insidxt with bearer-secret-value insideeid\":\"1\",\"attributes\":{\"token\":\"tok0123456789ab\u{15}cdefabcdef\"}},{\"message\":\"canary0123456789abcdef\"}]}",
        ] {
            redact_twice(body);
        }
    }
}

mod compressed_echo {
    use super::super::*;
    use base64::Engine as _;
    use std::io::Write as _;

    #[test]
    fn a_gzip_base64_echo_inside_a_string_is_refused() {
        let mut secrets = Secrets::default();
        secrets.add("cnry0123456789abcdef".to_owned());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Long and repetitive, so deflate codes it rather than storing it.
        let text = format!(
            "{} Bearer cnry0123456789abcdef {}",
            "ab".repeat(300),
            "cd".repeat(300)
        );
        gz.write_all(text.as_bytes()).unwrap();
        let trace = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let line = format!(r#"{{"message":"trace {trace}"}}"#);
        assert!(!line.contains("cnry0123456789abcdef"));
        assert!(
            secrets.check_absent(line.as_bytes(), "line").is_err(),
            "{line}"
        );
    }
}

mod placeholder_prefixes {
    use super::super::*;
    use crate::cassette::{Query, RecordedRequest, RecordedResponse};

    /// Found by fuzzing: a credential that is a piece of a placeholder in
    /// another case (`BearEr [`) was searched case-insensitively and
    /// mangled the placeholder it was replaced by.
    #[test]
    fn a_credential_cut_from_any_placeholder_in_any_case_leaves_it_whole() {
        for value in [
            "Bearer BearEr [",
            "Basic bASIC [REDAC",
            "Token %5bredac",
            "Bearer [r",
        ] {
            let interaction = Interaction {
                recorded_at: "2026-11-29T10:00:00Z".into(),
                request: RecordedRequest {
                    method: "GET".into(),
                    path: "/".into(),
                    query: Query::default(),
                    headers: [("authorization", value)].into_iter().collect(),
                    body: Body::Empty,
                },
                response: RecordedResponse {
                    status: 200,
                    headers: Headers::new(),
                    body: Body::Empty,
                },
            };
            let line = Redactor::default()
                .redact(interaction)
                .to_journal_line()
                .unwrap();
            let parsed: Interaction = serde_json::from_slice(&line).unwrap();
            assert!(
                find_leaks(&parsed).is_empty(),
                "{value}: {}",
                String::from_utf8_lossy(&line)
            );
            let header = parsed
                .request
                .headers
                .get("authorization")
                .unwrap()
                .to_owned();
            assert!(header.ends_with(" [REDACTED]"), "{value}: {header}");
        }
    }
}

/// A credential header's first word is kept only when it is an auth
/// scheme: under `X-Api-Key`, `sk_live_… extra` and `sk_live_… [REDACTED]`
/// carry the secret in that word.
mod first_words {
    use super::super::*;
    use crate::cassette::{RecordedRequest, RecordedResponse};
    use serde_json::json;

    fn exchange(headers: &[(&str, &str)], body: Body) -> Interaction {
        Interaction {
            recorded_at: "2026-11-30T08:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Query::default(),
                headers: headers.iter().copied().collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: Headers::new(),
                body,
            },
        }
    }

    fn line_of(headers: &[(&str, &str)], echo: &str) -> String {
        let interaction = exchange(headers, Body::Json(json!({"meta": {"seen": echo}})));
        let line = Redactor::default()
            .redact(interaction)
            .to_journal_line()
            .expect("no leak");
        String::from_utf8(line).expect("UTF-8")
    }

    #[test]
    fn a_first_word_that_is_no_scheme_is_a_secret_wherever_it_stands() {
        for (name, value, secret) in [
            (
                "x-api-key",
                "sk_live_0123456789 extra",
                "sk_live_0123456789",
            ),
            (
                "X-Api-Key",
                "sk_live_5555aaaa [REDACTED]",
                "sk_live_5555aaaa",
            ),
            ("x-auth-token", "t0k3n-abcdef12\tmore", "t0k3n-abcdef12"),
            ("x-session-id", "s3ss-77aa88bb [REDACTED]", "s3ss-77aa88bb"),
            // Under `Authorization` too, an unknown first word may be the
            // credential itself.
            (
                "authorization",
                "sk_live_0123456789 extra",
                "sk_live_0123456789",
            ),
            (
                "Authorization",
                "k3y-4455667788 [REDACTED]",
                "k3y-4455667788",
            ),
            ("proxy-authorization", "pr0xy-99aa88bb x", "pr0xy-99aa88bb"),
            (
                "authorization",
                "CustomScheme 9b2f0c7d4e1a8b3c",
                "CustomScheme",
            ),
        ] {
            let line = line_of(&[(name, value)], &format!("echo {secret}"));
            assert!(!line.contains(secret), "{name}: {value}: {line}");
        }
    }

    #[test]
    fn schemes_are_kept_and_their_placeholders_stay_as_written() {
        for (name, value, kept) in [
            (
                "authorization",
                "Bearer 9b2f0c7d4e1a8b3c",
                "Bearer [REDACTED]",
            ),
            (
                "authorization",
                "CustomScheme 9b2f0c7d4e1a8b3c",
                "[REDACTED]",
            ),
            ("authorization", "DPoP 9b2f0c7d4e1a8b3c", "DPoP [REDACTED]"),
            ("Authorization", "hoba 9b2f0c7d4e1a8b3c", "hoba [REDACTED]"),
            ("x-echo-auth", "Token 9b2f0c7d4e1a8b3c", "Token [REDACTED]"),
            ("x-api-key", "sk_live_only", "[REDACTED]"),
            ("authorization", "Bearer [REDACTED]", "Bearer [REDACTED]"),
            (
                "proxy-authorization",
                "Basic [REDACTED]",
                "Basic [REDACTED]",
            ),
            ("proxy-authorization", "Custom [REDACTED]", "[REDACTED]"),
        ] {
            let line = line_of(&[(name, value)], "nothing");
            let parsed: Interaction = serde_json::from_str(&line).expect("a line");
            let header = parsed.request.headers.get(name).expect("kept").to_owned();
            assert_eq!(header, kept, "{name}: {value}");
            assert!(find_leaks(&parsed).is_empty(), "{name}: {value}: {line}");
        }
    }

    #[test]
    fn a_recorded_first_word_under_a_non_authorization_credential_is_a_leak() {
        let recorded = exchange(&[("x-api-key", "sk_live_5555aaaa [REDACTED]")], Body::Empty);
        assert!(!find_leaks(&recorded).is_empty());
    }
}
