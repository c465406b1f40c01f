//! Compaction (journal → cassette), recovery at startup, resets, and reading
//! a cassette together with what is not compacted yet. The protocol is in
//! the module documentation of [`super`].

use super::durable::{LockGuard, lock_current, remove_durably, sync_folder, write_atomic};
use super::journal::FileId;
use super::paths::{CassettePaths, Leftovers, owner_of_leftover};
use super::{IoContext, RecordError, journal};
use crate::cassette::fs::Links;
use crate::cassette::{Cassette, CassetteError, Interaction};
use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::Path;

/// At startup: finishes an interrupted compaction, compacts the journal into
/// the cassette and removes temp files of crashed writes, then the lock
/// files unless a writer still holds the cassette. Returns the number of
/// interactions now in the cassette (0 if there is none). Safe to call
/// when there is nothing to do: then nothing is written and no lock file is
/// created.
pub fn recover(cassette: &Path) -> Result<usize, RecordError> {
    let paths = CassettePaths::new(cassette)?;
    if !paths.scan()?.is_pending() {
        return count_if_present(&paths);
    }
    // Nothing is created or removed beside a file that is not a cassette
    // (a `package.json` with a stray `.package.json.tmp-…` of the user's):
    // the file is read first, and refused as it is.
    count_if_present(&paths)?;
    let lock = LockGuard::acquire(&paths)?;
    let interactions = recover_locked(&paths)?;
    lock.remove_lock_files(&paths);
    Ok(interactions)
}

/// [`recover`]'s work under the lock: compacts what is pending, or only
/// counts the interactions (one at a time) when nothing is.
pub(crate) fn recover_locked(paths: &CassettePaths) -> Result<usize, RecordError> {
    if paths.scan()?.is_pending() {
        compact_locked(paths)
    } else {
        count_if_present(paths)
    }
}

