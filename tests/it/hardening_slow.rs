//! Slow and greedy clients: slowloris heads and bodies, readers that stop
//! reading, and more requests than the in-flight limit. The proxy closes
//! what it must at the configured timeouts and keeps serving everyone else.

use crate::support::client::send;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use http::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const SHORT: Duration = Duration::from_millis(300);
const BOUND: Duration = Duration::from_secs(10);

/// True once the server has closed `stream` (EOF or reset), read within BOUND.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn silent_and_trickling_heads_and_bodies_are_cut_off_while_others_are_served() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.connection.header_read_timeout = Duration::from_millis(600);
        config.limits.body_idle_timeout = SHORT;
        config.limits.request_body_timeout = Duration::from_millis(600);
    })
    .await;
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);

    let mut silent = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut trickle = TcpStream::connect(proxy.addr()).await.unwrap();
    // A normal request is served while both attackers hold their connections.
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status, 200);

    // One header byte every 100 ms never completes a head in time. The loop
    // is bounded: 100 bytes at most, and it stops when the server hangs up.
    let head = b"GET /access_tokens HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut cut_off = false;
    for byte in head.iter().take(100) {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(100), trickle.read(&mut probe)).await
        {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "a trickled head is closed at --header-read-timeout"
    );
    assert!(
        closed_by_server(&mut silent).await,
        "a silent connection is closed"
    );

    // A body that trickles just under the idle timeout hits the total one.
    let mut slow_body = TcpStream::connect(proxy.addr()).await.unwrap();
    slow_body
        .write_all(b"POST /access_tokens HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    for _ in 0..100 {
        if slow_body.write_all(b" ").await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(100), slow_body.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !answer.is_empty() {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--request-body-timeout"), "{answer}");

    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status, 200, "still serving");
    assert_eq!(
        upstream.request_count(),
        2,
        "no attacker's request reached the upstream"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_at_the_write_timeout() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.connection.write_timeout = SHORT;
        // One connection at a time: the next client is only accepted once the
        // stuck one is gone.
        config.limits.connection.max_connections = 1;
        config.record_mode = datovcr::recorder::RecordMode::None;
    })
    .await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(proxy.addr()).await.unwrap();
    stuck
        .write_all(b"GET /__fault/huge?bytes=16000000 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    upstream.wait_for_requests(1).await;
    // Never read from `stuck`. The next client gets in only if the proxy gave up on it.
    let client = client_for(&upstream);
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 200);
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_get_503_and_service_recovers() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.connection.max_in_flight = 4;
        config.limits.upstream_response_timeout = Duration::from_secs(2);
    })
    .await;
    let client = Arc::new(client_for(&upstream));
    let headers = Arc::new(api_headers("bearer-abcdefgh", false));
    // Four requests that the upstream never answers fill every slot.
    let mut stalled = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, headers, url) = (
            client.clone(),
            headers.clone(),
            format!("{}/__fault/stall-headers", proxy.uri()),
        );
        stalled.spawn(async move {
            send(&client, Method::GET, &url, &borrowed(&headers), "")
                .await
                .0
        });
    }
    upstream.wait_for_requests(4).await;
    // Far more requests than slots, over many connections.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let (client, headers, url) = (
            client.clone(),
            headers.clone(),
            format!("{}/access_tokens", proxy.uri()),
        );
        flood.spawn(async move {
            let (status, headers, _) =
                send(&client, Method::GET, &url, &borrowed(&headers), "").await;
            (
                status.as_u16(),
                headers
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        });
    }
    let mut rejected = 0;
    while let Some(result) = flood.join_next().await {
        let (status, retry_after) = result.unwrap();
        assert_eq!(status, 503, "every slot is held by a stalled request");
        assert_eq!(retry_after.as_deref(), Some("1"));
        rejected += 1;
    }
    assert_eq!(rejected, 60);
    while let Some(status) = stalled.join_next().await {
        assert_eq!(status.unwrap(), 504);
    }
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status, 200, "the proxy recovers once the slots free up");
}

/// Peak resident memory of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_keeps_memory_bounded_and_the_binary_serving() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--record",
        "none",
        "--max-in-flight",
        "8",
        "--max-connections",
        "64",
        "--upstream-response-timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = crate::support::process::ServerProcess::start(
        dir.path(),
        &args,
        &dir.path().join("stderr"),
    );
    let pid_rss_before = peak_rss_kib(server.pid());
    // 300 connections at once, each with a request whose answer stalls: far
    // more than the connection cap and the in-flight limit.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let url = server.url("/__fault/stall-headers");
        flood.spawn(async move {
            let mut stream =
                TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap())
                    .await
                    .ok()?;
            stream
                .write_all(
                    b"GET /__fault/stall-headers HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                )
                .await
                .ok()?;
            let mut answer = Vec::new();
            tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
                .await
                .ok()?
                .ok()?;
            Some(String::from_utf8_lossy(&answer).into_owned())
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(answer) = flood.join_next().await {
        let status = answer
            .unwrap()
            .map(|a| a.get(9..12).unwrap_or("???").to_owned())
            .unwrap_or_else(|| "none".into());
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(
        statuses.get("503").copied().unwrap_or(0) > 0,
        "the excess got 503: {statuses:?}"
    );
    let client = client_for(&upstream);
    let (status, _, _) = send(
        &client,
        Method::GET,
        &server.url("/access_tokens"),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 200, "the service recovers: {statuses:?}");
    let peak = peak_rss_kib(server.pid());
    assert!(
        peak < pid_rss_before + 64 * 1024,
        "peak RSS grew from {pid_rss_before} KiB to {peak} KiB"
    );
    let (exit, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
}
