//! C14: datovcr is a reverse proxy. CONNECT, authority-form and
//! asterisk-form targets get a clear 4xx and go nowhere; absolute-form
//! targets are taken as RFC 9112 §3.2.2 requires, by their path and query
//! alone. The same for `datovcr replay`. Raw TCP: hyper's client will not
//! send these forms.

use super::wire::{RawConn, RawResponse, raw_exchange};
use crate::support::proxy::start_proxy;
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use crate::support::{interaction, request, token_resource};
use datovcr::cassette::Cassette;
use datovcr::replay::ReplayServer;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;

const USERINFO_CANARY: &str = "userinfo-canary-77d1e0";

const CREDENTIALS: &str =
    "authorization: Bearer bearer-abcdefgh\r\naccept: application/json\r\nx-api-version: 3\r\n";

/// Requests that name no resource, each with the status and code it gets.
fn refused(decoy: SocketAddr, upstream: SocketAddr) -> Vec<(String, u16, &'static str)> {
    let connect = |target: String| {
        (
            format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n{CREDENTIALS}\r\n"),
            405,
            "DATOVCR_CONNECT_NOT_SUPPORTED",
        )
    };
    let authority = |method: &str, target: String| {
        (
            format!("{method} {target} HTTP/1.1\r\nhost: {target}\r\n{CREDENTIALS}\r\n"),
            400,
            "DATOVCR_BAD_REQUEST_TARGET",
        )
    };
    vec![
        connect("example.com:443".into()),
        connect(decoy.to_string()),
        // The upstream itself: a tunnel to it would bypass recording.
        connect(upstream.to_string()),
        authority("GET", "example.com:443".into()),
        authority("GET", decoy.to_string()),
        authority("DELETE", upstream.to_string()),
        (
            format!("OPTIONS * HTTP/1.1\r\nhost: datovcr\r\n{CREDENTIALS}\r\n"),
            400,
            "DATOVCR_BAD_REQUEST_TARGET",
        ),
        (
            format!("OPTIONS * HTTP/1.0\r\n{CREDENTIALS}\r\n"),
            400,
            "DATOVCR_BAD_REQUEST_TARGET",
        ),
    ]
}

fn assert_refused(answer: &RawResponse, status: u16, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}");
    assert_eq!(answer.error_code(), code, "{what}");
    assert_eq!(answer.header("x-datovcr-error"), Some(code), "{what}");
    assert!(
        answer
            .message()
            .contains("nothing was forwarded or recorded"),
        "{what}: {}",
        answer.message()
    );
    if status == 405 {
        // RFC 9110 §15.5.6.
        let allow = answer.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && !allow.contains("CONNECT"),
            "{allow}"
        );
    }
}

/// No connection reached `decoy`: a connection attempt would have been
/// queued on it before the proxy answered.
async fn assert_untouched(decoy: &TcpListener) {
    let accepted = tokio::time::timeout(Duration::ZERO, decoy.accept()).await;
    assert!(accepted.is_err(), "something connected to the decoy host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_authority_and_asterisk_forms_are_refused_by_the_proxy() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let decoy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    for (raw, status, code) in refused(decoy.local_addr().unwrap(), upstream.addr()) {
        let what = raw.lines().next().unwrap_or_default().to_owned();
        // Each on a connection that then serves a normal request (HTTP/1.0
        // closes after one).
        let mut conn = RawConn::open(proxy.addr()).await;
        let answer = conn.exchange(&raw).await;
        assert_refused(&answer, status, code, &what);
        if what.ends_with("HTTP/1.0") {
            continue;
        }
        let next = conn
            .exchange(&format!(
                "GET /access_tokens HTTP/1.1\r\nhost: datovcr\r\n{CREDENTIALS}\r\n"
            ))
            .await;
        assert_eq!(next.status, 200, "the connection goes on after {what}");
    }
    assert_untouched(&decoy).await;
    let forwarded: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert!(
        forwarded.iter().all(|r| r == "GET /access_tokens"),
        "only the follow-up GETs went upstream: {forwarded:?}"
    );
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert!(
        cassette
            .interactions
            .iter()
            .all(|i| i.request.method == "GET" && i.request.path == "/access_tokens"),
        "nothing refused is recorded"
    );
}

