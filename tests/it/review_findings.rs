//! Issue 12 review: defects found by trying new variants of each item's kind
//! against the real binary. Each test failed when it was written and passes
//! since its fix; each names its issue 12 item.
//!
//! Everything runs on loopback with ephemeral ports: a raw upstream (one
//! scripted answer per path, written byte for byte) and raw client requests,
//! so framing and header bytes are exactly what the test says.

use crate::support::process::ServerProcess;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A plain-HTTP upstream answering each request with the bytes scripted
/// for its path (`respond` gets the raw head and body), one request per
/// connection. Runs until the test process ends.
fn raw_upstream(respond: impl Fn(&[u8], &[u8]) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let respond = respond.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(WAIT)).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(at) = find(&buf, b"\r\n\r\n") {
                        break at;
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = buf[..head_end].to_vec();
                let length = String::from_utf8_lossy(&head)
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < length {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = conn.write_all(&respond(&head, &body));
                // One answer per connection: no pooled reuse in these tests.
            });
        }
    });
    addr
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The request target of a raw request head.
fn target(head: &[u8]) -> String {
    String::from_utf8_lossy(head)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// Sends `request` on a new connection and reads until the server closes
/// it (every request here says `Connection: close`).
fn send(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    out
}

fn status_line(response: &[u8]) -> String {
    let end = find(response, b"\r\n").unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end]).into_owned()
}

/// Header lines of a raw response, names lowercased, values as bytes.
fn headers(response: &[u8]) -> Vec<(String, Vec<u8>)> {
    let end = find(response, b"\r\n\r\n").unwrap_or(response.len());
    response[..end]
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let value = line[colon + 1..].trim_ascii().to_vec();
            Some((
                String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase(),
                value,
            ))
        })
        .collect()
}

fn body(response: &[u8]) -> &[u8] {
    find(response, b"\r\n\r\n").map_or(&[][..], |at| &response[at + 4..])
}

fn proxy(dir: &Path, upstream: SocketAddr, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &format!("http://{upstream}"),
        "--cassette",
        dir.join("c.json").to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(dir, &args, &dir.join("proxy.stderr"))
}

