//! Recorder tests for issue 12's "data on disk": the depth rule on the
//! write path, cassettes that cannot be read, resets, links.

use super::compact::reset_locked;
use super::durable::{LockGuard, write_atomic};
use super::paths::CassettePaths;
use super::*;
use crate::cassette::{
    Body, Cassette, Interaction, MAX_JSON_DEPTH, RecordedRequest, RecordedResponse,
};
use crate::redact::Redactor;
use std::fs;

fn interaction(path: &str, body: Body) -> Interaction {
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: Default::default(),
            headers: Default::default(),
            body: Body::Empty,
        },
        response: RecordedResponse {
            status: 200,
            headers: Default::default(),
            body,
        },
    }
}

fn line(path: &str) -> Vec<u8> {
    Redactor::default()
        .redact(interaction(path, Body::Empty))
        .to_journal_line()
        .unwrap()
}

fn nested(depth: usize) -> serde_json::Value {
    serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))).unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_json_body_the_readers_would_refuse_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("deep.json");
    let recorder = Recorder::new(RecordMode::New);
    // Built directly, as a redactor turning text back into JSON could.
    for side in ["request", "response"] {
        let mut deep = interaction("/deep", Body::Empty);
        let body = Body::Json(nested(MAX_JSON_DEPTH + 1));
        match side {
            "request" => deep.request.body = body,
            _ => deep.response.body = body,
        }
        let err = recorder
            .append(&cassette, &Redactor::default().redact(deep))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RecordError::Unreadable { .. }),
            "{side}: {err}"
        );
        assert!(
            err.to_string().contains("nests 101 arrays and objects"),
            "{err}"
        );
        assert_eq!(
            listing(dir.path()),
            Vec::<String>::new(),
            "{side}: nothing written"
        );
    }
    let at_limit = interaction("/limit", Body::Json(nested(MAX_JSON_DEPTH)));
    recorder
        .append(&cassette, &Redactor::default().redact(at_limit))
        .await
        .unwrap();
    recorder.close().await.unwrap();
    let loaded = Cassette::load(&cassette).unwrap();
    assert_eq!(
        loaded.interactions[0].response.body,
        Body::Json(nested(MAX_JSON_DEPTH))
    );
}

#[tokio::test]
async fn a_refused_cassette_gets_no_companion_file_and_is_not_compacted_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("package.json");
    fs::write(&package, "{\"name\": \"app\"}\n").unwrap();
    for mode in [RecordMode::New, RecordMode::All] {
        let recorder = Recorder::new(mode);
        let err = recorder.prepare(&package).await.unwrap_err();
        assert!(
            matches!(err, RecordError::Unusable { .. }),
            "{mode:?}: {err}"
        );
        assert!(err.is_conflict());
        let message = err.to_string();
        assert!(message.contains("package.json:1:"), "{message}");
        let written = recorder
            .append(
                &package,
                &Redactor::default().redact(interaction("/x", Body::Empty)),
            )
            .await;
        assert!(written.is_err(), "{mode:?}");
        assert_eq!(recorder.close().await.unwrap(), Vec::new(), "{mode:?}");
        assert_eq!(listing(dir.path()), ["package.json"], "{mode:?}");
        assert_eq!(
            fs::read_to_string(&package).unwrap(),
            "{\"name\": \"app\"}\n"
        );
    }
}

#[test]
fn a_reset_discards_nothing_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("kept.json");
    let paths = CassettePaths::new(&cassette).unwrap();
    let mut valid = Cassette::new();
    valid.interactions.push(interaction("/old", Body::Empty));
    let cases: [(&str, &[u8], &[u8]); 3] = [
        ("corrupt journal", &valid.to_bytes(), b"{\"oops\": 1}\n"),
        ("not a cassette", b"{\"name\": \"app\"}\n", &line("/new")),
        (
            "other version",
            b"{\"version\": 2, \"interactions\": []}\n",
            b"",
        ),
    ];
    for (case, file, journal) in cases {
        fs::write(&cassette, file).unwrap();
        fs::write(&paths.journal, journal).unwrap();
        let before = listing(dir.path());
        let _lock = LockGuard::acquire(&paths).unwrap();
        let err = reset_locked(&paths).unwrap_err();
        assert!(err.is_about_the_files(), "{case}: {err}");
        assert_eq!(fs::read(&cassette).unwrap(), file, "{case}");
        assert_eq!(fs::read(&paths.journal).unwrap(), journal, "{case}");
        let mut after = listing(dir.path());
        after.retain(|name| !name.ends_with(".lock"));
        let mut before = before;
        before.retain(|name| !name.ends_with(".lock"));
        assert_eq!(after, before, "{case}");
    }
}