/// [`recover`] for every cassette directly in `dir` that has a journal, a
/// merge file or a temp file, orphans (no cassette file yet) included.
/// Cassettes with nothing pending are not opened, so other JSON files in
/// the folder do no harm. A missing folder has nothing to recover.
///
/// Every cassette is attempted, and one that cannot be recovered (a
/// journal or cassette its readers refuse) stops nothing: it is left as it
/// is and its error, which names it, is among those returned. The proxy
/// reports them and goes on; writes into such a cassette are refused.
pub fn recover_dir(dir: &Path) -> Result<(), Vec<RecordError>> {
    let list = |err| {
        vec![RecordError::io(
            dir,
            format!("list folder {}", dir.display()),
            err,
        )]
    };
    let entries = match std::fs::read_dir(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(list)?,
    };
    let mut cassettes = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(list)?;
        if let Some(owner) = owner_of_leftover(&entry.file_name()) {
            cassettes.insert(dir.join(owner));
        }
    }
    let failures: Vec<RecordError> = cassettes
        .iter()
        .filter_map(|cassette| recover(cassette).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// The cassette as a reader should see it: the file, plus the entries of an
/// unfinished merge, plus the complete lines of the journal. Changes no file;
/// takes the shared lock when a lock file exists, so a concurrent compaction
/// cannot make entries appear twice or not at all.
///
/// With no lock file (no writer since the last clean stop, which removes
/// it) nothing is locked. A writer that starts meanwhile creates the lock
/// file, and a compaction replaces the cassette file, so the read is kept
/// only if afterwards there is still no lock file and the cassette is the
/// same file; otherwise it is done again, under the lock.
pub fn load_with_journal(path: &Path) -> Result<Cassette, RecordError> {
    let paths = CassettePaths::new(path)?;
    // Bounded: each retry means a writer started or compacted meanwhile.
    for _ in 0..READ_ATTEMPTS {
        let shared = lock_shared_if_present(&paths)?;
        let before = shared.is_none().then(|| files_now(&paths));
        let cassette = load_pending_too(&paths)?;
        if before.is_none_or(|before| before == files_now(&paths)) {
            return Ok(cassette);
        }
    }
    Err(RecordError::io(
        path,
        format!("read {} while writers kept changing it", path.display()),
        io::Error::other("the cassette changed during every read"),
    ))
}

/// How many times [`load_with_journal`] reads a cassette that changed
/// while it was read without a lock.
const READ_ATTEMPTS: usize = 100;

/// Which files the cassette path and the lock path name now (`None`: no
/// file there).
fn files_now(paths: &CassettePaths) -> (Option<FileId>, Option<FileId>) {
    let id = |metadata: std::fs::Metadata| FileId::of(&metadata);
    (
        std::fs::metadata(&paths.cassette).ok().map(id),
        std::fs::symlink_metadata(&paths.lock).ok().map(id),
    )
}

/// [`load_with_journal`]'s read, under its lock if there is one.
fn load_pending_too(paths: &CassettePaths) -> Result<Cassette, RecordError> {
    // A reader: links are followed (the recorder never writes through one).
    let file = load_if_present(paths, Links::Follow)?;
    let leftovers = paths.scan()?;
    if file.is_none() && !leftovers.journal && leftovers.merges.is_empty() {
        return Err(RecordError::NoCassette {
            cassette: paths.cassette.clone(),
        });
    }
    let mut cassette = file.unwrap_or_default();
    if let Some((merge, base)) = single_merge(paths, &leftovers)? {
        let entries = journal::read(merge, &paths.cassette, Links::Follow)?.unwrap_or_default();
        if merge_state(paths, &cassette, merge, base, &entries)? == MergeState::NotDone {
            cassette.interactions.extend(entries);
        }
    }
    if let Some(entries) = journal::read(&paths.journal, &paths.cassette, Links::Follow)? {
        cassette.interactions.extend(entries);
    }
    Ok(cassette)
}

/// Whether the cassette at `path` has exchanges outside its file: a
/// journal or an unfinished merge. Readers then read it with
/// [`load_with_journal`].
pub fn has_pending_entries(path: &Path) -> bool {
    let Ok(paths) = CassettePaths::new(path) else {
        return false;
    };
    if std::fs::symlink_metadata(&paths.journal).is_ok() {
        return true;
    }
    paths
        .scan()
        .is_ok_and(|leftovers| leftovers.journal || !leftovers.merges.is_empty())
}

fn lock_shared_if_present(paths: &CassettePaths) -> Result<Option<File>, RecordError> {
    let action = || format!("lock {} for reading", paths.lock.display());
    // The lock file may be removed (a writer's clean stop) between opening
    // and locking it: `lock_current` opens it again, and finds none.
    lock_current(
        &paths.lock,
        Links::Follow,
        // Never blocks on a FIFO there. A lock path that is not a regular
        // file is one no recorder can lock either (it refuses it), so no
        // compaction can run meanwhile: reading without the lock is safe.
        || match crate::cassette::fs::open_regular(&paths.lock, Links::Follow) {
            Ok(file) => Ok(Some(file)),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(err).ctx(&paths.cassette, action),
        },
        File::lock_shared,
        |err| RecordError::io(&paths.cassette, action(), err),
    )
}

/// The shared lock a reader holds while it reads the cassette at `path`
/// and its companions, so a compaction cannot run meanwhile (entries would
/// appear twice or not at all); `None` when there is nothing to lock.
pub fn lock_for_reading(path: &Path) -> Result<Option<File>, RecordError> {
    lock_shared_if_present(&CassettePaths::new(path)?)
}

/// Compacts the cassette: steps 1 to 4 of the protocol. Call under the lock.
pub(crate) fn compact_locked(paths: &CassettePaths) -> Result<usize, RecordError> {
    let leftovers = paths.scan()?;
    let merge = single_merge(paths, &leftovers)?;
    // Read before anything is removed: temp files beside a file that is
    // not a cassette are not datovcr's to delete.
    let mut cassette = load_or_empty(paths)?;
    remove_durably(paths, leftovers.temps.iter().map(AsRef::as_ref))?;
    if let Some((merge, base)) = merge {
        let entries = journal::read(merge, &paths.cassette, Links::Refuse)?.unwrap_or_default();
        finish_merge(paths, &mut cassette, merge, base, entries)?;
    }
    if leftovers.journal {
        merge_journal(paths, &mut cassette)?;
    }
    Ok(cassette.interactions.len())
}

/// Steps 2 to 4: parse the journal (an error changes nothing), rename it to
/// a merge file, then finish that merge.
fn merge_journal(paths: &CassettePaths, cassette: &mut Cassette) -> Result<(), RecordError> {
    let Some(entries) = journal::read(&paths.journal, &paths.cassette, Links::Refuse)? else {
        return Ok(());
    };
    if entries.is_empty() {
        // Empty, or only an unacknowledged torn line: nothing to merge.
        return remove_durably(paths, [paths.journal.as_path()]);
    }
    let base = cassette.interactions.len();
    // Serialized before any file changes: a cassette the loader would
    // refuse is never written, and the journal stays where it was.
    let merged = merged_bytes(paths, cassette, &paths.journal, entries)?;
    let merge = paths.merge(base);
    std::fs::rename(&paths.journal, &merge).ctx(&paths.cassette, || {
        format!("rename {} to {}", paths.journal.display(), merge.display())
    })?;
    sync_folder(paths)?;
    write_atomic(paths, &merged)?;
    remove_durably(paths, [merge.as_path()])
}

/// `cassette` with the entries of `pending` (a journal or merge file)
/// appended, as the bytes to write; refused when they would be larger than
/// [`MAX_CASSETTE_BYTES`](crate::cassette::MAX_CASSETTE_BYTES), the most
/// [`Cassette::load`] reads (and so the most `schema-check` and the next
/// compaction would accept).
fn merged_bytes(
    paths: &CassettePaths,
    cassette: &mut Cassette,
    pending: &Path,
    entries: Vec<Interaction>,
) -> Result<Vec<u8>, RecordError> {
    let added = entries.len();
    cassette.interactions.extend(entries);
    let merged = cassette.to_bytes();
    let limit = size_limit::get();
    if merged.len() as u64 <= limit {
        return Ok(merged);
    }
    Err(RecordError::TooLarge {
        cassette: paths.cassette.clone(),
        pending: pending.to_owned(),
        entries: added,
        size: merged.len(),
        limit,
    })
}

/// The cassette size limit. Tests lower it for their own thread, so the
/// refusal can be exercised without writing 256 MiB.
pub(super) mod size_limit {
    use crate::cassette::MAX_CASSETTE_BYTES;

    #[cfg(not(test))]
    pub fn get() -> u64 {
        MAX_CASSETTE_BYTES
    }

    #[cfg(test)]
    thread_local! {
        static LIMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(MAX_CASSETTE_BYTES) };
    }

    #[cfg(test)]
    pub fn get() -> u64 {
        LIMIT.with(std::cell::Cell::get)
    }

    #[cfg(test)]
    pub fn set(limit: u64) {
        LIMIT.with(|cell| cell.set(limit));
    }
}

