//! A2: once a request is forwarded, the exchange is completed, recorded and
//! logged whatever happens to its client: gone before any response byte
//! (half-close or reset), gone in the middle of the response body, gone
//! while datovcr is stopping.

use super::wire::{LoggedServer, PATIENCE, RawConn};
use crate::support::create_body;
use crate::support::proxy::start_proxy;
use crate::support::upstream::{FakeDato, FakeDatoOptions, Gate};
use datovcr::cassette::{Body, Cassette};
use datovcr::server::Drained;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// How a client leaves while its request is with the upstream.
#[derive(Clone, Copy, Debug)]
enum Departure {
    /// Stops sending (FIN), waits for datovcr to close its side, reads
    /// nothing: it never got a status line.
    HalfClose,
    /// Aborts the connection (RST).
    Reset,
}

async fn depart(conn: RawConn, how: Departure) {
    let mut stream = conn.stream;
    match how {
        Departure::HalfClose => {
            stream.shutdown().await.expect("half-close");
            let mut rest = Vec::new();
            tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
                .await
                .expect("datovcr closes the connection of a client that left")
                .expect("read to the end");
            assert!(
                rest.is_empty(),
                "no answer was ready: {:?}",
                String::from_utf8_lossy(&rest)
            );
        }
        Departure::Reset => {
            stream.set_zero_linger().expect("SO_LINGER 0");
            drop(stream);
        }
    }
}

fn request(method: &str, path: &str, body: Option<&str>) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: datovcr\r\nauthorization: Bearer bearer-abcdefgh\r\n\
         accept: application/json\r\nx-api-version: 3\r\n"
    );
    match body {
        Some(body) => head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => head.push_str("\r\n"),
    }
    head
}

fn recorded(cassette: &Path) -> Vec<(String, String, u16)> {
    Cassette::load(cassette)
        .unwrap_or_else(|err| panic!("{}: {err}", cassette.display()))
        .interactions
        .iter()
        .map(|i| {
            (
                i.request.method.clone(),
                i.request.path.clone(),
                i.response.status,
            )
        })
        .collect()
}

/// The sample, through the library: a POST whose client leaves
/// while the upstream is creating the token is answered 201 upstream, and
/// the cassette says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_client_leaves_while_the_upstream_works_is_recorded() {
    let gate = Gate::new();
    let upstream = FakeDato::start(FakeDatoOptions::default().hold_until(&gate)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;

    let body = serde_json::to_string(&create_body()).unwrap();
    let mut conn = RawConn::open(proxy.addr()).await;
    conn.stream
        .write_all(request("POST", "/access_tokens", Some(&body)).as_bytes())
        .await
        .unwrap();
    upstream.wait_for_requests(1).await;
    depart(conn, Departure::HalfClose).await;
    gate.open();

    let summary = proxy.shutdown().await;
    assert_eq!(summary.drained, Drained::All);
    assert_eq!(summary.exchanges, 1, "the exchange ran to its end");
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(cassette.interactions.len(), 1);
    let recorded = &cassette.interactions[0];
    assert_eq!(
        (recorded.request.method.as_str(), recorded.response.status),
        ("POST", 201)
    );
    let Body::Json(created) = &recorded.response.body else {
        panic!(
            "the 201's JSON body is recorded: {:?}",
            recorded.response.body
        );
    };
    assert_eq!(
        created["data"]["id"], "313",
        "the token the upstream created"
    );
    assert_eq!(created["data"]["attributes"]["token"], "[REDACTED]");
    assert_eq!(upstream.issued_tokens().len(), 2, "created exactly once");
}

/// An exchange whose client left still counts against --max-in-flight
/// until it ends: the upstream is still working on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_exchange_keeps_its_in_flight_slot_until_it_ends() {
    let gate = Gate::new();
    let upstream = FakeDato::start(FakeDatoOptions::default().hold_until(&gate)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.connection.max_in_flight = 1;
    })
    .await;
    let mut conn = RawConn::open(proxy.addr()).await;
    conn.stream
        .write_all(request("GET", "/access_tokens", None).as_bytes())
        .await
        .unwrap();
    upstream.wait_for_requests(1).await;
    depart(conn, Departure::Reset).await;
    let busy = RawConn::open(proxy.addr())
        .await
        .exchange(&request("GET", "/access_tokens/312", None))
        .await;
    assert_eq!(
        (busy.status, busy.error_code().as_str()),
        (503, "DATOVCR_OVERLOADED")
    );
    gate.open();
    let summary = proxy.shutdown().await;
    assert_eq!(summary.exchanges, 1);
    assert_eq!(upstream.request_count(), 1, "the 503 went nowhere");
    assert_eq!(
        recorded(&dir.path().join("cassette.json")),
        [("GET".to_owned(), "/access_tokens".to_owned(), 200)]
    );
}

