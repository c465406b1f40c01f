//! The proxy rows' jobs written plainly: the bare forwarding proxy
//! ([`crate::bare_proxy`]) plus the work a row asks for, done the obvious
//! way with the same crates and nothing datovcr adds for trust.
//!
//! - `validate`: both bodies parsed into `serde_json::Value`s and checked
//!   against datovcr's own compiled contract (route, request body, response
//!   body), findings counted and dropped. No header rules, no detached
//!   exchange, no log line.
//! - `record FILE periodic|durable`: `validate`, then the exchange (method,
//!   path, both header maps and both body `Value`s) serialized as one JSON
//!   line and handed to a writer thread that appends what has queued with
//!   one `write`. `periodic` syncs the file at most once a second;
//!   `durable` syncs each batch and answers only after its sync (group
//!   commit). No redaction: nothing is searched for secrets.
//!
//! A request it cannot do its job for (one the contract does not route, a
//! body that is not JSON, a line the writer could not take or sync) is
//! answered 500, and a writer that fails ends the process: wrk counts
//! both as failed, and a comparison with failures is not made
//! (`targets.rs`). Without this a plain proxy that skipped its job would
//! look cheap.
//!
//! Where a target ratio is below what the plain job costs over the bare
//! proxy, the obvious implementation with these crates misses it too; what
//! datovcr spends beyond the plain job is its own (redaction, header rules,
//! the log's and the journal's guarantees). It is not a floor: a cleverer
//! implementation (datovcr's own quick checks, say) can cost less.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::bare_proxy::{aim_at, bad_gateway, path_and_query, read_body};
use datovcr::contract::ContractSet;
use datovcr::proxy::upstream::{UpstreamClient, build_client};

/// When a recorded line is on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// At most a second after it was written.
    Periodic,
    /// Before its response is sent.
    Durable,
}

/// What the plain proxy does besides forwarding.
pub enum Job {
    Validate,
    Record(File, Sync),
}

impl Job {
    /// Reads `validate` or `record FILE periodic|durable`.
    pub fn parse(args: &[String]) -> Option<Job> {
        match args {
            [kind] if kind == "validate" => Some(Job::Validate),
            [kind, path, sync] if kind == "record" => {
                let sync = match sync.as_str() {
                    "periodic" => Sync::Periodic,
                    "durable" => Sync::Durable,
                    _ => return None,
                };
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(Path::new(path))
                    .expect("opens the plain recorder's file");
                Some(Job::Record(file, sync))
            }
            _ => None,
        }
    }
}

/// One line for the writer thread, and whom to tell once it is synced.
type Line = (Vec<u8>, Option<oneshot::Sender<()>>);

struct Plain {
    client: UpstreamClient,
    upstream: SocketAddr,
    contract: ContractSet,
    writer: Option<(mpsc::Sender<Line>, Sync)>,
    /// Findings seen, so the checks' results are used.
    findings: AtomicU64,
}

/// Binds `127.0.0.1:0` and serves until the runtime stops. Call on the
/// server runtime.
pub async fn start(upstream: SocketAddr, job: Job) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the plain proxy");
    let addr = listener.local_addr().expect("a bound address");
    let contract = ContractSet::embedded().expect("the built-in contract");
    contract
        .compile_all()
        .expect("the built-in contract compiles");
    let writer = match job {
        Job::Validate => None,
        Job::Record(file, sync) => {
            let (sender, receiver) = mpsc::channel();
            std::thread::spawn(move || write_lines(file, sync, receiver));
            Some((sender, sync))
        }
    };
    let plain = Arc::new(Plain {
        client: build_client(&[], Duration::from_secs(5)).expect("a client"),
        upstream,
        contract,
        writer,
        findings: AtomicU64::new(0),
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let plain = plain.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| forward(plain.clone(), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Appends what has queued with one write; syncs per `sync`. Ends when
/// every sender is gone.
fn write_lines(mut file: File, sync: Sync, lines: mpsc::Receiver<Line>) {
    let mut last_sync = Instant::now();
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    while let Ok(first) = lines.recv() {
        for (line, done) in std::iter::once(first).chain(lines.try_iter()) {
            batch.extend_from_slice(&line);
            waiting.extend(done);
        }
        // A panic would end this thread only, and the proxy would go on
        // answering without recording: the whole process ends instead.
        if let Err(err) = file.write_all(&batch) {
            eprintln!("the plain recorder cannot write: {err}");
            std::process::exit(1);
        }
        batch.clear();
        if sync == Sync::Durable || last_sync.elapsed() >= Duration::from_secs(1) {
            if let Err(err) = file.sync_data() {
                eprintln!("the plain recorder cannot sync: {err}");
                std::process::exit(1);
            }
            last_sync = Instant::now();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The body as JSON; `Ok(None)` when empty, `Err` when it is not JSON.
fn parse(body: &[u8]) -> Result<Option<Value>, serde_json::Error> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some)
}

/// The answer to a request whose job was not done: counted as failed.
fn not_done(why: &'static str) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut failed = Response::new(Full::new(Bytes::from_static(why.as_bytes())));
    *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    Ok(failed)
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    Value::Object(map)
}

async fn forward(
    plain: Arc<Plain>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let body = read_body(body).await;
    let path_and_query = path_and_query(&parts);
    let Some(endpoint) = plain
        .contract
        .route(parts.method.as_str(), parts.uri.path())
    else {
        return not_done("not routed by the contract: nothing validated");
    };
    let Ok(request_json) = parse(&body) else {
        return not_done("the request body is not JSON: nothing validated");
    };
    let mut findings = 0;
    if let Some(json) = &request_json {
        findings += plain.contract.check_request_body(endpoint, json).len();
    }
    let recorded_request = plain.writer.as_ref().map(|_| {
        json!({
            "method": parts.method.as_str(),
            "path": path_and_query,
            "headers": headers_json(&parts.headers),
            "body": request_json,
        })
    });
    aim_at(&mut parts, plain.upstream, path_and_query);
    let outgoing = Request::from_parts(parts, Full::new(body));
    let Ok(response) = plain.client.request(outgoing).await else {
        return Ok(bad_gateway());
    };
    let (parts, body) = response.into_parts();
    let body = read_body(body).await;
    let Ok(response_json) = parse(&body) else {
        return not_done("the response body is not JSON: nothing validated");
    };
    if let Some(json) = &response_json {
        findings += plain
            .contract
            .check_response_body(endpoint, parts.status.as_u16(), json)
            .len();
    }
    plain.findings.fetch_add(findings as u64, Ordering::Relaxed);
    if let (Some((writer, sync)), Some(request)) = (&plain.writer, recorded_request) {
        let exchange = json!({
            "request": request,
            "response": {
                "status": parts.status.as_u16(),
                "headers": headers_json(&parts.headers),
                "body": response_json,
            },
        });
        let mut line = serde_json::to_vec(&exchange).expect("JSON serializes");
        line.push(b'\n');
        // Periodic answers at once; durable waits for its batch's sync.
        if *sync == Sync::Durable {
            let (done, synced) = oneshot::channel();
            if writer.send((line, Some(done))).is_err() || synced.await.is_err() {
                return not_done("the recorder did not take the line");
            }
        } else if writer.send((line, None)).is_err() {
            return not_done("the recorder did not take the line");
        }
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
