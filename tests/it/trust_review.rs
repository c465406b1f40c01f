//! Adversarial review of the first promise (no secret reaches disk, logs
//! or reports): each test is a leak the review found, now fixed, with
//! variants of its kind. Canaries are unique per run; every test checks
//! first that its search sees them where they were sent.

use crate::support::canary::{LeakSearch, leaked_places};
use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::{client_for, proxy_binary};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply, random_token};
use crate::support::{interaction, request};
use datovcr::cassette::{Body, Cassette};
use http::Method;
use serde_json::{Value, json};
use std::path::Path;

fn canary() -> String {
    format!("cnry{}", random_token())
}

fn proxy(dir: &Path, upstream: &FakeDato, extra: &[&str]) -> ServerProcess {
    proxy_binary(dir, upstream, "trust.json", extra)
}

fn schema_check(dir: &Path, file: &str) -> (Option<i32>, String, Vec<u8>) {
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir)
        .args(["schema-check", "--format", "json", file])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.stderr,
    )
}

/// The JSON strings that hold text rather than a URL, each hiding one
/// canary: prose quoting a URL with userinfo or a credential parameter
/// (absolute with leading space, relative), a JSON document serialized into
/// a string (a webhook call's payload), a form in a string, and a record
/// field quoting a presigned URL in prose (the shape rule reads records).
fn strings_holding_text(c: &[String; 9]) -> Value {
    json!({
        "data": [
            {
                "type": "webhook_call",
                "id": "1",
                "attributes": {
                    "request_payload": format!("{{\"entity\":{{\"token\":\"{}\"}}}}", c[0]),
                    "response_payload": format!("upstream said: fetch https://admin:{}@hooks.example/x failed", c[1]),
                    "response_headers": {"content-type": "text/plain"},
                }
            },
            {
                "type": "build_trigger",
                "id": "2",
                "attributes": {
                    "name": format!(" https://deploy:{}@ci.example/hook", c[2]),
                    "adapter_settings": {"note": format!("callback at /oauth/cb?code={} then retry", c[3])},
                    "frontend_url": format!("a=1&password={}", c[4]),
                    // Text escaped inside a string: read in its unescaped views.
                    "deploy_log": format!("sent a%3D1%26password%3D{}", c[7]),
                    "error_page": format!("token&#61;{}", c[8]),
                }
            },
            {
                "type": "item",
                "id": "3",
                "attributes": {
                    "body": format!("Download from https://s3.example/f.pdf?X-Amz-Signature={} today", c[5]),
                    // A record's own words: kept, no name rule in records.
                    "secret_note": "password: is kept in records",
                }
            },
            {
                "type": "upload",
                "id": "4",
                "meta": {"echo": format!("{{\"password\": \"{}\"}}", c[6])},
            }
        ]
    })
}

/// Text bodies (HTML, prose) quoting relative URLs with credentials, and a
/// `?` spelled as an HTML reference.
fn text_bodies(c: &[String; 3]) -> [(String, String); 3] {
    [
        (
            "text/html".to_owned(),
            format!(
                "<a href=\"/oauth/cb?code={}&amp;state=1\">continue</a>",
                c[0]
            ),
        ),
        (
            "text/plain".to_owned(),
            format!("go to /reset?token_hash={} now", c[1]),
        ),
        (
            "text/html".to_owned(),
            format!("<a href='/cb&#63;sig={}'>x</a>", c[2]),
        ),
    ]
}

