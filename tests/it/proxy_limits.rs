//! Every row of the limits table, provoked for real, each followed by a
//! normal request to show the proxy keeps serving.

use crate::support::client::{HttpsClient, send};
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::tls::CertFlavour;
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use datovcr::cassette::Cassette;
use datovcr::proxy::ProxyHandle;
use http::Method;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(300);
const READ_LIMIT: Duration = Duration::from_secs(10);

fn code_of(body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    assert_eq!(json["data"][0]["type"], "api_error", "{json}");
    json["data"][0]["attributes"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn still_serves(client: &HttpsClient, proxy: &ProxyHandle) {
    let (status, _, _) = send(
        client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 200, "the proxy keeps serving");
}

/// Sends raw bytes and returns everything the server writes until it closes.
async fn raw_exchange(proxy: &ProxyHandle, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(READ_LIMIT, stream.read_to_end(&mut answer))
        .await
        .expect("the proxy answers or closes in time");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn client_side_limits_get_their_statuses() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.max_request_body = 1024;
        config.limits.body_idle_timeout = SHORT;
        config.limits.connection.header_read_timeout = SHORT;
    })
    .await;
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", true);

    // 413: a body over --max-request-body.
    let (status, _, body) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        vec![b'x'; 4096],
    )
    .await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (413, "DATOVCR_BODY_TOO_LARGE")
    );
    still_serves(&client, &proxy).await;

    // 414: a URI over 8 KiB.
    let long = format!("{}/access_tokens?q={}", proxy.uri(), "a".repeat(9000));
    let (status, _, body) = send(&client, Method::GET, &long, &borrowed(&headers), "").await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (414, "DATOVCR_URI_TOO_LONG")
    );
    still_serves(&client, &proxy).await;

    // 431: more than 100 headers, and a head over 64 KiB.
    let mut many = api_headers("bearer-abcdefgh", false);
    for i in 0..120 {
        many.push(("x-filler", format!("value-{i}")));
    }
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&many),
        "",
    )
    .await;
    assert_eq!(status, 431);
    let mut huge = api_headers("bearer-abcdefgh", false);
    huge.push(("x-filler", "v".repeat(70 * 1024)));
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&huge),
        "",
    )
    .await;
    assert_eq!(status, 431);
    still_serves(&client, &proxy).await;

    // 408: a body that stops arriving.
    let answer = raw_exchange(
        &proxy,
        b"POST /access_tokens HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"data\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("DATOVCR_BODY_TIMEOUT"), "{answer}");

    // Header read timeout: a silent connection is closed without an answer.
    let answer = raw_exchange(&proxy, b"GET /access_tok").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    still_serves(&client, &proxy).await;
    assert_eq!(
        upstream.request_count(),
        4,
        "only the four normal requests reached the upstream"
    );
}

#[tokio::test]
async fn upstream_faults_get_502_or_504_are_not_recorded_and_are_not_retried() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.upstream_response_timeout = SHORT;
        config.limits.upstream_body_idle_timeout = SHORT;
        config.limits.max_upstream_body = 4096;
    })
    .await;
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);
    let cases = [
        (
            Method::POST,
            "/__fault/reset",
            502,
            "DATOVCR_UPSTREAM_RESET",
        ),
        (
            Method::GET,
            "/__fault/garbage",
            502,
            "DATOVCR_UPSTREAM_PROTOCOL",
        ),
        (
            Method::GET,
            "/__fault/stall-headers",
            504,
            "DATOVCR_UPSTREAM_TIMEOUT",
        ),
        (
            Method::GET,
            "/__fault/stall-body",
            504,
            "DATOVCR_UPSTREAM_TIMEOUT",
        ),
        (
            Method::GET,
            "/__fault/huge?bytes=100000",
            502,
            "DATOVCR_UPSTREAM_TOO_LARGE",
        ),
    ];
    for (method, path, status, code) in cases {
        let before = upstream.request_count();
        let (got, _, body) = send(
            &client,
            method.clone(),
            &format!("{}{path}", proxy.uri()),
            &borrowed(&headers),
            "",
        )
        .await;
        assert_eq!(
            (got.as_u16(), code_of(&body)),
            (status, code.to_owned()),
            "{path}"
        );
        assert_eq!(
            upstream.request_count(),
            before + 1,
            "{method} {path} was sent exactly once"
        );
        still_serves(&client, &proxy).await;
    }
    // A 429 is the upstream's answer: passed through unchanged.
    let (status, response_headers, _) = send(
        &client,
        Method::GET,
        &format!("{}/__fault/429", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(response_headers["x-ratelimit-reset"], "1");
    assert!(response_headers.get("x-datovcr-error").is_none());

    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let paths: Vec<&str> = cassette
        .interactions
        .iter()
        .map(|i| i.request.path.as_str())
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| *p == "/access_tokens" || *p == "/__fault/429"),
        "failed exchanges were recorded: {paths:?}"
    );
    assert_eq!(paths.len(), 6);
}

