//! Second adversarial review of the first promise (no secret reaches disk,
//! logs or reports): each test is a leak the review found, now fixed, with
//! variants of its kind. Canaries are unique per run; every test checks
//! that what it sent reached datovcr (a miss names the difference, an
//! answer is the refusal it expects) before it searches the output.

use crate::support::canary::LeakSearch;
use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::{client_for, proxy_binary};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply, random_token};
use crate::support::{interaction, request};
use datovcr::cassette::{Cassette, FieldValue};
use http::Method;
use serde_json::{Value, json};
use std::path::Path;

fn canary() -> String {
    format!("cnry{}", random_token())
}

fn replay(dir: &Path, cassette: &str, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = ["replay", "--listen", "127.0.0.1:0", "--cassette", cassette]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(dir, &args, &dir.join("replay.stderr"))
}

/// One plain-HTTP request to datovcr; the status and the whole body.
/// Header values are bytes, so a test can send what no `&str` holds.
async fn send_plain(
    url: String,
    method: Method,
    headers: &[(&str, Vec<u8>)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    > = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let mut builder = http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        builder = builder.header(
            *name,
            http::HeaderValue::from_bytes(value).expect("a header value"),
        );
    }
    let request = builder
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let exchange = async {
        let response = client.request(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("a body");
        (status, body.to_bytes().to_vec())
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer in 10 s"))
}

fn pointers_of(answer: &[u8]) -> Vec<String> {
    let report: Value = serde_json::from_slice(answer).expect("a JSON answer");
    report["data"][0]["attributes"]["details"]["nearest"]["differences"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|d| d["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A cassette recorded with `--redact-query tid`, `--redact-pointer
/// /data/attributes/pin`, `--redact-header x-tenant` (or by a recorder
/// whose rules replay does not share) holds placeholders where replay's
/// own rules see nothing secret. A request carrying the live value there
/// misses, and the 599 body and the MISS line quoted it beside the
/// recorded `[REDACTED]`, and wherever else the request repeated it.
/// Variants: a query parameter, a body member, a credential parameter of a
/// URL inside a body string (only the value is hidden), a path segment
/// (which the message and `request.path` quote too), a header matched by
/// `--match header:`, and the value repeated in another parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_report_hides_what_the_recording_holds_as_a_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    let mut add = |method: &str, target: &str, body: Option<Value>, tenant: Option<&str>| {
        let mut recorded = request(method, target, body);
        if let Some(tenant) = tenant {
            recorded
                .headers
                .append("x-tenant", FieldValue::from(tenant.to_owned()));
        }
        cassette
            .interactions
            .push(interaction(recorded, 200, json!({"data": []})));
    };
    add("GET", "/items?tid=[REDACTED]", None, None);
    add(
        "POST",
        "/items",
        Some(json!({"data": {"type": "item", "attributes": {"pin": "[REDACTED]"}}})),
        None,
    );
    add(
        "POST",
        "/uploads",
        Some(json!({"data": {"type": "upload", "attributes": {
            "path": "https://s3.example/f.pdf?X-Tenant-Proof=%5BREDACTED%5D&v=1"
        }}})),
        None,
    );
    add("GET", "/items/[REDACTED]/fields", None, None);
    add("GET", "/site", None, Some("[REDACTED]"));
    add("GET", "/echo?q=plain&tid=[REDACTED]", None, None);
    std::fs::write(dir.path().join("recorded.json"), cassette.to_bytes()).unwrap();
    let server = replay(
        dir.path(),
        "recorded.json",
        &["--match", "method,path,query,body,header:x-tenant"],
    );

    let c: Vec<String> = (0..6).map(|_| canary()).collect();
    let json_type = ("content-type", b"application/json".to_vec());
    type Sent<'h> = (Method, String, Vec<(&'h str, Vec<u8>)>, Value, &'static str);
    let sent: Vec<Sent> = vec![
        (
            Method::GET,
            format!("/items?tid={}", c[0]),
            vec![],
            Value::Null,
            "/query/tid",
        ),
        (
            Method::POST,
            "/items".into(),
            vec![json_type.clone()],
            json!({"data": {"type": "item", "attributes": {"pin": c[1]}}}),
            "/body/data/attributes/pin",
        ),
        (
            Method::POST,
            "/uploads".into(),
            vec![json_type.clone()],
            json!({"data": {"type": "upload", "attributes": {
                "path": format!("https://s3.example/f.pdf?X-Tenant-Proof={}&v=1", c[2])
            }}}),
            "/body/data/attributes/path",
        ),
        (
            Method::GET,
            format!("/items/{}/fields", c[3]),
            vec![],
            Value::Null,
            "/path",
        ),
        (
            Method::GET,
            "/site".into(),
            vec![("x-tenant", c[4].clone().into_bytes())],
            Value::Null,
            "/headers/x-tenant",
        ),
        (
            Method::GET,
            format!("/echo?q={0}&tid={0}", c[5]),
            vec![],
            Value::Null,
            "/query/q",
        ),
    ];
    let mut answers = Vec::new();
    for (method, target, headers, body, pointer) in sent {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (status, answer) = send_plain(server.url(&target), method, &headers, body).await;
        assert_eq!(
            status,
            599,
            "{target}: {}",
            String::from_utf8_lossy(&answer)
        );
        let pointers = pointers_of(&answer);
        assert!(
            pointers.iter().any(|p| p == pointer),
            "{target}: the miss still names {pointer}: {}",
            String::from_utf8_lossy(&answer)
        );
        answers.push(answer);
    }
    let stderr = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap()
        .1;
    assert!(stderr.contains("differs at /query/tid"), "{stderr}");
    // The URL around the hidden value is still shown.
    let uploads = String::from_utf8_lossy(&answers[2]).into_owned();
    assert!(
        uploads.contains("https://s3.example/f.pdf?X-Tenant-Proof="),
        "{uploads}"
    );
    let mut search = LeakSearch::new(&c);
    for answer in &answers {
        search.add_text("599 body", answer);
    }
    search.add_text("replay's stderr", stderr.as_bytes());
    search.assert_no_leaks("replay miss reports against placeholders");
}

/// The proxy's own error answers were sent as built: a refused
/// `x-datovcr-cassette` quoted the name, which held the request's bearer,
/// in the 400 body (the log line was scrubbed, the answer not). The name as
/// the bearer, as the `X-Api-Key`, as an `?access_token=`, and with a `/`
/// (a base64 token) that makes it no cassette name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_error_answers_never_quote_a_credential_of_the_request() {
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(|_| {
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"data":[]}"#.to_vec(),
        })
    }))
    .await;
    let work = tempfile::tempdir().unwrap();
    let server = proxy_binary(work.path(), &upstream, "trust.json", &[]);
    let client = client_for(&upstream);
    let mut secrets = Vec::new();
    let mut answers = Vec::new();
    for variant in 0..4 {
        let token = random_token();
        let secret = match variant {
            3 => format!("cnry/{}+{}", &token[..10], &token[10..]),
            _ => format!("cnry{token}"),
        };
        let bearer = format!("Bearer {secret}");
        let (header, value, query) = match variant {
            0 | 3 => ("authorization", bearer.as_str(), String::new()),
            1 => ("x-api-key", secret.as_str(), String::new()),
            _ => (
                "accept",
                "application/json",
                format!("?access_token={secret}"),
            ),
        };
        // Invalid as a name: `!` is neither letter, digit, `-`, `_` nor `.`.
        let name = format!("{secret}!");
        let (status, _, answer) = send(
            &client,
            Method::GET,
            &server.url(&format!("/items{query}")),
            &[(header, value), ("x-datovcr-cassette", &name)],
            "",
        )
        .await;
        assert_eq!(
            status.as_u16(),
            400,
            "variant {variant}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            String::from_utf8_lossy(&answer).contains("DATOVCR_BAD_CASSETTE_NAME"),
            "variant {variant}: {}",
            String::from_utf8_lossy(&answer)
        );
        secrets.push(secret);
        answers.push(answer.to_vec());
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    let mut search = LeakSearch::new(&secrets);
    for answer in &answers {
        search.add_text("the proxy's 400 answer", answer);
    }
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("the proxy's error answers");
}

