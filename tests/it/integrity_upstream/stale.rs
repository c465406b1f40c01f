//! C13: a kept-alive upstream connection that the server closed while a
//! request was on its way. A safe request (GET, HEAD, OPTIONS) that failed
//! that way, on a reused connection, before any response byte, is sent once
//! more on a new connection; anything else is reported and never resent.

use super::wire::LoggedServer;
use crate::support::client::{HttpsClient, send};
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply};
use crate::support::{create_body, update_body};
use datovcr::cassette::Cassette;
use datovcr::proxy::ProxyHandle;
use http::{Method, StatusCode};
use serde_json::Value;

async fn call(
    client: &HttpsClient,
    proxy: &ProxyHandle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let headers = api_headers("bearer-abcdefgh", body.is_some());
    let body = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let (status, _, answer) = send(
        client,
        method,
        &format!("{}{path}", proxy.uri()),
        &borrowed(&headers),
        body,
    )
    .await;
    let code = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|json| {
            json["data"][0]["attributes"]["code"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, code)
}

/// The issue's sample, made deterministic: every upstream connection goes
/// stale after five answers, 300 GETs in a row, not one error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_gets_survive_connections_that_go_stale_every_five_answers() {
    let upstream = FakeDato::start(FakeDatoOptions::default().close_after(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let mut failures = Vec::new();
    for n in 0..300 {
        let (status, code) = call(&client, &proxy, Method::GET, "/access_tokens", None).await;
        if status != StatusCode::OK {
            failures.push((n, status, code));
        }
    }
    assert_eq!(failures, [], "(request, status, code) of each failure");
    assert_eq!(upstream.request_count(), 300, "each GET answered once");
    assert!(
        upstream.dropped_requests() >= 40,
        "the test met stale connections: {} dropped",
        upstream.dropped_requests()
    );
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(cassette.interactions.len(), 300);
    assert!(
        cassette
            .interactions
            .iter()
            .all(|i| i.response.status == 200)
    );
}

/// HEAD, OPTIONS and TRACE are safe too; the connection is reset (RST)
/// rather than closed, and the upstream speaks plain HTTP as well as TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_options_and_trace_are_retried_after_resets_and_closes_over_tls_and_plain_http() {
    let scripted = |options: FakeDatoOptions| {
        options.respond_with(|request| {
            Some(ScriptedReply {
                status: 200,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("x-method".into(), request.method.clone()),
                ],
                body: br#"{"data":[]}"#.to_vec(),
            })
        })
    };
    let fakes = [
        (
            "tls, reset",
            scripted(FakeDatoOptions::default().reset_after(3)),
        ),
        (
            "plain, close",
            scripted(FakeDatoOptions::default().plain_http().close_after(3)),
        ),
        (
            "plain, reset",
            scripted(FakeDatoOptions::default().plain_http().reset_after(2)),
        ),
    ];
    for (name, options) in fakes {
        let upstream = FakeDato::start(options).await;
        let dir = tempfile::tempdir().unwrap();
        let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
        let client = client_for(&upstream);
        for n in 0..40 {
            let method = [Method::HEAD, Method::OPTIONS, Method::TRACE][n % 3].clone();
            let (status, _) = call(&client, &proxy, method.clone(), "/access_tokens", None).await;
            assert_eq!(status, 200, "{name}: {method} #{n}");
        }
        assert_eq!(upstream.request_count(), 40, "{name}");
        assert!(
            upstream.dropped_requests() >= 8,
            "{name}: stale connections met"
        );
        proxy.shutdown().await;
    }
}

