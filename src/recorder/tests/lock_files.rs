//! `NAME.json.lock` and `NAME.json.writers` are removed when the last
//! writer stops cleanly, and every locker copes with a lock file removed
//! under it: it finds that the path no longer names the file it locked,
//! and locks the new one.

use super::*;
use crate::recorder::paths::CassettePaths;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How many of this process's open descriptors name `path`.
fn open_handles(path: &Path) -> usize {
    let dir = fs::canonicalize(path.parent().expect("a folder")).expect("canonical folder");
    let target = dir.join(path.file_name().expect("a name"));
    fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter(|link| *link == target)
        .count()
}

/// Polls `done` (bounded by 20 s) until it holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn lock_file(path: &Path) -> fs::File {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open the lock file");
    file.lock().expect("lock");
    file
}

/// The race a removable lock file opens: `locker` opens the lock file
/// while it is held here; then that file is removed and a new one is
/// created and held by someone else (a writer starting right after
/// another's clean stop). Released, the removed file must not let
/// `locker` in: it must wait for the new one. `while_held` runs while the
/// new one is still held (a compaction, say); then `locker`'s result.
fn assert_waits_for_the_new_lock_file<T: Send + 'static>(
    cassette: &Path,
    locker: impl FnOnce() -> T + Send + 'static,
    while_held: impl FnOnce(),
) -> T {
    let paths = CassettePaths::new(cassette).expect("paths");
    let removed = lock_file(&paths.lock);
    let before = open_handles(&paths.lock);
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || done.send(locker()));
    wait_until("the locker opened the lock file", || {
        open_handles(&paths.lock) > before
    });
    fs::remove_file(&paths.lock).expect("remove the lock file");
    let new = lock_file(&paths.lock);
    drop(removed);
    // Not a synchronization sleep: a bound on how long we watch for a
    // locker that wrongly goes ahead holding a removed lock file.
    let early = result.recv_timeout(Duration::from_millis(300));
    assert!(
        early.is_err(),
        "the locker went ahead holding a lock file that was removed"
    );
    while_held();
    drop(new);
    result
        .recv_timeout(Duration::from_secs(20))
        .expect("the locker finishes once the new lock file is free")
}

#[test]
fn a_reader_of_a_removed_lock_file_waits_for_the_new_one() {
    let (_dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    let reader = cassette.clone();
    let seen = assert_waits_for_the_new_lock_file(
        &cassette,
        move || load_with_journal(&reader).map(|c| c.interactions.len()),
        // A compaction under the new lock file.
        || fs::write(&cassette, cassette_bytes(&names(0..2))).expect("compacted"),
    );
    assert_eq!(seen.expect("load"), 2, "read after the compaction");
}

#[test]
fn recovery_on_a_removed_lock_file_waits_for_the_new_one() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    fs::write(dir.path().join("tokens.json.journal"), lines(&names(1..2))).expect("journal");
    let recovering = cassette.clone();
    let journal = dir.path().join("tokens.json.journal");
    let recovered = assert_waits_for_the_new_lock_file(
        &cassette,
        move || recover(&recovering),
        // Still pending: the recovery has not run under a removed lock file.
        || assert!(journal.exists(), "compacted under a removed lock file"),
    );
    assert_eq!(recovered.expect("recover"), 2);
    assert_eq!(recorded_paths(&cassette), names(0..2));
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock file removed");
}

#[test]
fn an_append_on_a_removed_lock_file_waits_for_the_new_one() {
    let (dir, cassette) = setup();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let recorder = Recorder::new(RecordMode::New);
    let (appending, appender) = (cassette.clone(), recorder.clone());
    let journal = dir.path().join("tokens.json.journal");
    let appended = assert_waits_for_the_new_lock_file(
        &cassette,
        move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(appender.append(&appending, &exchange(&token_path(0))))
        },
        || assert!(!journal.exists(), "appended under a removed lock file"),
    );
    appended.expect("append");
    let summaries = runtime.block_on(recorder.close()).expect("close");
    assert_eq!(summaries[0].interactions, 1);
    assert_eq!(listing(dir.path()), ["tokens.json"], "lock files removed");
}

