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

// ---------------------------------------------------------------------------
// Item 6: what replay loaded, and which interactions it never used.

/// A cassette at `path` holding `GET /access_tokens/{id}` for each id.
fn write_cassette(path: &Path, ids: &[&str]) {
    let mut cassette = Cassette::new();
    cassette.interactions = ids.iter().map(|id| token_interaction("GET", id)).collect();
    std::fs::write(path, cassette.to_bytes()).unwrap();
}

fn token_interaction(method: &str, id: &str) -> datovcr::cassette::Interaction {
    crate::support::interaction(
        crate::support::request(method, &format!("/access_tokens/{id}"), None),
        200,
        serde_json::json!({"data": crate::support::token_resource(id, None)}),
    )
}

/// Journal lines, as the recorder writes them, for `GET /access_tokens/{id}`.
fn journal(path: &Path, ids: &[&str]) {
    let text: String = ids
        .iter()
        .map(|id| serde_json::to_string(&token_interaction("GET", id)).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

fn replay(dir: &Path, cassettes: &[&str], extra: &[&str], log: &str) -> ServerProcess {
    let mut list = vec!["replay", "--listen", "127.0.0.1:0"];
    for cassette in cassettes {
        list.extend_from_slice(&["--cassette", cassette]);
    }
    list.extend_from_slice(extra);
    ServerProcess::start(dir, &args(&list), &dir.join(log))
}

/// The start-up line on stderr, there before any request: interactions,
/// cassettes, and how many of the interactions were still in journals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_says_what_it_loaded_at_start_up() {
    // The shipped cassettes, as the README's main job serves them.
    // Every shipped cassette, counted by the library's own reader.
    let shipped_files: Vec<std::path::PathBuf> =
        std::fs::read_dir(crate::support::repo_path("cassettes"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
    let shipped: usize = shipped_files
        .iter()
        .map(|path| Cassette::load(path).unwrap().interactions.len())
        .sum();
    let files = shipped_files.len();
    let work = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &crate::support::repo_path(""),
        &args(&["replay", "--listen", "127.0.0.1:0"]),
        &work.path().join("shipped.stderr"),
    );
    let expected = format!(
        "datovcr: loaded {shipped} interaction(s) from {files} cassette(s), 0 of them pending in journals (not yet compacted)\n"
    );
    assert!(
        server.stderr().starts_with(&expected),
        "{}",
        server.stderr()
    );
    stop(server).await;

    // A folder: one compacted cassette, one with a journal beside it, one
    // known only by its journal (a crash before the first compaction), and
    // one that cannot be read.
    let dir = work.path().join("cassettes");
    std::fs::create_dir(&dir).unwrap();
    write_cassette(&dir.join("clean.json"), &["1", "2"]);
    write_cassette(&dir.join("busy.json"), &["3"]);
    journal(&dir.join("busy.json.journal"), &["4", "5", "6"]);
    journal(&dir.join("orphan.json.journal"), &["7"]);
    std::fs::write(
        dir.join("broken.json"),
        "{\"version\": 1, \"interactions\": [",
    )
    .unwrap();
    let server = replay(work.path(), &["cassettes"], &[], "folder.stderr");
    let stderr = server.stderr();
    assert!(
        stderr.contains(
            "datovcr: loaded 7 interaction(s) from 3 cassette(s), 4 of them pending in journals \
             (not yet compacted); skipped 1 unreadable cassette(s)\n"
        ),
        "{stderr}"
    );
    // Everything loaded is served, journals included.
    let helper = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let client = client_for(&helper);
    for id in ["1", "4", "6", "7"] {
        assert_eq!(
            get(&client, &server, &format!("/access_tokens/{id}"), None).await,
            200
        );
    }
    stop(server).await;

    // Files named one by one.
    let server = replay(
        work.path(),
        &["cassettes/clean.json", "cassettes/orphan.json"],
        &[],
        "named.stderr",
    );
    assert!(
        server.stderr().contains(
            "datovcr: loaded 3 interaction(s) from 2 cassette(s), 1 of them pending in journals"
        ),
        "{}",
        server.stderr()
    );
    stop(server).await;
}

/// The shutdown report names every unused interaction by index, method and
/// path, per cassette; past 20 it names the first 20 and counts the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_interactions_are_named_by_method_and_path() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut small = Cassette::new();
    small.interactions = vec![
        token_interaction("POST", "312/regenerate_token"),
        token_interaction("GET", "312"),
        token_interaction("DELETE", "312"),
        token_interaction("PUT", "400"),
    ];
    std::fs::write(dir.join("small.json"), small.to_bytes()).unwrap();
    let ids: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    write_cassette(&dir.join("large.json"), &ids);

    let helper = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let client = client_for(&helper);
    let server = replay(
        dir,
        &["small.json", "large.json"],
        &["--strict"],
        "run.stderr",
    );
    get(&client, &server, "/access_tokens/312", Some("small")).await;
    for id in ["n0", "n21"] {
        get(&client, &server, &format!("/access_tokens/{id}"), None).await;
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "datovcr: small.json: 3 interaction(s) never used: \
             #0 POST /access_tokens/312/regenerate_token, #2 DELETE /access_tokens/312, \
             #3 PUT /access_tokens/400\n"
        ),
        "{stderr}"
    );
    let shown: Vec<String> = (1..25)
        .filter(|i| *i != 21)
        .take(20)
        .map(|i| format!("#{i} GET /access_tokens/n{i}"))
        .collect();
    assert!(
        stderr.contains(&format!(
            "datovcr: large.json: 23 interaction(s) never used: {}, … and 3 more\n",
            shown.join(", ")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("datovcr: --strict: failing: 26 interaction(s) never used"),
        "{stderr}"
    );

    // Exactly 20 unused: all named, nothing counted.
    let server = replay(dir, &["large.json"], &[], "twenty.stderr");
    for id in ["n0", "n1", "n2", "n3", "n4"] {
        get(&client, &server, &format!("/access_tokens/{id}"), None).await;
    }
    let stderr = stop(server).await;
    assert!(
        stderr.contains("20 interaction(s) never used: #5 GET /access_tokens/n5, ")
            && stderr.contains("#24 GET /access_tokens/n24\n")
            && !stderr.contains("more"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Item 3: `--on-miss record` appends new episodes to the cassette being
// replayed, and serves them from then on.

/// `(method, path, JSON body, extra headers, whether it reaches the upstream)`.
type Request<'a> = (
    Method,
    &'a str,
    Option<&'a serde_json::Value>,
    &'a [(&'static str, &'a str)],
    bool,
);

/// `replay --on-miss record` in front of `upstream`, with `cassettes` and `extra`.
fn recording_replay(
    dir: &Path,
    upstream: &FakeDato,
    cassettes: &[&str],
    extra: &[&str],
    log: &str,
) -> ServerProcess {
    let url = upstream.base_url();
    let ca = upstream.ca_file().to_str().unwrap().to_owned();
    let mut list = vec!["--on-miss", "record", "--upstream", &url, "--ca-file", &ca];
    list.extend_from_slice(extra);
    replay(dir, cassettes, &list, log)
}

/// Sends `method path` with `body` (JSON) and extra headers; the status and
/// the JSON answer.
async fn exchange(
    client: &crate::support::client::HttpsClient,
    server: &ServerProcess,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    extra: &[(&'static str, &str)],
) -> (u16, serde_json::Value) {
    let mut headers = api_headers("bearer-abcdefgh", body.is_some());
    for (name, value) in extra {
        headers.push((name, value.to_string()));
    }
    let text = body.map(|body| body.to_string()).unwrap_or_default();
    let (status, response_headers, answer) =
        send(client, method, &server.url(path), &borrowed(&headers), text).await;
    assert!(
        response_headers.get("x-datovcr-error").is_none(),
        "{path}: datovcr answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    let json = serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null);
    (status.as_u16(), json)
}

/// The README's case: one cassette, a miss, the same request again. The
/// miss is appended to that cassette (not to a `recording.json`), the
/// repeat is served from the new episode without reaching the upstream,
/// the summary says what was written, and the next run serves it offline.
/// Several kinds of request: a list, a create with a JSON body (matched by
/// value, not by spelling), a query carrying a credential (matched through
/// its placeholder), and requests that differ in body, query or
/// X-Environment (each a miss of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_appended_to_the_cassette_being_replayed_and_served_from_then_on() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir(dir.join("fixtures")).unwrap();
    let cassette = dir.join("fixtures/one.json");
    write_cassette(&cassette, &["312"]);
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let server = recording_replay(dir, &upstream, &["fixtures/one.json"], &[], "first.stderr");
    assert!(
        server.stderr().contains(
            "datovcr: --on-miss record: a miss is recorded into the cassette it names \
             (x-datovcr-cassette: NAME, a new one as NAME.json in fixtures), else into \
             fixtures/one.json"
        ),
        "{}",
        server.stderr()
    );

    // Recorded hits never reach the upstream.
    let (status, _) = exchange(
        &client,
        &server,
        Method::GET,
        "/access_tokens/312",
        None,
        &[],
    )
    .await;
    assert_eq!((status, upstream.request_count()), (200, 0));

    let create = crate::support::create_body();
    // The same JSON, spelled another way (key order, whitespace).
    let respelled: serde_json::Value =
        serde_json::from_str(&serde_json::to_string_pretty(&create).unwrap()).unwrap();
    let mut renamed = create.clone();
    renamed["data"]["attributes"]["name"] = "Another name".into();
    let credential = "/access_tokens?access_token=canaryQueryToken12345";
    let requests: Vec<Request> = vec![
        (Method::GET, "/access_tokens", None, &[], true),
        (Method::GET, "/access_tokens", None, &[], false),
        (Method::POST, "/access_tokens", Some(&create), &[], true),
        (Method::POST, "/access_tokens", Some(&respelled), &[], false),
        (Method::POST, "/access_tokens", Some(&renamed), &[], true),
        (Method::GET, credential, None, &[], true),
        (Method::GET, credential, None, &[], false),
        (Method::GET, "/access_tokens?page=2", None, &[], true),
        (
            Method::GET,
            "/access_tokens",
            None,
            &[("x-environment", "sandbox")],
            true,
        ),
        (
            Method::GET,
            "/access_tokens",
            None,
            &[("x-environment", "sandbox")],
            false,
        ),
        (Method::GET, "/access_tokens", None, &[], false),
    ];
    let mut forwarded = 0;
    let mut first_create = None;
    for (i, (method, path, body, extra, reaches)) in requests.iter().enumerate() {
        let (status, answer) = exchange(&client, &server, method.clone(), path, *body, extra).await;
        forwarded += usize::from(*reaches);
        assert_eq!(
            upstream.request_count(),
            forwarded,
            "request {i} {method} {path}: reached the upstream: {}",
            !reaches
        );
        if *method == Method::POST && body.is_some_and(|b| *b == create) {
            assert_eq!(status, 201);
            first_create = Some(answer["data"]["id"].clone());
        } else if *method == Method::POST && body.is_some_and(|b| *b == respelled) {
            // The new episode as recorded: same token id, secret redacted.
            assert_eq!(status, 201);
            assert_eq!(Some(answer["data"]["id"].clone()), first_create);
            assert_eq!(answer["data"]["attributes"]["token"], "[REDACTED]");
        }
    }
    let stderr = stop(server).await;
    assert!(
        stderr
            .contains("datovcr: GET /access_tokens 200 replayed fixtures/one.json (new episode 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("datovcr: wrote fixtures/one.json: 7 interaction(s), 6 new\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("replay summary: 6 served, 0 miss(es), 6 forwarded"),
        "{stderr}"
    );
    // Appended to the cassette being replayed, nothing anywhere else, no
    // secret on disk.
    assert_eq!(listing(&dir.join("fixtures")), ["one.json"]);
    assert!(
        !dir.join("cassettes").exists(),
        "no default recording cassette"
    );
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(!text.contains("canaryQueryToken12345") && !text.contains("bearer-abcdefgh"));
    for token in upstream.issued_tokens() {
        assert!(!text.contains(&token), "an issued token reached disk");
    }
    assert_eq!(Cassette::load(&cassette).unwrap().interactions.len(), 7);

    // The next run serves every episode offline.
    let before = upstream.request_count();
    let server = replay(dir, &["fixtures/one.json"], &["--strict"], "second.stderr");
    for (method, path, body, extra, _) in &requests[..requests.len() - 1] {
        exchange(&client, &server, method.clone(), path, *body, extra).await;
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("replay summary: 10 served, 0 miss(es), 0 forwarded"),
        "{stderr}"
    );
    // Only #0 (GET /access_tokens/312) was not asked for again.
    assert!(
        stderr.contains(
            "fixtures/one.json: 1 interaction(s) never used: #0 GET /access_tokens/312\n"
        ),
        "{stderr}"
    );
    assert_eq!(upstream.request_count(), before);
}

/// Several cassettes: a miss naming one with `x-datovcr-cassette` goes to
/// that one and is served to requests naming it (or none), not to requests
/// naming another; a miss naming a cassette that is not loaded creates it
/// beside the default; a miss naming none goes to `recording.json` in the
/// first `--cassette` folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_appended_to_the_cassette_it_names_or_to_the_default_one() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let folder = dir.join("cassettes");
    std::fs::create_dir(&folder).unwrap();
    write_cassette(&folder.join("a.json"), &["1"]);
    write_cassette(&folder.join("b.json"), &["2"]);
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let server = recording_replay(dir, &upstream, &["cassettes"], &[], "run.stderr");
    // (path, cassette named, reaches the upstream)
    let requests: [(&str, Option<&str>, bool); 11] = [
        ("/access_tokens", Some("b"), true),
        ("/access_tokens", Some("b"), false),
        ("/access_tokens", Some("b.json"), false),
        // Another cassette has its own episodes.
        ("/access_tokens", Some("a"), true),
        ("/access_tokens", Some("a"), false),
        // A request naming none is served from any cassette's.
        ("/access_tokens", None, false),
        // A cassette that is not loaded yet.
        ("/access_tokens/9", Some("c"), true),
        ("/access_tokens/9", Some("c"), false),
        ("/access_tokens/9", Some("a"), true),
        // No cassette named, several loaded: cassettes/recording.json.
        ("/access_tokens/7", None, true),
        ("/access_tokens/7", None, false),
    ];
    let mut forwarded = 0;
    for (i, (path, named, reaches)) in requests.iter().enumerate() {
        get(&client, &server, path, *named).await;
        forwarded += usize::from(*reaches);
        assert_eq!(
            upstream.request_count(),
            forwarded,
            "request {i}: {path} {named:?}"
        );
    }
    // Recorded ones stay served from their cassette.
    assert_eq!(
        get(&client, &server, "/access_tokens/1", Some("a")).await,
        200
    );
    assert_eq!(upstream.request_count(), forwarded);
    let stderr = stop(server).await;
    for line in [
        "datovcr: wrote cassettes/a.json: 3 interaction(s), 2 new\n",
        "datovcr: wrote cassettes/b.json: 2 interaction(s), 1 new\n",
        "datovcr: wrote cassettes/c.json: 1 interaction(s), 1 new\n",
        "datovcr: wrote cassettes/recording.json: 1 interaction(s), 1 new\n",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    assert_eq!(
        recorded_paths(&folder.join("a.json")),
        ["/access_tokens/1", "/access_tokens", "/access_tokens/9"]
    );
    assert_eq!(
        recorded_paths(&folder.join("b.json")),
        ["/access_tokens/2", "/access_tokens"]
    );
    assert_eq!(recorded_paths(&folder.join("c.json")), ["/access_tokens/9"]);
    assert_eq!(
        recorded_paths(&folder.join("recording.json")),
        ["/access_tokens/7"]
    );
    assert_eq!(
        listing(&folder),
        ["a.json", "b.json", "c.json", "recording.json"],
        "no lock files"
    );
}

/// `--record-into` overrides the default for misses naming no cassette; when
/// it is a loaded cassette (however spelled), the episodes are shared with
/// requests naming that cassette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_into_overrides_the_default() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_cassette(&dir.join("one.json"), &["312"]);
    let before = std::fs::read(dir.join("one.json")).unwrap();
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);

    // Elsewhere: the loaded cassette is left alone.
    let server = recording_replay(
        dir,
        &upstream,
        &["one.json"],
        &["--record-into", "other/new.json"],
        "elsewhere.stderr",
    );
    get(&client, &server, "/access_tokens", None).await;
    get(&client, &server, "/access_tokens", None).await;
    assert_eq!(upstream.request_count(), 1);
    let stderr = stop(server).await;
    assert!(
        stderr.contains("datovcr: wrote other/new.json: 1 interaction(s), 1 new\n"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.join("one.json")).unwrap(), before);
    assert_eq!(
        recorded_paths(&dir.join("other/new.json")),
        ["/access_tokens"]
    );

    // The loaded cassette, spelled another way.
    let server = recording_replay(
        dir,
        &upstream,
        &["one.json"],
        &["--record-into", "./one.json"],
        "same.stderr",
    );
    get(&client, &server, "/access_tokens/5", None).await;
    get(&client, &server, "/access_tokens/5", Some("one")).await;
    assert_eq!(upstream.request_count(), 2, "one episode, shared");
    let stderr = stop(server).await;
    assert!(
        stderr.contains("datovcr: wrote one.json: 2 interaction(s), 1 new\n"),
        "{stderr}"
    );
}

/// With `--exhausted fail` a recorded interaction answers one arrival; so
/// does a new episode. Each arrival past them is recorded anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_exhausted_fail_each_arrival_past_the_recorded_ones_is_a_new_episode() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_cassette(&dir.join("one.json"), &["312"]);
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let server = recording_replay(
        dir,
        &upstream,
        &["one.json"],
        &["--exhausted", "fail"],
        "run.stderr",
    );
    for (arrival, upstream_count) in [(1, 0), (2, 1), (3, 2)] {
        get(&client, &server, "/access_tokens/312", None).await;
        assert_eq!(
            upstream.request_count(),
            upstream_count,
            "arrival {arrival}"
        );
    }
    let stderr = stop(server).await;
    assert!(
        stderr.contains("datovcr: wrote one.json: 3 interaction(s), 2 new\n"),
        "{stderr}"
    );
    // The next run serves the three in order, then fails the fourth.
    let server = replay(dir, &["one.json"], &["--exhausted", "fail"], "next.stderr");
    for _ in 0..3 {
        get(&client, &server, "/access_tokens/312", None).await;
    }
    let (status, _, _) = send(
        &client,
        Method::GET,
        &server.url("/access_tokens/312"),
        &borrowed(&api_headers("x", false)),
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 599);
    stop(server).await;
    assert_eq!(upstream.request_count(), 2);
}

/// A new episode is matched by the run's own rules, as a loaded
/// interaction is: behind `--path-prefix`, with a request body sent
/// gzip-encoded the first time and plain the second, with `--match` leaving
/// the query out, and with `--ignore-body-pointer` leaving a field out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_episodes_are_matched_by_the_runs_rules() {
    use std::io::Write as _;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_cassette(&dir.join("one.json"), &["312"]);
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let create = crate::support::create_body();
    let mut renamed = create.clone();
    renamed["data"]["attributes"]["name"] = "Another name".into();
    let gzipped = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(create.to_string().as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    let post = |server: &ServerProcess, path: &str, body: Vec<u8>, gzip: bool| {
        let url = server.url(path);
        let client = client.clone();
        async move {
            let mut headers = api_headers("bearer-abcdefgh", true);
            if gzip {
                headers.push(("content-encoding", "gzip".to_owned()));
            }
            let (status, response_headers, _) =
                send(&client, Method::POST, &url, &borrowed(&headers), body).await;
            assert!(
                response_headers.get("x-datovcr-error").is_none(),
                "{status}"
            );
            status.as_u16()
        }
    };

    // Each run: a miss, forwarded and recorded, then a request the run's
    // rules make the same, served from the new episode.
    let mut reached = 0;
    for label in ["prefix", "gzip", "match", "ignore"] {
        let flags: &[&str] = match label {
            "prefix" => &["--path-prefix", "/proxy-prefix"],
            "match" => &["--match", "method,path"],
            "ignore" => &["--ignore-body-pointer", "/data/attributes/name"],
            _ => &[],
        };
        let server = recording_replay(
            dir,
            &upstream,
            &["one.json"],
            flags,
            &format!("{label}.stderr"),
        );
        match label {
            "prefix" => {
                get(&client, &server, "/proxy-prefix/access_tokens", None).await;
                get(&client, &server, "/proxy-prefix/access_tokens", None).await;
            }
            "gzip" => {
                // Forwarded as sent (the fake cannot read gzip, and says so);
                // matched and recorded decoded.
                let first = post(&server, "/access_tokens", gzipped.clone(), true).await;
                let plain = create.to_string().into_bytes();
                assert_eq!(post(&server, "/access_tokens", plain, false).await, first);
            }
            "match" => {
                get(&client, &server, "/access_tokens/55?page=1", None).await;
                get(&client, &server, "/access_tokens/55?page=2", None).await;
            }
            _ => {
                let first = create.to_string().into_bytes();
                let second = renamed.to_string().into_bytes();
                assert_eq!(post(&server, "/access_tokens/9/x", first, false).await, 404);
                assert_eq!(
                    post(&server, "/access_tokens/9/x", second, false).await,
                    404
                );
            }
        }
        reached += 1;
        assert_eq!(
            upstream.request_count(),
            reached,
            "{label}: the repeat was served"
        );
        let stderr = stop(server).await;
        assert!(stderr.contains("(new episode 1)"), "{label}: {stderr}");
    }
    let paths = recorded_paths(&dir.join("one.json"));
    assert_eq!(
        paths,
        [
            "/access_tokens/312",
            "/access_tokens",
            "/access_tokens",
            "/access_tokens/55",
            "/access_tokens/9/x"
        ]
    );
}

/// When the new episodes cannot be compacted at shutdown (here, a journal
/// line broken by hand meanwhile), replay says so and exits 2; the journal
/// keeps every episode, and the cassette is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_compaction_of_new_episodes_exits_2_and_keeps_the_journal() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_cassette(&dir.join("one.json"), &["312"]);
    let before = std::fs::read(dir.join("one.json")).unwrap();
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let server = recording_replay(dir, &upstream, &["one.json"], &[], "run.stderr");
    get(&client, &server, "/access_tokens", None).await;
    let journal = dir.join("one.json.journal");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("not json\n");
    std::fs::write(&journal, &text).unwrap();
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("datovcr: compacting the new episodes failed (the journal keeps every one)"),
        "{stderr}"
    );
    assert!(!stderr.contains("datovcr: wrote"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("one.json")).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
}
