//! Request smuggling: every ambiguous framing gets a 400 or is framed by
//! Transfer-Encoding, and the upstream receives exactly the intended
//! requests, each framed once.

use crate::support::proxy::start_proxy;
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_LIMIT: Duration = Duration::from_secs(10);

/// Writes `bytes` and reads until the proxy closes the connection.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(READ_LIMIT, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection after an ambiguous or final request")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

const HEAD: &str = "POST /access_tokens HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer bearer-abcdefgh\r\naccept: application/json\r\nx-api-version: 3\r\ncontent-type: application/json\r\n";
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nhost: proxy\r\n\r\n";

#[tokio::test]
async fn ambiguous_framing_is_refused_or_framed_by_transfer_encoding() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let addr = proxy.addr();

    // (name, raw request, expectation). "400" must be refused; "te" must be
    // framed by Transfer-Encoding and the connection closed before SMUGGLED.
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "CL then TE",
            format!(
                "{HEAD}content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
            "te",
        ),
        (
            "TE then CL",
            format!(
                "{HEAD}transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
            "te",
        ),
        (
            "two lengths",
            format!("{HEAD}content-length: 5\r\ncontent-length: 40\r\n\r\nhello{SMUGGLED}"),
            "400",
        ),
        (
            "signed length",
            format!("{HEAD}content-length: +5\r\n\r\nhello{SMUGGLED}"),
            "400",
        ),
        (
            "chunked not last",
            format!("{HEAD}transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            "400",
        ),
        (
            "unknown coding",
            format!("{HEAD}transfer-encoding: xchunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            "400",
        ),
        (
            "TE on HTTP/1.0",
            format!(
                "{}transfer-encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}",
                HEAD.replace("HTTP/1.1", "HTTP/1.0")
            ),
            "400",
        ),
        (
            "chunked then identity lines",
            format!(
                "{HEAD}transfer-encoding: chunked\r\ntransfer-encoding: identity\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
            "400",
        ),
        (
            "line folding",
            format!("{HEAD}transfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            "400",
        ),
    ];
    for (name, raw, expectation) in &cases {
        let answer = exchange(addr, raw.as_bytes()).await;
        let status_lines = answer.matches("HTTP/1.1 ").count();
        match *expectation {
            "400" => assert!(answer.starts_with("HTTP/1.1 400"), "{name}: {answer}"),
            _ => assert!(
                !answer.starts_with("HTTP/1.1 400"),
                "{name}: framed by TE, not refused: {answer}"
            ),
        }
        assert_eq!(
            status_lines, 1,
            "{name}: the smuggled request got no answer of its own: {answer}"
        );
    }

    // A request hidden inside a body is only ever a body.
    let hidden = format!(
        "{HEAD}connection: close\r\ncontent-length: {}\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    let answer = exchange(addr, hidden.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");

    let seen = upstream.requests();
    assert!(
        seen.iter().all(|r| r.path() != "/smuggled"),
        "a smuggled request reached the upstream"
    );
    for request in &seen {
        let framing = request.header_all("content-length").len()
            + request.header_all("transfer-encoding").len();
        assert!(
            framing <= 1,
            "{} {} carried {framing} framing headers",
            request.method,
            request.path_and_query
        );
    }
    assert_eq!(
        seen.len(),
        3,
        "the two TE-framed requests and the one hiding a request in its body"
    );
    let hidden_request = seen.last().unwrap();
    assert_eq!(hidden_request.body.as_ref(), SMUGGLED.as_bytes());
    assert_eq!(
        hidden_request.header("content-length"),
        Some(SMUGGLED.len().to_string().as_str())
    );
}
