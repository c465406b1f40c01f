//! Issue 12 A7 and B10: one validation of the cassette format for every
//! reader, and header bytes that survive record and replay unchanged.
//!
//! The upstream here is a raw HTTP/1.1 responder rather than the fake
//! DatoCMS: it must send header bytes no HTTP library would build (0xE9,
//! 0xFF), and it keeps the exact bytes of each request it receives.

use crate::support::canary::LeakSearch;
use crate::support::process::ServerProcess;
use crate::support::upstream::random_token;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Bounds every socket read in this module.
const IO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

fn datovcr() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
}

/// One interaction with a replaceable response status and header object.
fn cassette_text(status: &str, request_headers: &str, response_headers: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "interactions": [
    {{
      "recorded_at": "2026-11-27T10:00:00Z",
      "request": {{ "method": "GET", "path": "/account", "headers": {request_headers} }},
      "response": {{ "status": {status}, "headers": {response_headers},
                    "body": {{ "text": "hello" }} }}
    }}
  ]
}}
"#
    )
}

/// `schema-check FILE`: exit code and everything it printed.
fn schema_check(dir: &Path, file: &str) -> (Option<i32>, String) {
    let out = datovcr()
        .args(["schema-check", file])
        .current_dir(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// `replay --cassette FILE`, expected to refuse at start-up: exit code and
/// stderr. Bounded: a replay that starts instead is killed after 20 s (exit
/// code `None`), so the caller's assertion fails rather than hangs.
fn replay_refusal(dir: &Path, file: &str) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(["replay", "--listen", "127.0.0.1:0", "--cassette", file])
        .current_dir(dir)
        .write_stdin(Vec::new())
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains("listening on"),
        "replay started on {file}:\n{stdout}"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_reader_refuses_the_same_malformed_cassettes_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let ok_headers = r#"{"content-type": ["text/plain"]}"#;
    // (label, status, request headers, response headers, words the error must hold)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("status-0", "0", "{}", ok_headers, "status 0"),
        ("status-1", "1", "{}", ok_headers, "status 1"),
        ("status-100", "100", "{}", ok_headers, "status 100"),
        ("status-101", "101", "{}", ok_headers, "status 101"),
        ("status-199", "199", "{}", ok_headers, "status 199"),
        ("status-600", "600", "{}", ok_headers, "status 600"),
        ("status-999", "999", "{}", ok_headers, "status 999"),
        ("status-1000", "1000", "{}", ok_headers, "status 1000"),
        ("status-string", "\"200\"", "{}", ok_headers, "status"),
        (
            "crlf-value",
            "200",
            "{}",
            r#"{"x-a": ["one\r\nx-b: two"]}"#,
            "control character",
        ),
        (
            "lf-value",
            "200",
            "{}",
            r#"{"x-a": ["one\ntwo"]}"#,
            "control character",
        ),
        (
            "cr-value",
            "200",
            "{}",
            r#"{"x-a": ["one\rtwo"]}"#,
            "control character",
        ),
        (
            "nul-value",
            "200",
            "{}",
            r#"{"x-a": ["a\u0000"]}"#,
            "control character",
        ),
        (
            "del-value",
            "200",
            "{}",
            r#"{"x-a": ["a\u007f"]}"#,
            "control character",
        ),
        (
            "bell-value",
            "200",
            "{}",
            r#"{"x-a": ["\u0007"]}"#,
            "control character",
        ),
        (
            "crlf-in-base64",
            "200",
            "{}",
            r#"{"x-a": [{"base64": "YQ0KYg=="}]}"#,
            "control character",
        ),
        (
            "request-crlf",
            "200",
            r#"{"x-a": ["a\r\nb"]}"#,
            ok_headers,
            "control character",
        ),
        (
            "space-name",
            "200",
            "{}",
            r#"{"x served": ["a"]}"#,
            "not an HTTP token",
        ),
        (
            "colon-name",
            "200",
            "{}",
            r#"{"x:a": ["a"]}"#,
            "not an HTTP token",
        ),
        (
            "empty-name",
            "200",
            "{}",
            r#"{"": ["a"]}"#,
            "not an HTTP token",
        ),
        (
            "unicode-name",
            "200",
            "{}",
            r#"{"ümlaut": ["a"]}"#,
            "not an HTTP token",
        ),
        (
            "request-space-name",
            "200",
            r#"{"x y": ["a"]}"#,
            ok_headers,
            "not an HTTP token",
        ),
        (
            "bad-base64",
            "200",
            "{}",
            r#"{"x-a": [{"base64": "!!"}]}"#,
            "base64",
        ),
        (
            "other-object",
            "200",
            "{}",
            r#"{"x-a": [{"hex": "00"}]}"#,
            "base64",
        ),
        (
            "number-value",
            "200",
            "{}",
            r#"{"x-a": [7]}"#,
            "header value",
        ),
        ("bare-string", "200", "{}", r#"{"x-a": "a"}"#, "sequence"),
    ];
    for (label, status, request_headers, response_headers, words) in cases {
        let file = format!("{label}.json");
        std::fs::write(
            dir.path().join(&file),
            cassette_text(status, request_headers, response_headers),
        )
        .unwrap();
        let before = std::fs::read(dir.path().join(&file)).unwrap();

        let (code, text) = schema_check(dir.path(), &file);
        assert_eq!(
            code,
            Some(2),
            "{label}: schema-check must call it unreadable:\n{text}"
        );
        assert!(
            text.contains(&format!("{file}:")),
            "{label}: no position:\n{text}"
        );
        assert!(text.contains(words), "{label}: expected {words:?}:\n{text}");

        let (code, stderr) = replay_refusal(dir.path(), &file);
        assert_eq!(code, Some(2), "{label}: replay must refuse:\n{stderr}");
        assert!(
            stderr.contains(&file),
            "{label}: replay must name the file:\n{stderr}"
        );
        assert!(
            stderr.contains(words),
            "{label}: expected {words:?}:\n{stderr}"
        );

        assert_eq!(
            std::fs::read(dir.path().join(&file)).unwrap(),
            before,
            "{label}: a reader changed the file"
        );
    }
}

#[test]
fn every_reader_accepts_the_same_well_formed_variants() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("status-200", "200", r#"{"content-type": ["text/plain"]}"#),
        ("status-599", "599", r#"{"content-type": ["text/plain"]}"#),
        (
            "mixed-case-names",
            "200",
            r#"{"Content-Type": ["text/plain"], "X-A": ["1"], "x-a": ["2"]}"#,
        ),
        (
            "tab-and-obs-text",
            "200",
            r#"{"x-a": ["a\tb", "cache-münchen-1"]}"#,
        ),
        (
            "bytes-value",
            "200",
            r#"{"x-a": [{"base64": "Y2Fm6Q=="}, "plain"]}"#,
        ),
        ("empty-value", "200", r#"{"x-a": [""]}"#),
    ];
    for (label, status, headers) in cases {
        let file = format!("{label}.json");
        std::fs::write(dir.path().join(&file), cassette_text(status, "{}", headers)).unwrap();
        let (code, text) = schema_check(dir.path(), &file);
        assert_eq!(code, Some(0), "{label}: schema-check refused it:\n{text}");
        let replay = ServerProcess::start(
            dir.path(),
            &["replay", "--listen", "127.0.0.1:0", "--cassette", &file].map(String::from),
            &dir.path().join(format!("{label}.stderr")),
        );
        let response = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(raw_exchange(
                replay.addr,
                b"GET /account HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            ));
        let (exit, stderr) = replay.terminate();
        assert!(
            response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            "{label}: {}\n{stderr}",
            String::from_utf8_lossy(&response)
        );
        assert!(exit.success(), "{label}: {stderr}");
    }
}

/// Writes `request` to `addr` and reads the whole answer (the request asks
/// for `connection: close`).
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("the answer arrives in time")
        .unwrap();
    response
}

/// The head of an HTTP message: everything before the blank line.
fn head_of(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete head");
    &message[..end + 2]
}

/// Whether `head` has a field line `line` (the bytes between CRLFs),
/// compared with the name in any case.
fn has_field_line(head: &[u8], name: &str, value: &[u8]) -> bool {
    head.split(|&byte| byte == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            return false;
        };
        line[..colon].eq_ignore_ascii_case(name.as_bytes())
            && line[colon + 1..].trim_ascii() == value
    })
}

/// An upstream that answers every request with `response` and keeps the
/// raw bytes of each request head.
struct RawUpstream {
    addr: std::net::SocketAddr,
    heads: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawUpstream {
    async fn start(response: Vec<u8>) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (response, kept) = (response.clone(), kept.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match tokio::time::timeout(IO_TIMEOUT, stream.read(&mut byte)).await {
                            Ok(Ok(1)) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    kept.lock().unwrap().push(head);
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        RawUpstream { addr, heads }
    }
}

fn proxy_args(upstream: &RawUpstream, cassette: &str) -> Vec<String> {
    [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &format!("http://{}", upstream.addr),
        "--cassette",
        cassette,
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_bytes_survive_record_and_replay_unchanged() {
    let work = tempfile::tempdir().unwrap();
    // UTF-8 text, ISO-8859-1 bytes, bytes that are no text at all, and a
    // value mixing them with ASCII, each once in a response and a request.
    let odd: [(&str, &[u8]); 4] = [
        ("x-served-by", "cache-münchen-1".as_bytes()),
        ("x-latin1", b"caf\xe9"),
        ("x-binary", b"\xff\xfe\x80"),
        ("x-mixed", b"ok \xe9\xe8 \"quoted\" \xa0end"),
    ];
    let mut response = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n".to_vec();
    for (name, value) in odd {
        response.extend_from_slice(format!("{name}: ").as_bytes());
        response.extend_from_slice(value);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"content-length: 5\r\nconnection: close\r\n\r\nhello");
    let upstream = RawUpstream::start(response).await;

    let mut request = b"GET /account HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-client-note: r\xe9sum\xe9\r\n\r\n".to_vec();
    let proxy = ServerProcess::start(
        work.path(),
        &proxy_args(&upstream, "bytes.json"),
        &work.path().join("proxy.stderr"),
    );
    let through_proxy = raw_exchange(proxy.addr, &request).await;
    let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");

    // The client got each byte, and so did the upstream.
    let head = head_of(&through_proxy);
    for (name, value) in odd {
        assert!(
            has_field_line(head, name, value),
            "proxy answer lacks {name}: {}",
            head.escape_ascii()
        );
    }
    let upstream_heads = upstream.heads.lock().unwrap().clone();
    assert_eq!(upstream_heads.len(), 1);
    assert!(has_field_line(
        &upstream_heads[0],
        "x-client-note",
        b"r\xe9sum\xe9"
    ));

    // The cassette keeps text as strings and other bytes as base64.
    let text = std::fs::read_to_string(work.path().join("bytes.json")).unwrap();
    assert!(text.contains(r#""cache-münchen-1""#), "{text}");
    assert!(
        text.contains(r#"{ "base64": "Y2Fm6Q==" }"#) || text.contains(r#""base64": "Y2Fm6Q==""#),
        "{text}"
    );
    assert!(!text.contains('\u{fffd}'), "a byte was replaced:\n{text}");
    let (code, report) = schema_check(work.path(), "bytes.json");
    assert_eq!(code, Some(0), "{report}");

    // Replay, with and without --check, sends back the same bytes.
    for extra in [None, Some("--check")] {
        let mut args = [
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--cassette",
            "bytes.json",
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.map(String::from));
        let replay = ServerProcess::start(work.path(), &args, &work.path().join("replay.stderr"));
        request = b"GET /account HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec();
        let replayed = raw_exchange(replay.addr, &request).await;
        let (exit, stderr) = tokio::task::spawn_blocking(move || replay.terminate())
            .await
            .unwrap();
        let head = head_of(&replayed);
        assert!(
            replayed.starts_with(b"HTTP/1.1 200 "),
            "{extra:?}: {}\n{stderr}",
            replayed.escape_ascii()
        );
        for (name, value) in odd {
            assert!(
                has_field_line(head, name, value),
                "{extra:?}: replay lacks {name}: {}",
                head.escape_ascii()
            );
        }
        assert!(replayed.ends_with(b"\r\n\r\nhello"), "{extra:?}");
        assert!(exit.success(), "{extra:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains(datovcr::panic_report::MARK),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_header_values_that_are_not_utf8_are_redacted() {
    let work = tempfile::tempdir().unwrap();
    let in_response = format!("cnry{}", random_token());
    let in_request = format!("cnry{}", random_token());
    let mut response = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n".to_vec();
    response.extend_from_slice(b"x-debug: \xe9t\xe9 token=");
    response.extend_from_slice(in_response.as_bytes());
    response.extend_from_slice(b" \xff\r\nset-cookie: sid=");
    response.extend_from_slice(in_response.as_bytes());
    response.extend_from_slice(b"; caf\xe9\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let upstream = RawUpstream::start(response.clone()).await;
    let mut request =
        b"GET /site HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ".to_vec();
    request.extend_from_slice(in_request.as_bytes());
    request.extend_from_slice(b"\xe9\r\n\r\n");

    // Control: the search finds both canaries in what crossed the wire.
    let mut control = LeakSearch::new([in_response.clone(), in_request.clone()]);
    control.add_text("upstream response", &response);
    control.add_text("client request", &request);
    assert_eq!(
        control.leaks().len(),
        2,
        "the search must see both canaries in the raw exchange"
    );

    let proxy = ServerProcess::start(
        work.path(),
        &proxy_args(&upstream, "secret-bytes.json"),
        &work.path().join("proxy.stderr"),
    );
    let answer = raw_exchange(proxy.addr, &request).await;
    let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "{}",
        answer.escape_ascii()
    );

    let text = std::fs::read_to_string(work.path().join("secret-bytes.json")).unwrap();
    assert!(
        text.contains("[REDACTED]") || text.contains("W1JFREFDVEVEXQ"),
        "{text}"
    );
    let mut search = LeakSearch::new([in_response, in_request]);
    search.add_dir(work.path());
    search.add_text("proxy stderr", stderr.as_bytes());
    search.assert_no_leaks("non-UTF-8 header values");

    // What is left of the bytes around the secret is kept exactly.
    let cassette: serde_json::Value = serde_json::from_str(&text).unwrap();
    let debug = &cassette["interactions"][0]["response"]["headers"]["x-debug"][0];
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        debug["base64"].as_str().expect("kept as bytes"),
    )
    .unwrap();
    let redacted = String::from_utf8_lossy(&bytes);
    assert!(bytes.starts_with(b"\xe9t\xe9 token="), "{redacted}");
    assert!(bytes.ends_with(b" \xff"), "{redacted}");
    assert!(redacted.contains("REDACTED"), "{redacted}");
}

/// The writer keeps the readers' status rule: an upstream answer with a
/// status no cassette may hold is withheld rather than recorded into a file
/// that every reader would then refuse; without recording it passes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_status_no_cassette_may_hold_is_never_recorded() {
    for status in [600u16, 799, 999] {
        let work = tempfile::tempdir().unwrap();
        let upstream = RawUpstream::start(
            format!("HTTP/1.1 {status} Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .into_bytes(),
        )
        .await;
        let request = b"GET /site HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

        let proxy = ServerProcess::start(
            work.path(),
            &proxy_args(&upstream, "odd.json"),
            &work.path().join("record.stderr"),
        );
        let answer = raw_exchange(proxy.addr, request).await;
        let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
            .await
            .unwrap();
        let head = String::from_utf8_lossy(head_of(&answer)).into_owned();
        assert!(head.starts_with("HTTP/1.1 502 "), "{status}: {head}");
        assert!(
            head.contains("DATOVCR_UPSTREAM_PROTOCOL"),
            "{status}: {head}"
        );
        let body = String::from_utf8_lossy(&answer);
        assert!(
            body.contains(&format!("status {status} is not a final HTTP status")),
            "{body}"
        );
        assert!(exit.success(), "{status}: {stderr}");
        assert!(
            !work.path().join("odd.json").exists(),
            "{status}: a cassette was written"
        );

        let mut args = proxy_args(&upstream, "odd.json");
        args.extend(["--record", "none"].map(String::from));
        let proxy = ServerProcess::start(work.path(), &args, &work.path().join("none.stderr"));
        let answer = raw_exchange(proxy.addr, request).await;
        let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
            .await
            .unwrap();
        assert!(
            answer.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            "{status}: {}",
            answer.escape_ascii()
        );
        assert!(exit.success(), "{status}: {stderr}");
    }
}