/// POST, PUT, PATCH and DELETE may change the upstream's state: on a stale
/// connection they get the usual 502, are sent exactly once, and nothing is
/// recorded for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_methods_on_a_stale_connection_are_reported_and_never_resent() {
    let upstream = FakeDato::start(FakeDatoOptions::default().close_after(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let unsafe_requests = [
        (Method::POST, "/access_tokens", Some(create_body())),
        (Method::PUT, "/access_tokens/312", Some(update_body(true))),
        (
            Method::PATCH,
            "/access_tokens/312",
            Some(update_body(false)),
        ),
        (Method::DELETE, "/access_tokens/312", None),
    ];
    for (n, (method, path, body)) in unsafe_requests.into_iter().enumerate() {
        // A GET on a new connection leaves it pooled, one answer from stale.
        let (status, _) = call(&client, &proxy, Method::GET, "/access_tokens", None).await;
        assert_eq!(status, 200);
        let (status, code) = call(&client, &proxy, method.clone(), path, body).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (502, "DATOVCR_UPSTREAM_RESET"),
            "{method}"
        );
        assert_eq!(upstream.dropped_requests(), n + 1, "{method} sent once");
        assert_eq!(upstream.request_count(), n + 1, "{method} never answered");
    }
    assert_eq!(upstream.issued_tokens().len(), 1, "no token was created");
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let methods: Vec<&str> = cassette
        .interactions
        .iter()
        .map(|i| i.request.method.as_str())
        .collect();
    assert_eq!(methods, ["GET"; 4], "only the answered GETs are recorded");
}

/// The retry is one, and only for a connection that had been reused: a GET
/// failing on a new connection is reported at once, and a retry that fails
/// too is reported without a third try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_request_is_retried_once_and_only_after_reuse() {
    let upstream = FakeDato::start(FakeDatoOptions::default().close_after(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);

    assert_eq!(
        call(&client, &proxy, Method::GET, "/access_tokens", None)
            .await
            .0,
        200
    );
    // From now on every connection drops its first request: the GET fails on
    // the reused connection, then on the new one, and stops there.
    upstream.set_close_after(Some(0));
    let (status, code) = call(&client, &proxy, Method::GET, "/access_tokens", None).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (502, "DATOVCR_UPSTREAM_RESET")
    );
    assert_eq!(
        upstream.dropped_requests(),
        2,
        "the first try and one retry"
    );

    // A new connection that fails is not "stale": no retry.
    let (status, code) = call(&client, &proxy, Method::GET, "/access_tokens/312", None).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (502, "DATOVCR_UPSTREAM_RESET")
    );
    assert_eq!(
        upstream.dropped_requests(),
        3,
        "one try on a new connection"
    );
    assert_eq!(upstream.request_count(), 1);
    proxy.shutdown().await;
}

/// The retry runs within the first try's --upstream-response-timeout: a
/// retry the upstream never answers ends in the usual 504.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_stalls_ends_at_the_upstream_response_timeout() {
    let upstream = FakeDato::start(FakeDatoOptions::default().close_after(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.upstream_response_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let client = client_for(&upstream);
    assert_eq!(
        call(&client, &proxy, Method::GET, "/access_tokens", None)
            .await
            .0,
        200
    );
    let (status, code) = call(&client, &proxy, Method::GET, "/__fault/stall-headers", None).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (504, "DATOVCR_UPSTREAM_TIMEOUT")
    );
    assert_eq!(upstream.dropped_requests(), 1, "the stale try");
    assert_eq!(
        upstream.request_count(),
        2,
        "the retry reached the upstream"
    );
    proxy.shutdown().await;
}

/// The log says when a request was sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_exchange_says_so_in_its_log_line() {
    let upstream = FakeDato::start(FakeDatoOptions::default().close_after(1)).await;
    let work = tempfile::tempdir().unwrap();
    let base = upstream.base_url();
    let ca = upstream.ca_file().display().to_string();
    let mut server = LoggedServer::start(
        work.path(),
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &base,
            "--ca-file",
            &ca,
            "--quiet",
        ],
    );
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);
    for path in ["/access_tokens", "/access_tokens/312"] {
        let url = format!("http://{}{path}", server.addr);
        let (status, _, _) = send(&client, Method::GET, &url, &borrowed(&headers), "").await;
        assert_eq!(status, 200, "{path}");
    }
    let line = tokio::task::block_in_place(|| {
        server.wait_for_line("the retried GET", |line| line.contains("upstream-retry"))
    });
    assert!(
        line.starts_with("datovcr: GET /access_tokens/312 200 ")
            && line.contains("upstream-retry=stale-connection"),
        "{line}"
    );
    server.terminate();
    let (status, log) = tokio::task::block_in_place(|| server.wait());
    assert!(status.success());
    assert_eq!(
        log.iter().filter(|l| l.contains("upstream-retry")).count(),
        1,
        "--quiet logs the retried exchange only:\n{}",
        log.join("\n")
    );
}
