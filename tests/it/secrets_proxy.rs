//! Issue 11's kinds of leak through `datovcr proxy`, each as a family of
//! variants: bodies redacted by content not label (1), every content
//! coding (2), credential spellings (3), encoded echoes (4), log lines
//! written before secrets were known (5), secret cassette names (8).
//!
//! Every case runs through the real binary in front of a scripted fake
//! upstream; afterwards every file under the work folder, stderr and stdout
//! are searched for the case's canaries in every form they could take, and
//! each case also asserts what must still be there, so no case passes by
//! recording nothing.

use crate::support::canary::{LeakSearch, percent_all};
use crate::support::client::{HttpsClient, send};
use crate::support::process::ServerProcess;
use crate::support::proxy::{client_for, proxy_binary};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply, random_token};
use base64::Engine as _;
use http::Method;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

fn canary() -> String {
    format!("cnry{}", random_token())
}

/// One request through the proxy and the upstream's scripted answer.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    reply: ScriptedReply,
    /// Values that must not be found anywhere afterwards.
    canaries: Vec<String>,
    status: u16,
    /// Text the case's cassette must hold (`None`: no cassette may exist).
    kept: Option<&'static str>,
}

fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> ScriptedReply {
    ScriptedReply {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
    }
}

fn token_doc(token: &str) -> String {
    format!(
        r#"{{"data":{{"type":"access_token","id":"312","attributes":{{"name":"keep-me","token":"{token}","hardcoded_type":null}}}}}}"#
    )
}

