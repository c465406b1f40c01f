//! Review of the faster cassette loading (`cassette::stream`, `wire`,
//! `replay::library`): cassettes and requests on which the new loading
//! behaved otherwise than the whole-file reader, each break now fixed.

use crate::support::client::{HttpsClient, send};
use crate::support::process::ServerProcess;
use datovcr::cassette::Cassette;
use http::Method;
use std::path::Path;
use std::time::Duration;

/// A pretty-printed interaction (as datovcr writes them) whose request
/// carries `body`, a cassette `body` object's text.
fn interaction(path: &str, request_body: &str) -> String {
    format!(
        r#"    {{
      "recorded_at": "2026-11-27T10:00:00Z",
      "request": {{
        "method": "POST",
        "path": "{path}",
        "headers": {{
          "content-type": [
            "application/json"
          ]
        }},
        "body": {request_body}
      }},
      "response": {{
        "status": 200,
        "headers": {{
          "content-type": [
            "application/json"
          ]
        }},
        "body": {{
          "json": {{
            "served": "{path}"
          }}
        }}
      }}
    }}"#
    )
}

fn plain_client() -> HttpsClient {
    // The test CA is irrelevant for plain HTTP; any PEM will do.
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

fn cassette(interactions: &[String]) -> String {
    format!(
        "{{\n  \"version\": 1,\n  \"interactions\": [\n{}\n  ]\n}}\n",
        interactions.join(",\n")
    )
}

/// `datovcr replay` on `file` alone, expected not to start: exit code and stderr.
fn replay_refusal(dir: &Path, file: &str) -> (Option<i32>, String) {
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir)
        .args(["replay", "--listen", "127.0.0.1:0", "--cassette", file])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// serde_json's `Value` reads an object whose first member is named
/// `$serde_json::private::Number` (or `…::RawValue`) as the number (or
/// document) its string spells, and refuses it when the string is no
/// number (no JSON), is not a string, or another member follows. A request
/// body read in wire form was compacted as plain JSON, so replay started on
/// cassettes every other reader refuses, and keyed such a body as text.
/// Replay now refuses them with the whole-file reader's message and
/// position, also after 10,000 good interactions.
#[test]
fn request_bodies_the_json_reader_refuses_stop_replay_as_every_reader_does() {
    let dir = tempfile::tempdir().unwrap();
    let bodies = [
        r#"{"json": {"$serde_json::private::Number": "1", "b": 2}}"#,
        r#"{"json": {"$serde_json::private::Number": "abc"}}"#,
        r#"{"json": {"$serde_json::private::Number": "01"}}"#,
        r#"{"json": {"$serde_json::private::Number": 1}}"#,
        r#"{"json": {"data": {"attributes": {"$serde_json::private::Number": "1", "n": 2}}}}"#,
        r#"{"json": [true, {"$serde_json::private::Number": "1.5", "n": 2}]}"#,
        r#"{"json": {"$serde_json::private::RawValue": "[1,"}}"#,
        r#"{"json": {"$serde_json::private::RawValue": "1", "b": 2}}"#,
    ];
    let good: Vec<String> = (0..10_000)
        .map(|index| interaction(&format!("/items/{index}"), r#"{"json": {"a": 1}}"#))
        .collect();
    for (index, body) in bodies.iter().enumerate() {
        let alone = format!("alone-{index}.json");
        std::fs::write(
            dir.path().join(&alone),
            cassette(&[
                interaction("/first", r#"{"json": {}}"#),
                interaction("/odd", body),
            ]),
        )
        .unwrap();
        let mut files = vec![alone];
        // The element after 10,000 good ones, read in place or cut out at
        // a chunk boundary, depending on where it falls.
        if index < 2 {
            let after = format!("after-10000-{index}.json");
            let mut interactions = good.clone();
            interactions.push(interaction("/odd", body));
            std::fs::write(dir.path().join(&after), cassette(&interactions)).unwrap();
            files.push(after);
        }
        for file in files {
            let expected = Cassette::load(&dir.path().join(&file))
                .expect_err("the whole-file reader refuses it")
                .to_string();
            let (code, stderr) = replay_refusal(dir.path(), &file);
            assert_eq!(code, Some(2), "{body} in {file}: {stderr}");
            // Relative paths: the reader's message, position included.
            let expected = expected.replace(&format!("{}/", dir.path().display()), "");
            assert!(
                stderr.contains(&expected),
                "{body} in {file}: expected {expected:?} in\n{stderr}"
            );
        }
    }
}

/// The same members that `Value` does read (a number's text, a raw
/// value's JSON) keep matching what they spell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_the_json_reader_reads_as_numbers_match_what_they_spell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("private.json"),
        cassette(&[
            interaction(
                "/number",
                r#"{"json": {"$serde_json::private::Number": "1e5"}}"#,
            ),
            interaction(
                "/raw",
                r#"{"json": {"$serde_json::private::RawValue": "{\"b\": [1, 2.50]}"}}"#,
            ),
            interaction(
                "/nested",
                r#"{"json": {"a": {"$serde_json::private::Number": "-0.10"}}}"#,
            ),
        ]),
    )
    .unwrap();
    let args: Vec<String> = [
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        "private.json",
    ]
    .map(String::from)
    .to_vec();
    let server = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let client = plain_client();
    let json = [("content-type", "application/json")];
    for (path, body) in [
        ("/number", "100000"),
        ("/number", "1e5"),
        ("/raw", r#"{"b":[1,2.5]}"#),
        ("/nested", r#"{"a":-0.1}"#),
    ] {
        let (status, _, answer) = send(&client, Method::POST, &server.url(path), &json, body).await;
        assert_eq!(status, 200, "{path} {body}: {answer:?}");
        assert_eq!(
            answer,
            format!("{{\"served\":\"{path}\"}}").as_bytes(),
            "{path} {body}"
        );
    }
    let (status, _, miss) = send(
        &client,
        Method::POST,
        &server.url("/number"),
        &json,
        "100001",
    )
    .await;
    assert_eq!(status, 599, "{miss:?}");
    let miss = String::from_utf8_lossy(&miss);
    assert!(miss.contains(r#""pointer":"/body""#), "{miss}");
    tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
}
