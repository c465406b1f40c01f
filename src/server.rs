//! The HTTP/1.1 accept loop shared by every datovcr server.
//!
//! It knows nothing about cassettes or upstreams: it takes a bound listener,
//! a [`Handler`] and a shutdown signal, applies the connection-level limits
//! (head size, header count, header read timeout: hyper enforces these only
//! when a timer is set) and the request-target rules ([`target`]), and on
//! shutdown stops accepting and gives in-flight exchanges a grace period,
//! following hyper-util's `server_graceful` example.
//!
//! Each request is handled on a task of its own, not in the connection's
//! future: hyper drops that future when the client goes away, and an
//! exchange the upstream may already be acting on must not be cut short
//! with it (issue 12, A2). A response that does not reach its client is
//! reported through [`Undelivered`] ([`delivery`]).

mod delivery;
mod framing;
pub mod target;
#[cfg(test)]
mod tests;

use crate::api_error::ApiError;
use bytes::Bytes;
pub use delivery::Undelivered;
use delivery::{Link, Tracked, Watched};
use futures_util::FutureExt as _;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_io_timeout::TimeoutStream;

/// Connection-level limits. Request-level ones (URI, body) belong to the
/// handler, which can answer them with a proper error body.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Largest request head (request line and headers); larger gets 431.
    pub max_head_bytes: usize,
    /// Most header fields in one request; more gets 431.
    pub max_headers: usize,
    /// Time to receive a whole request head; the connection is closed after it.
    pub header_read_timeout: Duration,
    /// How long in-flight exchanges may run after shutdown begins.
    pub shutdown_grace: Duration,
    /// Open connections at most; beyond it, new ones wait in the kernel's
    /// backlog instead of costing memory.
    pub max_connections: usize,
    /// Requests being handled at once; beyond it, 503 with Retry-After.
    pub max_in_flight: usize,
    /// Longest a single write to a client may block (a client that stops
    /// reading); the connection is closed after it.
    pub write_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 1024,
            max_in_flight: 256,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What a server does with one request. The future runs to completion on
/// its own task even when the client goes away; put an [`Undelivered`] note
/// in the response's extensions to have that reported.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        request: Request<Incoming>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;

    /// Whether an exchange must outlive its client: true when handling may
    /// act on something outside datovcr (an upstream). A handler that only
    /// answers from memory returns false and runs inside the connection's
    /// future, saving a task and a channel per request; a client that goes
    /// away then takes nothing with it but its answer.
    fn detaches(&self) -> bool {
        true
    }
}

/// Whether every in-flight exchange finished within the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    All,
    TimedOut,
}

/// Serves until `shutdown` completes, then drains.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        // hyper's read buffer bounds the head; it cannot go below 8 KiB.
        .max_buf_size(limits.max_head_bytes.max(8192));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let mut anchor = timer_anchor(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = anchor.tick() => {}
            accepted = accept(&listener, &connections) => {
                let Some((stream, connection_permit)) = accepted else { continue };
                let mut stream = TimeoutStream::new(stream);
                stream.set_write_timeout(Some(limits.write_timeout));
                let link = Arc::new(Link::default());
                let stream = Watched::new(Box::pin(stream), link.clone());
                let service = service(handler.clone(), in_flight.clone(), limits.max_head_bytes, link.clone());
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // Errors here are the client's (reset, timeout, bad head); hyper has
                    // already answered what can be answered.
                    let _ = connection.await;
                    link.closed();
                    drop(connection_permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let drained = async {
        graceful.shutdown().await;
        // Exchanges whose client went away run on without a connection;
        // each holds an in-flight permit until it is done.
        let all = u32::try_from(limits.max_in_flight).unwrap_or(u32::MAX);
        let _ = in_flight.acquire_many(all).await;
    };
    match tokio::time::timeout(limits.shutdown_grace, drained).await {
        Ok(()) => Drained::All,
        Err(_) => Drained::TimedOut,
    }
}

/// A timer that keeps the runtime's next planned wake-up near.
///
/// tokio's time driver wakes the runtime's I/O driver (an `eventfd` write,
/// one syscall, and one more return from `epoll_wait`) whenever a timer is
/// set to fire before the wake-up it planned when it last parked. hyper sets
/// a header-read timer for every request; with no earlier timer pending
/// (replay has none; the proxy's upstream timeouts are longer) each one did:
/// `strace -f -c` of `datovcr proxy --record none` counted 0.72 `write`
/// calls per exchange that the bare forwarding proxy (no header timer) did
/// not make, all from `Sleep::poll` in hyper's `poll_read_head`. With this
/// timer always due within half the header-read timeout (at most a second),
/// the planned wake-up is never later than that, and timers set seconds
/// ahead cost no syscall. It wakes the accept loop that often, and nothing
/// else.
fn timer_anchor(header_read_timeout: Duration) -> tokio::time::Interval {
    let period = (header_read_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut anchor = tokio::time::interval(period);
    anchor.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    anchor
}

/// Waits for a connection slot, then for a connection. `None` after an
/// accept error (EMFILE and friends), which is logged: the server keeps
/// serving the connections it has.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, OwnedSemaphorePermit)> {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    match listener.accept().await {
        Ok((stream, _peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, permit))
        }
        Err(err) => {
            eprintln!("datovcr: accept failed: {err}");
            // Back off so a persistent error (out of file descriptors) does not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// The per-request checks every server shares, then the handler.
fn service<H: Handler>(
    handler: Arc<H>,
    in_flight: Arc<Semaphore>,
    max_head_bytes: usize,
    link: Arc<Link>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Tracked>,
    Error = std::convert::Infallible,
    Future = impl Future + Send,
> + Clone {
    service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        let in_flight = in_flight.clone();
        let link = link.clone();
        async move {
            let head = request.method() == http::Method::HEAD;
            // hyper bounds its read buffer, not the head itself: a head that
            // arrives in one read can exceed the limit unnoticed.
            if head_size(&request) > max_head_bytes {
                return Ok(link.track(head_too_large(max_head_bytes), head));
            }
            if let Err(refusal) = target::check(request.method(), request.uri()) {
                return Ok(link.track(refusal.into_response(), head));
            }
            let Ok(permit) = in_flight.try_acquire_owned() else {
                return Ok(link.track(overloaded(), head));
            };
            let response = if handler.detaches() {
                detached(handler, request, permit).await
            } else {
                let answer = AssertUnwindSafe(handler.handle(request))
                    .catch_unwind()
                    .await;
                drop(permit);
                answer.unwrap_or_else(|_| handler_failed())
            };
            Ok(link.track(response, head))
        }
    })
}

/// Runs the handler on a task of its own that outlives this future: when
/// the client goes away, hyper drops the future awaiting the answer, not
/// the exchange. The task keeps the in-flight permit until it is done, so
/// shutdown waits for it. A handler that panics gets its client a 500.
async fn detached<H: Handler>(
    handler: Arc<H>,
    request: Request<Incoming>,
    permit: OwnedSemaphorePermit,
) -> Response<Full<Bytes>> {
    let (answer, answered) = oneshot::channel();
    // The handler's future is large (a whole exchange's state); boxed, the
    // task and its wrappers move a pointer rather than copying it at each
    // step (memmove was ~6 % of the proxy's CPU).
    tokio::spawn(async move {
        let response = Box::pin(handler.handle(request)).await;
        // Dropped unopened, here or in the channel, if the client is gone.
        let _ = answer.send(delivery::Sealed::new(response));
        drop(permit);
    });
    answered
        .await
        .map(delivery::Sealed::open)
        .unwrap_or_else(|_| handler_failed())
}

/// The answer when the handler panicked (the panic hook has printed where;
/// datovcr's withholds the message, which can quote the exchange).
fn handler_failed() -> Response<Full<Bytes>> {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "DATOVCR_INTERNAL_ERROR",
        "datovcr failed while handling this request (a bug: its log names the place in the code)",
    )
    .into_response()
}

fn overloaded() -> Response<Full<Bytes>> {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "DATOVCR_OVERLOADED",
        "datovcr is handling as many requests as --max-in-flight allows; retry shortly",
    )
    .into_response();
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    response
}