/// JSON strings and text bodies were read only as a URL (a JSON string) or
/// by the named-value and absolute-URL rules (text): a URL quoted in prose,
/// a relative URL, a JSON document or form serialized into a string all
/// reached the cassette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_inside_json_strings_and_relative_urls_in_text_bodies_are_redacted() {
    let json_canaries: [String; 9] = std::array::from_fn(|_| canary());
    let text_canaries: [String; 3] = std::array::from_fn(|_| canary());
    let [q1, q2] = std::array::from_fn(|_| canary());
    let body = strings_holding_text(&json_canaries);
    let texts = text_bodies(&text_canaries);
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with({
        let body = body.clone();
        let texts = texts.clone();
        move |request| {
            let (content_type, bytes) = match request.path() {
                "/webhook_calls" => ("application/json".to_owned(), body.to_string().into_bytes()),
                path => {
                    let at: usize = path.trim_start_matches("/text/").parse().ok()?;
                    let (kind, text) = texts.get(at)?.clone();
                    (kind, text.into_bytes())
                }
            };
            Some(ScriptedReply {
                status: 200,
                headers: vec![("content-type".to_owned(), content_type)],
                body: bytes,
            })
        }
    }))
    .await;
    let work = tempfile::tempdir().unwrap();
    let server = proxy(work.path(), &upstream, &[]);
    let client = client_for(&upstream);
    let mut received = Vec::new();
    // Query values holding text: a filter document and prose with a URL.
    let filter = format!("{{\"token\":\"{q1}\"}}");
    let note = format!("see https://u:{q2}@h.example/");
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", &filter)
        .append_pair("note", &note)
        .finish();
    let (status, _, answer) = send(
        &client,
        Method::GET,
        &server.url(&format!("/webhook_calls?{query}")),
        &[("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 200);
    received.extend_from_slice(&answer);
    for at in 0..texts.len() {
        let (status, _, answer) = send(
            &client,
            Method::GET,
            &server.url(&format!("/text/{at}")),
            &[],
            "",
        )
        .await;
        assert_eq!(status.as_u16(), 200, "text {at}");
        received.extend_from_slice(&answer);
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");

    let all: Vec<&String> = json_canaries
        .iter()
        .chain(&text_canaries)
        .chain([&q1, &q2])
        .collect();
    // The search sees every canary of the responses where it was sent.
    let mut sent = LeakSearch::new(json_canaries.iter().chain(&text_canaries));
    sent.add_text("what the client received", &received);
    assert_eq!(sent.leaks().len(), 12, "the search must see the canaries");

    let cassette = Cassette::load(&work.path().join("trust.json")).expect("the cassette");
    assert_eq!(cassette.interactions.len(), 1 + texts.len(), "{stderr}");
    // What must stay: the record's own words, the text around each secret.
    let recorded = &cassette.interactions[0].response.body;
    let Body::Json(recorded) = recorded else {
        panic!("a JSON body: {recorded:?}");
    };
    assert_eq!(
        recorded["data"][2]["attributes"]["secret_note"],
        "password: is kept in records"
    );
    let prose = recorded["data"][0]["attributes"]["response_payload"]
        .as_str()
        .unwrap();
    assert!(
        prose.starts_with("upstream said: fetch https://"),
        "{prose}"
    );
    let mut search = LeakSearch::new(all);
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("datovcr proxy");
}

/// `schema-check` reports each of those strings in a cassette, at its
/// place, and quotes none of them: the checker reads as the recorder does.
#[test]
fn schema_check_reports_secrets_in_text_inside_json_strings() {
    let canaries: [String; 9] = std::array::from_fn(|_| canary());
    let mut exchange = interaction(
        request("GET", "/webhook_calls", None),
        200,
        strings_holding_text(&canaries),
    );
    exchange
        .request
        .headers
        .set("authorization", ["Bearer [REDACTED]"]);
    let mut cassette = Cassette::new();
    cassette.interactions.push(exchange);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("text.json"), cassette.to_bytes()).unwrap();
    let (code, stdout, stderr) = schema_check(dir.path(), "text.json");
    let mut search = LeakSearch::new(&canaries);
    search.add_text("schema-check's report", stdout.as_bytes());
    search.add_text("its stderr", &stderr);
    search.assert_no_leaks("schema-check");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    let places: Vec<String> = leaked_places(&report)
        .into_iter()
        .map(|(_, pointer)| pointer)
        .collect();
    for pointer in [
        "/data/0/attributes/request_payload",
        "/data/0/attributes/response_payload",
        "/data/1/attributes/name",
        "/data/1/attributes/adapter_settings/note",
        "/data/1/attributes/frontend_url",
        "/data/1/attributes/deploy_log",
        "/data/1/attributes/error_page",
        "/data/2/attributes/body",
        "/data/3/meta/echo",
    ] {
        assert!(places.iter().any(|p| p == pointer), "{pointer}: {stdout}");
    }
    assert!(
        !places.iter().any(|p| p.contains("secret_note")),
        "a record's own words are no leak: {stdout}"
    );
    assert_eq!(code, Some(1), "{stdout}");
}

/// One plain-HTTP request to datovcr; the status and the whole body.
async fn send_plain(
    url: String,
    method: Method,
    headers: &[(&str, String)],
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
        builder = builder.header(*name, value.as_str());
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

fn replay(dir: &Path, cassette: &str, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = ["replay", "--listen", "127.0.0.1:0", "--cassette", cassette]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(dir, &args, &dir.join("replay.stderr"))
}

fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if bom {
        bytes.extend(if le { [0xff, 0xfe] } else { [0xfe, 0xff] });
    }
    for unit in text.encode_utf16() {
        bytes.extend(if le {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    bytes
}

/// A miss report quotes the received body: text holding the request's
/// bearer in UTF-16 (NUL bytes between its characters) was searched by the
/// scrubber only for forms it can cut out in place, so the 599 body quoted
/// it; as bytes (with a byte order mark) it was quoted as base64 of the
/// UTF-16, a form no search knew. Both byte orders, with and without a
/// byte order mark, in the body of a request that misses. (A longer body
/// is quoted cut short, which showed 26 characters of a bearer as base64.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_report_never_quotes_a_body_holding_a_secret_in_utf16() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request(
            "POST",
            "/access_tokens",
            Some(crate::support::create_body()),
        ),
        201,
        json!({"data": {"type": "access_token", "id": "1"}}),
    ));
    std::fs::write(dir.path().join("docs.json"), cassette.to_bytes()).unwrap();
    let server = replay(dir.path(), "docs.json", &[]);
    let mut secrets = Vec::new();
    let mut answers = Vec::new();
    for (le, bom) in [(true, false), (false, false), (true, true), (false, true)] {
        // Short enough that the report quotes the body whole, not cut.
        let bearer = format!("cnry{}", &random_token()[..8]);
        let body = utf16(&format!("\"{bearer}\""), le, bom);
        let headers = [
            ("authorization", format!("Bearer {bearer}")),
            ("content-type", "text/plain".to_owned()),
        ];
        let (status, answer) =
            send_plain(server.url("/access_tokens"), Method::POST, &headers, body).await;
        assert_eq!(status, 599, "{}", String::from_utf8_lossy(&answer));
        let report: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        let details = &report["data"][0]["attributes"]["details"];
        assert!(
            details["nearest"]["differences"]
                .as_array()
                .is_some_and(|list| list.iter().any(|d| d["pointer"] == "/body")),
            "the miss still names the body: {details}"
        );
        secrets.push(bearer);
        answers.push(answer);
    }
    let stderr = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap()
        .1;
    let mut search = LeakSearch::new(&secrets);
    for answer in &answers {
        search.add_text("599 body", answer);
    }
    search.add_text("replay's stderr", stderr.as_bytes());
    search.assert_no_leaks("replay miss reports");
}

/// A response that echoes the request's bearer as base64 of its UTF-16
/// (a blob in a JSON string, a data: URL, a text body): no form searched
/// for showed it, so it was written. Both byte orders, with and without a
/// byte order mark, standard and URL-safe alphabets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_as_base64_of_its_utf16_is_never_written() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(|request| {
        let bearer = request.header("authorization")?.strip_prefix("Bearer ")?;
        let variant: usize = request.path().trim_start_matches("/echo/").parse().ok()?;
        let (le, bom, url_safe, as_text) = [
            (true, false, false, false),
            (false, false, false, false),
            (true, true, false, false),
            (false, true, true, false),
            (true, false, true, true),
        ][variant];
        let bytes = utf16(bearer, le, bom);
        let encoded = if url_safe {
            URL_SAFE_NO_PAD.encode(&bytes)
        } else {
            STANDARD.encode(&bytes)
        };
        let (content_type, body) = if as_text {
            ("text/plain", format!("data:text/plain;base64,{encoded}"))
        } else {
            (
                "application/json",
                json!({"data": {"type": "upload", "id": "1", "attributes": {"blob": encoded}}})
                    .to_string(),
            )
        };
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into_bytes(),
        })
    }))
    .await;
    let work = tempfile::tempdir().unwrap();
    let server = proxy(work.path(), &upstream, &[]);
    let client = client_for(&upstream);
    let mut bearers = Vec::new();
    let mut received = Vec::new();
    for variant in 0..5 {
        let bearer = canary();
        let authorization = format!("Bearer {bearer}");
        let (status, _, answer) = send(
            &client,
            Method::GET,
            &server.url(&format!("/echo/{variant}")),
            &[("authorization", &authorization)],
            "",
        )
        .await;
        received.extend_from_slice(&answer);
        // Recorded with the echo scrubbed, or refused: never written.
        assert!(
            [200, 500].contains(&status.as_u16()),
            "variant {variant}: {status}"
        );
        bearers.push(bearer);
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    let mut sent = LeakSearch::new(&bearers);
    sent.add_text("what the client received", &received);
    assert_eq!(sent.leaks().len(), 5, "the search must see the echoes");
    let mut search = LeakSearch::new(&bearers);
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("datovcr proxy");
}

