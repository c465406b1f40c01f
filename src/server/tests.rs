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

struct PanicsOnRequest;

impl Handler for PanicsOnRequest {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        assert_ne!(request.uri().path(), "/panic", "a handler bug");
        Response::new(Full::new(Bytes::from_static(b"ok")))
    }
}

#[tokio::test]
async fn a_panicking_handler_gets_its_client_a_500_and_the_connection_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(PanicsOnRequest),
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
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("DATOVCR_INTERNAL_ERROR"), "{answer}");
    stream
        .write_all(b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    assert_eq!(server.await.unwrap(), Drained::All);
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
