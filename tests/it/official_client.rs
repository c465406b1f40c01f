//! The official client, `@datocms/cma-client-node` (tests/clients/node),
//! against the real `datovcr` binary: it records the six access-token calls
//! through the proxy in front of [`FakeDato`], replays them offline with the
//! same results, and gets `--enforce`'s 422 as an `ApiError` it can parse.
//!
//! Needs `node` (20+) on PATH and `npm ci --prefix tests/clients/node`; a
//! missing one fails the test with the fix, it never skips.

use crate::support::client::send;
use crate::support::node::{self, NodeRun};
use crate::support::process::ServerProcess;
use crate::support::proxy::{api_headers, borrowed, client_for};
use crate::support::upstream::{FakeDato, FakeDatoOptions, random_token};
use assert_cmd::Command as BinCommand;
use http::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one run of a Node script may take (it makes about ten loopback
/// requests; node itself starts in well under a second).
const NODE_TIMEOUT: Duration = Duration::from_secs(60);
/// The calls `flow.mjs` makes, in order.
const FLOW_STEPS: [&str; 9] = [
    "list",
    "create",
    "find",
    "update with relationships",
    "update without relationships",
    "regenerateToken",
    "list again",
    "destroy",
    "find destroyed",
];
/// The access-token objects in `flow.mjs`'s output: one in the first list,
/// two in the second, and one for each of the six single-token steps.
const FLOW_TOKEN_FIELDS: usize = 9;
const PREFIX: &str = "/proxy-prefix";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// How the script prints token secrets.
#[derive(Clone, Copy, PartialEq)]
enum Tokens {
    /// `DATOVCR_SHOW_TOKENS=1`: verbatim, so they can be checked.
    Shown,
    /// The default: `"[HIDDEN]"` (placeholders and `null` kept).
    Hidden,
}

/// Runs `node <script>` against `base_url` with `bearer` through the one
/// Node runner ([`node::run_async`]), killed after [`NODE_TIMEOUT`].
async fn node(script: &'static str, base_url: String, bearer: &str, tokens: Tokens) -> NodeRun {
    let shown = if tokens == Tokens::Shown { "1" } else { "0" };
    let env = vec![
        ("DATOVCR_BASE_URL", base_url),
        ("DATOVCR_API_TOKEN", bearer.to_owned()),
        ("DATOVCR_SHOW_TOKENS", shown.to_owned()),
    ];
    node::run_async(script, env, NODE_TIMEOUT).await
}

/// The script's JSON document, from the pinned client; fails with its
/// stderr unless it exited 0.
fn succeeded(run: &NodeRun, what: &str) -> Value {
    let document = run.document(what);
    assert_eq!(
        document["client_version"],
        node::pinned_version("@datocms/cma-client-node").as_str(),
        "{what}: node_modules holds another client version; run `npm ci --prefix tests/clients/node`"
    );
    document
}

/// Replaces every `token` of an access-token object in `value` by
/// `placeholder` and returns the values that were there, in document order.
fn take_tokens(value: &mut Value, placeholder: &str) -> Vec<Value> {
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("access_token")
                && let Some(token) = map.get_mut("token")
            {
                found.push(std::mem::replace(token, Value::from(placeholder)));
            }
            for child in map.values_mut() {
                found.extend(take_tokens(child, placeholder));
            }
        }
        Value::Array(items) => {
            for item in items {
                found.extend(take_tokens(item, placeholder));
            }
        }
        _ => {}
    }
    found
}

fn step_names(document: &Value) -> Vec<&str> {
    document["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .map(|step| step["step"].as_str().expect("a step name"))
        .collect()
}

fn step<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == name)
        .map(|step| &step["result"])
        .unwrap_or_else(|| panic!("no step {name:?} in {document:#}"))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn assert_no_canary_on_disk(dir: &Path, canaries: &[String]) {
    let files = files_under(dir);
    assert!(
        !files.is_empty(),
        "nothing was written under {}",
        dir.display()
    );
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for canary in canaries {
            assert!(
                !text.contains(canary.as_str()),
                "canary secret {canary} is in {}",
                file.display()
            );
        }
    }
}

fn canary_fake() -> FakeDatoOptions {
    FakeDatoOptions::default().token_generator(|n| format!("canarynode{n:04}x{}", random_token()))
}

fn proxy_args(fake: &FakeDato, cassette: &str, extra: &[&str]) -> Vec<String> {
    let mut list = args(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &fake.base_url(),
        "--ca-file",
        &fake.ca_file().display().to_string(),
        "--cassette",
        cassette,
    ]);
    list.extend(args(extra));
    list
}