/// The size of a request head as sent: request line plus header lines.
fn head_size(request: &Request<Incoming>) -> usize {
    let line = request.method().as_str().len() + uri_len(request.uri()) + 12;
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// The length of a request target without formatting it.
pub fn uri_len(uri: &http::Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |scheme| scheme.len() + 3);
    let authority = uri
        .authority()
        .map_or(0, |authority| authority.as_str().len());
    let path = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    scheme + authority + path
}

fn head_too_large(limit: usize) -> Response<Full<Bytes>> {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "DATOVCR_HEADERS_TOO_LARGE",
        format!("the request head is larger than {limit} bytes (--max-head-bytes)"),
    )
    .into_response()
}

/// Binds `addr`, refusing a non-loopback address unless `allow_remote`:
/// datovcr carries live API tokens in the clear.
pub async fn bind(addr: SocketAddr, allow_remote: bool) -> Result<TcpListener, String> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            return Err(format!(
                "--listen {addr} is not a loopback address; clients send live API tokens in plain HTTP, \
                 so pass --allow-remote if you really mean to expose it"
            ));
        }
        eprintln!(
            "datovcr: warning: listening on {addr}, reachable from other machines; API tokens cross it unencrypted"
        );
    }
    TcpListener::bind(addr)
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {addr}: the port is in use (another datovcr or server holds it); \
             choose another port, or --listen 127.0.0.1:0 for any free one (the address is printed)"
            ),
            _ => format!("cannot listen on {addr}: {err}"),
        })
}

/// A server running on its own task, stopped by [`RunningServer::shutdown`]
/// or, without waiting, by dropping it. `S` is what the server reports when
/// it stops.
pub struct RunningServer<S> {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<S>>,
}

impl<S: Send + 'static> RunningServer<S> {
    /// Spawns `run`, which must finish soon after the stop signal it is given.
    pub fn spawn<F>(addr: SocketAddr, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = S> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        Self {
            addr,
            stop: Some(stop),
            task: Some(tokio::spawn(run(stopped))),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a client's `baseUrl`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drains in-flight exchanges, and returns the report.
    pub async fn shutdown(mut self) -> S {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self
            .task
            .take()
            .expect("the server task is only taken here");
        // Never `expect`: tokio's `JoinError` shows the panic's message,
        // which can quote an exchange, and a new panic would carry it on
        // (printed by the process's hook, which is not datovcr's when the
        // server runs in a library's host). The first panic was reported
        // where it happened.
        task.await.unwrap_or_else(|_| {
            panic!("the server task panicked or was cancelled (reported where it happened)")
        })
    }
}

impl<S> Drop for RunningServer<S> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