#[tokio::test]
async fn lock_files_another_writer_holds_are_left_to_it() {
    let (dir, cassette) = setup();
    let paths = CassettePaths::new(&cassette).expect("paths");
    // Another process's writer, as it holds the cassette: `.writers` shared.
    let other = fs::File::create(&paths.writers).expect("writers file");
    other.lock_shared().expect("shared");
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect("append");
    recorder.close().await.expect("close");
    assert_eq!(
        listing(dir.path()),
        ["tokens.json", "tokens.json.lock", "tokens.json.writers"],
        "the other writer's files stay"
    );
    // Once it is gone, the next clean stop removes them.
    drop(other);
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(1)))
        .await
        .expect("append");
    recorder.close().await.expect("close");
    assert_eq!(listing(dir.path()), ["tokens.json"]);
    assert_eq!(recorded_paths(&cassette), names(0..2));
}

#[tokio::test]
async fn the_last_of_two_writers_removes_the_lock_files() {
    let (dir, cassette) = setup();
    let (first, second) = (
        Recorder::new(RecordMode::New),
        Recorder::new(RecordMode::New),
    );
    for (i, recorder) in [&first, &second].into_iter().enumerate() {
        recorder
            .append(&cassette, &exchange(&token_path(i)))
            .await
            .expect("append");
    }
    first.close().await.expect("close first");
    assert_eq!(
        listing(dir.path()),
        ["tokens.json", "tokens.json.lock", "tokens.json.writers"],
        "the second writer still records"
    );
    // It keeps recording through the same lock file.
    second
        .append(&cassette, &exchange(&token_path(2)))
        .await
        .expect("append after the first stopped");
    second.close().await.expect("close second");
    assert_eq!(listing(dir.path()), ["tokens.json"]);
    assert_eq!(recorded_paths(&cassette), names(0..3));
}

#[tokio::test]
async fn recovery_beside_a_live_writer_leaves_its_lock_files() {
    let (dir, cassette) = setup();
    let recorder = Recorder::new(RecordMode::New);
    recorder
        .append(&cassette, &exchange(&token_path(0)))
        .await
        .expect("append");
    // Another process starting in the folder recovers the live journal.
    assert_eq!(recover(&cassette).expect("recover"), 1);
    assert_eq!(
        listing(dir.path()),
        ["tokens.json", "tokens.json.lock", "tokens.json.writers"]
    );
    recorder
        .append(&cassette, &exchange(&token_path(1)))
        .await
        .expect("append after the recovery");
    recorder.close().await.expect("close");
    assert_eq!(listing(dir.path()), ["tokens.json"]);
    assert_eq!(recorded_paths(&cassette), names(0..2));
}

#[test]
fn a_lock_file_held_by_a_reader_is_removed_only_after_it() {
    let (dir, cassette) = setup();
    fs::write(&cassette, cassette_bytes(&names(0..1))).expect("seed");
    fs::write(dir.path().join("tokens.json.journal"), lines(&names(1..2))).expect("journal");
    let paths = CassettePaths::new(&cassette).expect("paths");
    let reader = fs::File::create(&paths.lock).expect("lock file");
    reader.lock_shared().expect("shared");
    let (done, result) = mpsc::channel();
    let recovering = cassette.clone();
    std::thread::spawn(move || done.send(recover(&recovering)));
    // Not a synchronization sleep: a bound on how long we watch for a
    // recovery that wrongly ignores the reader.
    assert!(result.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(paths.lock.exists());
    drop(reader);
    let recovered = result.recv_timeout(Duration::from_secs(20)).expect("done");
    assert_eq!(recovered.expect("recover"), 2);
    assert_eq!(listing(dir.path()), ["tokens.json"]);
}