/// `text` with JSON Pointer escapes undone (RFC 6901: `~1` is `/`, `~0` is
/// `~`), as a reader of a pointer in a report reads it.
fn pointer_unescaped(text: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(text)
        .replace("~1", "/")
        .replace("~0", "~")
        .into_bytes()
}

/// A miss names each difference by a JSON pointer, whose tokens escape `/`
/// as `~1` and `~` as `~0`: a member name or query parameter name holding
/// the request's bearer (a base64 token has `/`) was printed in that
/// spelling, which no search knew, in the 599 body and on stderr. Names at
/// the top and nested, `/` and `~`, in the body and the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_report_never_names_a_secret_in_a_json_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request(
            "POST",
            "/access_tokens",
            Some(crate::support::create_body()),
        ),
        201,
        json!({"data": {"type": "access_token", "id": "1"}}),
    ));
    std::fs::write(dir.path().join("docs.json"), cassette.to_bytes()).unwrap();
    let server = replay(dir.path(), "docs.json", &[]);
    let mut secrets = Vec::new();
    let mut answers = Vec::new();
    for variant in 0..4 {
        let token = random_token();
        let bearer = match variant {
            0 | 2 => format!("cnry/{}/{}", &token[..12], &token[12..]),
            _ => format!("cnry~{}~/{}", &token[..12], &token[12..]),
        };
        let (query, body) = match variant {
            0 | 1 => (String::new(), json!({ bearer.clone(): 1 })),
            2 => (
                String::new(),
                json!({"data": {"type": "access_token", "attributes": { bearer.clone(): true }}}),
            ),
            _ => (
                format!(
                    "?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair(&bearer, "1")
                        .finish()
                ),
                crate::support::create_body(),
            ),
        };
        let headers = [
            ("authorization", format!("Bearer {bearer}")),
            ("content-type", "application/json".to_owned()),
        ];
        let (status, answer) = send_plain(
            server.url(&format!("/access_tokens{query}")),
            Method::POST,
            &headers,
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, 599, "{}", String::from_utf8_lossy(&answer));
        let report: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        let differences = &report["data"][0]["attributes"]["details"]["nearest"]["differences"];
        assert!(
            differences.as_array().is_some_and(|list| !list.is_empty()),
            "the miss still names what differed: {report}"
        );
        secrets.push(bearer);
        answers.push(answer);
    }
    let stderr = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap()
        .1;
    let mut search = LeakSearch::new(&secrets);
    for answer in &answers {
        search.add_text("599 body", answer);
        search.add_text("599 body, pointers read", &pointer_unescaped(answer));
    }
    search.add_text("stderr", stderr.as_bytes());
    search.add_text(
        "stderr, pointers read",
        &pointer_unescaped(stderr.as_bytes()),
    );
    search.assert_no_leaks("replay miss reports");
}