#[tokio::test]
async fn unreachable_and_untrusted_upstreams_get_502_naming_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&good);
    let headers = api_headers("bearer-abcdefgh", false);

    // Refused: a port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let config_upstream = |url: String, ca: &std::path::Path, timeout: Duration| {
        let ca = ca.to_owned();
        move |config: &mut datovcr::proxy::ProxyConfig| {
            config.upstream = url.parse().unwrap();
            config.ca_files = vec![ca];
            config.limits.upstream_connect_timeout = timeout;
        }
    };
    let proxy = start_proxy(
        &good,
        dir.path(),
        config_upstream(format!("https://{closed_addr}"), good.ca_file(), SHORT),
    )
    .await;
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (502, "DATOVCR_UPSTREAM_UNREACHABLE")
    );
    drop(proxy);

    // Accepts TCP but never speaks TLS: the connect timeout covers the handshake.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let proxy = start_proxy(
        &good,
        dir.path(),
        config_upstream(format!("https://{silent_addr}"), good.ca_file(), SHORT),
    )
    .await;
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (502, "DATOVCR_UPSTREAM_CONNECT_TIMEOUT")
    );
    drop(proxy);
    hold.abort();

    // A certificate from an unknown issuer.
    let rogue =
        FakeDato::start(FakeDatoOptions::default().with_tls(CertFlavour::UnknownIssuer)).await;
    let proxy = start_proxy(&rogue, dir.path(), |_| {}).await;
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (502, "DATOVCR_UPSTREAM_TLS"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("UnknownIssuer") || text.contains("unknown issuer"),
        "{text}"
    );
    assert_eq!(rogue.request_count(), 0);
    proxy.shutdown().await;
    assert!(
        !dir.path().join("cassette.json").exists()
            || Cassette::load(&dir.path().join("cassette.json"))
                .unwrap()
                .interactions
                .is_empty(),
        "nothing recorded for failed exchanges"
    );
}

#[tokio::test]
async fn a_full_disk_gets_a_clear_error_keeps_the_cassette_and_keeps_serving() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cassette.json");
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);
    // A first session leaves a compacted cassette behind.
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    still_serves(&client, &proxy).await;
    proxy.shutdown().await;
    let before = std::fs::read(&cassette).unwrap();

    // Every write to the journal now fails. Tests run as root, where neither
    // chmod nor a full tmpfs can be arranged portably, so the journal's path
    // is taken by a folder: the write path fails exactly as on ENOSPC. (Once
    // the cassette is in use: a folder there beforehand is refused before
    // forwarding, 409 DATOVCR_CASSETTE_UNUSABLE, see integrity_disk.)
    let journal = dir.path().join("cassette.json.journal");
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    still_serves(&client, &proxy).await;
    let aside = dir.path().join("journal-aside");
    std::fs::rename(&journal, &aside).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens/312", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(
        (status.as_u16(), code_of(&body).as_str()),
        (500, "DATOVCR_RECORDING_FAILED")
    );
    let text = String::from_utf8_lossy(&body).into_owned();
    assert!(
        text.contains("cassette.json"),
        "the error names the cassette: {text}"
    );
    assert!(
        text.contains("\"upstream_status\":200"),
        "the client learns the upstream did act: {text}"
    );
    assert_eq!(
        std::fs::read(&cassette).unwrap(),
        before,
        "the previous cassette is byte-identical"
    );

    // The disk frees up: the same process records again.
    std::fs::remove_dir(&journal).unwrap();
    std::fs::rename(&aside, &journal).unwrap();
    still_serves(&client, &proxy).await;
    proxy.shutdown().await;
    let after = Cassette::load(&cassette).unwrap();
    assert_eq!(
        after.interactions.len(),
        3,
        "the first session's exchange, the one before the failure and the one after recovery"
    );
}
