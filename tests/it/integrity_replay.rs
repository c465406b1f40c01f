//! Issue 12, section B, through the real replay server over real sockets:
//! framing as RFC 9110/9112 require it (HEAD, 1xx, 204, 205, 304, stale
//! lengths), JSON numbers matched by value, misses that always name what
//! differed, datovcr's own answers told apart from replayed ones, and header
//! bytes that never crash replay.
//!
//! Cassettes are written by hand, as users write them, so each case holds
//! exactly the recorded detail it is about. Answers are read as raw bytes
//! and framed by this file's own reader, so a stray body byte or a wrong
//! `content-length` shows up as a broken next response.

use crate::support::process::ServerProcess;
use datovcr::replay::{Exhausted, MatchRules, ReplayHandle, ReplayServer};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one raw exchange may take before the test fails.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- fixtures

/// One hand-written interaction.
fn exchange(request: Value, response: Value) -> Value {
    json!({"recorded_at": "2026-11-27T10:00:00Z", "request": request, "response": response})
}

/// Writes `NAME.json` holding `interactions` into `dir`.
fn cassette_file(dir: &Path, name: &str, interactions: Vec<Value>) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    let cassette = json!({"version": 1, "interactions": interactions});
    std::fs::write(&path, serde_json::to_vec_pretty(&cassette).unwrap()).unwrap();
    path
}

async fn serve(path: &Path) -> ReplayHandle {
    serve_with(path, |builder| builder).await
}

async fn serve_with(
    path: &Path,
    configure: impl FnOnce(datovcr::replay::ReplayBuilder) -> datovcr::replay::ReplayBuilder,
) -> ReplayHandle {
    configure(ReplayServer::builder().cassette(path))
        .start()
        .await
        .expect("replay starts")
}

/// A raw HTTP/1.1 request: `host` added, `content-length` added for a body.
fn raw(method: &str, target: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Request {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\nhost: replay\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    Request {
        method: method.to_owned(),
        head: bytes,
        body: body.to_vec(),
    }
}

struct Request {
    method: String,
    head: Vec<u8>,
    body: Vec<u8>,
}

/// One response as it arrived.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Answer {
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The only value of `name`, as text; `None` when absent.
    fn header(&self, name: &str) -> Option<String> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} sent {} times: {self:?}", all.len());
        all.first().map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {self:?}"))
    }

    /// `data[0].attributes` of a datovcr error.
    fn error(&self) -> Value {
        self.json()["data"][0]["attributes"].clone()
    }

    fn differences(&self) -> Vec<Value> {
        self.error()["details"]["nearest"]["differences"]
            .as_array()
            .unwrap_or_else(|| panic!("no differences: {}", self.json()))
            .clone()
    }
}

/// Sends `requests` pipelined on one connection (the last one closing it)
/// and reads every answer, each framed as RFC 9112 §6.3 says: no content
/// after a HEAD request or a 1xx, 204 or 304; else by `content-length`. Bytes
/// left after the last answer fail the test: they would be a stray body.
async fn pipelined(addr: SocketAddr, requests: &[Request]) -> Vec<Answer> {
    let mut wire = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        wire.extend_from_slice(&request.head);
        if index + 1 == requests.len() {
            wire.extend_from_slice(b"connection: close\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&request.body);
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&wire).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(EXCHANGE_LIMIT, stream.read_to_end(&mut received))
        .await
        .expect("replay answers and closes the connection in time")
        .expect("the connection reads cleanly to its end");
    let mut rest = received.as_slice();
    let mut answers = Vec::new();
    for request in requests {
        let end = find(rest, b"\r\n\r\n").unwrap_or_else(|| {
            panic!(
                "no complete answer to {} in {:?}",
                request.method,
                String::from_utf8_lossy(&received)
            )
        });
        let head = &rest[..end];
        rest = &rest[end + 4..];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, Vec<u8>)> = lines
            .map(|line| {
                let colon = line.iter().position(|&b| b == b':').expect("name: value");
                let value = line[colon + 1..].trim_ascii().to_vec();
                (
                    String::from_utf8_lossy(&line[..colon]).to_lowercase(),
                    value,
                )
            })
            .collect();
        assert!(
            !headers.iter().any(|(n, _)| n == "transfer-encoding"),
            "replay frames by length: {headers:?}"
        );
        let no_content = request.method == "HEAD" || matches!(status, 100..=199 | 204 | 304);
        let length = if no_content {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| String::from_utf8_lossy(v).parse::<usize>().unwrap())
                .expect("an answer with content is framed by content-length")
        };
        assert!(
            rest.len() >= length,
            "short body: {length} announced, {} sent",
            rest.len()
        );
        answers.push(Answer {
            status,
            headers,
            body: rest[..length].to_vec(),
        });
        rest = &rest[length..];
    }
    assert!(
        rest.is_empty(),
        "bytes after the last answer: {:?}",
        String::from_utf8_lossy(rest)
    );
    answers
}

