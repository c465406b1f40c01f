//! A5: a journal is the cassette it belongs to, for every reader, even
//! when the crash came before the first compaction and there is no
//! cassette file at all.

use super::*;
use crate::support::proxy::client_for;
use crate::support::upstream::FakeDato;

const RECORDED: [&str; 3] = ["/echo/1", "/echo/2", "/echo/3"];

/// Serves `paths` from `replay`: each must be a hit.
async fn assert_served(
    client: &HttpsClient,
    replay: &ServerProcess,
    paths: &[&str],
    cassette: Option<&str>,
) {
    for path in paths {
        let (status, headers, body) = get(client, &replay.url(path), cassette).await;
        assert_eq!(
            status,
            200,
            "{path}: {:?} {}",
            datovcr_error(&headers),
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_before_the_first_compaction_every_reader_reads_the_journal() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    let cassette = folder.join("crashed.json");
    let proxy = start(
        work.path(),
        "proxy",
        &proxy_args(&upstream.base_url(), &cassette, &[]),
    );
    for path in RECORDED {
        assert_eq!(get(&client, &proxy.url(path), None).await.0, 200);
    }
    let (status, _) = tokio::task::spawn_blocking(move || proxy.stop_with(libc::SIGKILL))
        .await
        .unwrap();
    assert!(!status.success());
    assert!(!cassette.exists(), "killed before its first compaction");
    assert!(folder.join("crashed.json.journal").is_file());
    let before = snapshot(&folder);
    upstream.shutdown().await;

    // Before: "cannot read cassette".
    let named = start(
        work.path(),
        "replay-named",
        &replay_args(&[&cassette], &["--strict"]),
    );
    assert_served(&client, &named, &RECORDED, None).await;
    let (code, stderr) = stop(named).await;
    assert_eq!(
        code,
        Some(0),
        "--strict: every interaction served: {stderr}"
    );

    // Before: "no cassette (*.json) found".
    let folder_replay = start(
        work.path(),
        "replay-folder",
        &replay_args(&[&folder], &["--strict"]),
    );
    assert_served(&client, &folder_replay, &RECORDED, Some("crashed")).await;
    let (code, stderr) = stop(folder_replay).await;
    assert_eq!(code, Some(0), "{stderr}");

    // Before: 0 interactions checked, exit 0.
    for path in [&folder, &cassette] {
        let (code, report) = schema_check(work.path(), &[path]);
        assert_eq!(
            report["summary"]["interactions"],
            3,
            "{}: {report}",
            path.display()
        );
        assert_eq!(report["summary"]["files"], 1, "{report}");
        assert_eq!(code, Some(0), "{report}");
    }
    assert_eq!(snapshot(&folder), before, "readers change nothing");
}

/// Every shape a cassette can have on disk between crashes, read alike by
/// replay and schema-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pending_shape_is_read_as_its_cassette() {
    let upstream_for_ca = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream_for_ca);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    // A cassette and a journal of later exchanges.
    write_cassette(&folder.join("both.json"), &["/both/1", "/both/2"]);
    std::fs::write(
        folder.join("both.json.journal"),
        journal_lines(&["/both/3"]),
    )
    .unwrap();
    // An interrupted merge into a cassette that did not exist yet, and a
    // journal written after it.
    std::fs::write(
        folder.join("merging.json.merge-0"),
        journal_lines(&["/merging/1"]),
    )
    .unwrap();
    std::fs::write(
        folder.join("merging.json.journal"),
        journal_lines(&["/merging/2"]),
    )
    .unwrap();
    // A crash in the very first compaction, after the journal became a
    // merge file and before the cassette was written.
    std::fs::write(
        folder.join("first.json.merge-0"),
        journal_lines(&["/first/1", "/first/2"]),
    )
    .unwrap();
    // A journal whose last line a crash cut short (never acknowledged).
    let mut torn = journal_lines(&["/torn/1", "/torn/2"]);
    torn.extend_from_slice(b"{\"recorded_at\":\"2026-11-");
    std::fs::write(folder.join("torn.json.journal"), torn).unwrap();
    // A journal-only cassette in a subfolder.
    std::fs::write(
        folder.join("nested/deeper.json.journal"),
        journal_lines(&["/deeper/1"]),
    )
    .unwrap();
    // Temp files of a crashed write are not cassettes.
    std::fs::write(
        folder.join(".ghost.json.tmp-123-0"),
        b"{\"version\": 1, \"interactions\": [",
    )
    .unwrap();
    let expected: [(&str, &[&str]); 5] = [
        ("both", &["/both/1", "/both/2", "/both/3"]),
        ("merging", &["/merging/1", "/merging/2"]),
        ("first", &["/first/1", "/first/2"]),
        ("torn", &["/torn/1", "/torn/2"]),
        ("deeper", &["/deeper/1"]),
    ];
    let before = snapshot(&folder);

    let replay = start(
        work.path(),
        "replay",
        &replay_args(&[&folder], &["--strict"]),
    );
    for (name, paths) in expected {
        assert_served(&client, &replay, paths, Some(name)).await;
    }
    let (status, _, body) = get(&client, &replay.url("/echo/1"), Some("ghost")).await;
    assert_eq!(status.as_u16(), 599, "{}", String::from_utf8_lossy(&body));
    let (code, stderr) = stop(replay).await;
    // The ghost miss fails --strict; nothing else does.
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("never used"), "{stderr}");
    assert!(!stderr.contains("skipping cassette"), "{stderr}");

    let (code, report) = schema_check(work.path(), &[&folder]);
    assert_eq!(report["unreadable"], serde_json::json!([]), "{report}");
    assert_eq!(report["summary"]["files"], 5, "{report}");
    assert_eq!(report["summary"]["interactions"], 10, "{report}");
    assert_eq!(code, Some(0), "{report}");
    // Named one by one, too.
    for (name, paths) in expected {
        let file = if name == "deeper" {
            folder.join("nested/deeper.json")
        } else {
            folder.join(format!("{name}.json"))
        };
        let (_, report) = schema_check(work.path(), &[&file]);
        assert_eq!(
            report["summary"]["interactions"],
            paths.len(),
            "{name}: {report}"
        );
        assert_eq!(recorded_paths(&file), paths, "{name}");
    }
    assert_eq!(snapshot(&folder), before, "readers change nothing");
}
