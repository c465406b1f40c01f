//! A1: a body nested past what serde_json reads in a cassette envelope was
//! answered, journaled, and then bricked the folder. Now every body the
//! recorder writes is one every reader accepts.

use super::*;
use crate::support::proxy::client_for;
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply};
use datovcr::cassette::{Body, MAX_JSON_DEPTH};

/// `n` nested arrays: `[[[]]]`.
fn arrays(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// `n` nested objects: `{"a":{"a":1}}`.
fn objects(n: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
}

/// Arrays and objects taking turns, `n` levels.
fn mixed(n: usize) -> String {
    let open: String = (0..n)
        .map(|i| if i % 2 == 0 { "[" } else { "{\"k\":" })
        .collect();
    let close: String = (0..n)
        .rev()
        .map(|i| if i % 2 == 0 { "]" } else { "}" })
        .collect();
    format!("{open}0{close}")
}

/// The response bodies, by path: (body, stored as JSON?).
fn responses() -> Vec<(&'static str, String, bool)> {
    vec![
        // The issue's sample: 126 levels parse alone (serde_json reads 127)
        // but not inside a cassette (5 more levels) or a journal line (3).
        ("/deep/arrays-126", arrays(126), false),
        ("/deep/objects-126", objects(126), false),
        ("/deep/mixed-127", mixed(127), false),
        ("/deep/arrays-at-limit", arrays(MAX_JSON_DEPTH), true),
        (
            "/deep/objects-past-limit",
            objects(MAX_JSON_DEPTH + 1),
            false,
        ),
        ("/deep/arrays-300", arrays(300), false),
        // Brackets and escaped quotes inside a string nest nothing.
        (
            "/deep/in-a-string",
            format!(
                "{{\"s\":\"{}\\\"{}\\\\\"}}",
                "[".repeat(126),
                "{".repeat(126)
            ),
            true,
        ),
    ]
}

/// The request bodies sent with POST, by path.
fn requests() -> Vec<(&'static str, String, bool)> {
    vec![
        ("/deep/post-arrays-126", arrays(126), false),
        ("/deep/post-objects-at-limit", objects(MAX_JSON_DEPTH), true),
    ]
}

fn upstream_options() -> FakeDatoOptions {
    FakeDatoOptions::default()
        .plain_http()
        .respond_with(|request| {
            let path = request.path().to_owned();
            let body = if request.method == "POST" {
                br#"{"created":true}"#.to_vec()
            } else {
                responses()
                    .into_iter()
                    .find(|(at, _, _)| *at == path)?
                    .1
                    .into_bytes()
            };
            Some(ScriptedReply {
                status: if request.method == "POST" { 201 } else { 200 },
                headers: vec![("content-type".into(), "application/json".into())],
                body,
            })
        })
}

fn assert_stored(body: &Body, sent: &str, as_json: bool, what: &str) {
    match body {
        Body::Json(value) if as_json => {
            assert_eq!(serde_json::to_string(value).unwrap(), sent, "{what}")
        }
        Body::Text(text) if !as_json => assert_eq!(text, sent, "{what}: byte for byte"),
        other => panic!("{what}: stored as {other:?}, expected json={as_json}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_nested_past_the_readers_limit_are_recorded_as_text_and_every_reader_accepts_them() {
    let upstream = FakeDato::start(upstream_options()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    let cassette = folder.join("deep.json");
    let proxy = start(
        work.path(),
        "proxy",
        &proxy_args(&upstream.base_url(), &cassette, &[]),
    );
    for (path, body, _) in responses() {
        let (status, headers, got) = get(&client, &proxy.url(path), None).await;
        assert_eq!(status, 200, "{path}: {:?}", datovcr_error(&headers));
        assert_eq!(got, body.as_bytes(), "{path}");
    }
    for (path, body, _) in requests() {
        let (status, headers, _) =
            request(&client, Method::POST, &proxy.url(path), None, body.into()).await;
        assert_eq!(status, 201, "{path}: {:?}", datovcr_error(&headers));
    }
    // Before: compaction failed with `recursion limit exceeded`, exit 2.
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");

    // Every reader of the library reads it, and the bodies are as sent.
    let loaded = Cassette::load(&cassette).unwrap_or_else(|err| panic!("{err}"));
    let expected = responses().len() + requests().len();
    assert_eq!(loaded.interactions.len(), expected);
    for ((path, body, as_json), interaction) in responses().into_iter().zip(&loaded.interactions) {
        assert_eq!(interaction.request.path, path);
        assert_stored(&interaction.response.body, &body, as_json, path);
    }
    for ((path, body, as_json), interaction) in requests()
        .into_iter()
        .zip(&loaded.interactions[responses().len()..])
    {
        assert_stored(&interaction.request.body, &body, as_json, path);
    }
    let mut streamed = 0;
    datovcr::cassette::for_each_interaction::<()>(&cassette, &mut |_| {
        streamed += 1;
        Ok(())
    })
    .unwrap()
    .unwrap();
    let mut wire = 0;
    datovcr::cassette::for_each_wire_interaction::<()>(&cassette, &mut |_| {
        wire += 1;
        Ok(())
    })
    .unwrap()
    .unwrap();
    assert_eq!((streamed, wire), (expected, expected));

    // Replay serves every body byte for byte and matches the deep requests.
    let replay = start(work.path(), "replay", &replay_args(&[&folder], &[]));
    for (path, body, _) in responses() {
        let (status, _, got) = get(&client, &replay.url(path), None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(got, body.as_bytes(), "{path} replayed");
    }
    for (path, body, _) in requests() {
        let (status, _, _) =
            request(&client, Method::POST, &replay.url(path), None, body.into()).await;
        assert_eq!(status, 201, "{path} replayed");
    }
    let (code, stderr) = stop(replay).await;
    assert_eq!(code, Some(0), "{stderr}");

    // schema-check reads it (nothing here is under contract).
    let (code, report) = schema_check(work.path(), &[&folder]);
    assert_eq!(report["unreadable"], serde_json::json!([]), "{report}");
    assert_eq!(report["summary"]["interactions"], expected, "{report}");
    assert_eq!(code, Some(0), "{report}");

    // And the proxy starts on the folder again.
    let proxy = start(
        work.path(),
        "proxy-again",
        &proxy_args(&upstream.base_url(), &cassette, &[]),
    );
    let (status, _, _) = get(&client, &proxy.url("/deep/arrays-126"), None).await;
    assert_eq!(status, 200);
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&cassette).len(), expected + 1);
}

/// The readers' side of the one rule: a hand-written `json` body at the
/// limit is read by every reader, one level deeper is refused by every
/// reader with the same message, in a cassette and in a journal alike.
#[test]
fn every_reader_applies_the_same_depth_rule_to_hand_written_files() {
    let dir = tempfile::tempdir().unwrap();
    for (depth, builder) in [
        (MAX_JSON_DEPTH, arrays as fn(usize) -> String),
        (MAX_JSON_DEPTH, objects),
        (MAX_JSON_DEPTH + 1, arrays),
        (MAX_JSON_DEPTH + 1, objects),
        (MAX_JSON_DEPTH + 1, mixed),
        (122, arrays),
    ] {
        let accepted = depth <= MAX_JSON_DEPTH;
        let element = format!(
            r#"{{"recorded_at":"2026-11-27T10:00:00Z","request":{{"method":"GET","path":"/"}},"response":{{"status":200,"body":{{"json":{}}}}}}}"#,
            builder(depth)
        );
        let file = dir.path().join("hand.json");
        std::fs::write(
            &file,
            format!("{{\"version\": 1, \"interactions\": [\n{element}\n]}}\n"),
        )
        .unwrap();
        let journal_only = dir.path().join("lines.json");
        std::fs::write(
            dir.path().join("lines.json.journal"),
            format!("{element}\n"),
        )
        .unwrap();

        let whole = Cassette::load(&file).map(|c| c.interactions.len());
        let streamed = datovcr::cassette::for_each_interaction::<()>(&file, &mut |_| Ok(()))
            .map(|outcome| outcome.unwrap());
        let wire = datovcr::cassette::for_each_wire_interaction::<()>(&file, &mut |_| Ok(()))
            .map(|outcome| outcome.unwrap());
        let journal = datovcr::recorder::load_with_journal(&journal_only);
        if accepted {
            assert_eq!(whole.unwrap(), 1, "depth {depth}");
            streamed.unwrap();
            wire.unwrap();
            assert_eq!(journal.unwrap().interactions.len(), 1, "depth {depth}");
        } else {
            let message = whole.unwrap_err().to_string();
            assert!(
                message.contains(&format!("over the cassette limit of {MAX_JSON_DEPTH}")),
                "depth {depth}: {message}"
            );
            assert_eq!(streamed.unwrap_err().to_string(), message);
            assert_eq!(wire.unwrap_err().to_string(), message);
            let journal = journal.unwrap_err().to_string();
            assert!(
                journal.contains("lines.json.journal, line 1")
                    && journal.contains(&format!("nests {depth} arrays and objects")),
                "depth {depth}: {journal}"
            );
        }
    }
}

/// A deep body holding a secret is redacted as text and recorded, not
/// turned back into JSON the readers would refuse (and then refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_body_holding_a_secret_is_recorded_redacted_and_readable() {
    const SECRET: &str = "tok-deep-0123456789abcdef";
    let body = |depth: usize| {
        format!(
            "{}{{\"token\":\"{SECRET}\"}}{}",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(move |request| {
        let depth: usize = request.path().rsplit('/').next()?.parse().ok()?;
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body(depth).into_bytes(),
        })
    }))
    .await;
    let client = client_for(&upstream);
    let dir = tempfile::tempdir().unwrap();
    let proxy = crate::support::proxy::start_proxy(&upstream, dir.path(), |_| {}).await;
    let depths = [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH + 5, 126];
    for depth in depths {
        let (status, headers, _) =
            get(&client, &format!("{}/deep/{depth}", proxy.uri()), None).await;
        assert_eq!(status, 200, "{depth}: {:?}", datovcr_error(&headers));
    }
    let summary = proxy.shutdown().await;
    assert!(summary.record_error.is_none(), "{:?}", summary.record_error);
    let cassette = dir.path().join("cassette.json");
    let bytes = std::fs::read_to_string(&cassette).unwrap();
    assert!(!bytes.contains(SECRET), "the secret reached the disk");
    let loaded = Cassette::load(&cassette).unwrap();
    for (depth, interaction) in depths.into_iter().zip(&loaded.interactions) {
        let redacted = body(depth).replace(SECRET, "[REDACTED]");
        assert_stored(
            &interaction.response.body,
            &redacted,
            depth < MAX_JSON_DEPTH,
            &format!("depth {depth}"),
        );
    }
}