fn error_doc(message: &str) -> String {
    let message = serde_json::to_string(message).unwrap();
    format!(
        r#"{{"data":[{{"type":"api_error","id":"e1","attributes":{{"code":"INVALID_AUTHORIZATION_HEADER","details":{{"message":{message}}}}}}}]}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::CompressorWriter::new(&mut out, 4096, 5, 22)
        .write_all(bytes)
        .unwrap();
    out
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

const JSON: &str = "application/json; charset=utf-8";

/// A content coding applied to bytes.
type Encode = fn(&[u8]) -> Vec<u8>;
/// A way of writing a secret (a credential spelling, an echo form).
type Spell = fn(&str) -> String;

/// Runs every case through one proxy (`extra` flags added), each into its
/// own cassette, then searches everything for every canary. Returns the
/// proxy's stderr.
async fn run_cases(cases: Vec<Case>, extra: &[&str]) -> String {
    let work = tempfile::tempdir().unwrap();
    let replies: HashMap<String, ScriptedReply> = cases
        .iter()
        .map(|case| (case.name.to_owned(), case.reply.clone()))
        .collect();
    let replies = Arc::new(replies);
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(move |request| {
        request
            .header("x-case")
            .and_then(|name| replies.get(name).cloned())
    }))
    .await;
    let server = start(work.path(), &upstream, extra);
    let client = client_for(&upstream);
    for case in &cases {
        let status = send_case(&client, &server, case).await;
        assert_eq!(status, case.status, "case {}: status", case.name);
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    check_everything(work.path(), &stderr, &cases);
    stderr
}

fn start(dir: &Path, upstream: &FakeDato, extra: &[&str]) -> ServerProcess {
    proxy_binary(dir, upstream, "cassettes/default.json", extra)
}

async fn send_case(client: &HttpsClient, server: &ServerProcess, case: &Case) -> u16 {
    let mut headers: Vec<(&str, &str)> =
        case.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    headers.push(("x-case", case.name));
    if !case.headers.iter().any(|(n, _)| *n == "x-datovcr-cassette") {
        headers.push(("x-datovcr-cassette", case.name));
    }
    let (status, _, _) = send(
        client,
        case.method.clone(),
        &server.url(&case.path),
        &headers,
        case.body.clone(),
    )
    .await;
    status.as_u16()
}

fn check_everything(dir: &Path, stderr: &str, cases: &[Case]) {
    // The control: what each case sent and was answered, as it would be
    // written with scrubbing switched off, shows every canary to the same
    // search, so its silence below means something.
    for case in cases {
        let mut control = LeakSearch::new(case.canaries.clone());
        let mut raw = format!("{} {}\n", case.method, case.path).into_bytes();
        for (name, value) in case.headers.iter().chain(&[("x", String::new())]) {
            raw.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
        control.add_text("request head", &raw);
        control.add_text("request body", &case.body);
        control.add_text("reply body", &case.reply.body);
        let reply_head: String = case
            .reply
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
        control.add_text("reply head", reply_head.as_bytes());
        // As a cassette would store an undecoded body: base64.
        let stored = serde_json::json!({
            "body": {"base64": base64::engine::general_purpose::STANDARD.encode(&case.reply.body)}
        });
        control.add_text("reply body, stored", stored.to_string().as_bytes());
        let found: std::collections::HashSet<String> = control
            .leaks()
            .into_iter()
            .map(|leak| leak.canary)
            .collect();
        for canary in &case.canaries {
            assert!(
                found.contains(canary),
                "case {}: the control search cannot see {canary} in the raw exchange",
                case.name
            );
        }
    }
    let canaries: Vec<String> = cases.iter().flat_map(|c| c.canaries.clone()).collect();
    let mut search = LeakSearch::new(canaries);
    search.add_dir(dir);
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("datovcr proxy");
    for case in cases {
        let cassette = dir.join("cassettes").join(format!("{}.json", case.name));
        let text = std::fs::read_to_string(&cassette)
            .or_else(|_| std::fs::read_to_string(cassette.with_extension("json.journal")));
        match (case.kept, text) {
            (Some(kept), Ok(text)) => {
                assert!(
                    text.contains(kept),
                    "case {}: `{kept}` missing from\n{text}",
                    case.name
                )
            }
            (Some(_), Err(err)) => panic!("case {}: no cassette: {err}\n{stderr}", case.name),
            (None, Ok(text)) => assert!(
                !text.contains("\"status\""),
                "case {}: nothing may be recorded, found\n{text}",
                case.name
            ),
            (None, Err(_)) => {}
        }
    }
}

fn bearer_headers(bearer: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {bearer}")),
        ("accept", "application/json".into()),
        ("x-api-version", "3".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_redacted_by_its_content_whatever_its_label() {
    let mut cases = Vec::new();
    let labels: [(&'static str, Option<&str>, &str, &str); 6] = [
        ("label-text-plain", Some("text/plain"), "", ""),
        ("label-text-html", Some("text/html; charset=utf-8"), "", ""),
        ("label-none", None, "", ""),
        (
            "label-octet-bom",
            Some("application/octet-stream"),
            "\u{feff}\n  ",
            "\n",
        ),
        ("label-xssi", Some("text/javascript"), ")]}'\n", ""),
        ("label-wrong-json", Some("image/png"), " ", " "),
    ];
    for (name, label, before, after) in labels {
        let token = canary();
        let headers: Vec<(&str, &str)> = label.map(|l| ("content-type", l)).into_iter().collect();
        cases.push(Case {
            name,
            method: Method::POST,
            path: "/access_tokens/312/regenerate_token".into(),
            headers: bearer_headers(&canary()),
            body: Vec::new(),
            reply: reply(
                200,
                &headers,
                format!("{before}{}{after}", token_doc(&token)),
            ),
            canaries: vec![token],
            status: 200,
            kept: Some("keep-me"),
        });
    }
    // A body that is not JSON at all still has its named secrets found.
    let token = canary();
    cases.push(Case {
        name: "truncated-json",
        method: Method::GET,
        path: "/access_tokens/312".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(
            200,
            &[("content-type", "text/plain")],
            format!(r#"{{"data":{{"type":"access_token","attributes":{{"name":"keep-me","token":"{token}""#),
        ),
        canaries: vec![token],
        status: 200,
        kept: Some("keep-me"),
    });
    // Requests too: a password in a body labelled text/plain, and in a form.
    let (password, form_secret) = (canary(), canary());
    let mut headers = bearer_headers(&canary());
    headers.push(("content-type", "text/plain".into()));
    cases.push(Case {
        name: "request-text-json",
        method: Method::POST,
        path: "/users".into(),
        headers,
        body: format!(r#"{{"data":{{"type":"user","attributes":{{"email":"keep-me@example.com","password":"{password}"}}}}}}"#).into_bytes(),
        reply: reply(201, &[("content-type", JSON)], r#"{"data":{"type":"user","id":"1"}}"#),
        canaries: vec![password],
        status: 201,
        kept: Some("keep-me@example.com"),
    });
    let mut headers = bearer_headers(&canary());
    headers.push(("content-type", "application/x-www-form-urlencoded".into()));
    cases.push(Case {
        name: "request-form",
        method: Method::POST,
        path: "/oauth/token".into(),
        headers,
        body: format!("grant_type=keep-me&client_secret={form_secret}").into_bytes(),
        reply: reply(200, &[("content-type", JSON)], "{}"),
        canaries: vec![form_secret],
        status: 200,
        kept: Some("grant_type=keep-me"),
    });
    for case in &mut cases {
        // The bearers are canaries too.
        let bearer = case.headers[0].1.trim_start_matches("Bearer ").to_owned();
        case.canaries.push(bearer);
    }
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_content_coding_is_decoded_or_the_exchange_refused() {
    let mut cases = Vec::new();
    let encoders: [(&'static str, &str, Encode); 6] = [
        ("coding-zstd", "zstd", zstd),
        ("coding-gzip-br", "gzip, br", |b| brotli(&gzip(b))),
        ("coding-br-zstd", "br, zstd", |b| zstd(&brotli(b))),
        ("coding-zstd-labelled-gzip", "gzip", zstd),
        ("coding-gzip-unlabelled", "", gzip),
        ("coding-gzip-twice-labelled-once", "gzip", |b| {
            gzip(&gzip(b))
        }),
    ];
    for (name, label, encode) in encoders {
        let token = canary();
        let bytes = encode(token_doc(&token).as_bytes());
        let mut headers = vec![("content-type", JSON)];
        if !label.is_empty() {
            headers.push(("content-encoding", label));
        }
        cases.push(Case {
            name,
            method: Method::POST,
            path: "/access_tokens/312/regenerate_token".into(),
            headers: bearer_headers(&canary()),
            body: Vec::new(),
            reply: reply(200, &headers, bytes),
            canaries: vec![token],
            status: 200,
            kept: Some("keep-me"),
        });
    }
    // Compressed in a format datovcr cannot decode, or labelled so: refused.
    for (name, label, bytes) in [
        ("coding-bzip2-magic", "", b"BZh91AY&SY".to_vec()),
        ("coding-compress", "compress", vec![0x1f, 0x9d, 0x90]),
        ("coding-unknown", "x-custom", b"opaque".to_vec()),
    ] {
        let token = canary();
        let mut body = bytes;
        body.extend_from_slice(token_doc(&token).as_bytes());
        let mut headers = vec![("content-type", JSON)];
        if !label.is_empty() {
            headers.push(("content-encoding", label));
        }
        cases.push(Case {
            name,
            method: Method::GET,
            path: "/access_tokens/312".into(),
            headers: bearer_headers(&canary()),
            body: Vec::new(),
            reply: reply(200, &headers, body),
            canaries: vec![token],
            status: 500,
            kept: None,
        });
    }
    // Requests: a gzip and a zstd body holding the bearer and a password.
    for (name, label, encode) in [
        ("request-gzip", "gzip", gzip as Encode),
        ("request-zstd-br", "zstd, br", |b: &[u8]| brotli(&zstd(b))),
    ] {
        let (bearer, password) = (canary(), canary());
        let mut headers = bearer_headers(&bearer);
        headers.push(("content-type", "application/json".into()));
        headers.push(("content-encoding", label.into()));
        let body = format!(
            r#"{{"data":{{"type":"user","attributes":{{"email":"keep-me@example.com","note":"sent with {bearer}","password":"{password}"}}}}}}"#
        );
        cases.push(Case {
            name,
            method: Method::POST,
            path: "/users".into(),
            headers,
            body: encode(body.as_bytes()),
            reply: reply(
                201,
                &[("content-type", JSON)],
                r#"{"data":{"type":"user","id":"1"}}"#,
            ),
            canaries: vec![bearer, password],
            status: 201,
            kept: Some("keep-me@example.com"),
        });
    }
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_recognised_in_every_spelling() {
    let mut cases = Vec::new();
    let spellings: [(&'static str, &'static str, Spell); 9] = [
        ("basic", "authorization", |s| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("someone:{s}"))
            )
        }),
        ("basic-unpadded-user", "authorization", |s| {
            format!(
                "basic {}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{s}:x"))
            )
        }),
        ("bearer-quoted", "authorization", |s| {
            format!("Bearer \"{s}\"")
        }),
        ("bearer-tabs", "authorization", |s| {
            format!("bearer\t\t{s}  ")
        }),
        ("digest", "authorization", |s| {
            format!("Digest username=\"u\", realm=\"r\", response=\"{s}\"")
        }),
        ("token-param", "authorization", |s| {
            format!("Token token=\"{s}\"")
        }),
        ("bare", "authorization", |s| s.to_owned()),
        ("cookie-quoted", "cookie", |s| {
            format!("theme=dark; sid=\"{s}\"")
        }),
        ("session-header", "x-session-token", |s| s.to_owned()),
    ];
    for (name, header, spell) in spellings {
        let secret = canary();
        cases.push(Case {
            name,
            method: Method::GET,
            path: "/access_tokens".into(),
            headers: vec![
                (header, spell(&secret)),
                ("accept", "application/json".into()),
            ],
            body: Vec::new(),
            reply: reply(
                401,
                &[("content-type", JSON)],
                error_doc(&format!("keep-me: credentials {secret} are not valid")),
            ),
            canaries: vec![secret],
            status: 401,
            kept: Some("keep-me: credentials [REDACTED] are not valid"),
        });
    }
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_in_an_encoded_form_is_scrubbed() {
    let mut cases = Vec::new();
    for (name, upper) in [("path-percent-upper", true), ("path-percent-lower", false)] {
        let bearer = canary();
        cases.push(Case {
            name,
            method: Method::GET,
            path: format!("/access_tokens/{}", percent_all(&bearer, upper)),
            headers: bearer_headers(&bearer),
            body: Vec::new(),
            reply: reply(
                404,
                &[("content-type", JSON)],
                error_doc("keep-me not found"),
            ),
            canaries: vec![bearer],
            status: 404,
            kept: Some("keep-me not found"),
        });
    }
    let echoes: [(&'static str, &str, Spell); 5] = [
        ("echo-base64", JSON, |s| {
            error_doc(&format!(
                "keep-me {}",
                base64::engine::general_purpose::STANDARD.encode(format!("Bearer {s}"))
            ))
        }),
        ("echo-base64url-offset", JSON, |s| {
            error_doc(&format!(
                "keep-me {}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ab{s}"))
            ))
        }),
        ("echo-json-escaped-text", "text/plain", |s| {
            let escaped: String = s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
            format!("keep-me: not json {{\"auth\": \"{escaped}\"")
        }),
        ("echo-html-entities", "text/html", |s| {
            let entities: String = s.chars().map(|c| format!("&#{};", c as u32)).collect();
            format!("<p>keep-me: {entities} is invalid</p>")
        }),
        ("echo-percent-in-json", JSON, |s| {
            error_doc(&format!(
                "keep-me https://example.com/cb?state={}",
                percent_all(s, true)
            ))
        }),
    ];
    for (name, content_type, echo) in echoes {
        let bearer = canary();
        cases.push(Case {
            name,
            method: Method::GET,
            path: "/access_tokens".into(),
            headers: bearer_headers(&bearer),
            body: Vec::new(),
            reply: reply(401, &[("content-type", content_type)], echo(&bearer)),
            canaries: vec![bearer],
            status: 401,
            kept: Some("keep-me"),
        });
    }
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cassette_named_after_a_credential_of_its_request_is_refused() {
    let mut cases = Vec::new();
    for (name, make) in [
        (
            "name-is-bearer",
            (|b: &str| b.to_owned()) as fn(&str) -> String,
        ),
        ("name-holds-bearer", |b| format!("suite-{b}.v2")),
    ] {
        let bearer = canary();
        let mut headers = bearer_headers(&bearer);
        headers.push(("x-datovcr-cassette", make(&bearer)));
        cases.push(Case {
            name,
            method: Method::GET,
            path: "/access_tokens".into(),
            headers,
            body: Vec::new(),
            reply: reply(200, &[("content-type", JSON)], r#"{"data":[]}"#),
            canaries: vec![bearer],
            status: 400,
            kept: None,
        });
    }
    let cookie = canary();
    cases.push(Case {
        name: "name-is-cookie",
        method: Method::GET,
        path: "/access_tokens".into(),
        headers: vec![
            ("cookie", format!("sid={cookie}")),
            ("x-datovcr-cassette", cookie.clone()),
        ],
        body: Vec::new(),
        reply: reply(200, &[("content-type", JSON)], r#"{"data":[]}"#),
        canaries: vec![cookie],
        status: 400,
        kept: None,
    });
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_path_is_scrubbed_before_the_request_is_logged() {
    // 414 before the body is read, and 422 under --enforce.
    let (long, enforced) = (canary(), canary());
    let cases = vec![
        Case {
            name: "uri-too-long",
            method: Method::GET,
            path: format!("/access_tokens/{long}/{}", "x".repeat(300)),
            headers: bearer_headers(&long),
            body: Vec::new(),
            reply: reply(200, &[], ""),
            canaries: vec![long],
            status: 414,
            kept: None,
        },
        Case {
            name: "enforced",
            method: Method::POST,
            path: "/access_tokens".into(),
            headers: {
                let mut headers = bearer_headers(&enforced);
                headers.push(("content-type", "application/json".into()));
                headers
            },
            body: format!(r#"{{"data":{{"type":"{enforced}"}}}}"#).into_bytes(),
            reply: reply(200, &[], ""),
            canaries: vec![enforced],
            status: 422,
            kept: None,
        },
    ];
    run_cases(cases, &["--max-uri-bytes", "200", "--enforce"]).await;

    // --record none: a response violation quotes the token it issued.
    let token = canary();
    let bearer = canary();
    let cases = vec![Case {
        name: "record-none-violation",
        method: Method::GET,
        path: "/access_tokens/312".into(),
        headers: bearer_headers(&bearer),
        body: Vec::new(),
        reply: reply(
            200,
            &[("content-type", JSON)],
            format!("[{}]", token_doc(&token)),
        ),
        canaries: vec![token, bearer],
        status: 200,
        kept: None,
    }];
    run_cases(cases, &["--record", "none"]).await;
}

/// An access token as the contract describes it, so the proxy's quick
/// check vouches for the exchange (its log line then searches only the
/// bodies the screen cannot clear; docs/performance.md, "The log line").
fn full_token_doc(id: &str, token: &str) -> String {
    format!(
        r#"{{"data":{{"type":"access_token","id":"{id}","attributes":{{"name":"Read-only API token","hardcoded_type":null,"can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":false,"last_cma_access":"never","last_cda_access":"today","token":"{token}"}},"relationships":{{"role":{{"data":{{"type":"role","id":"34"}}}}}}}}}}"#
    )
}

/// `--record none`, a line per exchange (the default): every secret of a
/// clean exchange is found for its line, wherever it came from, though
/// bodies the screen clears are not parsed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_none_log_lines_of_clean_exchanges_show_no_secret() {
    let (bearer, issued, other, updated) = (canary(), canary(), canary(), canary());
    let json = |body: String| reply(200, &[("content-type", JSON)], body);
    let cases = vec![
        // The request's credential, repeated in its path.
        Case {
            name: "bearer-in-path",
            method: Method::GET,
            path: format!("/access_tokens/{bearer}"),
            headers: bearer_headers(&bearer),
            body: Vec::new(),
            reply: json(full_token_doc("312", &canary())),
            canaries: vec![bearer],
            status: 200,
            kept: None,
        },
        // The token the response issues, asked for by its path.
        Case {
            name: "issued-in-path",
            method: Method::GET,
            path: format!("/access_tokens/{issued}"),
            headers: bearer_headers(&other),
            body: Vec::new(),
            reply: json(full_token_doc("312", &issued)),
            canaries: vec![issued, other],
            status: 200,
            kept: None,
        },
        // An update: its clean JSON body is cleared, not searched; the
        // credential it quotes is the request's own.
        Case {
            name: "update-in-path",
            method: Method::PUT,
            path: format!("/access_tokens/{updated}"),
            headers: {
                let mut headers = bearer_headers(&updated);
                headers.push(("content-type", "application/vnd.api+json".into()));
                headers
            },
            body: format!(
                r#"{{"data":{{"type":"access_token","id":"{updated}","attributes":{{"name":"x","can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":true}},"relationships":{{"role":{{"data":{{"type":"role","id":"34"}}}}}}}}}}"#
            )
            .into_bytes(),
            reply: json(full_token_doc(&updated, &canary())),
            canaries: vec![updated],
            status: 200,
            kept: None,
        },
    ];
    let stderr = run_cases(cases, &["--record", "none"]).await;
    // Each met the contract, so each took the quick check's way.
    assert_eq!(stderr.matches(" 200 ").count(), 3, "{stderr}");
    assert_eq!(stderr.matches("violations=0").count(), 3, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_logs_no_credential_of_the_request() {
    let work = tempfile::tempdir().unwrap();
    // An upstream that refuses connections: a port that was just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let upstream = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--cassette",
        "cassettes/x.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = ServerProcess::start(work.path(), &args, &work.path().join("stderr"));
    let client =
        crate::support::client::https_client(crate::support::tls::TestPki::new().ca_file());
    let bearer = canary();
    let headers = [("authorization", format!("Bearer {bearer}"))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let path = format!("/access_tokens/{}", percent_all(&bearer, false));
    let (status, _, body) = send(&client, Method::GET, &server.url(&path), &headers, "").await;
    assert_eq!(status.as_u16(), 502, "{}", String::from_utf8_lossy(&body));
    let (_, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(stderr.contains("502"), "the failure is logged: {stderr}");
    let mut search = LeakSearch::new([bearer]);
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("upstream failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_any_json_type_under_secret_names_are_redacted_but_record_fields_are_not() {
    let (object_secret, number, jwk, item_meta) =
        (canary(), 98_765_432_101_234_567u64, canary(), canary());
    let body = format!(
        r#"{{"data":{{"type":"access_token","id":"312","attributes":{{"name":"keep-me","token":{{"value":"{object_secret}"}},"private_key":{{"kty":"RSA","d":"{jwk}"}},"password":{number},"can_manage_access_tokens":true}}}},"included":[{{"type":"item","id":"7","attributes":{{"session_title":"keep-this-title"}},"meta":{{"token":"{item_meta}"}}}}]}}"#
    );
    let cases = vec![Case {
        name: "json-types",
        method: Method::GET,
        path: "/access_tokens/312".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(200, &[("content-type", JSON)], body),
        canaries: vec![object_secret, jwk, number.to_string(), item_meta],
        status: 200,
        kept: Some("keep-this-title"),
    }];
    run_cases(cases, &["--record", "all"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_hide_their_json_from_a_parser_are_still_redacted() {
    let mut cases = Vec::new();
    let (duplicate, escaped, utf16, form) = (canary(), canary(), canary(), canary());
    cases.push(Case {
        name: "duplicate-keys",
        method: Method::GET,
        path: "/access_tokens".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(
            200,
            &[("content-type", "text/plain")],
            format!(r#"{{"name":"keep-me","password":"{duplicate}","password":"[REDACTED]"}}"#),
        ),
        canaries: vec![duplicate],
        status: 200,
        kept: Some("keep-me"),
    });
    cases.push(Case {
        name: "escaped-name-truncated",
        method: Method::GET,
        path: "/access_tokens".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(
            200,
            &[("content-type", "text/plain")],
            format!(r#"keep-me {{"data":{{"attributes":{{"pass\u0077ord":"{escaped}""#),
        ),
        canaries: vec![escaped],
        status: 200,
        kept: Some("keep-me"),
    });
    let utf16_body: Vec<u8> = format!(r#"{{"name":"keep-me","token":"{utf16}"}}"#)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    cases.push(Case {
        name: "utf16-without-bom",
        method: Method::GET,
        path: "/access_tokens".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(
            200,
            &[("content-type", "application/json; charset=utf-16")],
            utf16_body,
        ),
        canaries: vec![utf16],
        status: 200,
        kept: Some("keep-me"),
    });
    let mut headers = bearer_headers(&canary());
    headers.push(("content-type", "application/x-www-form-urlencoded".into()));
    cases.push(Case {
        name: "form-trailing-newline",
        method: Method::POST,
        path: "/callback".into(),
        headers,
        body: format!("state=keep-me&sig={form}\n").into_bytes(),
        reply: reply(200, &[("content-type", JSON)], "{}"),
        canaries: vec![form],
        status: 200,
        kept: Some("state=keep-me"),
    });
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_headers_of_any_name_and_in_relative_urls_are_redacted() {
    let (x_auth, access_key, echoed, code) = (canary(), canary(), canary(), canary());
    let mut headers = vec![
        ("x-auth", x_auth.clone()),
        ("x-access-key", access_key.clone()),
        ("x-echo", format!("Bearer {echoed}")),
        ("accept", "application/json".into()),
    ];
    headers.push(("x-keep", "keep-me".into()));
    let location = format!("/oauth/cb?state=1&code={code}");
    let (bare, relative, cdn, link) = (canary(), canary(), canary(), canary());
    let content_location = format!("cb?key={relative}");
    let bare_location = format!("?code={bare}");
    let alternate = format!("//cdn.example/x?key={cdn}");
    let link_value = format!("</p?sig={link}>; rel=\"next\"");
    let cases = vec![
        Case {
            name: "header-names",
            method: Method::GET,
            path: "/access_tokens".into(),
            headers,
            body: Vec::new(),
            reply: reply(
                302,
                &[("content-type", JSON), ("location", &location)],
                "{}",
            ),
            canaries: vec![x_auth, access_key, echoed, code],
            status: 302,
            kept: Some("keep-me"),
        },
        Case {
            name: "relative-urls",
            method: Method::GET,
            path: "/access_tokens".into(),
            headers: bearer_headers(&canary()),
            body: Vec::new(),
            reply: reply(
                302,
                &[
                    ("content-type", JSON),
                    ("location", &bare_location),
                    ("content-location", &content_location),
                    ("x-alternate", &alternate),
                    ("link", &link_value),
                ],
                r#"{"note":"keep-me"}"#,
            ),
            canaries: vec![bare, relative, cdn, link],
            status: 302,
            kept: Some("keep-me"),
        },
    ];
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_in_changed_case_hex_wrapped_base64_and_quoted_printable_are_scrubbed() {
    use base64::engine::general_purpose::STANDARD;
    let mut cases = Vec::new();
    let forms: [(&'static str, Spell); 4] = [
        ("echo-upper-case", |s| s.to_ascii_uppercase()),
        ("echo-hex", |s| {
            s.bytes().map(|b| format!("{b:02x}")).collect()
        }),
        ("echo-mime-base64", |s| {
            let encoded = STANDARD.encode(format!("{}{s}tail", "x".repeat(70)));
            format!("{}\r\n{}", &encoded[..76], &encoded[76..])
        }),
        ("echo-quoted-printable", |s| format!("pw=3D{s}=3D")),
    ];
    for (name, spell) in forms {
        let bearer = canary();
        cases.push(Case {
            name,
            method: Method::GET,
            path: "/access_tokens".into(),
            headers: bearer_headers(&bearer),
            body: Vec::new(),
            reply: reply(
                401,
                &[("content-type", "text/plain")],
                format!("keep-me: {}", spell(&bearer)),
            ),
            canaries: vec![bearer],
            status: 401,
            kept: Some("keep-me"),
        });
    }
    // UTF-16 holding a known secret, without a byte order mark: stored as
    // text it cannot be scrubbed in place, so it is refused.
    let bearer = canary();
    let utf16: Vec<u8> = format!("bad {bearer}")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    cases.push(Case {
        name: "echo-utf16-no-bom",
        method: Method::GET,
        path: "/access_tokens".into(),
        headers: bearer_headers(&bearer),
        body: Vec::new(),
        reply: reply(401, &[("content-type", "text/plain")], utf16),
        canaries: vec![bearer],
        status: 500,
        kept: None,
    });
    // An archive datovcr cannot unpack is refused like a coding it cannot decode.
    let token = canary();
    let mut zip = b"PK\x03\x04\x14\x00".to_vec();
    zip.extend_from_slice(token_doc(&token).as_bytes());
    cases.push(Case {
        name: "zip-archive",
        method: Method::GET,
        path: "/uploads/1/download".into(),
        headers: bearer_headers(&canary()),
        body: Vec::new(),
        reply: reply(200, &[("content-type", "application/zip")], zip),
        canaries: vec![token],
        status: 500,
        kept: None,
    });
    run_cases(cases, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_fields_and_compressed_base64_echoes_are_caught() {
    use base64::engine::general_purpose::STANDARD;
    let (password, bearer) = (canary(), canary());
    let mut headers = bearer_headers(&canary());
    headers.push(("content-type", "multipart/form-data; boundary=XyZ".into()));
    let multipart = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nkeep-me@example.com\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{password}\r\n--XyZ--\r\n"
    );
    // Long and repetitive, so deflate codes the bearer rather than storing it.
    let trace = STANDARD.encode(gzip(
        format!("{} Bearer {bearer} {}", "ab".repeat(300), "cd".repeat(300)).as_bytes(),
    ));
    let cases = vec![
        Case {
            name: "multipart",
            method: Method::POST,
            path: "/uploads".into(),
            headers,
            body: multipart.into_bytes(),
            reply: reply(
                201,
                &[("content-type", JSON)],
                r#"{"data":{"type":"upload","id":"1"}}"#,
            ),
            canaries: vec![password],
            status: 201,
            kept: Some("keep-me@example.com"),
        },
        // The echo cannot be scrubbed in place, so nothing is written.
        Case {
            name: "base64-gzip-in-json",
            method: Method::GET,
            path: "/access_tokens".into(),
            headers: bearer_headers(&bearer),
            body: Vec::new(),
            reply: reply(
                401,
                &[("content-type", JSON)],
                error_doc(&format!("trace {trace}")),
            ),
            canaries: vec![bearer],
            status: 500,
            kept: None,
        },
    ];
    run_cases(cases, &[]).await;
}