async fn terminate(server: ServerProcess, what: &str) -> String {
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(
        status.success(),
        "{what} exited with {status}; stderr:\n{stderr}"
    );
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_records_through_the_proxy_and_replays_offline_identically() {
    let work = tempfile::tempdir().unwrap();
    let cassette = "cassettes/node.json";
    let bearer = format!("canarynodebearer{}", random_token());
    let fake = FakeDato::start(canary_fake()).await;

    // Recording: node -> datovcr proxy -> FakeDato over TLS.
    let proxy = ServerProcess::start(
        work.path(),
        &proxy_args(&fake, cassette, &[]),
        &work.path().join("proxy.stderr"),
    );
    let run = node("flow.mjs", proxy.url(""), &bearer, Tokens::Shown).await;
    let mut recorded = succeeded(&run, "recording through the proxy");
    let proxy_stderr = terminate(proxy, "the proxy").await;
    assert_eq!(step_names(&recorded), FLOW_STEPS, "{recorded:#}");
    assert!(proxy_stderr.contains("9 exchange(s)"), "{proxy_stderr}");
    assert!(
        proxy_stderr.contains(&format!("wrote {cassette}: 9 interaction(s)")),
        "{proxy_stderr}"
    );
    assert!(!proxy_stderr.contains("violation:"), "{proxy_stderr}");

    // The fake saw the official client's requests, with its bearer, unchanged.
    let id = step(&recorded, "create")["id"]
        .as_str()
        .expect("create returned an id")
        .to_owned();
    let expected: Vec<(&str, String)> = vec![
        ("GET", "/access_tokens".into()),
        ("POST", "/access_tokens".into()),
        ("GET", format!("/access_tokens/{id}")),
        ("PUT", format!("/access_tokens/{id}")),
        ("PUT", format!("/access_tokens/{id}")),
        ("POST", format!("/access_tokens/{id}/regenerate_token")),
        ("GET", "/access_tokens".into()),
        (
            "DELETE",
            format!("/access_tokens/{id}?destination_user_type=account&destination_user_id=7865"),
        ),
        ("GET", format!("/access_tokens/{id}")),
    ];
    let received = fake.requests();
    let seen: Vec<(&str, String)> = received
        .iter()
        .map(|r| (r.method.as_str(), r.path_and_query.clone()))
        .collect();
    assert_eq!(seen, expected);
    for request in &received {
        assert_eq!(request.bearer.as_deref(), Some(bearer.as_str()));
        assert_eq!(
            request.header("user-agent"),
            Some("@datocms/cma-client v5.8.1")
        );
    }
    let update_bodies: Vec<Value> = received[3..5].iter().map(|r| r.json()).collect();
    assert!(update_bodies[0]["data"].get("relationships").is_some());
    assert!(update_bodies[1]["data"].get("relationships").is_none());

    // Through the proxy the client saw the real secrets; regenerate changed one.
    let issued = fake.issued_tokens();
    let created_token = step(&recorded, "create")["token"].clone();
    let regenerated_token = step(&recorded, "regenerateToken")["token"].clone();
    assert_ne!(created_token, regenerated_token);
    assert_eq!(step(&recorded, "destroy")["token"], regenerated_token);
    let recorded_tokens = take_tokens(&mut recorded, "[REDACTED]");
    assert_eq!(recorded_tokens.len(), FLOW_TOKEN_FIELDS, "{recorded:#}");
    for token in &recorded_tokens {
        assert!(
            token
                .as_str()
                .is_some_and(|t| issued.iter().any(|i| i == t)),
            "{token} is not a token the fake issued: {issued:?}"
        );
    }
    let mut canaries = vec![bearer.clone()];
    canaries.extend(issued);
    fake.shutdown().await;

    // Replaying: the upstream is gone; replay serves the cassette.
    let replay = ServerProcess::start(
        work.path(),
        &args(&[
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--strict",
            "--cassette",
            cassette,
        ]),
        &work.path().join("replay.stderr"),
    );
    let run = node("flow.mjs", replay.url(""), &bearer, Tokens::Shown).await;
    let mut replayed = succeeded(&run, "replaying the cassette");
    let replay_stderr = terminate(replay, "replay --strict").await;
    assert!(
        replay_stderr.contains("replay summary: 9 served, 0 miss(es)"),
        "{replay_stderr}"
    );
    let replayed_tokens = take_tokens(&mut replayed, "[REDACTED]");
    assert_eq!(replayed_tokens.len(), FLOW_TOKEN_FIELDS);
    for token in &replayed_tokens {
        assert_eq!(token, "[REDACTED]", "replay serves the placeholder");
    }
    assert_eq!(
        replayed, recorded,
        "replay must give the client what the recording gave it, tokens aside"
    );

    // The same cassette behind a baseUrl with a path (reference §8).
    let prefixed = ServerProcess::start(
        work.path(),
        &args(&[
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--strict",
            "--path-prefix",
            PREFIX,
            "--cassette",
            cassette,
        ]),
        &work.path().join("replay-prefixed.stderr"),
    );
    let run = node(
        "flow.mjs",
        prefixed.url(&format!("{PREFIX}/")),
        &bearer,
        Tokens::Shown,
    )
    .await;
    let mut replayed_prefixed = succeeded(&run, "replaying behind a path prefix");
    let prefixed_stderr = terminate(prefixed, "replay --path-prefix").await;
    assert!(
        prefixed_stderr.contains("replay summary: 9 served, 0 miss(es)"),
        "{prefixed_stderr}"
    );
    take_tokens(&mut replayed_prefixed, "[REDACTED]");
    assert_eq!(replayed_prefixed, recorded);

    // No canary anywhere on disk (cassette, journal, lock, every stderr).
    let cassette_text = std::fs::read_to_string(work.path().join(cassette)).unwrap();
    assert!(cassette_text.contains("\"Bearer [REDACTED]\""));
    assert!(cassette_text.contains("\"token\": \"[REDACTED]\""));
    assert_no_canary_on_disk(work.path(), &canaries);

    let check = BinCommand::cargo_bin("datovcr")
        .unwrap()
        .current_dir(work.path())
        .args(["schema-check", cassette])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(0);
    let report = String::from_utf8_lossy(&check.get_output().stdout).into_owned();
    assert!(
        report
            .contains("checked 9 interaction(s) in 1 file(s): 0 violation(s), 0 leaked secret(s)"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_stops_what_breaks_the_contract_with_a_422_the_client_parses() {
    let work = tempfile::tempdir().unwrap();
    let bearer = format!("canarynodebearer{}", random_token());
    let fake = FakeDato::start(canary_fake()).await;
    let proxy = ServerProcess::start(
        work.path(),
        &proxy_args(&fake, "cassettes/enforce.json", &["--enforce"]),
        &work.path().join("proxy.stderr"),
    );
    let run = node("enforce.mjs", proxy.url(""), &bearer, Tokens::Hidden).await;
    let document = succeeded(&run, "enforce.mjs through proxy --enforce");
    assert_eq!(
        fake.request_count(),
        0,
        "a request that breaks the contract reached the upstream: {:?}",
        fake.requests()
    );

    let cases = document["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 2, "{document:#}");
    let pointers = |case: &Value| -> Vec<String> {
        case["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .map(|v| v["pointer"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        pointers(&cases[0]),
        ["/data/attributes/can_access_cma"],
        "{document:#}"
    );
    assert_eq!(pointers(&cases[1]), ["/data/relationships"], "{document:#}");

    // Control: the same proxy does forward a request that keeps the contract,
    // so the zero above is the enforcement, not a dead upstream.
    let (status, _, _) = send(
        &client_for(&fake),
        Method::GET,
        &proxy.url("/access_tokens"),
        &borrowed(&api_headers(&bearer, false)),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.request_count(), 1);

    let stderr = terminate(proxy, "proxy --enforce").await;
    assert!(stderr.contains("422"), "{stderr}");
    let mut canaries = vec![bearer];
    canaries.extend(fake.issued_tokens());
    assert_no_canary_on_disk(work.path(), &canaries);
}

/// A `baseUrl` with a path (reference §8), in front of an upstream that
/// gzips whatever the proxy asks for, as a misbehaving CDN might.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefixed_base_url_and_a_gzipping_upstream_record_plain_paths_and_bodies() {
    let work = tempfile::tempdir().unwrap();
    let cassette = "cassettes/prefixed.json";
    let bearer = format!("canarynodebearer{}", random_token());
    let fake = FakeDato::start(canary_fake().force_gzip()).await;
    let proxy = ServerProcess::start(
        work.path(),
        &proxy_args(&fake, cassette, &["--path-prefix", PREFIX]),
        &work.path().join("proxy.stderr"),
    );
    let run = node(
        "flow.mjs",
        proxy.url(&format!("{PREFIX}/")),
        &bearer,
        Tokens::Hidden,
    )
    .await;
    let mut document = succeeded(&run, "recording behind a path prefix");
    terminate(proxy, "proxy --path-prefix").await;
    assert_eq!(step_names(&document), FLOW_STEPS);

    // By default the script's output keeps no secret either.
    let printed = take_tokens(&mut document, "");
    assert_eq!(printed.len(), FLOW_TOKEN_FIELDS);
    for token in printed {
        assert_eq!(token, "[HIDDEN]");
    }
    for canary in fake.issued_tokens().iter().chain([&bearer]) {
        assert!(!run.stdout.contains(canary.as_str()), "{canary} printed");
    }

    let upstream_paths: Vec<String> = fake.requests().iter().map(|r| r.path().into()).collect();
    assert_eq!(upstream_paths.len(), FLOW_STEPS.len());
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(work.path().join(cassette)).unwrap()).unwrap();
    let recorded_paths: Vec<String> = recorded["interactions"]
        .as_array()
        .expect("interactions")
        .iter()
        .map(|i| i["request"]["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded_paths, upstream_paths);
    for path in &upstream_paths {
        assert!(path.starts_with("/access_tokens"), "{upstream_paths:?}");
    }
    // The client decoded the gzip it was passed; the cassette holds JSON.
    for interaction in recorded["interactions"].as_array().unwrap() {
        let response = &interaction["response"];
        assert!(response["headers"].get("content-encoding").is_none());
        assert!(response["body"].get("json").is_some(), "{response:#}");
    }
}
