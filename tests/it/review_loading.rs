//! Review of the faster cassette loading (`cassette::stream`, `wire`,
//! `replay::library`): cassettes and requests on which the new loading
//! behaved otherwise than the whole-file reader, each break now fixed.

use datovcr::cassette::Cassette;
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