#[test]
fn recover_dir_recovers_what_it_can_and_names_every_cassette_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.json.journal"), line("/a")).unwrap();
    fs::write(dir.path().join("b.json.journal"), b"not json\n").unwrap();
    fs::write(dir.path().join("c.json.journal"), line("/c")).unwrap();
    fs::write(dir.path().join("d.json"), b"[]").unwrap();
    fs::write(dir.path().join("d.json.journal"), line("/d")).unwrap();
    let failures = recover_dir(dir.path()).unwrap_err();
    let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("b.json.journal, line 1"),
        "{messages:?}"
    );
    assert!(messages[1].contains("d.json"), "{messages:?}");
    for good in ["a", "c"] {
        let cassette = Cassette::load(&dir.path().join(format!("{good}.json"))).unwrap();
        assert_eq!(cassette.interactions.len(), 1, "{good} recovered");
    }
    assert_eq!(
        fs::read(dir.path().join("b.json.journal")).unwrap(),
        b"not json\n"
    );
    assert_eq!(fs::read(dir.path().join("d.json")).unwrap(), b"[]");
    assert!(dir.path().join("d.json.journal").exists());
}

/// What the recorder relies on when it replaces a cassette: a rename over
/// a link replaces the link, never the file it points to.
#[test]
fn a_rename_over_a_link_replaces_the_link_not_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    fs::write(&target, b"outside").unwrap();
    let cassette = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &cassette).unwrap();
    let paths = CassettePaths::new(&cassette).unwrap();
    write_atomic(&paths, b"{}").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"outside");
    let replaced = fs::symlink_metadata(&cassette).unwrap();
    assert!(replaced.is_file() && !replaced.file_type().is_symlink());
    assert_eq!(fs::read(&cassette).unwrap(), b"{}");
}

/// The other reader rules (status, header names and values) are the
/// writer's too: an interaction built by a library user that breaks one is
/// refused before anything is written.
#[tokio::test]
async fn an_interaction_the_readers_would_refuse_for_its_head_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("head.json");
    let recorder = Recorder::new(RecordMode::New);
    type Break = fn(&mut crate::cassette::Interaction);
    let cases: [(&str, Break); 5] = [
        ("status 100", |i| i.response.status = 100),
        ("status 700", |i| i.response.status = 700),
        ("control character", |i| {
            i.response.headers.append("x-a", "one\r\ntwo")
        }),
        ("control character", |i| {
            i.request.headers.append("x-a", "nul\u{0}")
        }),
        ("not an HTTP token", |i| {
            i.response.headers.append("x served", "a")
        }),
    ];
    for (words, break_it) in cases {
        let mut broken = interaction("/head", Body::Empty);
        break_it(&mut broken);
        let err = recorder
            .append(&cassette, &Redactor::default().redact(broken))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RecordError::Unreadable { .. }),
            "{words}: {err}"
        );
        assert!(err.to_string().contains(words), "{words}: {err}");
        assert_eq!(
            listing(dir.path()),
            Vec::<String>::new(),
            "{words}: nothing written"
        );
    }
    recorder.close().await.unwrap();
}

/// A relative cassette path is resolved once and then remembered: its
/// spellings, relative and absolute, keep reaching the one writer, in
/// order, however many exchanges go through the remembered answer.
#[tokio::test]
async fn a_relative_cassette_path_and_its_absolute_spelling_share_one_writer() {
    let cwd = std::env::current_dir().expect("a working directory");
    let dir = tempfile::tempdir_in(&cwd).expect("a folder under the working directory");
    let relative = dir
        .path()
        .strip_prefix(&cwd)
        .expect("under the working directory")
        .join("rel.json");
    assert!(relative.is_relative());
    let absolute = dir.path().join("rel.json");
    let recorder = Recorder::with_fsync(RecordMode::New, Fsync::Periodic);
    let paths: Vec<String> = (0..6).map(|i| format!("/access_tokens/{i}")).collect();
    for (i, path) in paths.iter().enumerate() {
        let cassette = if i % 3 == 2 { &absolute } else { &relative };
        let exchange = Redactor::default().redact(interaction(path, Body::Empty));
        recorder.append(cassette, &exchange).await.expect("append");
    }
    let summaries = recorder.close().await.expect("close");
    assert_eq!(summaries.len(), 1, "one writer: {summaries:?}");
    assert_eq!(summaries[0].interactions, 6);
    let recorded: Vec<String> = Cassette::load(&absolute)
        .expect("loads")
        .interactions
        .into_iter()
        .map(|interaction| interaction.request.path)
        .collect();
    assert_eq!(recorded, paths);
}
