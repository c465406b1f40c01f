//! Issue 15 review: the performance changes attacked from outside (replay's
//! one-pass body key, the handler run inside the connection, `--record
//! none`'s late secret search, `--threads`), each break now fixed.

use crate::support::client::{HttpsClient, send};
use crate::support::{interaction, request, token_resource};
use datovcr::cassette::{Body, Cassette};
use datovcr::replay::{ReplayHandle, ReplayServer};
use http::Method;
use serde_json::json;
use std::path::{Path, PathBuf};

fn plain_client() -> HttpsClient {
    // The test CA is irrelevant for plain HTTP; any PEM will do.
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

fn write_cassette(dir: &Path, cassette: &Cassette) -> PathBuf {
    let path = dir.join("cassette.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

async fn replay(path: &Path) -> ReplayHandle {
    ReplayServer::builder()
        .cassette(path)
        .quiet(true)
        .start()
        .await
        .expect("replay starts")
}

/// serde_json reads an object whose first member is named
/// `$serde_json::private::Number` as a number, when its string is one, and
/// one named `$serde_json::private::RawValue` as the document its string
/// spells. The one-pass key wrote such a string into the key as it stood,
/// so a body that is no JSON number matched a recording the tree never
/// matches (the string closing the member and opening another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_spelling_serde_json_private_names_matches_only_what_the_tree_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    // The second body as the recorder stores it: as text, since readers
    // refuse a `json` body naming a private name (`input_review`).
    let named = r#"{"a":1,"$serde_json::private::RawValue":"[]"}"#;
    for body in [
        Body::Json(json!({"a": 1, "b": 2})),
        Body::from_bytes(named.as_bytes(), Some("application/json")),
    ] {
        let mut recorded = request("POST", "/access_tokens", Some(json!({})));
        recorded.body = body;
        cassette.interactions.push(interaction(
            recorded,
            201,
            json!({"data": token_resource("312", None)}),
        ));
    }
    assert!(matches!(
        cassette.interactions[1].request.body,
        Body::Text(_)
    ));
    let server = replay(&write_cassette(dir.path(), &cassette)).await;
    let client = plain_client();
    let url = format!("{}/access_tokens", server.uri());
    let headers = [("content-type", "application/json")];
    let status = |body: &'static str| {
        let (client, url) = (&client, &url);
        async move {
            send(client, Method::POST, url, &headers, body)
                .await
                .0
                .as_u16()
        }
    };
    // What the tree reads as the recorded bodies matches (a control).
    assert_eq!(status(r#"{"b": 2, "a": 1.0}"#).await, 201);
    assert_eq!(
        status(r#"{"a":{"$serde_json::private::Number":"1"},"b":2}"#).await,
        201
    );
    assert_eq!(
        status(r#"{"a":1,"$serde_json::private::RawValue":"[]"}"#).await,
        201
    );
    // Not JSON numbers: the tree refuses these bodies, which are then
    // matched as text, and no recorded text is theirs.
    for body in [
        r#"{"a":{"$serde_json::private::Number":"1e0,\"b\":2e0"}}"#,
        r#"{"a":{"$serde_json::private::Number":"1e0"},"b":{"$serde_json::private::Number":"02"}}"#,
        r#"{"a":{"$serde_json::private::Number":"+1"},"b":2}"#,
        r#"{"a":{"$serde_json::private::Number":" 1"},"b":2}"#,
        // The tree reads `[]` and then finds a second member: not JSON.
        r#"{"$serde_json::private::RawValue":"[]","a":1}"#,
    ] {
        assert_eq!(status(body).await, 599, "{body}");
    }
    server.shutdown().await;
}

/// `--threads` and `DATOVCR_THREADS` outside 1..=1024 are refused before
/// any runtime exists. A huge count used to panic in the runtime builder
/// (an overflow) or start that many OS threads, or die when the OS refused
/// one; 0 was refused with a type's jargon.
#[test]
fn a_thread_count_outside_its_range_is_a_usage_error_naming_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = |flag: Option<&str>, env: Option<&str>| {
        let mut command = assert_cmd::Command::cargo_bin("datovcr").unwrap();
        command
            .current_dir(dir.path())
            .args([
                "replay",
                "--listen",
                "127.0.0.1:0",
                "--cassette",
                "none.json",
            ])
            .env_remove("DATOVCR_THREADS")
            .timeout(std::time::Duration::from_secs(20));
        if let Some(flag) = flag {
            // `=` so that `-1` is read as the option's value, not a flag.
            command.arg(format!("--threads={flag}"));
        }
        if let Some(env) = env {
            command.env("DATOVCR_THREADS", env);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for count in ["0", "1025", "65536", "4294967297", "18446744073709551615"] {
        for (flag, env) in [(Some(count), None), (None, Some(count))] {
            let (code, stderr) = run(flag, env);
            assert_eq!(code, Some(2), "{flag:?} {env:?}: {stderr}");
            assert!(stderr.contains("--threads"), "{stderr}");
            // Every count that fits a number names the range it missed.
            if count.len() < 19 {
                assert!(stderr.contains("1..=1024"), "{stderr}");
            }
        }
    }
    // Not a count at all.
    for text in ["two", "x", "-1"] {
        let (code, stderr) = run(Some(text), None);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.contains("--threads"), "{text}: {stderr}");
    }
}

fn interactions_in(path: &Path) -> usize {
    let text = std::fs::read(path).unwrap();
    let cassette: serde_json::Value = serde_json::from_slice(&text).unwrap();
    cassette["interactions"].as_array().unwrap().len()
}

/// Every mode that runs a runtime, on one worker (the current-thread
/// runtime) and on two: the proxy recording with each `--fsync`, replay
/// forwarding and recording a miss; each stops on SIGINT and on SIGTERM
/// with every exchange written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_records_and_stops_cleanly_on_one_worker_and_two() {
    use crate::support::process::ServerProcess;
    use crate::support::proxy::{api_headers, borrowed, client_for};
    use crate::support::upstream::{FakeDato, FakeDatoOptions};
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);
    let dir = tempfile::tempdir().unwrap();
    let tls = [
        "--upstream".to_owned(),
        upstream.base_url(),
        "--ca-file".to_owned(),
        upstream.ca_file().display().to_string(),
    ];
    let mut runs = 0;
    for threads in ["1", "2"] {
        for (index, fsync) in ["before-response", "after-response", "periodic"]
            .into_iter()
            .enumerate()
        {
            let signal = [libc::SIGINT, libc::SIGTERM][(index + runs) % 2];
            let cassette = dir.path().join(format!("proxy-{threads}-{fsync}.json"));
            let mut args: Vec<String> = ["proxy", "--listen", "127.0.0.1:0", "--fsync", fsync]
                .map(String::from)
                .to_vec();
            args.extend(tls.iter().cloned());
            args.extend(["--cassette".to_owned(), cassette.display().to_string()]);
            args.extend(["--threads".to_owned(), threads.to_owned()]);
            let stderr = dir.path().join(format!("proxy-{threads}-{fsync}.stderr"));
            let server = ServerProcess::start(dir.path(), &args, &stderr);
            for _ in 0..3 {
                let url = server.url("/access_tokens");
                let (status, _, _) =
                    send(&client, Method::GET, &url, &borrowed(&headers), "").await;
                assert_eq!(status, 200);
            }
            let (exit, log) = tokio::task::spawn_blocking(move || server.stop_with(signal))
                .await
                .unwrap();
            assert!(
                exit.success(),
                "{threads} {fsync} signal {signal}: {exit}\n{log}"
            );
            assert_eq!(interactions_in(&cassette), 3, "{threads} {fsync}: {log}");
            runs += 1;
        }

        // Replay, its misses forwarded and recorded.
        let cassette = dir.path().join(format!("replay-{threads}.json"));
        std::fs::write(&cassette, Cassette::new().to_bytes()).unwrap();
        let mut args: Vec<String> = ["replay", "--listen", "127.0.0.1:0", "--on-miss", "record"]
            .map(String::from)
            .to_vec();
        args.extend(tls.iter().cloned());
        args.extend(["--cassette".to_owned(), cassette.display().to_string()]);
        args.extend(["--threads".to_owned(), threads.to_owned()]);
        let stderr = dir.path().join(format!("replay-{threads}.stderr"));
        let server = ServerProcess::start(dir.path(), &args, &stderr);
        let url = server.url("/access_tokens");
        for _ in 0..2 {
            let (status, _, _) = send(&client, Method::GET, &url, &borrowed(&headers), "").await;
            assert_eq!(status, 200);
        }
        let signal = if threads == "1" {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        let (exit, log) = tokio::task::spawn_blocking(move || server.stop_with(signal))
            .await
            .unwrap();
        assert!(exit.success(), "replay {threads}: {exit}\n{log}");
        assert!(log.contains("1 new"), "replay {threads}: {log}");
        assert_eq!(interactions_in(&cassette), 1, "replay {threads}: {log}");
    }
    assert_eq!(upstream.request_count(), 6 * 3 + 2);
}
