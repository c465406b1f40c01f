//! A6: the recorder never follows a link for a file it writes (or reads
//! in order to write): journal, merge files, lock files, temp files, the
//! cassette it replaces. A link planted in the cassette folder is refused,
//! left in place, and its target never touched. Readers may follow links,
//! and the cassette folder itself may be a link the user chose.

use super::*;
use crate::support::proxy::{client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use std::os::unix::fs::symlink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_journal_link_is_never_appended_through() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    let outside = work.path().join("outside");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // Planted after start-up, where recovery does not look: the sample.
    // Planted before, holding something else: recovery refuses it and
    // the proxy starts anyway. Planted before, holding valid journal
    // lines: recovery must not import them into the cassette.
    let cases: [(&str, &[u8], bool); 3] = [
        ("after-start", b"", true),
        ("before-start", b"ssh-ed25519 AAAA owner\n", false),
        ("valid-lines", &journal_lines(&["/from-outside"]), false),
    ];
    for (name, content, after_start) in cases {
        let target = outside.join(name);
        std::fs::write(&target, content).unwrap();
        let link = folder.join(format!("{name}.json.journal"));
        if !after_start {
            symlink(&target, &link).unwrap();
        }
        let proxy = start(
            work.path(),
            name,
            &proxy_args(
                &upstream.base_url(),
                &folder.join(format!("{name}.json")),
                &[],
            ),
        );
        if after_start {
            symlink(&target, &link).unwrap();
        }
        // Before: 200, and the journal line went to the target.
        let (status, headers, body) = get(&client, &proxy.url("/access_tokens"), None).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 409, "{name}: {body}");
        assert_eq!(datovcr_error(&headers), Some("DATOVCR_CASSETTE_UNUSABLE"));
        assert!(
            body.contains(&format!("{name}.json.journal")) && body.contains("symbolic link"),
            "{name}: {body}"
        );
        assert_eq!(
            get(&client, &proxy.url("/access_tokens"), Some("other"))
                .await
                .0,
            200,
            "{name}: other cassettes are recorded"
        );
        let (code, stderr) = stop(proxy).await;
        assert_eq!(code, Some(0), "{name}: {stderr}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            content,
            "{name}: target untouched"
        );
        let kept = std::fs::symlink_metadata(&link).unwrap();
        assert!(
            kept.file_type().is_symlink(),
            "{name}: the link is left in place"
        );
        assert!(!folder.join(format!("{name}.json")).exists(), "{name}");
    }
    assert_eq!(recorded_paths(&folder.join("other.json")).len(), 3);
}

/// Links (and other non-files) at every companion path, planted before the
/// proxy starts: each refused, each target untouched, nothing created
/// through a dangling link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_companion_file_is_written_or_read_through_a_link() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    let outside = work.path().join("outside");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.join("target");
    // Valid journal lines: a merge file followed through the link would
    // import them into the cassette.
    std::fs::write(&target, journal_lines(&["/from-outside"])).unwrap();
    let plant = |name: &str, to: &Path| symlink(to, folder.join(name)).unwrap();
    plant("journal-dangling.json.journal", &outside.join("created"));
    plant("lock.json.lock", &target);
    plant("lock-dangling.json.lock", &outside.join("created"));
    plant("writers.json.writers", &target);
    write_cassette(&folder.join("merge.json"), &[]);
    plant("merge.json.merge-0", &target);
    write_cassette(&outside.join("real.json"), &["/echo/1"]);
    plant("cassette.json", &outside.join("real.json"));
    mkfifo(&folder.join("fifo.json.journal"));
    std::fs::create_dir_all(folder.join("folder.json.journal")).unwrap();
    let refused = [
        "journal-dangling",
        "lock",
        "lock-dangling",
        "writers",
        "merge",
        "cassette",
        "fifo",
        "folder",
    ];
    let folder_before = snapshot(&folder);
    let outside_before = snapshot(&outside);

    let proxy = start_proxy(&upstream, &folder, |_| {}).await;
    let url = format!("{}/access_tokens", proxy.uri());
    for name in refused {
        let (status, headers, body) = get(&client, &url, Some(name)).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 409, "{name}: {body}");
        assert_eq!(
            datovcr_error(&headers),
            Some("DATOVCR_CASSETTE_UNUSABLE"),
            "{name}"
        );
        assert!(
            body.contains("symbolic link")
                || body.contains("a FIFO")
                || body.contains("a directory"),
            "{name}: {body}"
        );
    }
    assert_eq!(upstream.request_count(), 0, "nothing forwarded");
    let summary = proxy.shutdown().await;
    assert!(summary.record_error.is_none(), "{:?}", summary.record_error);
    assert_kept(&folder_before, &snapshot(&folder), "links left in place");
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "targets untouched, none created"
    );
}