/// Steps 3 and 4 for a merge file whose base is `base`: write the merged
/// cassette unless that already happened, then delete the merge file.
fn finish_merge(
    paths: &CassettePaths,
    cassette: &mut Cassette,
    merge: &Path,
    base: usize,
    entries: Vec<Interaction>,
) -> Result<(), RecordError> {
    if merge_state(paths, cassette, merge, base, &entries)? == MergeState::NotDone {
        write_atomic(paths, &merged_bytes(paths, cassette, merge, entries)?)?;
    }
    remove_durably(paths, [merge])
}

#[derive(Debug, PartialEq, Eq)]
enum MergeState {
    NotDone,
    Done,
}

/// Whether the merge of `entries` into a cassette of `base` interactions
/// already happened. With no entries both answers are right. A cassette
/// that matches neither state is an error: guessing could lose or
/// duplicate exchanges.
fn merge_state(
    paths: &CassettePaths,
    cassette: &Cassette,
    merge: &Path,
    base: usize,
    entries: &[Interaction],
) -> Result<MergeState, RecordError> {
    let found = cassette.interactions.len();
    if found == base + entries.len() && cassette.interactions[base..] == *entries {
        Ok(MergeState::Done)
    } else if found == base {
        Ok(MergeState::NotDone)
    } else {
        Err(RecordError::MergeMismatch {
            cassette: paths.cassette.clone(),
            merge: merge.to_owned(),
            base,
            entries: entries.len(),
            found,
        })
    }
}

