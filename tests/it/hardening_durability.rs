//! Durability under crashes and concurrency: `kill -9` at random moments
//! while recording, and two proxy processes sharing one cassette.

use crate::support::client::{HttpsClient, try_send};
use crate::support::process::ServerProcess;
use crate::support::proxy::client_for;
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use datovcr::cassette::Cassette;
use datovcr::replay::ReplayServer;
use http::Method;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const HEADERS: &[(&str, &str)] = &[
    ("authorization", "Bearer bearer-abcdefgh"),
    ("accept", "application/json"),
    ("x-api-version", "3"),
];

fn proxy_args(upstream: &FakeDato, cassette: &str) -> Vec<String> {
    [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--cassette",
        cassette,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// xorshift: reproducible randomness without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Sends requests with unique paths until `stop`; every path whose response
/// arrived (and was not a datovcr error) goes into `acknowledged`.
async fn keep_sending(
    client: Arc<HttpsClient>,
    base: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
) {
    // Bounded per round: the kill comes after at most a dozen acknowledgements.
    for i in 0..200 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let path = format!("/access_tokens/{prefix}-{i}");
        match try_send(&client, Method::GET, &format!("{base}{path}"), HEADERS, "").await {
            Ok((_, headers, _)) if headers.get("x-datovcr-error").is_none() => {
                acknowledged.lock().unwrap().push(path);
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn stale_temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_no_acknowledged_exchange() {
    kill_9_at_random_moments(&[], 200).await;
}

/// `--fsync after-response` answers before the fsync; the exchange is in the
/// kernel's page cache by then, so killing datovcr still loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_fsync_after_response_loses_no_acknowledged_exchange() {
    kill_9_at_random_moments(&["--fsync", "after-response"], 100).await;
}

/// `--fsync periodic` fsyncs once per interval, but writes each exchange
/// before its response: killing datovcr loses nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_fsync_periodic_loses_no_acknowledged_exchange() {
    kill_9_at_random_moments(&["--fsync", "periodic", "--fsync-interval", "1h"], 50).await;
}

async fn kill_9_at_random_moments(extra_args: &[&str], rounds: usize) {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let work = tempfile::tempdir().unwrap();
    let cassettes = work.path().join("cassettes");
    let cassette = cassettes.join("crash.json");
    let client = Arc::new(client_for(&upstream));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut args = proxy_args(&upstream, "cassettes/crash.json");
    args.extend(extra_args.iter().map(|arg| arg.to_string()));
    for round in 0..rounds {
        let server = ServerProcess::start(work.path(), &args, &work.path().join("stderr"));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let mut senders = tokio::task::JoinSet::new();
        for worker in 0..4 {
            senders.spawn(keep_sending(
                client.clone(),
                format!("http://{}", server.addr),
                format!("r{round}w{worker}"),
                stop.clone(),
                acknowledged.clone(),
                count.clone(),
            ));
        }
        // Kill after a random number of acknowledged exchanges (0..12), with
        // requests still in flight on every worker.
        let target = (next_random(&mut seed) % 12) as usize;
        while count.load(Ordering::Relaxed) < target {
            tokio::task::yield_now().await;
        }
        let (status, _) = tokio::task::spawn_blocking(move || server.stop_with(libc::SIGKILL))
            .await
            .unwrap();
        assert!(!status.success());
        stop.store(true, Ordering::Relaxed);
        while senders.join_next().await.is_some() {}
        // Whatever the moment of death, the cassette file is whole.
        if cassette.exists() {
            let bytes = std::fs::read(&cassette).unwrap();
            assert!(!bytes.is_empty(), "round {round}: empty cassette");
            Cassette::from_slice(&bytes, &cassette)
                .unwrap_or_else(|err| panic!("round {round}: {err}"));
        }
    }
    // The next start recovers: compaction and stale temp files.
    datovcr::recorder::recover_dir(&cassettes).unwrap();
    assert_eq!(stale_temp_files(&cassettes), Vec::<String>::new());
    let recorded = Cassette::load(&cassette).unwrap();
    let paths: Vec<&str> = recorded
        .interactions
        .iter()
        .map(|i| i.request.path.as_str())
        .collect();
    let unique: HashSet<&str> = paths.iter().copied().collect();
    assert_eq!(unique.len(), paths.len(), "no exchange recorded twice");
    let acknowledged = acknowledged.lock().unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|path| !unique.contains(path.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged exchanges lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        acknowledged.len() >= rounds,
        "the test exercised the proxy: {} acknowledged",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_processes_record_5000_exchanges_each_into_one_cassette() {
    two_proxy_processes_share_one_cassette(&[]).await;
}

/// With `--fsync periodic` most exchanges are written on the request's own
/// thread, under a file lock taken only when free: the other process and
/// the writer thread must still never interleave with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_processes_writing_inline_share_one_cassette() {
    two_proxy_processes_share_one_cassette(&["--fsync", "periodic"]).await;
}

async fn two_proxy_processes_share_one_cassette(extra_args: &[&str]) {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let work = tempfile::tempdir().unwrap();
    let client = Arc::new(client_for(&upstream));
    const EACH: usize = 5_000;
    const WORKERS: usize = 8;
    let mut servers = Vec::new();
    let mut senders = tokio::task::JoinSet::new();
    for process in 0..2 {
        let mut args = proxy_args(&upstream, "cassettes/shared.json");
        args.extend(extra_args.iter().map(|arg| arg.to_string()));
        let server = ServerProcess::start(
            work.path(),
            &args,
            &work.path().join(format!("p{process}.stderr")),
        );
        for worker in 0..WORKERS {
            let (client, base) = (client.clone(), format!("http://{}", server.addr));
            senders.spawn(async move {
                for i in 0..EACH / WORKERS {
                    let path = format!("/access_tokens/p{process}w{worker}n{i}");
                    let (_, headers, _) =
                        try_send(&client, Method::GET, &format!("{base}{path}"), HEADERS, "")
                            .await
                            .expect("the proxy answers");
                    assert!(headers.get("x-datovcr-error").is_none());
                }
            });
        }
        servers.push(server);
    }
    while let Some(done) = senders.join_next().await {
        done.expect("every exchange succeeded");
    }
    for server in servers {
        let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(status.success(), "{stderr}");
    }
    let cassette = work.path().join("cassettes/shared.json");
    let recorded = Cassette::load(&cassette).unwrap();
    let unique: HashSet<&str> = recorded
        .interactions
        .iter()
        .map(|i| i.request.path.as_str())
        .collect();
    assert_eq!(recorded.interactions.len(), 2 * EACH, "0 lost");
    assert_eq!(unique.len(), 2 * EACH, "0 duplicated");

    // All of it replays offline.
    upstream.shutdown().await;
    let replay = ReplayServer::builder()
        .cassette(&cassette)
        .quiet(true)
        .start()
        .await
        .unwrap();
    let mut replayers = tokio::task::JoinSet::new();
    let paths: Vec<String> = unique.iter().map(|p| p.to_string()).collect();
    for chunk in paths.chunks(2 * EACH / WORKERS) {
        let (client, base, chunk) = (client.clone(), replay.uri(), chunk.to_vec());
        replayers.spawn(async move {
            for path in chunk {
                let (status, _, _) =
                    try_send(&client, Method::GET, &format!("{base}{path}"), HEADERS, "")
                        .await
                        .unwrap();
                assert_ne!(status.as_u16(), 599, "{path} did not replay");
            }
        });
    }
    while let Some(done) = replayers.join_next().await {
        done.unwrap();
    }
    let summary = replay.shutdown().await;
    assert_eq!(
        (summary.served, summary.misses, summary.unused_count()),
        (2 * EACH as u64, 0, 0)
    );
}