async fn one(addr: SocketAddr, request: Request) -> Answer {
    pipelined(addr, &[request]).await.pop().unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn get(path: &str) -> Value {
    json!({"method": "GET", "path": path})
}

fn json_post(path: &str, body: &str) -> Request {
    raw(
        "POST",
        path,
        &[("content-type", b"application/json")],
        body.as_bytes(),
    )
}

// ------------------------------------------------------------ B8: framing

/// The issue's sample and its kind: an answer to HEAD carries the length of
/// the representation a GET would get, and never content.
#[tokio::test]
async fn answers_to_head_carry_the_recorded_content_length_and_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let head = |path: &str, status: u16, headers: Value, body: Value| {
        let mut response = json!({"status": status, "headers": headers});
        if !body.is_null() {
            response["body"] = body;
        }
        exchange(json!({"method": "HEAD", "path": path}), response)
    };
    let path = cassette_file(
        dir.path(),
        "head",
        vec![
            // The sample: recorded through a proxy, no body.
            head("/x", 200, json!({"content-length": ["1234"]}), Value::Null),
            // A body (hand-written, or a GET's) whose length the recorded
            // header no longer tells: the body wins.
            head(
                "/with-body",
                200,
                json!({"content-length": ["9999"], "content-type": ["text/plain"]}),
                json!({"text": "abc"}),
            ),
            head(
                "/missing",
                404,
                json!({"content-length": ["52"]}),
                Value::Null,
            ),
            // RFC 9110 §8.6: identical values, as a list or as field lines.
            head(
                "/list",
                200,
                json!({"content-length": ["7, 7"]}),
                Value::Null,
            ),
            head(
                "/lines",
                200,
                json!({"content-length": ["7", "7"]}),
                Value::Null,
            ),
            // Not a length: never sent.
            head(
                "/differing",
                200,
                json!({"content-length": ["7", "8"]}),
                Value::Null,
            ),
            head(
                "/invalid",
                200,
                json!({"content-length": ["12abc"]}),
                Value::Null,
            ),
            head(
                "/negative",
                200,
                json!({"content-length": ["-1"]}),
                Value::Null,
            ),
            // Recorded before lengths were kept: nothing to tell, so no
            // made-up `content-length: 0` either.
            head("/old", 200, json!({"x-old": ["1"]}), Value::Null),
            exchange(
                get("/after"),
                json!({"status": 200, "body": {"text": "next"}}),
            ),
        ],
    );
    let server = serve(&path).await;
    let cases: [(&str, u16, Option<&str>); 9] = [
        ("/x", 200, Some("1234")),
        ("/with-body", 200, Some("3")),
        ("/missing", 404, Some("52")),
        ("/list", 200, Some("7")),
        ("/lines", 200, Some("7")),
        ("/differing", 200, None),
        ("/invalid", 200, None),
        ("/negative", 200, None),
        ("/old", 200, None),
    ];
    for (target, status, length) in cases {
        // Each HEAD answer is followed on the same connection by a GET: a
        // content byte sent after the HEAD answer would break it.
        let answers = pipelined(
            server.addr(),
            &[
                raw("HEAD", target, &[], b""),
                raw("GET", "/after", &[], b""),
            ],
        )
        .await;
        assert_eq!(answers[0].status, status, "{target}");
        assert_eq!(
            answers[0].header("content-length").as_deref(),
            length,
            "{target}"
        );
        assert_eq!(answers[1].status, 200, "{target}");
        assert_eq!(answers[1].body, b"next", "{target}");
    }
    let answer = one(server.addr(), raw("HEAD", "/with-body", &[], b"")).await;
    assert_eq!(answer.header("content-type").as_deref(), Some("text/plain"));
}

/// Framing follows the request received, not the one recorded: with
/// `--match path`, a GET may get a recorded HEAD answer and a HEAD a GET's.
#[tokio::test]
async fn framing_follows_the_method_received_not_the_one_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "crossed",
        vec![
            exchange(
                json!({"method": "HEAD", "path": "/recorded-head"}),
                json!({"status": 200, "headers": {"content-length": ["1234"]}}),
            ),
            exchange(
                get("/recorded-get"),
                json!({"status": 200, "headers": {"content-length": ["1"]}, "body": {"text": "hello"}}),
            ),
        ],
    );
    let server = serve_with(&path, |b| b.match_rules(MatchRules::parse("path").unwrap())).await;
    let answers = pipelined(
        server.addr(),
        &[
            raw("GET", "/recorded-head", &[], b""),
            raw("HEAD", "/recorded-get", &[], b""),
            raw("GET", "/recorded-get", &[], b""),
        ],
    )
    .await;
    assert_eq!(answers[0].header("content-length").as_deref(), Some("0"));
    assert_eq!(answers[0].body, b"");
    assert_eq!(answers[1].header("content-length").as_deref(), Some("5"));
    assert_eq!(answers[2].header("content-length").as_deref(), Some("5"));
    assert_eq!(answers[2].body, b"hello");
}

