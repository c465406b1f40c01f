//! Recorder tests. Crash states are built by hand, exactly as a crash at
//! each step of the protocol would leave them; two real processes (this test
//! binary re-run as a child) cover locking and `kill -9`.

use super::*;
use crate::cassette::{Body, Cassette, Interaction, Query, RecordedRequest, RecordedResponse};
use crate::redact::Redactor;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

mod commit_delay;
mod lock_files;

const BEARER: &str = "bearer-secret-0123456789";
const TOKEN: &str = "token-secret-abcdef012345";

fn interaction(path: &str) -> Interaction {
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: Query::default(),
            headers: [("authorization", &*format!("Bearer {BEARER}"))]
                .into_iter()
                .collect(),
            body: Body::Empty,
        },
        response: RecordedResponse {
            status: 200,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: Body::Json(json!({
                "data": {"type": "access_token", "id": path, "attributes": {"token": TOKEN}}
            })),
        },
    }
}

fn exchange(path: &str) -> RedactedInteraction {
    Redactor::default().redact(interaction(path))
}

fn token_path(i: usize) -> String {
    format!("/access_tokens/{i}")
}

/// A journal line exactly as the recorder writes it.
fn line(path: &str) -> Vec<u8> {
    exchange(path).to_journal_line().expect("no leak")
}

fn lines(paths: &[String]) -> Vec<u8> {
    paths.iter().flat_map(|path| line(path)).collect()
}

fn cassette_bytes(paths: &[String]) -> Vec<u8> {
    let mut cassette = Cassette::new();
    for path in paths {
        cassette
            .interactions
            .push(exchange(path).interaction().clone());
    }
    cassette.to_bytes()
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(token_path).collect()
}

/// The request paths in a cassette file, which must parse.
fn recorded_paths(cassette: &Path) -> Vec<String> {
    Cassette::load(cassette)
        .expect("the cassette parses")
        .interactions
        .into_iter()
        .map(|interaction| interaction.request.path)
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
        .collect();
    found.sort();
    found
}

/// A refused compaction left the cassette and its journal byte-identical
/// and started no merge.
fn assert_refused_unchanged(
    dir: &Path,
    cassette: &Path,
    before: &[u8],
    journal_path: &Path,
    journal: &[u8],
) {
    assert_eq!(fs::read(cassette).expect("read"), before);
    assert_eq!(fs::read(journal_path).expect("journal kept"), journal);
    assert!(!listing(dir).iter().any(|name| name.contains("merge")));
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cassette = dir.path().join("tokens.json");
    (dir, cassette)
}

fn assert_distinct(paths: &[String], expected: usize) {
    let unique: BTreeSet<&String> = paths.iter().collect();
    assert_eq!(paths.len(), expected, "interactions in the cassette");
    assert_eq!(unique.len(), expected, "duplicated interactions");
}

/// Appends exchange `i`, then returns how many interactions another reader
/// sees right away (cassette plus journal).
async fn append_and_count(recorder: &Recorder, cassette: &Path, i: usize) -> usize {
    recorder
        .append(cassette, &exchange(&token_path(i)))
        .await
        .expect("append");
    load_with_journal(cassette)
        .expect("load")
        .interactions
        .len()
}

