//! The load generator: one hyper 1 HTTP/1.1 client connection per worker,
//! kept alive, `concurrency` workers taking requests from a shared counter
//! until the count or the time cap is reached. The same code drives every
//! baseline and every target, so its CPU cost is the same on both sides.

use crate::threads::{cpu_by_thread_name, cpu_time};
use crate::workload::RequestTemplate;
use bytes::Bytes;
use http::{HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Target {
    pub fn plain(addr: SocketAddr) -> Target {
        Target { addr, tls: None }
    }
}

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    pub requests: usize,
    pub time_cap: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Other statuses and transport errors.
    pub failed: u64,
    pub elapsed: Duration,
    /// Per request, send to last body byte, in nanoseconds, sorted.
    pub latencies: Vec<u64>,
    /// CPU used by the load generator's thread during the run.
    pub client_cpu: Duration,
    /// CPU used by the whole process during the run.
    pub process_cpu: Duration,
    /// CPU used during the run per thread name.
    pub threads: BTreeMap<String, Duration>,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (self.latencies.len() - 1) as f64).round() as usize;
        self.latencies[rank] as f64 / 1000.0
    }

    /// CPU per request (µs) of each named thread: where server time goes.
    pub fn thread_cpu_us(&self) -> BTreeMap<String, f64> {
        let requests = (self.ok + self.failed).max(1) as f64;
        self.threads
            .iter()
            .filter(|(_, cpu)| !cpu.is_zero())
            .map(|(name, cpu)| (name.clone(), cpu.as_secs_f64() * 1e6 / requests))
            .collect()
    }

    /// CPU the servers used per request (µs): everything the process used
    /// minus the load generator's thread. Independent of how the two cores
    /// were shared, so it backs up the throughput ratios.
    pub fn server_cpu_us(&self) -> f64 {
        let server = self.process_cpu.saturating_sub(self.client_cpu);
        server.as_secs_f64() * 1e6 / (self.ok + self.failed).max(1) as f64
    }
}

/// A request ready to be cloned, with `Host` already set.
struct Ready {
    template: RequestTemplate,
    uri: Uri,
}

impl Ready {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.template.body.clone()));
        *request.method_mut() = self.template.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.template.headers.clone();
        request
    }
}

fn prepare(target: &Target, requests: &[RequestTemplate]) -> Arc<Vec<Ready>> {
    let host = HeaderValue::from_str(&target.addr.to_string()).expect("an address is a host");
    let ready = requests
        .iter()
        .map(|template| {
            let mut template = template.clone();
            template.headers.insert(header::HOST, host.clone());
            Ready {
                uri: template.path.parse().expect("a valid path"),
                template,
            }
        })
        .collect();
    Arc::new(ready)
}

/// Opens one keep-alive connection; its driver task runs on this runtime.
async fn connect(target: &Target) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let sender = match &target.tls {
        None => handshake(TokioIo::new(stream)).await?,
        Some((connector, name)) => {
            let stream = connector.connect(name.clone(), stream).await?;
            handshake(TokioIo::new(stream)).await?
        }
    };
    Ok(sender)
}

async fn handshake<I>(io: I) -> std::io::Result<SendRequest<Full<Bytes>>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io).await.map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Runs `plan` against `target`, cycling through `requests`. Connections are
/// opened before the clock starts, so handshakes (TLS included) are not
/// measured: the rows are about steady keep-alive traffic.
pub async fn run(target: Target, requests: &[RequestTemplate], plan: Plan) -> Outcome {
    let ready = prepare(&target, requests);
    let mut senders = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        senders.push(connect(&target).await.expect("connect to the target"));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let client_start = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
    let process_start = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID);
    let threads_start = cpu_by_thread_name();
    let started = Instant::now();
    let deadline = started + plan.time_cap;
    let workers: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let worker = Worker {
                target: target.clone(),
                ready: ready.clone(),
                next: next.clone(),
                limit: plan.requests,
                deadline,
            };
            tokio::spawn(worker.run(sender))
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        let tally = worker.await.expect("a worker does not panic");
        outcome.ok += tally.ok;
        outcome.failed += tally.failed;
        outcome.latencies.extend(tally.latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.client_cpu = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID) - client_start;
    outcome.process_cpu = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID) - process_start;
    outcome.threads = cpu_by_thread_name()
        .into_iter()
        .map(|(name, total)| {
            let before = threads_start.get(&name).copied().unwrap_or_default();
            (name, total.saturating_sub(before))
        })
        .collect();
    outcome.latencies.sort_unstable();
    outcome
}

struct Worker {
    target: Target,
    ready: Arc<Vec<Ready>>,
    next: Arc<AtomicUsize>,
    limit: usize,
    deadline: Instant,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    latencies: Vec<u64>,
}

impl Worker {
    async fn run(self, mut sender: SendRequest<Full<Bytes>>) -> Tally {
        let mut tally = Tally::default();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.limit || Instant::now() >= self.deadline {
                return tally;
            }
            let request = self.ready[index % self.ready.len()].request();
            let sent = Instant::now();
            match exchange(&mut sender, request).await {
                Ok(true) => {
                    tally.ok += 1;
                    tally.latencies.push(sent.elapsed().as_nanos() as u64);
                }
                Ok(false) => tally.failed += 1,
                Err(_) => {
                    // A broken connection: count it, reconnect once, or stop.
                    tally.failed += 1;
                    match connect(&self.target).await {
                        Ok(fresh) => sender = fresh,
                        Err(_) => return tally,
                    }
                }
            }
        }
    }
}

/// Sends one request and reads the whole answer; `Ok(true)` for a 2xx.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<bool, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let success = response.status().is_success();
    response.into_body().collect().await?;
    Ok(success)
}