/// A 304 may carry its representation's length (RFC 9110 §8.6, §15.4.5),
/// never content.
#[tokio::test]
async fn not_modified_keeps_the_representation_length_and_never_sends_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "not-modified",
        vec![
            exchange(
                get("/cached"),
                json!({"status": 304, "headers": {"content-length": ["1234"], "etag": ["\"v1\""]}}),
            ),
            exchange(
                json!({"method": "HEAD", "path": "/cached"}),
                json!({"status": 304, "headers": {"content-length": ["1234"]}}),
            ),
            // Hand-written with a body: not sent, and its length stands for
            // the representation's.
            exchange(
                get("/with-body"),
                json!({"status": 304, "headers": {"content-length": ["1"]}, "body": {"text": "stale"}}),
            ),
            exchange(get("/bare"), json!({"status": 304})),
            exchange(
                get("/after"),
                json!({"status": 200, "body": {"text": "next"}}),
            ),
        ],
    );
    let server = serve(&path).await;
    for (method, target, length) in [
        ("GET", "/cached", Some("1234")),
        ("HEAD", "/cached", Some("1234")),
        ("GET", "/with-body", Some("5")),
        ("GET", "/bare", None),
    ] {
        let answers = pipelined(
            server.addr(),
            &[
                raw(method, target, &[], b""),
                raw("GET", "/after", &[], b""),
            ],
        )
        .await;
        let method_target = format!("{method} {target}");
        assert_eq!(answers[0].status, 304, "{method_target}");
        assert_eq!(
            answers[0].header("content-length").as_deref(),
            length,
            "{method_target}"
        );
        assert_eq!(answers[1].body, b"next", "{method_target}");
    }
    let answer = one(server.addr(), raw("GET", "/cached", &[], b"")).await;
    assert_eq!(answer.header("etag").as_deref(), Some("\"v1\""));
}

/// 204 never carries a length or content (RFC 9110 §8.6, §15.3.5); 205
/// never carries content (§15.3.6), so its length is 0.
#[tokio::test]
async fn no_content_and_reset_content_never_carry_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "empty",
        vec![
            exchange(
                json!({"method": "DELETE", "path": "/gone"}),
                json!({"status": 204, "headers": {"content-length": ["5"]}, "body": {"text": "hello"}}),
            ),
            exchange(
                json!({"method": "HEAD", "path": "/gone"}),
                json!({"status": 204, "headers": {"content-length": ["0"]}}),
            ),
            exchange(
                json!({"method": "POST", "path": "/reset"}),
                json!({"status": 205, "headers": {"content-length": ["5"]}, "body": {"text": "hello"}}),
            ),
            exchange(
                get("/after"),
                json!({"status": 200, "body": {"text": "next"}}),
            ),
        ],
    );
    let server = serve(&path).await;
    for (method, target, status, length) in [
        ("DELETE", "/gone", 204, None),
        ("HEAD", "/gone", 204, None),
        ("POST", "/reset", 205, Some("0")),
    ] {
        let answers = pipelined(
            server.addr(),
            &[
                raw(method, target, &[], b""),
                raw("GET", "/after", &[], b""),
            ],
        )
        .await;
        assert_eq!(answers[0].status, status, "{method} {target}");
        assert_eq!(
            answers[0].header("content-length").as_deref(),
            length,
            "{method} {target}"
        );
        assert_eq!(answers[0].body, b"", "{method} {target}");
        assert_eq!(answers[1].body, b"next", "{method} {target}");
    }
}

/// Every other answer is framed by the content it carries, whatever length
/// was recorded (redaction and removed content codings change bodies).
#[tokio::test]
async fn every_other_answer_is_framed_by_the_content_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "stale",
        vec![
            exchange(
                get("/longer"),
                json!({"status": 200, "headers": {"content-length": ["9999"]}, "body": {"text": "abc"}}),
            ),
            exchange(
                get("/shorter"),
                json!({"status": 500, "headers": {"content-length": ["1"], "content-type": ["application/json"]},
                       "body": {"json": {"error": "[REDACTED]"}}}),
            ),
            exchange(
                get("/chunked"),
                json!({"status": 201, "headers": {"transfer-encoding": ["chunked"]}, "body": {"base64": "AAEC"}}),
            ),
            exchange(
                get("/nothing"),
                json!({"status": 200, "headers": {"content-length": ["1234"]}}),
            ),
            // Written by hand, capitalised: framing all the same.
            exchange(
                get("/capitals"),
                json!({"status": 200, "headers": {"Content-Length": ["9999"],
                       "Transfer-Encoding": ["chunked"], "Connection": ["close"]},
                       "body": {"text": "abc"}}),
            ),
            exchange(
                get("/odd"),
                json!({"status": 599, "headers": {"content-length": ["3"]}, "body": {"text": "x"}}),
            ),
        ],
    );
    let server = serve(&path).await;
    let answers = pipelined(
        server.addr(),
        &[
            raw("GET", "/longer", &[], b""),
            raw("GET", "/shorter", &[], b""),
            raw("GET", "/chunked", &[], b""),
            raw("GET", "/nothing", &[], b""),
            raw("GET", "/capitals", &[], b""),
            raw("GET", "/odd", &[], b""),
        ],
    )
    .await;
    let served: Vec<(u16, &[u8])> = answers
        .iter()
        .map(|a| (a.status, a.body.as_slice()))
        .collect();
    assert_eq!(
        served,
        [
            (200, &b"abc"[..]),
            (500, br#"{"error":"[REDACTED]"}"#),
            (201, &[0, 1, 2]),
            (200, b""),
            (200, b"abc"),
            (599, b"x"),
        ]
    );
    for answer in &answers {
        assert_eq!(
            answer.header("content-length"),
            Some(answer.body.len().to_string())
        );
    }
}

