//! The accept loop with handlers made for the occasion: one that panics,
//! one whose client leaves while it works.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const PATIENCE: Duration = Duration::from_secs(10);

/// One response, framed by its `content-length`.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |value| value.parse::<usize>().expect("a length"));
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed early: {text}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// Panics on `/panic`; `detached` says whether it runs on a task of its
/// own (the proxy's way) or inside the connection's future (replay's).
struct PanicsOnRequest {
    detached: bool,
}

impl Handler for PanicsOnRequest {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        assert_ne!(request.uri().path(), "/panic", "a handler bug");
        Response::new(Full::new(Bytes::from_static(b"ok")))
    }

    fn detaches(&self) -> bool {
        self.detached
    }
}

#[tokio::test]
async fn a_panicking_handler_gets_its_client_a_500_and_the_connection_goes_on() {
    for detached in [true, false] {
        a_panic_is_answered(detached).await;
    }
}

async fn a_panic_is_answered(detached: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(PanicsOnRequest { detached }),
        ConnectionLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /panic HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 500"),
        "detached {detached}: {answer}"
    );
    assert!(answer.contains("DATOVCR_INTERNAL_ERROR"), "{answer}");
    // datovcr's hook withholds the message: the answer must not send the
    // user looking for it.
    assert!(answer.contains("names the place"), "{answer}");
    stream
        .write_all(b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    assert_eq!(server.await.unwrap(), Drained::All);
}

/// A server task that panics: `shutdown` panics in turn, and its message
/// must not quote the first one's (tokio's `JoinError` shows it; a process
/// whose hook is not datovcr's, a library's host, would print it).
#[tokio::test]
async fn shutdown_after_a_server_task_panic_never_quotes_its_message() {
    let canary = "cnry-pw-7c41e09b5d";
    for panics_at in ["start", "stop"] {
        let server = RunningServer::spawn("127.0.0.1:9".parse().unwrap(), |stopped| async move {
            if panics_at == "stop" {
                let _ = stopped.await;
            }
            let text = format!("é{canary}");
            // A slicing panic quotes the string: `… inside 'é' … of `é…``.
            std::hint::black_box(&text[1..]).len()
        });
        let caught = AssertUnwindSafe(server.shutdown()).catch_unwind().await;
        let payload = caught.expect_err("shutdown of a panicked server panics");
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(!message.contains(canary), "{panics_at}: quoted: {message}");
        assert!(
            message.contains("server task panicked"),
            "{panics_at}: {message:?}"
        );
    }
}

/// Waits for `release` once it has said it started; counts completions.
#[derive(Default)]
struct Slow {
    started: Notify,
    release: Notify,
    finished: AtomicUsize,
}

impl Handler for Slow {
    async fn handle(&self, _request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.started.notify_one();
        self.release.notified().await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Response::new(Full::new(Bytes::new()))
    }
}

#[tokio::test]
async fn a_handler_whose_client_left_runs_to_its_end_and_shutdown_waits_for_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(Slow::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let stopping = Arc::new(Notify::new());
    let server = tokio::spawn(serve(
        listener,
        handler.clone(),
        ConnectionLimits::default(),
        {
            let stopping = stopping.clone();
            async move {
                let _ = stopped.await;
                stopping.notify_one();
            }
        },
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    handler.started.notified().await;
    // The client leaves; hyper notices, closes, and drops its future.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .unwrap();
    assert!(rest.is_empty());
    stop.send(()).unwrap();
    // Only once the server is stopping (no connection left to wait for).
    stopping.notified().await;
    handler.release.notify_one();
    assert_eq!(server.await.unwrap(), Drained::All);
    assert_eq!(handler.finished.load(Ordering::SeqCst), 1);
}

/// Answers by path, each response carrying a body and a `Content-Length`
/// that the status or the method says must not be sent as they are.
struct Framing;

impl Handler for Framing {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (status, length, body): (u16, &str, &'static [u8]) = match request.uri().path() {
            "/not-modified" => (304, "1234", b"stale body"),
            "/no-content" => (204, "5", b"hello"),
            "/head" => (200, "1234", b"a body HEAD must not get"),
            "/head-unframed" => (200, "", b"the GET's body"),
            _ => (200, "2", b"ok"),
        };
        let mut response = Response::new(Full::new(Bytes::from_static(body)));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if !length.is_empty() {
            response
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, length.parse().unwrap());
        }
        response
    }
}

/// Whatever a handler gives, a bodiless response goes out bodiless, with
/// the `Content-Length` RFC 9110 §8.6 allows (HEAD, 304) or none (204), and
/// the connection stays in step.
#[tokio::test]
async fn bodiless_responses_are_framed_by_the_rfc_whatever_the_handler_gave() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(Framing),
        ConnectionLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let requests = "GET /not-modified HTTP/1.1\r\nhost: x\r\n\r\n\
                    GET /no-content HTTP/1.1\r\nhost: x\r\n\r\n\
                    HEAD /head HTTP/1.1\r\nhost: x\r\n\r\n\
                    HEAD /head-unframed HTTP/1.1\r\nhost: x\r\n\r\n\
                    GET /fine HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("all five answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let responses: Vec<&str> = answer.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(responses.len(), 5, "{answer}");
    let length = |response: &str| {
        response
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map(str::to_owned)
    };
    assert!(responses[0].starts_with("304"), "{answer}");
    assert_eq!(length(responses[0]).as_deref(), Some("1234"));
    assert!(responses[1].starts_with("204"), "{answer}");
    assert_eq!(length(responses[1]), None);
    assert!(responses[2].starts_with("200"), "{answer}");
    assert_eq!(length(responses[2]).as_deref(), Some("1234"));
    assert_eq!(length(responses[3]).as_deref(), Some("14"), "{answer}");
    assert!(responses[4].starts_with("200") && responses[4].ends_with("\r\n\r\nok"));
    assert!(
        !answer.contains("stale body") && !answer.contains("hello"),
        "{answer}"
    );
    assert!(
        !answer.contains("body HEAD") && !answer.contains("GET's body"),
        "{answer}"
    );
    stop.send(()).unwrap();
    assert_eq!(server.await.unwrap(), Drained::All);
}
