//! Issue 13 on the real binary: `replay --on-miss record` appends new
//! episodes to the cassette being replayed and serves them at once; replay
//! says what it loaded and which interactions it never used; a clean stop
//! leaves only cassettes in the folder (no lock files).

use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::{api_headers, borrowed, client_for};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use datovcr::cassette::Cassette;
use http::Method;
use std::path::{Path, PathBuf};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The request paths recorded in a cassette.
fn recorded_paths(cassette: &Path) -> Vec<String> {
    Cassette::load(cassette)
        .unwrap()
        .interactions
        .into_iter()
        .map(|interaction| interaction.request.path)
        .collect()
}

/// SIGTERM, then the exit status (which must be success) and stderr.
async fn stop(server: ServerProcess) -> String {
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    stderr
}

/// `GET path` through `server`, optionally naming a cassette; the status.
async fn get(
    client: &crate::support::client::HttpsClient,
    server: &ServerProcess,
    path: &str,
    cassette: Option<&str>,
) -> u16 {
    let mut headers = api_headers("bearer-abcdefgh", false);
    if let Some(name) = cassette {
        headers.push(("x-datovcr-cassette", name.to_owned()));
    }
    let (status, _, body) = send(
        client,
        Method::GET,
        &server.url(path),
        &borrowed(&headers),
        "",
    )
    .await;
    assert!(
        status.as_u16() != 599 && status.as_u16() < 500,
        "{path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    status.as_u16()
}

fn proxy(
    dir: &Path,
    upstream: &FakeDato,
    cassette: &str,
    extra: &[&str],
    log: &str,
) -> ServerProcess {
    let url = upstream.base_url();
    let mut list = vec![
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &url,
        "--cassette",
        cassette,
    ];
    list.extend_from_slice(extra);
    ServerProcess::start(dir, &args(&list), &dir.join(log))
}

// ---------------------------------------------------------------------------
// Item 11: no lock files after a clean stop.

/// After Ctrl-C (SIGTERM) the folder holds the cassettes and nothing else:
/// no `NAME.json.lock`, no `NAME.json.writers`, whatever the record mode,
/// fsync policy, folder, or number of cassettes, and after recovering what
/// a crash left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_proxy_stop_leaves_only_the_cassettes() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    // (label, extra flags, cassettes named by x-datovcr-cassette, files before)
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("plain", &[], &[]),
        ("named", &[], &["second", "third"]),
        ("record-all", &["--record", "all"], &["second"]),
        ("periodic", &["--fsync", "periodic"], &[]),
        (
            "after-response",
            &["--fsync", "after-response"],
            &["second"],
        ),
    ];
    for (label, extra, named) in cases {
        // Not `cassettes/`: any folder, as a user's fixtures folder.
        let dir = work.path().join(label).join("fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        // A cassette from an earlier run, and a crash's journal and lock
        // file beside another one: recovered at start, tidied at the stop.
        std::fs::write(dir.join("rec.json"), Cassette::new().to_bytes()).unwrap();
        let crashed = Cassette::load(&crate::support::repo_path(
            "cassettes/access-tokens-docs.json",
        ))
        .unwrap();
        let line = serde_json::to_string(&crashed.interactions[0]).unwrap();
        std::fs::write(dir.join("crashed.json.journal"), format!("{line}\n")).unwrap();
        std::fs::write(dir.join("crashed.json.lock"), "").unwrap();

        let server = proxy(
            &work.path().join(label),
            &upstream,
            "fixtures/rec.json",
            extra,
            "proxy.stderr",
        );
        get(&client, &server, "/access_tokens", None).await;
        for name in named {
            get(&client, &server, "/access_tokens", Some(name)).await;
        }
        let stderr = stop(server).await;
        let mut expected: Vec<String> = ["crashed.json", "rec.json"]
            .into_iter()
            .map(String::from)
            .chain(named.iter().map(|name| format!("{name}.json")))
            .collect();
        expected.sort();
        assert_eq!(listing(&dir), expected, "{label}: {stderr}");
        assert_eq!(
            recorded_paths(&dir.join("rec.json")),
            ["/access_tokens"],
            "{label}"
        );
        assert_eq!(
            recorded_paths(&dir.join("crashed.json")).len(),
            1,
            "{label}"
        );
    }
}

/// A lock file another process holds is left to it: a second proxy still
/// recording into the cassette keeps its files (and removes them when it
/// stops, losing nothing), and a `.writers` file held by some other process
/// is neither removed nor replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_files_another_process_holds_are_left_to_it() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("cassettes");
    let cassette = dir.join("shared.json");

    // Two proxy processes on one cassette; the first stops first.
    let first = proxy(
        work.path(),
        &upstream,
        "cassettes/shared.json",
        &[],
        "p1.stderr",
    );
    let second = proxy(
        work.path(),
        &upstream,
        "cassettes/shared.json",
        &[],
        "p2.stderr",
    );
    for i in 0..20 {
        get(&client, &first, &format!("/access_tokens/a{i}"), None).await;
        get(&client, &second, &format!("/access_tokens/b{i}"), None).await;
    }
    stop(first).await;
    assert_eq!(
        listing(&dir),
        ["shared.json", "shared.json.lock", "shared.json.writers"],
        "the second proxy still records: its lock files stay"
    );
    for i in 20..30 {
        get(&client, &second, &format!("/access_tokens/b{i}"), None).await;
    }
    stop(second).await;
    assert_eq!(listing(&dir), ["shared.json"]);
    let paths = recorded_paths(&cassette);
    assert_eq!(paths.len(), 50, "nothing lost");
    let unique: std::collections::BTreeSet<&String> = paths.iter().collect();
    assert_eq!(unique.len(), 50, "nothing duplicated");

    // Some other process (this test) holds `.writers` shared, as a writer
    // does: the proxy's clean stop leaves it, the same file, and the lock.
    let writers_path = dir.join("shared.json.writers");
    let held = std::fs::File::create(&writers_path).unwrap();
    held.lock_shared().unwrap();
    let inode =
        |path: &PathBuf| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
    let before = inode(&writers_path);
    let server = proxy(
        work.path(),
        &upstream,
        "cassettes/shared.json",
        &[],
        "p3.stderr",
    );
    get(&client, &server, "/access_tokens/c0", None).await;
    stop(server).await;
    assert_eq!(
        listing(&dir),
        ["shared.json", "shared.json.lock", "shared.json.writers"]
    );
    assert_eq!(
        inode(&writers_path),
        before,
        "the held file was not replaced"
    );
    drop(held);
    // Released, the next clean stop removes both.
    let server = proxy(
        work.path(),
        &upstream,
        "cassettes/shared.json",
        &[],
        "p4.stderr",
    );
    get(&client, &server, "/access_tokens/c1", None).await;
    stop(server).await;
    assert_eq!(listing(&dir), ["shared.json"]);
    assert_eq!(recorded_paths(&cassette).len(), 52);
}