/// The one merge file, if any. Two would mean the protocol was broken, and
/// their order cannot be known.
fn single_merge<'a>(
    paths: &CassettePaths,
    leftovers: &'a Leftovers,
) -> Result<Option<(&'a Path, usize)>, RecordError> {
    match leftovers.merges.as_slice() {
        [] => Ok(None),
        [(merge, base)] => Ok(Some((merge.as_path(), *base))),
        many => Err(RecordError::ConflictingMerges {
            cassette: paths.cassette.clone(),
            files: many.iter().map(|(file, _)| file.clone()).collect(),
        }),
    }
}

/// The first half of opening a cassette for writing, without the lock:
/// `Ok(true)` when nothing is pending and the cassette file, if any, reads
/// as a cassette. Reading needs no lock (the file is only ever replaced
/// whole, by rename), and a cassette refused here gets no lock file or any
/// other companion beside it. `Ok(false)`: something is pending, and
/// [`open_locked`] compacts it.
pub(crate) fn check_unlocked(paths: &CassettePaths) -> Result<bool, RecordError> {
    // Read first, pending or not: a file that is not a cassette gets no
    // lock file beside it, whatever lies around it.
    count_if_present(paths)?;
    Ok(!paths.scan()?.is_pending())
}

/// Before a writer's first write into a cassette, under the lock: what it
/// appends must be compactable later, so the cassette must be one datovcr
/// can read (or not exist yet) and anything pending is compacted now.
/// `checked`: [`check_unlocked`] found nothing pending and the cassette
/// readable. A cassette that fails is left as it is: datovcr never
/// replaces or resets a file it cannot read as a cassette (another tool's
/// `package.json`, a folder, a FIFO, a link, an empty file, another format
/// version).
pub(crate) fn open_locked(paths: &CassettePaths, checked: bool) -> Result<(), RecordError> {
    if paths.scan()?.is_pending() {
        compact_locked(paths).map(drop)
    } else if checked {
        Ok(())
    } else {
        count_if_present(paths).map(drop)
    }
}

/// Empties the cassette for [`super::RecordMode::All`]: discards the journal,
/// merge and temp files, then atomically writes an empty cassette. A crash
/// in between leaves the old cassette (maybe without its journal) or the
/// empty one, never a broken file. Call under the lock, and only when no
/// other writer holds the cassette (`durable::Session`).
///
/// Only what datovcr can read is discarded: the cassette, the merge files
/// and the journal are read first, and any of them that cannot be read
/// leaves every file as it was.
pub(crate) fn reset_locked(paths: &CassettePaths) -> Result<(), RecordError> {
    let leftovers = paths.scan()?;
    single_merge(paths, &leftovers)?;
    count_if_present(paths)?;
    let pending = leftovers
        .merges
        .iter()
        .map(|(merge, _)| merge.as_path())
        .chain(leftovers.journal.then_some(paths.journal.as_path()));
    for file in pending.clone() {
        journal::read(file, &paths.cassette, Links::Refuse)?;
    }
    let discarded = pending.chain(leftovers.temps.iter().map(AsRef::as_ref));
    remove_durably(paths, discarded)?;
    write_atomic(paths, &Cassette::new().to_bytes())
}

/// The cassette the recorder is about to replace, read whole. It must be
/// a regular file, not a link, that reads as a cassette.
fn load_if_present(paths: &CassettePaths, links: Links) -> Result<Option<Cassette>, RecordError> {
    match Cassette::load_with(&paths.cassette, links) {
        Ok(cassette) => Ok(Some(cassette)),
        Err(CassetteError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

fn load_or_empty(paths: &CassettePaths) -> Result<Cassette, RecordError> {
    Ok(load_if_present(paths, Links::Refuse)?.unwrap_or_default())
}

/// The number of interactions in the cassette file (0 if there is none),
/// read as [`load_or_empty`] would read it but one interaction at a time.
fn count_if_present(paths: &CassettePaths) -> Result<usize, RecordError> {
    match crate::cassette::count_interactions(&paths.cassette, Links::Refuse) {
        Ok(count) => Ok(count),
        Err(CassetteError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err.into()),
    }
}