/// Appends the exchanges of `range` from as many tasks at once.
async fn append_concurrently(recorder: &Recorder, cassette: &Path, range: std::ops::Range<usize>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in range {
        let recorder = recorder.clone();
        let cassette = cassette.to_owned();
        tasks.spawn(async move { recorder.append(&cassette, &exchange(&token_path(i))).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_all_land_once_and_the_journal_is_gone() {
    let (dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    append_concurrently(&recorder, &cassette, 0..200).await;
    let summaries = recorder.close().await.expect("close");
    assert_eq!(
        summaries,
        vec![CassetteSummary {
            path: cassette.clone(),
            interactions: 200,
            appended: 200
        }]
    );
    let recorded = recorded_paths(&cassette);
    assert_distinct(&recorded, 200);
    let expected: BTreeSet<String> = names(0..200).into_iter().collect();
    assert_eq!(recorded.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_appends_share_one_fsync_and_keep_their_order() {
    let (dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    // Holding the lock stalls the writer, so every append queues up behind
    // it; that is what concurrent exchanges during one fsync look like.
    let lock = fs::File::create(dir.path().join("tokens.json.lock")).expect("lock file");
    lock.lock().expect("lock");
    let order: Vec<String> = (0..200).rev().map(token_path).collect();
    let pending: Vec<Pending> = order
        .iter()
        .map(|path| recorder.submit(&cassette, &exchange(path)))
        .collect::<Result<Option<Vec<_>>, _>>()
        .expect("submit")
        .expect("recording");
    assert_eq!(
        recorder.batches_written(),
        0,
        "nothing written under a held lock"
    );
    drop(lock);
    for pending in pending {
        pending.durable().await.expect("durable");
    }
    assert_eq!(
        recorder.batches_written(),
        1,
        "one group commit for 200 appends"
    );
    let loaded = load_with_journal(&cassette).expect("load");
    let recorded: Vec<String> = loaded
        .interactions
        .into_iter()
        .map(|i| i.request.path)
        .collect();
    assert_eq!(recorded, order, "submission order is file order");
    recorder.close().await.expect("close");
    assert_eq!(recorded_paths(&cassette), order);
}

#[tokio::test]
async fn sequential_appends_are_each_durable_before_returning() {
    let (_dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    for i in 0..3 {
        // Durable means readable by another reader right now, from the journal.
        assert_eq!(append_and_count(&recorder, &cassette, i).await, i + 1);
        assert_eq!(recorder.batches_written(), i as u64 + 1);
    }
    // An fsync stands between the write and the response: never inline.
    assert_eq!(recorder.inline_writes(), 0);
    recorder.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_after_response_still_writes_before_returning_and_lands_once() {
    let (dir, cassette) = setup();
    let recorder = Recorder::with_fsync(RecordMode::New, Fsync::AfterResponse);
    for i in 0..20 {
        // In the journal (page cache) already: another reader sees it, and
        // so would the next process after a kill -9.
        assert_eq!(append_and_count(&recorder, &cassette, i).await, i + 1);
    }
    append_concurrently(&recorder, &cassette, 20..200).await;
    let summaries = recorder.close().await.expect("close");
    assert_eq!(summaries[0].interactions, 200);
    let recorded = recorded_paths(&cassette);
    assert_distinct(&recorded, 200);
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_periodic_writes_before_returning_and_never_fsyncs_per_exchange() {
    let (dir, cassette) = setup();
    // An hour: no fsync may happen during the test unless close asks for it.
    let recorder = Recorder::with_fsync_interval(
        RecordMode::New,
        Fsync::Periodic,
        std::time::Duration::from_secs(3600),
    );
    for i in 0..20 {
        assert_eq!(append_and_count(&recorder, &cassette, i).await, i + 1);
    }
    // The first exchange opens the journal on the writer thread; the
    // sequential ones after it are written on the caller's thread.
    assert_eq!(recorder.inline_writes(), 19);
    append_concurrently(&recorder, &cassette, 20..200).await;
    assert_eq!(
        recorder.background_fsyncs(),
        0,
        "nothing synced per exchange"
    );
    // Closing does not wait out the interval: it syncs what is dirty, once.
    let summaries = tokio::time::timeout(std::time::Duration::from_secs(20), recorder.close())
        .await
        .expect("close does not wait for the interval")
        .expect("close");
    assert_eq!(recorder.background_fsyncs(), 1);
    assert_eq!(summaries[0].interactions, 200);
    assert_distinct(&recorded_paths(&cassette), 200);
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[tokio::test]
async fn fsync_periodic_syncs_within_its_interval_and_after_response_at_once() {
    let (_dir, cassette) = setup();
    for (fsync, interval) in [
        (Fsync::Periodic, std::time::Duration::from_millis(20)),
        (Fsync::AfterResponse, std::time::Duration::from_secs(3600)),
    ] {
        let recorder = Recorder::with_fsync_interval(RecordMode::New, fsync, interval);
        recorder
            .append(&cassette, &exchange("/access_tokens/1"))
            .await
            .expect("append");
        // Bounded wait for the fsync thread; it never needs close to run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorder.background_fsyncs() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{fsync:?}: no fsync within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        recorder.close().await.expect("close");
    }
}

#[tokio::test]
async fn a_journal_compacted_away_between_batches_is_never_written_again() {
    let (_dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect("append");
    // Another process compacts while this writer keeps the journal open: the
    // journal is renamed to a merge file, merged and deleted.
    assert_eq!(recover(&cassette).expect("recover"), 1);
    recorder
        .append(&cassette, &exchange(&token_path(1)))
        .await
        .expect("append");
    // The second exchange went to a new journal, not the unlinked one.
    let pending = journal::read(
        &cassette.with_extension("json.journal"),
        &cassette,
        crate::cassette::fs::Links::Refuse,
    )
    .expect("read")
    .expect("a new journal");
    assert_eq!(pending.len(), 1);
    recorder.close().await.expect("close");
    assert_eq!(recorded_paths(&cassette), names(0..2));
}

#[tokio::test]
async fn a_closed_cassette_is_in_canonical_form() {
    let (_dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    let recorder = Recorder::new(RecordMode::New);
    for i in 2..5 {
        recorder
            .append(&cassette, &exchange(&token_path(i)))
            .await
            .expect("append");
    }
    let before_close = load_with_journal(&cassette).expect("load with journal");
    recorder.close().await.expect("close");
    let bytes = fs::read(&cassette).expect("read");
    let loaded = Cassette::from_slice(&bytes, &cassette).expect("parse");
    assert_eq!(
        bytes,
        loaded.to_bytes(),
        "load/save round trip is byte-identical"
    );
    assert_eq!(
        loaded, before_close,
        "readers saw the same before compaction"
    );
    assert_eq!(recorded_paths(&cassette), names(0..5));
}

#[test]
fn recover_merges_complete_lines_and_skips_a_torn_tail() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    let mut journal = lines(&names(2..5));
    let torn = line(&token_path(5));
    journal.extend_from_slice(&torn[..torn.len() / 2]);
    fs::write(dir.path().join("tokens.json.journal"), journal).expect("journal");

    assert_eq!(recover(&cassette).expect("recover"), 5);
    assert_eq!(recorded_paths(&cassette), names(0..5));
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock file removed");
    assert_eq!(recover(&cassette).expect("idempotent"), 5);
}

#[test]
fn recover_finishes_a_merge_that_did_not_happen() {
    let (dir, cassette) = setup();
    // Crash after step 2: the journal became merge-2, the cassette still has 2.
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    fs::write(dir.path().join("tokens.json.merge-2"), lines(&names(2..4))).expect("merge");
    // New appends went to a fresh journal after the crash.
    fs::write(dir.path().join("tokens.json.journal"), lines(&names(4..5))).expect("journal");

    assert_eq!(recover(&cassette).expect("recover"), 5);
    assert_eq!(recorded_paths(&cassette), names(0..5));
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock file removed");
}

#[test]
fn recover_drops_a_merge_that_already_happened() {
    let (dir, cassette) = setup();
    // Crash after step 3: the cassette holds 2 + 2, the merge file remains.
    fs::write(&cassette, cassette_bytes(&names(0..4))).expect("seed");
    fs::write(dir.path().join("tokens.json.merge-2"), lines(&names(2..4))).expect("merge");
    let before = fs::read(&cassette).expect("read");

    assert_eq!(recover(&cassette).expect("recover"), 4);
    assert_eq!(recorded_paths(&cassette), names(0..4), "no duplicates");
    assert_eq!(fs::read(&cassette).expect("read"), before, "not rewritten");
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock file removed");
}

#[test]
fn recover_refuses_a_merge_that_matches_neither_state() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..3))).expect("seed");
    let merge = dir.path().join("tokens.json.merge-2");
    fs::write(&merge, lines(&names(7..9))).expect("merge");
    let before = fs::read(&cassette).expect("read");

    let err = recover(&cassette).expect_err("3 is neither 2 nor 2 + 2");
    assert!(matches!(
        err,
        RecordError::MergeMismatch {
            found: 3,
            base: 2,
            entries: 2,
            ..
        }
    ));
    assert!(err.to_string().contains("tokens.json"), "{err}");
    assert_eq!(fs::read(&cassette).expect("read"), before);
    assert_eq!(fs::read(&merge).expect("merge kept"), lines(&names(7..9)));

    // Same count as "already merged" but other entries: still refused.
    fs::write(&cassette, cassette_bytes(&names(0..4))).expect("seed");
    let err = recover(&cassette).expect_err("entries differ");
    assert!(
        matches!(err, RecordError::MergeMismatch { found: 4, .. }),
        "{err}"
    );
}

#[test]
fn a_corrupt_line_in_the_middle_is_an_error_and_changes_nothing() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    let mut journal = line(&token_path(1));
    journal.extend_from_slice(b"{\"recorded_at\": oops}\n");
    journal.extend(line(&token_path(2)));
    let journal_path = dir.path().join("tokens.json.journal");
    fs::write(&journal_path, &journal).expect("journal");
    let before = fs::read(&cassette).expect("read");

    let err = recover(&cassette).expect_err("corrupt");
    assert!(
        matches!(err, RecordError::CorruptJournal { line: 2, .. }),
        "{err}"
    );
    assert_refused_unchanged(dir.path(), &cassette, &before, &journal_path, &journal);
    assert!(
        load_with_journal(&cassette).is_err(),
        "readers refuse it too"
    );
}

#[test]
fn a_compaction_past_the_size_limit_changes_nothing_and_says_how_to_go_on() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    let journal = lines(&names(2..5));
    let journal_path = dir.path().join("tokens.json.journal");
    fs::write(&journal_path, &journal).expect("journal");
    let before = fs::read(&cassette).expect("read");
    // Room for four interactions, not five.
    let fits = cassette_bytes(&names(0..4)).len() as u64;
    assert!(fits < cassette_bytes(&names(0..5)).len() as u64);
    compact::size_limit::set(fits);

    let err = recover(&cassette).expect_err("over the limit");
    assert!(
        matches!(err, RecordError::TooLarge { entries: 3, limit, .. } if limit == fits),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [
        "tokens.json.journal",
        "OTHER.json.journal",
        "x-datovcr-cassette",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_refused_unchanged(dir.path(), &cassette, &before, &journal_path, &journal);
    // Nothing is lost: readers see every exchange.
    let seen = load_with_journal(&cassette).expect("readable");
    assert_eq!(seen.interactions.len(), 5);

    // The way out the message gives: the journal becomes another cassette.
    fs::rename(&journal_path, dir.path().join("more.json.journal")).expect("rename");
    recover_dir(dir.path()).expect("both cassettes fit now");
    assert_eq!(recorded_paths(&cassette), names(0..2));
    assert_eq!(recorded_paths(&dir.path().join("more.json")), names(2..5));

    // An interrupted merge that would not fit stays as it is too.
    fs::write(dir.path().join("tokens.json.merge-2"), lines(&names(5..8))).expect("merge");
    let err = recover(&cassette).expect_err("over the limit");
    assert!(
        matches!(err, RecordError::TooLarge { entries: 3, .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&cassette).expect("read"), before);
    assert!(dir.path().join("tokens.json.merge-2").exists());
}

#[test]
fn recover_removes_stale_temp_files() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    // A crashed compaction's half-written temp file, and a look-alike of
    // another cassette that must survive.
    fs::write(
        dir.path().join(".tokens.json.tmp-4242-7"),
        b"{\"version\": 1, \"inter",
    )
    .expect("tmp");
    fs::write(dir.path().join(".tokens.json.tmp-x.json"), b"keep").expect("other");

    assert_eq!(recover(&cassette).expect("recover"), 2);
    assert_eq!(
        listing(dir.path()),
        [".tokens.json.tmp-x.json", "tokens.json"]
    );
    assert_eq!(recorded_paths(&cassette), names(0..2));
}

#[test]
fn recover_with_nothing_to_do_writes_nothing() {
    let (dir, cassette) = setup();
    assert_eq!(recover(&cassette).expect("no cassette"), 0);
    assert!(listing(dir.path()).is_empty());
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    assert_eq!(recover(&cassette).expect("clean cassette"), 2);
    assert_eq!(listing(dir.path()), ["tokens.json"]);
    recover_dir(&dir.path().join("missing")).expect("a missing folder is fine");
}

#[test]
fn recover_dir_compacts_orphan_journals_and_leaves_other_files_alone() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    fs::write(dir.path().join("tokens.json.journal"), lines(&names(1..3))).expect("journal");
    fs::write(dir.path().join("orphan.json.journal"), lines(&names(5..6))).expect("orphan");
    fs::write(dir.path().join("notes.json"), b"not a cassette").expect("other json");

    recover_dir(dir.path()).expect("recover dir");
    assert_eq!(recorded_paths(&cassette), names(0..3));
    assert_eq!(recorded_paths(&dir.path().join("orphan.json")), names(5..6));
    assert_eq!(
        fs::read(dir.path().join("notes.json")).expect("read"),
        b"not a cassette"
    );
}

#[test]
fn load_with_journal_sees_every_pending_entry_and_changes_nothing() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    fs::write(dir.path().join("tokens.json.merge-2"), lines(&names(2..4))).expect("merge");
    let mut journal = lines(&names(4..6));
    journal.extend_from_slice(b"{\"recorded_at");
    fs::write(dir.path().join("tokens.json.journal"), journal).expect("journal");
    let before = listing(dir.path());

    let loaded = load_with_journal(&cassette).expect("load");
    let recorded: Vec<String> = loaded
        .interactions
        .into_iter()
        .map(|i| i.request.path)
        .collect();
    assert_eq!(recorded, names(0..6));
    assert_eq!(listing(dir.path()), before);

    let missing = dir.path().join("missing.json");
    assert!(matches!(
        load_with_journal(&missing),
        Err(RecordError::NoCassette { .. })
    ));
}

#[tokio::test]
async fn a_torn_tail_is_cut_before_the_next_append() {
    let (dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect("append");
    // Another writer died mid-line after this one opened the cassette.
    // Longer than the 4 KiB chunks the tail is searched in.
    let journal_path = dir.path().join("tokens.json.journal");
    let mut journal = fs::read(&journal_path).expect("read");
    assert_eq!(journal, lines(&names(0..1)));
    journal.extend_from_slice(b"{\"recorded_at\":\"2026");
    journal.extend(std::iter::repeat_n(b'x', 10_000));
    fs::write(&journal_path, journal).expect("journal");
    recorder
        .append(&cassette, &exchange(&token_path(1)))
        .await
        .expect("append");
    let journal = fs::read(&journal_path).expect("read");
    assert_eq!(
        journal,
        lines(&names(0..2)),
        "torn tail replaced, not buried"
    );
    recorder.close().await.expect("close");
    assert_eq!(recorded_paths(&cassette), names(0..2));
}

/// Another process's startup recovery and a replaying reader, in a loop:
/// compacts and reads the cassette while appends go on, checking that a
/// reader never sees an exchange twice or sees the cassette shrink.
struct Compactor {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Compactor {
    fn start(cassette: &Path) -> Compactor {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, cassette) = (Arc::clone(&stop), cassette.to_owned());
        let thread = std::thread::spawn(move || {
            let (mut runs, mut seen) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                recover(&cassette).expect("compaction alongside appends");
                let paths: Vec<String> = match load_with_journal(&cassette) {
                    Ok(loaded) => loaded
                        .interactions
                        .into_iter()
                        .map(|i| i.request.path)
                        .collect(),
                    Err(RecordError::NoCassette { .. }) => Vec::new(),
                    Err(err) => panic!("reader failed: {err}"),
                };
                assert!(paths.len() >= seen, "a reader saw the cassette shrink");
                seen = paths.len();
                assert_distinct(&paths, seen);
                runs += 1;
            }
            runs
        });
        Compactor { stop, thread }
    }

    /// Stops the loop; returns how many compactions ran.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("compactor thread")
    }
}

#[test]
fn readers_wait_for_a_compaction_in_progress() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    let lock = fs::File::create(dir.path().join("tokens.json.lock")).expect("lock file");
    lock.lock().expect("lock");
    let (done, result) = std::sync::mpsc::channel();
    let reader = cassette.clone();
    std::thread::spawn(move || done.send(load_with_journal(&reader).map(|c| c.interactions.len())));
    // Not a synchronization sleep: a bound on how long we watch for a
    // reader that wrongly ignores the lock.
    let early = result.recv_timeout(std::time::Duration::from_millis(300));
    assert!(
        early.is_err(),
        "the reader read during a compaction: {early:?}"
    );
    // Finish the "compaction" the reader was waiting for, then release it.
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("compacted");
    drop(lock);
    let seen = result.recv().expect("reader result").expect("load");
    assert_eq!(seen, 2, "the reader saw the state after the compaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_recorders_on_one_cassette_lose_and_duplicate_nothing() {
    let (_dir, cassette) = setup();
    let first = Recorder::new(RecordMode::New);
    let second = Recorder::new(RecordMode::New);
    let compactor = Compactor::start(&cassette);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let recorder = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let cassette = cassette.clone();
        tasks.spawn(async move { recorder.append(&cassette, &exchange(&token_path(i))).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("append");
    }
    assert!(
        compactor.stop() > 0,
        "compactions ran alongside the appends"
    );
    let (a, b) = tokio::join!(first.close(), second.close());
    let (a, b) = (a.expect("close first"), b.expect("close second"));
    assert_eq!((a[0].appended, b[0].appended), (500, 500));
    assert_eq!(a[0].interactions.max(b[0].interactions), 1000);
    assert_distinct(&recorded_paths(&cassette), 1000);
}

#[tokio::test]
async fn record_all_resets_an_existing_cassette_once_then_appends() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..3))).expect("seed");
    fs::write(dir.path().join("tokens.json.journal"), lines(&names(3..4))).expect("journal");
    fs::write(dir.path().join("tokens.json.merge-3"), lines(&names(4..5))).expect("merge");
    let recorder = Recorder::new(RecordMode::All);
    for i in 10..12 {
        recorder
            .append(&cassette, &exchange(&token_path(i)))
            .await
            .expect("append");
    }
    let summaries = recorder.close().await.expect("close");
    assert_eq!((summaries[0].interactions, summaries[0].appended), (2, 2));
    assert_eq!(
        recorded_paths(&cassette),
        names(10..12),
        "reset once, not per append"
    );
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[tokio::test]
async fn record_none_writes_nothing() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    let before = fs::read(&cassette).expect("read");
    let recorder = Recorder::new(RecordMode::None);
    let elsewhere = dir.path().join("new/folder/other.json");
    for target in [&cassette, &elsewhere] {
        recorder
            .append(target, &exchange(&token_path(1)))
            .await
            .expect("append is a no-op");
    }
    assert_eq!(recorder.close().await.expect("close"), vec![]);
    assert_eq!(fs::read(&cassette).expect("read"), before);
    assert_eq!(listing(dir.path()), ["tokens.json"]);
    assert_eq!(recorder.batches_written(), 0);
}

#[tokio::test]
async fn missing_parent_folders_are_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cassette = dir.path().join("a/b/tokens.json");
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect("append");
    recorder.close().await.expect("close");
    assert_eq!(recorded_paths(&cassette), names(0..1));
}

#[tokio::test]
async fn a_leak_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cassette = dir.path().join("cassettes/tokens.json");
    let mut leaky = interaction("/access_tokens/1");
    leaky.request.body = Body::Binary([b"\xff\x00".as_slice(), BEARER.as_bytes()].concat());
    let recorder = Recorder::new(RecordMode::New);

    let err = recorder
        .append(&cassette, &Redactor::default().redact(leaky))
        .await
        .expect_err("the leak check fails closed");
    assert!(matches!(err, RecordError::Leak { .. }), "{err}");
    assert!(
        err.to_string().contains(&cassette.display().to_string()),
        "{err}"
    );
    assert!(
        !dir.path().join("cassettes").exists(),
        "nothing touched the disk"
    );
    assert_eq!(recorder.close().await.expect("close"), vec![]);
}

#[tokio::test]
async fn appends_after_close_are_refused() {
    let (_dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    recorder.close().await.expect("close");
    let err = recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect_err("closed");
    assert!(matches!(err, RecordError::Closed { .. }), "{err}");
}

/// A way to make appends into `folder` fail, and to undo it.
enum Blocker {
    /// The folder is read-only (effective for non-root users).
    ReadOnly(PathBuf),
    /// The journal's name is taken by a folder (root ignores permissions).
    JournalIsADirectory(PathBuf),
}

impl Blocker {
    fn install(folder: &Path, journal: &Path) -> Blocker {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(folder, fs::Permissions::from_mode(0o555)).expect("chmod");
        let probe = folder.join("probe");
        if fs::write(&probe, b"").is_err() {
            return Blocker::ReadOnly(folder.to_owned());
        }
        // Running as root: permissions do not stop writes.
        fs::remove_file(&probe).expect("remove probe");
        fs::set_permissions(folder, fs::Permissions::from_mode(0o755)).expect("chmod back");
        fs::create_dir(journal).expect("journal-named folder");
        Blocker::JournalIsADirectory(journal.to_owned())
    }

    fn remove(self) {
        use std::os::unix::fs::PermissionsExt;
        match self {
            Blocker::ReadOnly(folder) => {
                fs::set_permissions(folder, fs::Permissions::from_mode(0o755)).expect("chmod")
            }
            Blocker::JournalIsADirectory(journal) => fs::remove_dir(journal).expect("rmdir"),
        }
    }
}

#[tokio::test]
async fn write_errors_name_the_cassette_keep_it_intact_and_are_recoverable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("cassettes");
    fs::create_dir(&folder).expect("folder");
    let cassette = folder.join("tokens.json");
    fs::write(&cassette, cassette_bytes(&names(0..2))).expect("seed");
    let before = fs::read(&cassette).expect("read");
    let recorder = Recorder::new(RecordMode::New);

    let blocker = Blocker::install(&folder, &folder.join("tokens.json.journal"));
    let err = recorder
        .append(&cassette, &exchange(&token_path(2)))
        .await
        .expect_err("the folder refuses writes");
    assert!(matches!(err, RecordError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(&cassette.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&cassette).expect("read"), before, "byte-identical");
    assert_eq!(recorder.batches_written(), 0);

    blocker.remove();
    recorder
        .append(&cassette, &exchange(&token_path(3)))
        .await
        .expect("works again once the folder is fixed");
    let summaries = recorder.close().await.expect("close");
    assert_eq!((summaries[0].interactions, summaries[0].appended), (3, 1));
    assert_eq!(
        recorded_paths(&cassette),
        ["/access_tokens/0", "/access_tokens/1", "/access_tokens/3"]
    );
}

// ---- real processes: this test binary re-run as a child ----

const CHILD_CASSETTE: &str = "DATOVCR_RECORDER_TEST_CASSETTE";
const CHILD_PREFIX: &str = "DATOVCR_RECORDER_TEST_PREFIX";
const CHILD_COUNT: &str = "DATOVCR_RECORDER_TEST_COUNT";

/// The child side: appends `COUNT` exchanges with 8 concurrent tasks,
/// printing `ACK <path>` after each append returned Ok, then closes.
/// Does nothing unless started by one of the tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_appender() {
    let Ok(cassette) = std::env::var(CHILD_CASSETTE) else {
        return;
    };
    let prefix = std::env::var(CHILD_PREFIX).expect("prefix");
    let count: usize = std::env::var(CHILD_COUNT)
        .expect("count")
        .parse()
        .expect("number");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let recorder = Recorder::new(RecordMode::New);
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let (recorder, cassette, prefix) = (recorder.clone(), cassette.clone(), prefix.clone());
            workers.spawn(async move {
                for i in (worker..count).step_by(8) {
                    let path = format!("/access_tokens/{prefix}{i}");
                    recorder
                        .append(Path::new(&cassette), &exchange(&path))
                        .await
                        .expect("append");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {path}")
                        .and_then(|()| out.flush())
                        .expect("stdout");
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.expect("worker");
        }
        recorder.close().await.expect("close");
    });
}

fn spawn_child(cassette: &Path, prefix: &str, count: usize) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "recorder::tests::child_appender",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_CASSETTE, cassette)
        .env(CHILD_PREFIX, prefix)
        .env(CHILD_COUNT, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// The paths a child acknowledged, read until its stdout closes; stops
/// early (returning what it has) once `kill_after` acknowledgements came.
fn acknowledged(child: &mut std::process::Child, kill_after: Option<usize>) -> Vec<String> {
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut acked = Vec::new();
    let mut text = String::new();
    while stdout.read_line(&mut text).expect("child output") > 0 {
        let line = std::mem::take(&mut text);
        // A line cut short by the kill has no newline; it proves nothing.
        if let Some(path) = line.strip_prefix("ACK ").and_then(|l| l.strip_suffix('\n')) {
            acked.push(path.to_owned());
            if kill_after == Some(acked.len()) {
                child.kill().expect("kill -9");
            }
        }
    }
    acked
}

#[test]
fn two_processes_on_one_cassette_lose_and_duplicate_nothing() {
    let (dir, cassette) = setup();
    let mut children = [
        spawn_child(&cassette, "a", 300),
        spawn_child(&cassette, "b", 300),
    ];
    let mut acked = 0;
    for child in &mut children {
        acked += acknowledged(child, None).len();
        assert!(child.wait().expect("wait").success(), "child failed");
    }
    assert_eq!(acked, 600);
    assert_distinct(&recorded_paths(&cassette), 600);
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[test]
fn a_killed_process_keeps_every_acknowledged_exchange() {
    let (_dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..3))).expect("seed");
    let mut child = spawn_child(&cassette, "k", 1_000_000);
    let acked = acknowledged(&mut child, Some(300));
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the child was killed, not finished");
    assert!(acked.len() >= 300);

    let recovered = recover(&cassette).expect("recover after kill -9");
    let recorded = recorded_paths(&cassette);
    assert_eq!(recovered, recorded.len());
    assert_eq!(recorded[..3], names(0..3));
    let unique: BTreeSet<&String> = recorded.iter().collect();
    assert_eq!(unique.len(), recorded.len(), "no duplicates");
    let missing: Vec<&String> = acked.iter().filter(|path| !unique.contains(path)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}