/// A final answer cannot be informational: hyper cannot send one, and a
/// client would wait for the real answer. Refused at start-up by the
/// cassette reader every command shares, naming the file and position.
#[tokio::test]
async fn informational_statuses_are_refused_at_start_up_naming_the_interaction() {
    let dir = tempfile::tempdir().unwrap();
    for status in [100, 101, 103, 199] {
        let path = cassette_file(
            dir.path(),
            &format!("informational-{status}"),
            vec![
                exchange(get("/fine"), json!({"status": 200})),
                exchange(get("/early"), json!({"status": status})),
            ],
        );
        let error = ReplayServer::builder()
            .cassette(&path)
            .start()
            .await
            .err()
            .unwrap_or_else(|| panic!("status {status} was accepted"))
            .to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(&format!("{}:", path.display())), "{error}");
        assert!(
            error.contains(&format!("status {status} is not a final HTTP status")),
            "{error}"
        );
    }
    let path = dir.path().join("informational-103.json");
    let out = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(["replay", "--listen", "127.0.0.1:0", "--cassette"])
        .arg(&path)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("status 103 is not a final HTTP status"),
        "{stderr}"
    );
}

// ----------------------------------------------------- B9: JSON numbers

fn priced(path: &str, body: &str) -> Value {
    exchange(
        json!({"method": "POST", "path": path,
               "headers": {"content-type": ["application/json"]},
               "body": {"json": serde_json::from_str::<Value>(body).unwrap()}}),
        json!({"status": 201, "body": {"text": path}}),
    )
}