/// The proxy's answers name a violation by its pointer: `--enforce`'s 422
/// (and `--enforce-responses`' 502) listed each pointer unscrubbed, and
/// the `x-datovcr-violations` header was cut at 1 KiB before it was
/// scrubbed, so a member name holding the request's bearer (an
/// `additionalProperties` violation points at the name itself) reached
/// the client whole, in pointer spelling, or cut short. Plain and `/`
/// bearers, with and without `--enforce`, the name at the cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_pointers_never_name_a_secret_in_answers_or_logs() {
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(|_| {
        Some(ScriptedReply {
            status: 201,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: json!({"data": {"type": "access_token", "id": "1"}})
                .to_string()
                .into_bytes(),
        })
    }))
    .await;
    let client = client_for(&upstream);
    let mut secrets = Vec::new();
    let mut said = Vec::new();
    for enforce in [true, false] {
        let work = tempfile::tempdir().unwrap();
        let extra: &[&str] = if enforce { &["--enforce"] } else { &[] };
        let server = proxy(work.path(), &upstream, extra);
        for variant in 0..3 {
            let token = random_token();
            let bearer = match variant {
                0 => format!("cnry{token}"),
                1 => format!("cnry/{}/{}", &token[..12], &token[12..]),
                // The name ends past the header's 1 KiB, the bearer astride.
                _ => format!("cnry{token}{token}"),
            };
            let name = match variant {
                2 => format!("{}{bearer}", "n".repeat(1000 - 40)),
                _ => bearer.clone(),
            };
            let mut body = crate::support::create_body();
            body["data"]["attributes"][&name] = json!(1);
            let authorization = format!("Bearer {bearer}");
            let headers = [
                ("authorization", authorization.as_str()),
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("x-api-version", "3"),
            ];
            let (status, answer_headers, answer) = send(
                &client,
                Method::POST,
                &server.url("/access_tokens"),
                &headers,
                body.to_string(),
            )
            .await;
            if enforce {
                assert_eq!(status.as_u16(), 422, "{}", String::from_utf8_lossy(&answer));
                let report: Value = serde_json::from_slice(&answer).unwrap();
                let violations = &report["data"][0]["attributes"]["details"]["violations"];
                assert!(
                    violations.as_array().is_some_and(|list| list
                        .iter()
                        .any(|v| v["rule"] == "additionalProperties")),
                    "{report}"
                );
                said.push(answer.to_vec());
            } else {
                assert_eq!(status.as_u16(), 201);
                let summary = answer_headers
                    .get("x-datovcr-violations")
                    .expect("the violations header")
                    .as_bytes()
                    .to_vec();
                // The name's violation is listed (the long one up to the cut).
                let listed = if variant == 2 {
                    "[REDACTED]"
                } else {
                    "[additionalProperties]"
                };
                assert!(
                    String::from_utf8_lossy(&summary).contains(listed),
                    "{}",
                    String::from_utf8_lossy(&summary)
                );
                said.push(summary);
            }
            secrets.push(bearer);
        }
        let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(status.success(), "{stderr}");
        said.push(stderr.into_bytes());
        for (_, text) in crate::support::all_text_under(work.path()) {
            said.push(text.into_bytes());
        }
    }
    let mut search = LeakSearch::new(&secrets);
    for text in &said {
        search.add_text("an answer, header or log", text);
        search.add_text("the same, pointers read", &pointer_unescaped(text));
    }
    search.assert_no_leaks("datovcr proxy's answers");
    // Cut short: any 16 characters of a bearer in a row are a leak too.
    for secret in &secrets {
        let chars: Vec<char> = secret.chars().collect();
        for window in chars.windows(16) {
            let window: String = window.iter().collect();
            for text in &said {
                let text = String::from_utf8_lossy(&pointer_unescaped(text)).into_owned();
                assert!(!text.contains(&window), "`{window}` of a bearer in: {text}");
            }
        }
    }
}