/// Every method, each client leaving one of two ways, through the real
/// binary: each exchange gets its usual log line, a line saying the client
/// went away, and its place in the cassette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_is_recorded_and_logged_when_its_client_leaves() {
    let gate = Gate::new();
    let upstream = FakeDato::start(FakeDatoOptions::default().hold_until(&gate)).await;
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
            "--cassette",
            "left.json",
        ],
    );
    let create = serde_json::to_string(&create_body()).unwrap();
    let update = |id: &str| {
        let mut body = crate::support::update_body(true);
        body["data"]["id"] = id.into();
        serde_json::to_string(&body).unwrap()
    };
    let steps: Vec<(&str, &str, Option<String>, u16, Departure)> = vec![
        (
            "POST",
            "/access_tokens",
            Some(create.clone()),
            201,
            Departure::HalfClose,
        ),
        (
            "POST",
            "/access_tokens",
            Some(create),
            201,
            Departure::Reset,
        ),
        (
            "PUT",
            "/access_tokens/313",
            Some(update("313")),
            200,
            Departure::HalfClose,
        ),
        (
            "PUT",
            "/access_tokens/314",
            Some(update("314")),
            200,
            Departure::Reset,
        ),
        ("GET", "/access_tokens/313", None, 200, Departure::HalfClose),
        ("GET", "/access_tokens", None, 200, Departure::Reset),
        (
            "DELETE",
            "/access_tokens/313",
            None,
            200,
            Departure::HalfClose,
        ),
        ("DELETE", "/access_tokens/314", None, 200, Departure::Reset),
    ];
    for (n, (method, path, body, status, departure)) in steps.iter().enumerate() {
        gate.close();
        let mut conn = RawConn::open(server.addr).await;
        conn.stream
            .write_all(request(method, path, body.as_deref()).as_bytes())
            .await
            .unwrap();
        upstream.wait_for_requests(n + 1).await;
        depart(conn, *departure).await;
        gate.open();
        let exchange = format!("datovcr: {method} {path} {status} ");
        let gone = format!("datovcr: {method} {path} {status}: client gone");
        // The same request may have come before: wait for this one's lines.
        let nth = steps[..=n]
            .iter()
            .filter(|step| (step.0, step.1) == (*method, *path))
            .count();
        tokio::task::block_in_place(|| {
            server.wait_for_nth_line(&exchange, nth, |line| line.starts_with(&exchange));
            let note = server.wait_for_nth_line(&gone, nth, |line| line.starts_with(&gone));
            assert!(
                note.ends_with("the exchange is recorded -> left.json"),
                "{departure:?}: {note}"
            );
        });
    }
    server.terminate();
    let (status, log) = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let expected: Vec<(String, String, u16)> = steps
        .iter()
        .map(|(method, path, _, status, _)| (method.to_string(), path.to_string(), *status))
        .collect();
    assert_eq!(recorded(&work.path().join("left.json")), expected);
    assert_eq!(upstream.request_count(), steps.len(), "each sent once");
}

/// The "client gone" line is scrubbed like the exchange's own: a credential
/// of the request, echoed in its path, never reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_gone_line_holds_no_secret_of_the_exchange() {
    let gate = Gate::new();
    let upstream = FakeDato::start(FakeDatoOptions::default().hold_until(&gate)).await;
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
        ],
    );
    let canary = "canary-bearer-5f1c2a9e";
    let raw = request("GET", &format!("/access_tokens/{canary}"), None)
        .replace("bearer-abcdefgh", canary);
    let mut conn = RawConn::open(server.addr).await;
    conn.stream.write_all(raw.as_bytes()).await.unwrap();
    upstream.wait_for_requests(1).await;
    depart(conn, Departure::HalfClose).await;
    gate.open();
    let line = tokio::task::block_in_place(|| {
        server.wait_for_line("client gone", |line| line.contains("client gone"))
    });
    assert!(line.starts_with("datovcr: GET /access_tokens/"), "{line}");
    server.terminate();
    let (status, log) = tokio::task::block_in_place(|| server.wait());
    assert!(status.success());
    let log = log.join("\n");
    assert!(!log.contains(canary), "{log}");
    for (path, text) in crate::support::all_text_under(work.path()) {
        assert!(!text.contains(canary), "{path}");
    }
}