/// The issue's sample and its kind: the same number, spelled any way JSON
/// allows, matches; exactly, whatever its size or precision.
#[tokio::test]
async fn json_numbers_match_by_value_whatever_their_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "numbers",
        vec![
            priced("/price", r#"{"price":1.2,"qty":1}"#),
            priced("/zero", r#"{"n":0}"#),
            priced("/big", r#"{"n":100000000000000000001}"#),
            priced("/precise", r#"{"n":0.1000000000000000000001}"#),
            priced(
                "/nested",
                r#"{"a":[1,{"b":[2.5,-3]}],"huge":1e400,"tiny":-1E-400}"#,
            ),
            priced(
                "/astronomic",
                r#"{"n":1e1000000000000000000000000000000000000}"#,
            ),
        ],
    );
    let server = serve(&path).await;
    let cases = [
        ("/price", r#"{"price":1.2000,"qty":1}"#),
        ("/price", r#"{"qty":1.0,"price":12e-1}"#),
        ("/price", r#"{"price":0.12E1,"qty":1e0}"#),
        ("/price", r#"{"price":120E-2,"qty":10e-1}"#),
        ("/price", r#"{"price":0.0000012e+6,"qty":0.1E+1}"#),
        // -0 is 0: JSON has one zero (RFC 8259 §6), and so does matching.
        ("/zero", r#"{"n":-0}"#),
        ("/zero", r#"{"n":0.000e-5}"#),
        ("/zero", r#"{"n":-0.0E+99}"#),
        ("/big", r#"{"n":100000000000000000001.000}"#),
        ("/big", r#"{"n":1.00000000000000000001e20}"#),
        ("/precise", r#"{"n":1000000000000000000001e-22}"#),
        (
            "/nested",
            r#"{"huge":10e399,"tiny":-0.1e-399,"a":[1.0,{"b":[25e-1,-3.00]}]}"#,
        ),
        // The exponent itself past any machine integer, shifted by one digit.
        (
            "/astronomic",
            r#"{"n":10e999999999999999999999999999999999999}"#,
        ),
        (
            "/astronomic",
            r#"{"n":0.1e1000000000000000000000000000000000001}"#,
        ),
    ];
    for (target, body) in cases {
        let answer = one(server.addr(), json_post(target, body)).await;
        assert_eq!(
            answer.status,
            201,
            "{target} {body}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.body, target.as_bytes(), "{body}");
    }
}

/// Numbers that differ in any digit or in magnitude do not match, and the
/// miss names exactly that number, with both spellings.
#[tokio::test]
async fn json_numbers_that_differ_by_any_amount_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "numbers",
        vec![
            priced("/big", r#"{"n":100000000000000000001}"#),
            priced("/precise", r#"{"n":0.1}"#),
            priced("/float-equal", r#"{"n":9007199254740993}"#),
            priced(
                "/exponent",
                r#"{"n":1e1000000000000000000000000000000000000}"#,
            ),
        ],
    );
    let server = serve(&path).await;
    let cases = [
        ("/big", "100000000000000000000", "100000000000000000001"),
        (
            "/big",
            "100000000000000000001.0000000000000000001",
            "100000000000000000001",
        ),
        ("/precise", "0.1000000000000000000001", "0.1"),
        ("/precise", "-0.1", "0.1"),
        ("/precise", "1", "0.1"),
        // Equal as f64, different as numbers.
        ("/float-equal", "9007199254740992", "9007199254740993"),
        (
            "/exponent",
            "1e1000000000000000000000000000000000001",
            "1e1000000000000000000000000000000000000",
        ),
        (
            "/exponent",
            "1e-1000000000000000000000000000000000000",
            "1e1000000000000000000000000000000000000",
        ),
    ];
    for (target, sent, recorded) in cases {
        let body = format!(r#"{{"n":{sent}}}"#);
        let answer = one(server.addr(), json_post(target, &body)).await;
        assert_eq!(answer.status, 599, "{target} {sent}");
        let differences = answer.differences();
        assert_eq!(differences.len(), 1, "{target} {sent}: {differences:?}");
        assert_eq!(differences[0]["pointer"], "/body/n");
        // Shown as sent and as recorded, every digit kept.
        let number = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(differences[0]["recorded"], number(recorded));
        assert_eq!(differences[0]["received"], number(sent));
    }
}

/// A miss explanation never lists a number that only its spelling sets apart.
#[tokio::test]
async fn a_miss_never_names_a_number_spelled_differently() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "numbers",
        vec![priced(
            "/order",
            r#"{"price":1.2,"qty":1,"items":[0.5,2],"name":"a"}"#,
        )],
    );
    let server = serve(&path).await;
    let answer = one(
        server.addr(),
        json_post(
            "/order",
            r#"{"price":1.20,"qty":1e0,"items":[5E-1,2.0],"name":"b"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status, 599);
    let pointers: Vec<Value> = answer
        .differences()
        .iter()
        .map(|d| d["pointer"].clone())
        .collect();
    assert_eq!(pointers, [json!("/body/name")]);
}

// ------------------------------------------- B11: every miss names a difference

fn answered(status: u16, text: &str) -> Value {
    json!({"status": status, "body": {"text": text}})
}

/// A difference a miss must name: pointer, recorded, received.
type Expected = (&'static str, Value, Value);

/// The issue's sample and its kind: whatever sets a request apart from its
/// nearest recording, in any part of the key, the miss names it; and no
/// part that matching treats as equal is named.
#[tokio::test]
async fn a_miss_always_names_what_differed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "items",
        vec![
            exchange(get("/items"), answered(200, "items")),
            exchange(
                json!({"method": "GET", "path": "/search", "query": {"a=b": "c"}}),
                answered(200, "search"),
            ),
            exchange(
                json!({"method": "GET", "path": "/tags", "query": {"t": ["1", "2"], "page": "1"}}),
                answered(200, "tags"),
            ),
            exchange(
                json!({"method": "GET", "path": "/env", "headers": {"x-environment": ["a", "b"]}}),
                answered(200, "env"),
            ),
            exchange(
                json!({"method": "PUT", "path": "/doc", "headers": {"content-type": ["text/plain"]},
                       "body": {"text": "{\"a\":1}"}}),
                answered(200, "doc"),
            ),
        ],
    );
    let server = serve(&path).await;
    let env = |value: &'static [u8]| raw("GET", "/env", &[("x-environment", value)], b"");
    let cases: Vec<(Request, Vec<Expected>)> = vec![
        // The sample: the key keeps all but one trailing slash.
        (
            raw("GET", "/items//", &[], b""),
            vec![("/path", json!("/items"), json!("/items//"))],
        ),
        (
            raw("GET", "/items///", &[], b""),
            vec![("/path", json!("/items"), json!("/items///"))],
        ),
        (
            raw("GET", "/Items", &[], b""),
            vec![("/path", json!("/items"), json!("/Items"))],
        ),
        // `a=b` = `c` is not `a` = `b=c`.
        (
            raw("GET", "/search?a=b%3Dc", &[], b""),
            vec![
                ("/query/a", Value::Null, json!("b=c")),
                ("/query/a=b", json!("c"), Value::Null),
            ],
        ),
        // Repeated values in another order are the same; the page is not.
        (
            raw("GET", "/tags?t=2&page=2&t=1", &[], b""),
            vec![("/query/page", json!("1"), json!("2"))],
        ),
        // A repeat is not the same as one value.
        (
            raw("GET", "/tags?t=2&page=1&t=1&t=1", &[], b""),
            vec![("/query/t", json!(["1", "2"]), json!(["2", "1", "1"]))],
        ),
        (
            env(b"a,b"),
            vec![("/headers/x-environment", json!("a, b"), json!("a,b"))],
        ),
        (
            env(b"b, a"),
            vec![("/headers/x-environment", json!("a, b"), json!("b, a"))],
        ),
        // The same bytes as JSON are not the recorded text.
        (
            raw(
                "PUT",
                "/doc",
                &[("content-type", b"application/json")],
                br#"{"a":1}"#,
            ),
            vec![(
                "/body",
                json!({"text": "{\"a\":1}"}),
                json!({"json": {"a": 1}}),
            )],
        ),
    ];
    for (request, expected) in cases {
        let target =
            String::from_utf8_lossy(&request.head[..40.min(request.head.len())]).into_owned();
        let answer = one(server.addr(), request).await;
        assert_eq!(
            answer.status,
            599,
            "{target}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let differences: Vec<(String, Value, Value)> = answer
            .differences()
            .into_iter()
            .map(|d| {
                (
                    d["pointer"].as_str().unwrap().to_owned(),
                    d["recorded"].clone(),
                    d["received"].clone(),
                )
            })
            .collect();
        let expected: Vec<(String, Value, Value)> = expected
            .into_iter()
            .map(|(p, r, s)| (p.to_owned(), r, s))
            .collect();
        assert_eq!(differences, expected, "{target}");
    }
}

/// What the key treats as the same request matches: the explanation and the
/// key agree in both directions.
#[tokio::test]
async fn equivalent_spellings_of_a_request_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "spellings",
        vec![
            exchange(get("/files/~me"), answered(200, "tilde")),
            exchange(get("/files/caf%C3%A9"), answered(200, "cafe")),
            exchange(get("/files/a%2Fb"), answered(200, "slash")),
            exchange(
                json!({"method": "get", "path": "/items/"}),
                answered(200, "items"),
            ),
            exchange(
                json!({"method": "GET", "path": "/tags", "query": {"t": ["1", "2"]}}),
                answered(200, "tags"),
            ),
            exchange(
                json!({"method": "GET", "path": "/env", "headers": {"x-environment": ["a", "b"]}}),
                answered(200, "env"),
            ),
        ],
    );
    let server = serve(&path).await;
    for (request, body) in [
        // RFC 3986 §6.2.2: unreserved characters percent-encoded or not, hex
        // digits in either case, are the same URI.
        (raw("GET", "/files/%7Eme", &[], b""), "tilde"),
        (raw("GET", "/files/%7eme", &[], b""), "tilde"),
        (raw("GET", "/files/caf%c3%a9", &[], b""), "cafe"),
        (raw("GET", "/files/a%2fb", &[], b""), "slash"),
        (raw("GET", "/%66iles/caf%C3%A9", &[], b""), "cafe"),
        (raw("GET", "/items", &[], b""), "items"),
        (raw("GET", "/items/", &[], b""), "items"),
        (raw("GET", "/tags?t=2&t=1", &[], b""), "tags"),
        (raw("GET", "/tags?%74=%32&t=1", &[], b""), "tags"),
        (
            raw("GET", "/env", &[("x-environment", b"a, b")], b""),
            "env",
        ),
        (
            raw(
                "GET",
                "/env",
                &[("x-environment", b"a"), ("x-environment", b"b")],
                b"",
            ),
            "env",
        ),
    ] {
        let target = String::from_utf8_lossy(&request.head[..30]).into_owned();
        let answer = one(server.addr(), request).await;
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, body.as_bytes()),
            "{target}"
        );
    }
    // An encoded `/` is not a `/`: a miss that says so.
    let answer = one(server.addr(), raw("GET", "/files/a/b", &[], b"")).await;
    assert_eq!(answer.status, 599);
    assert_eq!(answer.differences()[0]["pointer"], "/path");
}

/// `--exhausted fail`: a request whose recorded answers were all served is
/// explained as such, against the last of them, in and out of a selected
/// cassette.
#[tokio::test]
async fn an_exhausted_sequence_is_explained_as_such() {
    let dir = tempfile::tempdir().unwrap();
    cassette_file(
        dir.path(),
        "twice",
        vec![
            exchange(get("/list"), answered(200, "first")),
            exchange(get("/list"), answered(200, "second")),
        ],
    );
    cassette_file(
        dir.path(),
        "once",
        vec![exchange(get("/list"), answered(200, "third"))],
    );
    let server = serve_with(dir.path(), |b| b.exhausted(Exhausted::Fail)).await;
    let list = || raw("GET", "/list", &[], b"");
    let answers = pipelined(server.addr(), &[list(), list(), list(), list(), list()]).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 599, 599]);
    for (answer, arrival) in answers[3..].iter().zip([4, 5]) {
        assert!(
            answer.error()["details"]["message"]
                .as_str()
                .unwrap()
                .contains("already served")
        );
        assert_eq!(
            answer.differences(),
            [json!({"pointer": "/sequence", "recorded": 3, "received": arrival})]
        );
        // Cassettes load in name order: the last response is twice.json's #1.
        let nearest = &answer.error()["details"]["nearest"];
        assert!(
            nearest["cassette"]
                .as_str()
                .unwrap()
                .ends_with("twice.json"),
            "{nearest}"
        );
        assert_eq!(nearest["interaction"], 1);
    }
    // A selected cassette has a sequence of its own.
    let in_once = || raw("GET", "/list", &[("x-datovcr-cassette", b"once")], b"");
    let answers = pipelined(server.addr(), &[in_once(), in_once()]).await;
    assert_eq!(answers[0].body, b"third");
    assert_eq!(
        answers[1].differences(),
        [json!({"pointer": "/sequence", "recorded": 1, "received": 2})]
    );
    let in_twice = || raw("GET", "/list", &[("x-datovcr-cassette", b"twice")], b"");
    let answers = pipelined(server.addr(), &[in_twice(), in_twice(), in_twice()]).await;
    assert_eq!(answers[2].status, 599);
    assert_eq!(
        answers[2].differences(),
        [json!({"pointer": "/sequence", "recorded": 2, "received": 3})]
    );
    let nearest = &answers[2].error()["details"]["nearest"];
    assert!(
        nearest["cassette"]
            .as_str()
            .unwrap()
            .ends_with("twice.json"),
        "{nearest}"
    );
    assert_eq!(nearest["interaction"], 1);
}

/// A selected cassette is searched alone, and explained alone.
#[tokio::test]
async fn a_miss_in_a_selected_cassette_is_explained_from_that_cassette() {
    let dir = tempfile::tempdir().unwrap();
    cassette_file(
        dir.path(),
        "one",
        vec![exchange(get("/a"), answered(200, "a"))],
    );
    cassette_file(
        dir.path(),
        "two",
        vec![exchange(get("/b"), answered(200, "b"))],
    );
    let server = serve(dir.path()).await;
    let answer = one(
        server.addr(),
        raw("GET", "/b", &[("x-datovcr-cassette", b"one")], b""),
    )
    .await;
    assert_eq!(answer.status, 599);
    let nearest = &answer.error()["details"]["nearest"];
    assert!(
        nearest["cassette"].as_str().unwrap().ends_with("one.json"),
        "{nearest}"
    );
    assert_eq!(
        answer.differences(),
        [json!({"pointer": "/path", "recorded": "/a", "received": "/b"})]
    );
    // With nothing recorded, there is nothing to be near.
    cassette_file(dir.path(), "empty", vec![]);
    let server = serve(&dir.path().join("empty.json")).await;
    let answer = one(server.addr(), raw("GET", "/a", &[], b"")).await;
    assert_eq!(answer.status, 599);
    assert_eq!(answer.error()["details"]["nearest"], Value::Null);
}

// ------------------------------------- B12: datovcr's answers are told apart

/// Every answer datovcr makes itself carries `x-datovcr-error: CODE`; a
/// replayed one never does, even when its recording carried one (recorded
/// through a chain of datovcr servers, or by hand).
#[tokio::test]
async fn a_replayed_answer_never_looks_like_datovcr_s_own() {
    let dir = tempfile::tempdir().unwrap();
    let no_match = json!({"data": [{"id": "datovcr-no-match", "type": "api_error",
        "attributes": {"code": "DATOVCR_NO_MATCH", "details": {"message": "recorded"}}}]});
    let response = |headers: Value| json!({"status": 599, "headers": headers, "body": {"json": no_match.clone()}});
    let path = cassette_file(
        dir.path(),
        "chain",
        vec![
            exchange(
                get("/plain-599"),
                response(json!({"content-type": ["application/json"]})),
            ),
            exchange(
                get("/marked-599"),
                response(
                    json!({"content-type": ["application/json"], "x-datovcr-error": ["DATOVCR_NO_MATCH"]}),
                ),
            ),
            exchange(
                get("/marked-200"),
                json!({"status": 200, "headers": {"X-Datovcr-Error": ["DATOVCR_OVERLOADED"],
                       "x-datovcr-violations": ["1; response body /x [type]"], "x-datovcr-drift": ["1"],
                       "x-datovcrish": ["kept"]}, "body": {"text": "ok"}}),
            ),
        ],
    );
    let server = serve_with(&path, |b| b.check(true)).await;
    let replayed = pipelined(
        server.addr(),
        &[
            raw("GET", "/plain-599", &[], b""),
            raw("GET", "/marked-599", &[], b""),
            raw("GET", "/marked-200", &[], b""),
        ],
    )
    .await;
    for answer in &replayed {
        let own: Vec<&String> = answer
            .headers
            .iter()
            .map(|(n, _)| n)
            .filter(|n| n.starts_with("x-datovcr-"))
            .collect();
        assert!(own.is_empty(), "a replayed answer carries {own:?}");
    }
    assert_eq!((replayed[0].status, replayed[1].status), (599, 599));
    assert_eq!(
        replayed[1].json(),
        no_match,
        "the recorded body, as recorded"
    );
    assert_eq!(replayed[2].header("x-datovcrish").as_deref(), Some("kept"));
    // datovcr's own answers, each with its code.
    let made = pipelined(
        server.addr(),
        &[
            raw("GET", "/nowhere", &[], b""),
            raw("GET", "/plain-599", &[("x-datovcr-cassette", b"nope")], b""),
        ],
    )
    .await;
    for answer in &made {
        assert_eq!(answer.status, 599);
        assert_eq!(
            answer.header("x-datovcr-error").as_deref(),
            Some("DATOVCR_NO_MATCH")
        );
        assert_eq!(answer.error()["code"], "DATOVCR_NO_MATCH");
    }
    let small = ReplayServer::builder()
        .config(datovcr::replay::ReplayConfig {
            cassettes: vec![path.clone()],
            max_request_body: 4,
            ..datovcr::replay::ReplayConfig::default()
        })
        .start()
        .await
        .unwrap();
    let answer = one(small.addr(), raw("POST", "/plain-599", &[], b"too large")).await;
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.header("x-datovcr-error").as_deref(),
        Some("DATOVCR_BODY_TOO_LARGE")
    );
}

// ------------------------------------------------ B10: header bytes in replay

fn token_exchange(headers: Value) -> Value {
    exchange(
        json!({"method": "GET", "path": "/access_tokens/312"}),
        json!({"status": 200, "headers": headers,
               "body": {"json": {"data": {"type": "access_token", "id": "312"}}}}),
    )
}

/// The issue's sample: a recorded `x-served-by: cache-münchen-1` made
/// `--check` panic, and the client got an empty reply.
#[tokio::test]
async fn non_ascii_response_header_values_are_served_byte_for_byte_with_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "bytes",
        vec![token_exchange(json!({"content-type": ["application/json"],
            "x-served-by": ["cache-münchen-1"], "x-crab": ["🦀"], "x-latin": ["ÿ and \u{80}"]}))],
    );
    for check in [true, false] {
        let server = serve_with(&path, |b| b.check(check)).await;
        let get = || raw("GET", "/access_tokens/312", &[], b"");
        let answers = pipelined(server.addr(), &[get(), get()]).await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "--check {check}");
            assert_eq!(answer.all("x-served-by"), ["cache-münchen-1".as_bytes()]);
            assert_eq!(answer.all("x-crab"), ["🦀".as_bytes()]);
            assert_eq!(answer.all("x-latin"), ["ÿ and \u{80}".as_bytes()]);
        }
        assert_eq!(server.shutdown().await.served, 2);
    }
}

/// The same sample through the binary, as the issue ran it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_binary_serves_a_non_ascii_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "bytes",
        vec![token_exchange(json!({"x-served-by": ["cache-münchen-1"]}))],
    );
    let args: Vec<String> = [
        "replay",
        "--check",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        path.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let server = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let answer = one(server.addr, raw("GET", "/access_tokens/312", &[], b"")).await;
    assert_eq!(answer.all("x-served-by"), ["cache-münchen-1".as_bytes()]);
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains(datovcr::panic_report::MARK),
        "{stderr}"
    );
    assert!(stderr.contains("replay summary: 1 served"), "{stderr}");
}

/// Request header bytes that are not UTF-8 (ISO-8859-1 `é` is 0xE9), in
/// every header replay reads, never break an answer or the connection.
#[tokio::test]
async fn request_header_bytes_that_are_not_utf8_never_break_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = cassette_file(
        dir.path(),
        "latin",
        vec![
            exchange(
                json!({"method": "GET", "path": "/access_tokens/312", "headers": {"x-environment": ["sandbox"]}}),
                answered(200, "hit"),
            ),
            exchange(
                json!({"method": "POST", "path": "/echo", "headers": {"x-environment": ["sandbox"]},
                       "body": {"json": {"a": 1}}}),
                answered(200, "posted"),
            ),
        ],
    );
    let sandbox: (&str, &[u8]) = ("x-environment", b"sandbox");
    for check in [false, true] {
        let server = serve_with(&path, |b| b.check(check)).await;
        let cases: Vec<(Request, u16, &str)> = vec![
            (
                raw(
                    "GET",
                    "/access_tokens/312",
                    &[sandbox, ("authorization", b"Bearer \xe9\xff")],
                    b"",
                ),
                200,
                "hit",
            ),
            (
                raw(
                    "GET",
                    "/access_tokens/312",
                    &[sandbox, ("x-other", b"\xff\xfe caf\xe9")],
                    b"",
                ),
                200,
                "hit",
            ),
            (
                raw(
                    "GET",
                    "/access_tokens/312",
                    &[("x-environment", b"sandb\xe9x")],
                    b"",
                ),
                599,
                "/headers/x-environment",
            ),
            (
                raw(
                    "GET",
                    "/access_tokens/312",
                    &[sandbox, ("x-datovcr-cassette", b"caf\xe9")],
                    b"",
                ),
                599,
                "names no loaded cassette",
            ),
            (
                raw(
                    "POST",
                    "/echo",
                    &[sandbox, ("content-type", b"application/json; charset=\xe9")],
                    br#"{"a":1}"#,
                ),
                200,
                "posted",
            ),
            (
                raw(
                    "POST",
                    "/echo",
                    &[sandbox, ("content-encoding", b"gz\xe9p")],
                    br#"{"a":1}"#,
                ),
                200,
                "posted",
            ),
        ];
        for (request, status, says) in cases {
            let what = String::from_utf8_lossy(&request.head).into_owned();
            let answers = pipelined(
                server.addr(),
                &[request, raw("GET", "/access_tokens/312", &[sandbox], b"")],
            )
            .await;
            assert_eq!(answers[0].status, status, "--check {check}: {what}");
            let body = String::from_utf8_lossy(&answers[0].body);
            assert!(body.contains(says), "--check {check}: {what}: {body}");
            assert_eq!(answers[1].body, b"hit", "--check {check}: {what}");
        }
    }
}

/// `x-datovcr-cassette` is read as the UTF-8 it is, so a cassette whose
/// file name is not ASCII can be selected.
#[tokio::test]
async fn a_cassette_with_a_utf8_name_can_be_selected() {
    let dir = tempfile::tempdir().unwrap();
    cassette_file(
        dir.path(),
        "café",
        vec![exchange(get("/a"), answered(200, "accented"))],
    );
    cassette_file(
        dir.path(),
        "cafe",
        vec![exchange(get("/a"), answered(200, "plain"))],
    );
    let server = serve(dir.path()).await;
    let answers = pipelined(
        server.addr(),
        &[
            raw(
                "GET",
                "/a",
                &[("x-datovcr-cassette", "café".as_bytes())],
                b"",
            ),
            raw("GET", "/a", &[("x-datovcr-cassette", b"cafe")], b""),
        ],
    )
    .await;
    assert_eq!(answers[0].body, b"accented");
    assert_eq!(answers[1].body, b"plain");
}