/// `text` with Rust's debug escapes (`\u{ad}`, `\t`, `\\`) undone, as a
/// reader of a debug-quoted name reads it.
fn debug_unescaped(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("\\u{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        match after
            .find('}')
            .and_then(|end| Some((end, u32::from_str_radix(&after[..end], 16).ok()?)))
            .and_then(|(end, code)| Some((end, char::from_u32(code)?)))
        {
            Some((end, c)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("\\u{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("\\t", "\t").replace("\\\\", "\\").into_bytes()
}

/// Replay quoted an unknown `x-datovcr-cassette` name with Rust's
/// `escape_debug` before scrubbing the message, so a name holding the
/// request's `?access_token=` with a character Rust escapes (a soft hyphen,
/// a zero-width space, a C1 control, a byte order mark) reached the 599
/// body and the MISS line as `abc\u{ad}def`, a spelling no search reads;
/// `--on-miss record` refused a bad name the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cassette_name_is_never_quoted_in_a_spelling_the_scrubber_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("GET", "/items", None),
        200,
        json!({"data": []}),
    ));
    std::fs::write(dir.path().join("recorded.json"), cassette.to_bytes()).unwrap();
    // --on-miss record refuses a bad name before it forwards anything; the
    // upstream is never reached.
    let modes: [&[&str]; 2] = [
        &[],
        &["--on-miss", "record", "--upstream", "https://127.0.0.1:9"],
    ];
    let mut secrets = Vec::new();
    let mut said = Vec::new();
    for extra in modes {
        let server = replay(dir.path(), "recorded.json", extra);
        for odd in ["\u{ad}", "\u{200b}", "\u{85}", "\u{feff}", "\u{2028}"] {
            let token = random_token();
            // Seven characters on each side: too short to be searched alone.
            let secret = format!("{}{odd}{}", &token[..7], &token[7..14]);
            let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            let (status, answer) = send_plain(
                server.url(&format!("/items?access_token={encoded}")),
                Method::GET,
                &[("x-datovcr-cassette", secret.clone().into_bytes())],
                Vec::new(),
            )
            .await;
            assert!(
                [400, 599].contains(&status),
                "{status}: {}",
                String::from_utf8_lossy(&answer)
            );
            assert!(
                String::from_utf8_lossy(&answer).contains("x-datovcr-cassette"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
            // The answer's strings as a reader of the JSON reads them.
            let report: Value = serde_json::from_slice(&answer).expect("a JSON answer");
            let message = report["data"][0]["attributes"]["details"]["message"]
                .as_str()
                .expect("a message")
                .to_owned();
            secrets.push(secret);
            said.push(answer);
            said.push(message.into_bytes());
        }
        let stderr = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap()
            .1;
        said.push(stderr.into_bytes());
    }
    for text in &said {
        let read = debug_unescaped(text);
        for secret in &secrets {
            for form in [&text[..], &read[..]] {
                assert!(
                    !String::from_utf8_lossy(form).contains(secret.as_str()),
                    "{secret:?} in {}",
                    String::from_utf8_lossy(form)
                );
            }
        }
    }
}

/// A URL percent-encoded into a parameter of another (a login's `next`,
/// OAuth's `redirect_uri`, encoded twice) kept its credentials: the outer
/// parameter's name is no secret's, and the nested URL was never decoded.
/// In a JSON string, a `Location` header and a text body, recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_a_url_encoded_into_a_parameter_are_redacted() {
    let c: Vec<String> = (0..3).map(|_| canary()).collect();
    let nested = [
        format!("https://app.example/login?next=%2Fcb%3Fcode%3D{}", c[0]),
        format!(
            "https://id.example/a?redirect_uri=https%3A%2F%2Fdeploy%3A{}%40ci.example%2F",
            c[1]
        ),
        format!("see /login?next=%252Fcb%253Ftoken%253D{} now", c[2]),
    ];
    let replies = nested.clone();
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(move |_| {
        Some(ScriptedReply {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("location".into(), replies[1].clone()),
            ],
            body: json!({"data": {"type": "webhook", "id": "1",
                "attributes": {"url": replies[0], "name": replies[2]}}})
            .to_string()
            .into_bytes(),
        })
    }))
    .await;
    let work = tempfile::tempdir().unwrap();
    let server = proxy_binary(work.path(), &upstream, "trust.json", &[]);
    let client = client_for(&upstream);
    let (status, _, answer) = send(
        &client,
        Method::GET,
        &server.url("/webhooks/1"),
        &[("authorization", "Bearer cnry-plain-bearer-1")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 200, "{}", String::from_utf8_lossy(&answer));
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    let mut sent = LeakSearch::new(&c);
    sent.add_text("what the client received", &answer);
    assert_eq!(sent.leaks().len(), 2, "the search sees the body's canaries");
    let cassette = std::fs::read_to_string(work.path().join("trust.json")).unwrap();
    assert!(cassette.contains("next=%5BREDACTED%5D"), "{cassette}");
    let mut search = LeakSearch::new(&c);
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("nested URLs recorded");
}
