//! Property: whatever JSON:API document carries a secret, and wherever it
//! hides, the write path never emits it; what it cannot redact it refuses.

use datovcr::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use datovcr::redact::{RedactionRules, Redactor};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Secrets long enough to be searched for, with characters JSON escapes.
fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_/\"\\\\é-]{8,24}".prop_map(|tail| format!("s3cr{tail}"))
}

/// Filler that cannot contain a secret (no `s3cr`).
fn filler() -> impl Strategy<Value = String> {
    "[a-q ]{0,12}"
}

/// Where a generated document hides the secret; replaced before use.
const MARKER: &str = "<SECRET>";

/// A JSON value whose leaf strings may embed [`MARKER`] in filler, at any
/// depth, in arrays and objects.
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        filler().prop_map(Value::String),
        (filler(), filler())
            .prop_map(|(before, after)| Value::String(format!("{before}{MARKER}{after}"))),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-q]{1,6}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An access_token resource whose token is `token`, wrapped at some depth.
fn with_token_resource(body: Value, token: &str, depth: usize) -> Value {
    let mut resource =
        json!({"type": "access_token", "id": "1", "attributes": {"name": "n", "token": token}});
    for _ in 0..depth {
        resource = json!({"data": [resource]});
    }
    json!({"data": [resource, body]})
}

fn exchange(bearer: &str, request_body: Body, response_body: Body) -> Interaction {
    let mut headers = Headers::new();
    headers.append("authorization", format!("Bearer {bearer}"));
    headers.append("accept", "application/json");
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "POST".into(),
            path: "/access_tokens".into(),
            query: Query::parse(&format!("echo={}", urlencode(bearer))),
            headers,
            body: request_body,
        },
        response: RecordedResponse {
            status: 200,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: response_body,
        },
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_bearer_and_every_token_are_gone_from_the_written_line(
        bearer in secret(),
        token in secret(),
        depth in 0usize..4,
        request_doc in document(),
        response_doc in document(),
    ) {
        prop_assume!(!bearer.contains(&token) && !token.contains(&bearer));
        // The bearer hides anywhere in both bodies; the token sits in an
        // access_token resource at some depth.
        let request_doc = replace_marker(request_doc, &bearer);
        let response_doc = with_token_resource(replace_marker(response_doc, &bearer), &token, depth);
        let interaction = exchange(&bearer, Body::Json(request_doc), Body::Json(response_doc));
        let line = Redactor::new(&RedactionRules::default()).redact(interaction).to_journal_line();
        let line = line.expect("text and JSON can always be redacted");
        let text = String::from_utf8(line).unwrap();
        let escaped_bearer = serde_json::to_string(&bearer).unwrap();
        let escaped_token = serde_json::to_string(&token).unwrap();
        prop_assert!(!text.contains(&bearer) && !text.contains(&escaped_bearer[1..escaped_bearer.len() - 1]), "bearer in {}", text);
        prop_assert!(!text.contains(&token) && !text.contains(&escaped_token[1..escaped_token.len() - 1]), "token in {}", text);
    }

    #[test]
    fn a_secret_in_a_binary_body_is_refused(bearer in secret(), prefix in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = prefix;
        bytes.extend_from_slice(bearer.as_bytes());
        bytes.push(0xff);
        let interaction = exchange(&bearer, Body::Empty, Body::Binary(bytes));
        prop_assert!(Redactor::default().redact(interaction).to_journal_line().is_err());
    }
}

/// `value` with every [`MARKER`] replaced by `secret`.
fn replace_marker(value: Value, secret: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(MARKER, secret)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| replace_marker(item, secret))
                .collect(),
        ),
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| (k, replace_marker(v, secret)))
                .collect(),
        ),
        other => other,
    }
}

/// The forms a secret can be echoed in (issue 11, kind 4).
fn encode(form: usize, secret: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let percent = |upper: bool| crate::support::canary::percent_all(secret, upper);
    match form {
        0 => secret.to_owned(),
        1 => percent(true),
        2 => percent(false),
        3 => urlencode(secret),
        4 => secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        5 => secret.chars().map(|c| format!("&#{};", c as u32)).collect(),
        6 => STANDARD.encode(format!("Bearer {secret}")),
        7 => URL_SAFE_NO_PAD.encode(format!("x{secret}")),
        _ => serde_json::to_string(secret).unwrap(),
    }
}

/// How the client spells its credential (issue 11, kind 3).
fn spell(spelling: usize, secret: &str) -> String {
    use base64::Engine as _;
    match spelling {
        0 => format!("Bearer {secret}"),
        1 => format!(
            "bearer \"{}\"",
            secret.replace('\\', "\\\\").replace('"', "\\\"")
        ),
        2 => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}"))
        ),
        _ => format!(
            "Token token=\"{}\"",
            secret.replace('\\', "\\\\").replace('"', "\\\"")
        ),
    }
}

const LABELS: [Option<&str>; 4] = [
    Some("application/json"),
    Some("text/plain"),
    Some("text/html"),
    None,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Whatever the spelling of the credential, the form it is echoed in,
    /// the place it is echoed and the body's label, the written line and
    /// the log line hold it in no form the leak search can see.
    #[test]
    fn an_echoed_credential_is_in_no_output_in_any_form(
        secret in secret(),
        spelling in 0usize..4,
        form in 0usize..9,
        place in 0usize..6,
        label in 0usize..4,
        before in filler(),
        after in filler(),
    ) {
        let echoed = format!("{before}{}{after}", encode(form, &secret));
        let mut interaction = exchange("unused-bearer-0000", Body::Empty, Body::Empty);
        interaction.request.headers = Headers::new();
        interaction.request.headers.append("authorization", spell(spelling, &secret));
        interaction.request.query = Query::default();
        let json_echo = json!({"data": [{"type": "api_error", "attributes": {"details": {"message": echoed}}}]});
        match place {
            0 => interaction.response.body = Body::from_bytes(json_echo.to_string().as_bytes(), LABELS[label]),
            1 => interaction.response.body = Body::Text(format!("<p>{echoed}</p>")),
            2 => interaction.request.path = format!("/access_tokens/{echoed}"),
            3 => interaction.response.headers.append("location", format!("https://example.com/{echoed}")),
            4 => interaction.request.query = Query::parse(&format!("q={}", urlencode(&echoed))),
            _ => interaction.request.body = Body::Text(format!("a=1&note={echoed}")),
        }
        // The control: the same search sees the secret in what was echoed.
        let mut control = crate::support::canary::LeakSearch::new([secret.clone()]);
        control.add_text("echo", echoed.as_bytes());
        prop_assert!(!control.leaks().is_empty(), "the search cannot see {secret} in {echoed}");
        let redacted = Redactor::default().redact(interaction);
        let log = redacted.secrets().scrub(&format!("datovcr: GET /x {echoed} error={echoed}")).into_owned();
        let mut search = crate::support::canary::LeakSearch::new([secret.clone()]);
        search.add_text("log line", log.as_bytes());
        if let Ok(line) = redacted.to_journal_line() {
            search.add_text("journal line", &line);
        }
        let leaks = search.leaks();
        prop_assert!(leaks.is_empty(), "{leaks:?} in {log}");
    }
}