/// SIGTERM while exchanges whose clients are gone are still with the
/// upstream: datovcr waits for them (within --shutdown-grace), records them,
/// and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_orphaned_exchanges_and_records_them() {
    let gate = Gate::new();
    let upstream = FakeDato::start(FakeDatoOptions::default().hold_until(&gate)).await;
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
            "--cassette",
            "stopping.json",
            "--quiet",
        ],
    );
    let create = serde_json::to_string(&create_body()).unwrap();
    // Held together, answered in any order: no two touch the same token.
    let orphans = [
        (
            "POST",
            "/access_tokens",
            Some(create.as_str()),
            201,
            Departure::HalfClose,
        ),
        ("GET", "/access_tokens", None, 200, Departure::Reset),
        (
            "DELETE",
            "/access_tokens/312",
            None,
            200,
            Departure::HalfClose,
        ),
    ];
    let mut conns = Vec::new();
    for (n, (method, path, body, _, _)) in orphans.iter().enumerate() {
        let mut conn = RawConn::open(server.addr).await;
        conn.stream
            .write_all(request(method, path, *body).as_bytes())
            .await
            .unwrap();
        upstream.wait_for_requests(n + 1).await;
        conns.push(conn);
    }
    for (conn, (_, _, _, _, departure)) in conns.into_iter().zip(&orphans) {
        depart(conn, *departure).await;
    }
    server.terminate();
    tokio::task::block_in_place(|| {
        server.wait_for_line("the stopping line", |line| {
            line.starts_with("datovcr: stopping")
        })
    });
    // Only now may the upstream answer: the stop is under way.
    gate.open();
    let (status, log) = tokio::task::block_in_place(|| server.wait());
    let log = log.join("\n");
    assert!(status.success(), "{status:?}\n{log}");
    let mut got = recorded(&work.path().join("stopping.json"));
    got.sort();
    let mut want: Vec<(String, String, u16)> = orphans
        .iter()
        .map(|(method, path, _, status, _)| (method.to_string(), path.to_string(), *status))
        .collect();
    want.sort();
    assert_eq!(got, want, "{log}");
    for (method, path, _, status, _) in orphans {
        let gone = format!("datovcr: {method} {path} {status}: client gone");
        assert!(
            log.contains(&gone),
            "logged with its client gone, even with --quiet: {gone}\n{log}"
        );
    }
}

/// A client that resets the connection while the response body is on its
/// way, and one that stops reading until --write-timeout: the exchange is
/// recorded before the response is sent (as always), and the log now says
/// the response did not get through. A response that does get through
/// gets no such line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_lost_during_the_response_body_is_logged_as_gone() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
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
            "--cassette",
            "midway.json",
            "--write-timeout",
            "300ms",
        ],
    );
    let delivered = RawConn::open(server.addr)
        .await
        .exchange(&request("GET", "/access_tokens", None))
        .await;
    assert_eq!(delivered.status, 200);

    // Far more than the socket buffers hold once the client's receive
    // buffer is pinned small: the proxy is still writing when the client
    // goes.
    let bytes = 8 << 20;
    let gone = "datovcr: GET /__fault/huge 200: client gone";
    for (round, reset) in [true, false].into_iter().enumerate() {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(server.addr).await.unwrap();
        let path = format!("/__fault/huge?bytes={bytes}");
        stream
            .write_all(request("GET", &path, None).as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 64];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut head))
            .await
            .expect("the response starts")
            .unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);
        if reset {
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
        // Otherwise the client keeps the connection and never reads again.
        tokio::task::block_in_place(|| {
            server.wait_for_nth_line(gone, round + 1, |line| line.starts_with(gone))
        });
    }
    server.terminate();
    let (status, log) = tokio::task::block_in_place(|| server.wait());
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert_eq!(log.matches(gone).count(), 2, "{log}");
    assert!(
        !log.contains("GET /access_tokens 200: client gone"),
        "{log}"
    );
    let cassette = Cassette::load(&work.path().join("midway.json")).unwrap();
    assert_eq!(cassette.interactions.len(), 3);
    for interaction in &cassette.interactions[1..] {
        let Body::Json(json) = &interaction.response.body else {
            panic!("a JSON body");
        };
        let recorded_len = serde_json::to_vec(json).unwrap().len();
        assert_eq!(recorded_len, bytes, "the whole body is recorded");
    }
}
