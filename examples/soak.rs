//! Soak test: replay at a steady rate for a long time while sampling the
//! server's memory and open file descriptors.
//!
//! ```text
//! cargo build --release && cargo run --release --example soak -- --seconds 600
//! ```
//!
//! It runs the real `datovcr replay` binary (built next to this example) on
//! a generated cassette, sends `--rate` requests per second over keep-alive
//! connections, samples VmRSS and the fd count from /proc every second, and
//! fails (exit 1) when RSS grows by 10 % or more after the warm-up (the
//! first tenth of the run), when the fd count grows, or on any error.

use bytes::Bytes;
use datovcr::cassette::{
    Body, Cassette, Headers, Interaction, Query, RecordedRequest, RecordedResponse,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DISTINCT_REQUESTS: usize = 1_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = flag(&args, "--seconds").unwrap_or(600);
    let rate = flag(&args, "--rate").unwrap_or(200).max(1);
    let work = tempfile::tempdir().expect("a temp dir");
    let cassette = work.path().join("soak.json");
    std::fs::write(&cassette, generated_cassette().to_bytes()).expect("write the cassette");

    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("datovcr")))
        .filter(|path| path.exists())
        .unwrap_or_else(|| {
            eprintln!(
                "soak: build the binary first (cargo build, with the same profile as this example)"
            );
            std::process::exit(2);
        });
    let mut child = Command::new(&binary)
        .args(["replay", "--quiet", "--listen", "127.0.0.1:0", "--cassette"])
        .arg(&cassette)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start datovcr replay");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("read the address");
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .expect("the listening line")
        .to_owned();
    let pid = child.id();

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut last_sample = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        let request = hyper::Request::get(format!(
            "{base}/access_tokens/{}",
            sent as usize % DISTINCT_REQUESTS
        ))
        .header("authorization", "Bearer soak-token")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
        sent += 1;
        match tokio::time::timeout(Duration::from_secs(5), client.request(request)).await {
            Ok(Ok(response)) if response.status() == 200 => {
                if response.into_body().collect().await.is_err() {
                    errors += 1;
                }
            }
            _ => errors += 1,
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            samples.push((rss_kib(pid), fd_count(pid)));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    std::process::exit(report(&samples, sent, errors));
}

fn report(samples: &[(u64, u64)], sent: u64, errors: u64) -> i32 {
    if samples.len() < 2 {
        println!("soak: too short to sample ({sent} requests, {errors} errors)");
        return i32::from(errors > 0);
    }
    let warm = samples.len() / 10;
    let (rss_warm, fds_warm) = samples[warm];
    let (rss_end, fds_end) = *samples.last().expect("non-empty");
    let rss_peak = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let drift = (rss_end as f64 - rss_warm as f64) / rss_warm.max(1) as f64 * 100.0;
    let fds_max_after_warm = samples[warm..].iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "soak: {sent} requests, {errors} errors; RSS after warm-up {rss_warm} KiB, at end {rss_end} KiB \
         (drift {drift:+.1} %), peak {rss_peak} KiB; fds {fds_warm} -> {fds_end} (max {fds_max_after_warm})"
    );
    let ok = errors == 0 && drift < 10.0 && fds_max_after_warm <= fds_warm + 2;
    println!("soak: {}", if ok { "ok" } else { "FAILED" });
    i32::from(!ok)
}

fn flag(args: &[String], name: &str) -> Option<u64> {
    let index = args.iter().position(|arg| arg == name)?;
    args.get(index + 1)?.parse().ok()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64)
}

fn generated_cassette() -> Cassette {
    let mut cassette = Cassette::new();
    for id in 0..DISTINCT_REQUESTS {
        cassette.interactions.push(Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: format!("/access_tokens/{id}"),
                query: Query::default(),
                headers: Headers::new(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: [("content-type", "application/json; charset=utf-8")].into_iter().collect(),
                body: Body::Json(serde_json::json!({"data": {"type": "access_token", "id": id.to_string(),
                    "attributes": {"name": "soak", "token": "[REDACTED]", "can_access_cda": true,
                    "can_access_cda_preview": false, "can_access_cma": true, "hardcoded_type": null},
                    "relationships": {"role": {"data": {"type": "role", "id": "34"}}}}})),
            },
        });
    }
    cassette
}