fn replay(dir: &Path, cassette: &Path, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = [
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        cassette.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(dir, &args, &dir.join("replay.stderr"))
}

fn interaction(request: Value, response: Value) -> Value {
    json!({"recorded_at": "2026-01-01T00:00:00Z", "request": request, "response": response})
}

fn write_cassette(path: &Path, interactions: Vec<Value>) {
    let text = serde_json::to_string_pretty(&json!({"version": 1, "interactions": interactions}));
    std::fs::write(path, text.unwrap() + "\n").unwrap();
}

/// The `differences` of a 599 miss body.
fn differences(response: &[u8]) -> Vec<Value> {
    let json: Value = serde_json::from_slice(body(response)).unwrap();
    json["data"][0]["attributes"]["details"]["nearest"]["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Item 8 (framing of bodiless answers)
// ---------------------------------------------------------------------------

/// The upstream answers HEAD with its `Content-Length` on two field lines
/// holding the same number (RFC 9110 §8.6 lets a recipient take that as one
/// value; hyper's client accepts it). The proxy logs `HEAD /x 200`, records
/// the exchange with `content-length: ["1234", "1234"]`, and the client gets
/// no status line at all: the connection is closed on it. Replay of the same
/// cassette answers `200` with `content-length: 1234`.
///
/// Right: the client gets `200` with `content-length: 1234` (as replay does),
/// or, if the proxy will not send it, an answer of datovcr's own; never a
/// silent close after logging and recording a 200.
#[test]
fn head_with_its_length_on_two_field_lines_reaches_the_client() {
    let upstream = raw_upstream(|_, _| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Length: 1234\r\n\r\n".to_vec()
    });
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path(), upstream, &[]);
    let response = send(
        proxy.addr,
        b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let (_, stderr) = proxy.terminate();
    assert!(stderr.contains("HEAD /x 200"), "{stderr}");
    assert!(
        status_line(&response).starts_with("HTTP/1.1 200"),
        "the proxy logged and recorded a 200 but the client got {:?}",
        String::from_utf8_lossy(&response)
    );
    let lengths: Vec<_> = headers(&response)
        .into_iter()
        .filter(|(name, _)| name == "content-length")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(lengths, vec![b"1234".to_vec()]);
}

// ---------------------------------------------------------------------------
// Item 12 (telling datovcr's own answers from the API's)
// ---------------------------------------------------------------------------

/// An upstream (another datovcr, or anything else) answers with
/// `x-datovcr-error: DATOVCR_NO_MATCH`. `datovcr proxy` and `datovcr replay
/// --on-miss forward` pass it to the client as it is, so a forwarded answer
/// carries the very header that docs/replay.md and docs/proxy.md say marks
/// datovcr's own answers ("a test tells a miss by that header alone").
/// Replay strips a *recorded* `x-datovcr-*` header; the live paths do not.
///
/// Right: like the request side (the proxy removes the client's
/// `x-datovcr-*`) and like replay of a recording, a forwarded answer never
/// carries `x-datovcr-error` (nor an upstream's `x-datovcr-violations`).
#[test]
fn a_forwarded_answer_never_carries_datovcr_s_own_error_header() {
    let upstream = raw_upstream(|_, _| {
        let body = br#"{"data":[{"id":"datovcr-no-match","type":"api_error","attributes":{"code":"DATOVCR_NO_MATCH"}}]}"#;
        let mut out = format!(
            "HTTP/1.1 599 Whatever\r\nContent-Type: application/json\r\n\
             X-Datovcr-Error: DATOVCR_NO_MATCH\r\nX-Datovcr-Violations: 3; fake\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let request = b"GET /anything HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

    let proxy = proxy(dir.path(), upstream, &[]);
    let through_proxy = send(proxy.addr, request);
    proxy.terminate();

    let cassette = dir.path().join("other.json");
    write_cassette(&cassette, vec![]);
    let upstream_url = format!("http://{upstream}");
    let replay = replay(
        dir.path(),
        &cassette,
        &["--on-miss", "forward", "--upstream", &upstream_url],
    );
    let through_replay = send(replay.addr, request);
    replay.terminate();

    let mut forwarded = Vec::new();
    for (who, response) in [
        ("proxy", &through_proxy),
        ("replay --on-miss forward", &through_replay),
    ] {
        assert!(
            status_line(response).contains(" 599"),
            "{who}: {}",
            status_line(response)
        );
        forwarded.extend(
            headers(response)
                .into_iter()
                .filter(|(name, _)| name.starts_with("x-datovcr-"))
                .map(|(name, value)| format!("{who}: {name}: {}", String::from_utf8_lossy(&value))),
        );
    }
    assert!(
        forwarded.is_empty(),
        "the upstream's own-answer headers reached the client: {forwarded:#?}"
    );
}

// ---------------------------------------------------------------------------
// Item 10 (bytes that are not UTF-8), in the query and in header matching
// ---------------------------------------------------------------------------

/// `GET /q?x=%ff` and `GET /q?x=%fe` are recorded through the proxy with
/// different answers. The cassette holds both queries as `{"x": "\u{FFFD}"}`
/// (percent-decoded, then made UTF-8 lossily), so the bytes are gone and
/// replay cannot tell the two requests apart: asked in the other order, each
/// gets the other's answer (`?x=%EF%BF%BD` matches too).
///
/// Right: as for header values (`{"base64": …}`), query bytes survive
/// recording, and replay serves each request the answer recorded for it.
#[test]
fn query_bytes_that_are_not_utf8_are_kept_and_matched_exactly() {
    let upstream = raw_upstream(|head, _| {
        let answer = target(head);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .into_bytes()
    });
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path(), upstream, &[]);
    for q in ["%ff", "%fe"] {
        let r = send(
            proxy.addr,
            format!("GET /q?x={q} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(status_line(&r).contains(" 200"), "{}", status_line(&r));
    }
    proxy.terminate();
    let cassette = dir.path().join("c.json");
    let recorded = std::fs::read_to_string(&cassette).unwrap();
    assert!(
        !recorded.contains('\u{FFFD}'),
        "the query bytes were replaced by U+FFFD:\n{recorded}"
    );

    let replay = replay(dir.path(), &cassette, &[]);
    for q in ["%fe", "%ff"] {
        let r = send(
            replay.addr,
            format!("GET /q?x={q} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            String::from_utf8_lossy(body(&r)),
            format!("/q?x={q}"),
            "GET /q?x={q} got another request's recorded answer"
        );
    }
    replay.terminate();
}

/// With `--match method,path,header:x-custom`, a cassette holds `x-custom`
/// as the UTF-8 text `"é"` (bytes C3 A9) for one answer and as
/// `{"base64": "6Q=="}` (the single byte E9) for another. A request sending
/// the byte E9 gets the answer recorded for C3 A9, and one sending C3 A9
/// gets the answer recorded for E9: matching reads valid UTF-8 as UTF-8 and
/// everything else as ISO-8859-1, so two different byte strings get one key.
///
/// Right: header values are matched as the bytes they are (docs: "replay
/// sends back exactly the recorded bytes"; matching should not be looser).
#[test]
fn header_matching_tells_different_bytes_apart() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.json");
    write_cassette(
        &cassette,
        vec![
            interaction(
                json!({"method": "GET", "path": "/h", "headers": {"x-custom": ["é"]}}),
                json!({"status": 200, "body": {"text": "utf8 c3 a9"}}),
            ),
            interaction(
                json!({"method": "GET", "path": "/h", "headers": {"x-custom": [{"base64": "6Q=="}]}}),
                json!({"status": 200, "body": {"text": "latin1 e9"}}),
            ),
        ],
    );
    let replay = replay(
        dir.path(),
        &cassette,
        &[
            "--match",
            "method,path,header:x-custom",
            "--exhausted",
            "fail",
        ],
    );
    let mut got = HashMap::new();
    for (bytes, expected) in [
        (&b"\xe9"[..], "latin1 e9"),
        (&b"\xc3\xa9"[..], "utf8 c3 a9"),
    ] {
        let mut request = b"GET /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-custom: ".to_vec();
        request.extend_from_slice(bytes);
        request.extend_from_slice(b"\r\n\r\n");
        let r = send(replay.addr, &request);
        got.insert(expected, String::from_utf8_lossy(body(&r)).into_owned());
    }
    replay.terminate();
    for (expected, body) in got {
        assert_eq!(
            body, expected,
            "the request for {expected:?} got another answer"
        );
    }
}

// ---------------------------------------------------------------------------
// Item 10 + secrets: a credential whose bytes are not UTF-8
// ---------------------------------------------------------------------------

/// The client's bearer token holds the byte E9 (so the new `{"base64": …}`
/// header form is used for it). The upstream echoes the token in an
/// `application/octet-stream` body. The `authorization` header and an echo
/// in another header are redacted, but the body is written to the cassette
/// as base64 holding the whole token, and the exchange is acknowledged. With
/// an all-ASCII token the same exchange is refused (500
/// `DATOVCR_RECORDING_FAILED`, nothing written): the leak search looks for
/// the token's text form, not its bytes.
///
/// Right: no secret reaches disk in any form (README "Guarantees", fail
/// closed): the body is redacted, or the exchange refused, as for ASCII.
#[test]
fn a_non_utf8_credential_echoed_in_a_binary_body_never_reaches_disk() {
    const TOKEN: &[u8] = b"Zq9LmT4xVb7RkW2nPc8Y\xe9Hs3Jd6Fg";
    let upstream = raw_upstream(|_, _| {
        let mut body = b"\x00\xff".to_vec();
        body.extend_from_slice(TOKEN);
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path(), upstream, &[]);
    let mut request =
        b"GET /access_tokens HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer "
            .to_vec();
    request.extend_from_slice(TOKEN);
    request.extend_from_slice(b"\r\n\r\n");
    let response = send(proxy.addr, &request);
    let (_, stderr) = proxy.terminate();
    assert!(!stderr.contains("Zq9LmT4x"), "{stderr}");
    let Ok(text) = std::fs::read_to_string(dir.path().join("c.json")) else {
        // Refused and nothing written: what happens for an ASCII token.
        assert!(status_line(&response).contains(" 500"));
        return;
    };
    let cassette: Value = serde_json::from_str(&text).unwrap();
    let mut stored = Vec::new();
    collect_base64(&cassette, &mut stored);
    for bytes in stored {
        assert!(
            find(&bytes, b"Zq9LmT4xVb7RkW2nPc8Y").is_none() && find(&bytes, b"Hs3Jd6Fg").is_none(),
            "the bearer token reached the cassette (base64 of {:?})",
            String::from_utf8_lossy(&bytes)
        );
    }
}

fn collect_base64(value: &Value, out: &mut Vec<Vec<u8>>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(encoded)) = map.get("base64") {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .unwrap(),
                );
            }
            map.values().for_each(|v| collect_base64(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_base64(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Item 11 (a miss names a difference one can see)
// ---------------------------------------------------------------------------

/// Two misses whose explanation names a difference whose two sides read the
/// same:
/// - recorded: no request body; received: the JSON body `null`. The
///   difference is `{"pointer": "/body", "recorded": null, "received": null}`
///   (and the same, reversed, for a recorded `{"json": null}` and no body).
/// - recorded: the binary body FF; received: the binary body FE. The
///   difference is `"<1 binary bytes>"` against `"<1 binary bytes>"`.
///
/// Right: "a miss always names at least one difference": one a reader can
/// see, so the two sides of a named difference never print the same.
#[test]
fn a_named_difference_always_shows_two_different_sides() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.json");
    write_cassette(
        &cassette,
        vec![
            interaction(
                json!({"method": "POST", "path": "/none"}),
                json!({"status": 200}),
            ),
            interaction(
                json!({"method": "POST", "path": "/null", "body": {"json": null}}),
                json!({"status": 200}),
            ),
            interaction(
                json!({"method": "POST", "path": "/bin", "body": {"base64": "/w=="}}),
                json!({"status": 200}),
            ),
        ],
    );
    let replay = replay(dir.path(), &cassette, &[]);
    let cases: [(&str, &str, &[u8]); 3] = [
        ("/none", "application/json", b"null"),
        ("/null", "application/json", b""),
        ("/bin", "application/octet-stream", b"\xfe"),
    ];
    let mut same = Vec::new();
    for (path, content_type, sent) in cases {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            sent.len()
        )
        .into_bytes();
        request.extend_from_slice(sent);
        let r = send(replay.addr, &request);
        assert!(
            status_line(&r).contains(" 599"),
            "{path}: {}",
            status_line(&r)
        );
        let diffs = differences(&r);
        assert!(!diffs.is_empty(), "{path}: no difference named");
        for diff in diffs {
            if diff["recorded"] == diff["received"] {
                same.push(format!("{path}: {diff}"));
            }
        }
    }
    replay.terminate();
    assert!(
        same.is_empty(),
        "differences with identical sides: {same:#?}"
    );
}

// ---------------------------------------------------------------------------
// Item 3 (files that are not cassettes)
// ---------------------------------------------------------------------------

/// A folder holds `package.json` (not a cassette) and a user's file named
/// `.package.json.tmp-1-1`. A proxy asked to record into `package` refuses
/// correctly (409, package.json untouched), but its start-up clean-up of
/// "stale temp files" deletes `.package.json.tmp-1-1`: the clean-up runs for
/// a file the recorder has just decided is not a cassette of its own.
///
/// Right: "Anything else at that path is left exactly as it is": nothing
/// beside a file that is not a datovcr cassette is created or deleted.
#[test]
fn nothing_beside_a_non_cassette_is_deleted() {
    let upstream = raw_upstream(|_, _| b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), "{\"name\":\"x\"}\n").unwrap();
    std::fs::write(dir.path().join(".package.json.tmp-1-1"), "user data").unwrap();
    let proxy = proxy(dir.path(), upstream, &[]);
    let r = send(
        proxy.addr,
        b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-datovcr-cassette: package\r\n\r\n",
    );
    proxy.terminate();
    assert!(status_line(&r).contains(" 409"), "{}", status_line(&r));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".package.json.tmp-1-1")).ok(),
        Some("user data".to_owned()),
        "a file beside package.json was deleted"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "proxy.stderr")
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".package.json.tmp-1-1", "package.json"],
        "nothing was created beside it"
    );
}

// ---------------------------------------------------------------------------
// Item 10 (the lossless header form is used only for bytes that are not UTF-8)
// ---------------------------------------------------------------------------

/// `Authorization: Bearer abc<E9>defghijklmnop` is recorded redacted, but as
/// `{"base64": "QmVhcmVyIFtSRURBQ1RFRF0="}`: the base64 of the plain ASCII
/// `Bearer [REDACTED]`. docs/cassette-format.md says the proxy "writes a
/// value that way only when its bytes are not UTF-8", and that credential
/// headers hold `Bearer [REDACTED]`; a reviewer grepping the cassette for
/// `[REDACTED]` (or diffing it) does not see it. The same happens to any
/// header whose non-UTF-8 part was a redacted secret (`seen [REDACTED]`).
///
/// Right: the form is chosen from the bytes written, after redaction.
#[test]
fn a_redacted_header_value_is_stored_as_text_once_it_is_utf8() {
    let upstream = raw_upstream(|_, _| {
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"data\":[]}"
            .to_vec()
    });
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path(), upstream, &[]);
    let r = send(
        proxy.addr,
        b"GET /access_tokens HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer abc\xe9defghijklmnop\r\n\r\n",
    );
    proxy.terminate();
    assert!(status_line(&r).contains(" 200"), "{}", status_line(&r));
    let cassette: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(
        cassette["interactions"][0]["request"]["headers"]["authorization"],
        json!(["Bearer [REDACTED]"])
    );
}
