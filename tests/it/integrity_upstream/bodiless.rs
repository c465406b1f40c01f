//! B8, recording side: the framing headers of responses without a body,
//! forwarded and recorded as RFC 9110 says. A response to HEAD and a 304
//! keep the `Content-Length` of the representation (§8.6, §9.3.2, §15.4.5);
//! a 204 never carries one (§8.6), even when the upstream sends it; a body
//! that is there is recorded without its wire length, as before.

use super::wire::RawConn;
use crate::support::proxy::start_proxy;
use crate::support::upstream::{CapturedRequest, FakeDato, FakeDatoOptions, ScriptedReply};
use datovcr::cassette::{Body, Cassette, Headers};

/// What the fake answers, by path (the method is the client's).
fn scripted(request: &CapturedRequest) -> Option<ScriptedReply> {
    let reply = |status: u16, headers: &[(&str, &str)], body: &[u8]| ScriptedReply {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let json = ("content-type", "application/json");
    Some(match request.path() {
        // The sample: HEAD answered with the GET's length and no body.
        "/x" => reply(200, &[json, ("content-length", "1234")], b""),
        "/gzipped" => reply(
            200,
            &[
                json,
                ("content-encoding", "gzip"),
                ("content-length", "321"),
            ],
            b"",
        ),
        "/empty" => reply(200, &[json, ("content-length", "0")], b""),
        "/not-modified" => reply(304, &[("etag", "\"v1\""), ("content-length", "1234")], b""),
        "/not-modified-bare" => reply(304, &[("etag", "\"v1\"")], b""),
        // A 204 must not carry Content-Length; this upstream sends one anyway.
        "/no-content" => reply(204, &[("x-kind", "nothing"), ("content-length", "7")], b""),
        "/body" => reply(200, &[json], br#"{"data":[]}"#),
        _ => return None,
    })
}

/// (request, forwarded content-length, recorded content-length).
const CASES: &[(&str, Option<&str>, Option<&str>)] = &[
    ("HEAD /x", Some("1234"), Some("1234")),
    ("HEAD /gzipped", Some("321"), Some("321")),
    ("HEAD /empty", Some("0"), Some("0")),
    ("GET /not-modified", Some("1234"), Some("1234")),
    ("HEAD /not-modified", Some("1234"), Some("1234")),
    ("GET /not-modified-bare", None, None),
    ("GET /no-content", None, None),
    ("HEAD /no-content", None, None),
    ("GET /body", Some("11"), None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodiless_responses_keep_the_representation_length_forwarded_and_recorded() {
    let upstream = FakeDato::start(
        FakeDatoOptions::default()
            .plain_http()
            .respond_with(scripted),
    )
    .await;
    // What the upstream really sends, 204's forbidden length included.
    let mut direct = RawConn::open(upstream.addr()).await;
    for (line, length) in [
        ("GET /no-content", Some("7")),
        ("HEAD /no-content", Some("7")),
        ("GET /not-modified", Some("1234")),
        ("HEAD /x", Some("1234")),
    ] {
        let answer = direct
            .exchange(&format!("{line} HTTP/1.1\r\nhost: fake\r\n\r\n"))
            .await;
        assert_eq!(answer.header("content-length"), length, "the fake: {line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    // One kept-alive connection for all: a wrong framing would desync it.
    let mut conn = RawConn::open(proxy.addr()).await;
    for (line, forwarded, _) in CASES {
        let conditional = if line.contains("not-modified") {
            "if-none-match: \"v1\"\r\n"
        } else {
            ""
        };
        let answer = conn
            .exchange(&format!(
                "{line} HTTP/1.1\r\nhost: datovcr\r\n{conditional}\r\n"
            ))
            .await;
        assert_eq!(
            answer.header("content-length"),
            *forwarded,
            "{line}: forwarded {:?}",
            answer.headers
        );
        assert!(
            answer.header("transfer-encoding").is_none(),
            "{line}: {:?}",
            answer.headers
        );
    }
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(cassette.interactions.len(), CASES.len());
    assert_eq!(upstream.request_count(), 4 + CASES.len());
    for ((line, _, recorded), interaction) in CASES.iter().zip(&cassette.interactions) {
        let response = &interaction.response;
        assert_eq!(
            response.headers.get("content-length"),
            *recorded,
            "{line}: recorded {:?}",
            response.headers
        );
        if *line != "GET /body" {
            assert_eq!(response.body, Body::Empty, "{line}");
        }
    }
    // The representation's other headers stay with it, coding included.
    let gzipped = &cassette.interactions[1].response.headers;
    assert_eq!(gzipped.get("content-encoding"), Some("gzip"));
    let no_content = &cassette.interactions[6].response.headers;
    assert_eq!(no_content.get("x-kind"), Some("nothing"));
}

/// The recorded cassette, as a reader sees it: the HEAD exchange of the
/// issue, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_head_exchange_is_exactly_what_the_upstream_said() {
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(scripted)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let answer = RawConn::open(proxy.addr())
        .await
        .exchange("HEAD /x HTTP/1.1\r\nhost: datovcr\r\n\r\n")
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-length"), Some("1234"));
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let [recorded] = cassette.interactions.as_slice() else {
        panic!("one interaction: {:?}", cassette.interactions);
    };
    assert_eq!(recorded.request.method, "HEAD");
    assert_eq!(recorded.response.status, 200);
    let expected: Headers = [
        ("content-length", "1234"),
        ("content-type", "application/json"),
    ]
    .into_iter()
    .collect();
    assert_eq!(recorded.response.headers, expected);
    assert_eq!(recorded.response.body, Body::Empty);
}