/// `GET http://decoy/access_tokens`: the fake upstream gets
/// `/access_tokens`, the decoy host gets nothing, the cassette holds the
/// path and query only. Also with another scheme, a path prefix, a POST,
/// and a target with no path at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_targets_use_their_path_and_never_pick_the_upstream() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let decoy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let decoy_addr = decoy.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.path_prefix = Some("/prefix".into());
    })
    .await;
    let body = serde_json::to_string(&crate::support::create_body()).unwrap();
    let cases = [
        (
            format!("GET http://{decoy_addr}/access_tokens HTTP/1.1\r\nhost: {decoy_addr}\r\n"),
            200,
            "/access_tokens",
        ),
        (
            format!(
                "GET https://{decoy_addr}/prefix/access_tokens/312?x=1 HTTP/1.1\r\nhost: datovcr\r\n"
            ),
            200,
            "/access_tokens/312?x=1",
        ),
        (
            format!(
                "POST http://example.com/access_tokens HTTP/1.1\r\nhost: example.com\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ),
            201,
            "/access_tokens",
        ),
        (
            format!("GET http://{decoy_addr} HTTP/1.1\r\nhost: {decoy_addr}\r\n"),
            404,
            "/",
        ),
        // Userinfo (which no sender may generate, RFC 9110 §4.2.4) goes
        // nowhere either.
        (
            format!(
                "GET http://user:{USERINFO_CANARY}@{decoy_addr}/access_tokens HTTP/1.1\r\nhost: {decoy_addr}\r\n"
            ),
            200,
            "/access_tokens",
        ),
    ];
    for (n, (head, status, forwarded)) in cases.iter().enumerate() {
        let payload = if head.starts_with("POST") {
            body.as_str()
        } else {
            ""
        };
        let answer = raw_exchange(proxy.addr(), &format!("{head}{CREDENTIALS}\r\n{payload}")).await;
        assert_eq!(answer.status, *status, "{head}");
        let received = &upstream.requests()[n];
        assert_eq!(received.path_and_query, *forwarded, "{head}");
        assert_eq!(
            received.header("host"),
            Some(upstream.addr().to_string().as_str()),
            "the upstream's own Host"
        );
    }
    assert_untouched(&decoy).await;
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let recorded: Vec<(String, String)> = cassette
        .interactions
        .iter()
        .map(|i| (i.request.method.clone(), i.request.path.clone()))
        .collect();
    let expected = [
        ("GET", "/access_tokens"),
        ("GET", "/access_tokens/312"),
        ("POST", "/access_tokens"),
        ("GET", "/"),
        ("GET", "/access_tokens"),
    ]
    .map(|(m, p)| (m.to_owned(), p.to_owned()));
    assert_eq!(recorded, expected);
    let forwarded = format!("{:?}", upstream.requests());
    assert!(!forwarded.contains(USERINFO_CANARY), "{forwarded}");
    for (path, text) in crate::support::all_text_under(dir.path()) {
        assert!(!text.contains(USERINFO_CANARY), "{path}");
    }
    assert!(
        cassette
            .interactions
            .iter()
            .all(|i| i.request.headers.get("host").is_none()),
        "no Host is recorded, the decoy's least of all"
    );
}

fn write_cassette(dir: &Path) -> std::path::PathBuf {
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({ "data": [token_resource("312", None)] }),
    ));
    let path = dir.join("replayed.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

/// `datovcr replay` draws the same line: refusals, and absolute-form
/// requests served from the cassette by their path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_the_same_targets_and_serves_absolute_form_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = ReplayServer::builder()
        .cassette(write_cassette(dir.path()))
        .start()
        .await
        .expect("replay starts");
    let decoy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = server.addr();
    for (raw, status, code) in refused(decoy.local_addr().unwrap(), addr) {
        let what = raw.lines().next().unwrap_or_default().to_owned();
        let answer = raw_exchange(addr, &raw).await;
        assert_refused(&answer, status, code, &what);
    }
    let decoy_addr = decoy.local_addr().unwrap();
    let answer = raw_exchange(
        addr,
        &format!(
            "GET http://{decoy_addr}/access_tokens HTTP/1.1\r\nhost: {decoy_addr}\r\n{CREDENTIALS}\r\n"
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "served from the cassette");
    assert_untouched(&decoy).await;
    let summary = server.shutdown().await;
    assert_eq!(summary.misses, 0, "the refusals are not misses");
}