/// A link planted while the proxy runs, after the journal was opened, is
/// not followed by the next append either; nor is a hard link appended
/// to (that would change the file under its other name too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_swapped_in_while_recording_is_refused_at_the_next_append() {
    use datovcr::recorder::Fsync;
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    let mut rounds = 0;
    for fsync in [Fsync::BeforeResponse, Fsync::Periodic] {
        for hard in [false, true] {
            let target = work.path().join("target");
            std::fs::write(&target, "outside\n").unwrap();
            let proxy = start_proxy(&upstream, &folder, |config| config.fsync = fsync).await;
            let url = format!("{}/access_tokens", proxy.uri());
            assert_eq!(get(&client, &url, None).await.0, 200, "{fsync:?}");
            let journal = folder.join("cassette.json.journal");
            let recorded = std::fs::read(&journal).unwrap();
            std::fs::remove_file(&journal).unwrap();
            if hard {
                std::fs::hard_link(&target, &journal).unwrap();
            } else {
                symlink(&target, &journal).unwrap();
            }
            let (status, headers, body) = get(&client, &url, None).await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 500, "{fsync:?} hard={hard}: {body}");
            assert_eq!(datovcr_error(&headers), Some("DATOVCR_RECORDING_FAILED"));
            let why = if hard { "hard links" } else { "symbolic link" };
            assert!(body.contains(why), "{fsync:?}: {body}");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "outside\n");
            // Put back, recording goes on.
            std::fs::remove_file(&journal).unwrap();
            std::fs::write(&journal, recorded).unwrap();
            assert_eq!(get(&client, &url, None).await.0, 200, "{fsync:?}");
            let summary = proxy.shutdown().await;
            assert!(summary.record_error.is_none(), "{:?}", summary.record_error);
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "outside\n");
            std::fs::remove_file(&target).unwrap();
            rounds += 1;
        }
    }
    assert_eq!(
        recorded_paths(&folder.join("cassette.json")).len(),
        2 * rounds
    );
}

/// The folder itself may be a link the user named on the command line:
/// recording, compaction and replay work through it, and the files land in
/// the folder it points to. Readers also follow a link to a cassette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_cassette_folder_works_and_readers_follow_links() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let real = work.path().join("real-folder");
    std::fs::create_dir_all(&real).unwrap();
    symlink(&real, work.path().join("cassettes")).unwrap();
    let via_link = work.path().join("cassettes/linked.json");
    let proxy = start(
        work.path(),
        "proxy",
        &proxy_args(&upstream.base_url(), &via_link, &[]),
    );
    assert_eq!(get(&client, &proxy.url("/echo/1"), None).await.0, 200);
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&real.join("linked.json")), ["/echo/1"]);

    symlink(real.join("linked.json"), work.path().join("alias.json")).unwrap();
    let replay = start(
        work.path(),
        "replay",
        &replay_args(&[&work.path().join("alias.json")], &[]),
    );
    assert_eq!(get(&client, &replay.url("/echo/1"), None).await.0, 200);
    stop(replay).await;
    let (code, report) = schema_check(work.path(), &[&work.path().join("alias.json")]);
    assert_eq!(report["summary"]["interactions"], 1, "{report}");
    assert_eq!(code, Some(0), "{report}");
}

/// Readers do not hang on a FIFO (as a cassette or as its lock file) and
/// do not loop on a link cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_skip_fifos_and_walk_a_link_loop_once() {
    let upstream_for_ca = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream_for_ca);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    write_cassette(&folder.join("sub/good.json"), &["/echo/1"]);
    symlink(&folder, folder.join("sub/loop")).unwrap();
    mkfifo(&folder.join("fifo.json"));
    mkfifo(&folder.join("sub/good.json.lock"));
    let (code, report) = schema_check(work.path(), &[&folder]);
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(report["summary"]["interactions"], 1, "{report}");
    let unreadable = report["unreadable"].to_string();
    assert!(
        unreadable.contains("fifo.json") && unreadable.contains("a FIFO"),
        "{unreadable}"
    );
    // Replay on the folder: the FIFO is skipped, good.json served.
    let replay = start(work.path(), "replay", &replay_args(&[&folder], &[]));
    assert!(replay.stderr().contains("a FIFO"), "{}", replay.stderr());
    assert_eq!(get(&client, &replay.url("/echo/1"), None).await.0, 200);
    let (code, stderr) = stop(replay).await;
    assert_eq!(code, Some(0), "{stderr}");
}
