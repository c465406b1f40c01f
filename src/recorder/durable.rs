//! The file-system primitives the protocol is built from: the locks, folder
//! fsync, and atomic replacement of the cassette. Every file opened here
//! for writing is opened without following a link (`O_NOFOLLOW`) and
//! checked to be a regular file (see [`crate::cassette::fs`]).

use super::journal::FileId;
use super::paths::CassettePaths;
use super::{IoContext, RecordError};
use crate::cassette::fs::{Links, open_checked};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// How often a locker opens a lock path again after finding that the file
/// it locked is no longer the one the path names. Each retry means another
/// process removed the lock file while holding it (a clean stop), so it is
/// progress, not a spin; the bound only turns endless churn into an error.
const LOCK_ATTEMPTS: usize = 1000;

/// Whether `path` still names `file` (same device and inode). A lock file
/// that was unlinked (a writer removes it when it stops cleanly) or replaced
/// since it was opened excludes nobody any more: whoever locked it must
/// open the path again. `links` says whether a link at `path` is followed,
/// as it was when the file was opened.
pub(crate) fn still_at(path: &Path, file: &File, links: Links) -> io::Result<bool> {
    let at_path = match links {
        Links::Follow => fs::metadata(path),
        Links::Refuse => fs::symlink_metadata(path),
    };
    match at_path {
        Ok(at_path) => Ok(FileId::of(&at_path) == FileId::of(&file.metadata()?)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// Opens the file at `path` with `open` and locks it with `lock`, until the
/// file locked is the one `path` names: the protocol every locker of a
/// removable lock file follows (see [`remove_lock_files`]). `Ok(None)`
/// when `open` finds no file (only readers allow that).
pub(crate) fn lock_current<E>(
    path: &Path,
    links: Links,
    mut open: impl FnMut() -> Result<Option<File>, E>,
    lock: impl Fn(&File) -> io::Result<()>,
    fail: impl Fn(io::Error) -> E,
) -> Result<Option<File>, E> {
    for _ in 0..LOCK_ATTEMPTS {
        let Some(file) = open()? else {
            return Ok(None);
        };
        lock(&file).map_err(&fail)?;
        if still_at(path, &file, links).map_err(&fail)? {
            return Ok(Some(file));
        }
        // Dropping the file closes it, which releases its lock.
    }
    Err(fail(io::Error::other(
        "the lock file keeps being removed or replaced",
    )))
}

/// Holds the exclusive lock on `<cassette>.lock` until dropped. The lock is
/// a `flock`, owned by the open file, so it also excludes other `File`s of
/// the same process (two recorders in one process) and is released by the
/// kernel when a process dies.
pub(crate) struct LockGuard {
    file: File,
}

impl LockGuard {
    /// Waits for the exclusive lock, creating the folder and the lock file
    /// if needed.
    pub fn acquire(paths: &CassettePaths) -> Result<LockGuard, RecordError> {
        let file = lock_current(
            &paths.lock,
            Links::Refuse,
            || open_lock_file(paths).map(Some),
            File::lock,
            |err| {
                RecordError::io(
                    &paths.cassette,
                    format!("lock {}", paths.lock.display()),
                    err,
                )
            },
        )?
        .expect("the lock file is created");
        Ok(LockGuard { file })
    }

    /// At a clean stop: [`remove_lock_files`] under this lock.
    pub fn remove_lock_files(&self, paths: &CassettePaths) -> bool {
        remove_lock_files(paths, &self.file)
    }
}

/// Opens the lock file, creating it and its folder if needed.
fn open_lock_file(paths: &CassettePaths) -> Result<File, RecordError> {
    create_dir_durably(&paths.dir).ctx(&paths.cassette, || {
        format!("create folder {}", paths.dir.display())
    })?;
    open_checked(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        &paths.lock,
        Links::Refuse,
    )
    .ctx(&paths.cassette, || {
        format!("open lock file {}", paths.lock.display())
    })
}

/// `NAME.json.writers`: every writer holds it shared from its first write
/// until it stops. A `--record all` reset empties the cassette only when
/// it can take it exclusively, that is when no other writer, in this
/// process or another, is recording into the cassette: their acknowledged
/// exchanges are never deleted under them.
///
/// Joining and the reset's check both happen under the exclusive lock on
/// `NAME.json.lock`, so no writer can join between a reset's check and its
/// own joining.
pub(crate) struct Session {
    _file: File,
}

impl Session {
    /// Joins the writers of the cassette (shared lock, held until drop).
    /// Call under the lock.
    pub fn join(paths: &CassettePaths) -> Result<Session, RecordError> {
        // Only removed under the lock the caller holds, so the first file
        // opened is the one at the path; checked all the same, as every
        // locker of a removable file checks.
        let file = lock_current(
            &paths.writers,
            Links::Refuse,
            || open_writers_file(paths).map(Some),
            // Never waits long: only a reset's check holds it exclusively,
            // and that needs the lock the caller holds.
            File::lock_shared,
            |err| {
                RecordError::io(
                    &paths.cassette,
                    format!("lock {} shared", paths.writers.display()),
                    err,
                )
            },
        )?
        .expect("the writers file is created");
        Ok(Session { _file: file })
    }

    /// Whether no writer holds the cassette. Call under the lock, and
    /// before joining: the caller's own session would count.
    pub fn nobody_else(paths: &CassettePaths) -> Result<bool, RecordError> {
        let file = open_writers_file(paths)?;
        match file.try_lock() {
            // Closing the file releases it again.
            Ok(()) => Ok(true),
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(err)) => Err(err).ctx(&paths.cassette, || {
                format!("lock {}", paths.writers.display())
            }),
        }
    }
}

fn open_writers_file(paths: &CassettePaths) -> Result<File, RecordError> {
    open_checked(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        &paths.writers,
        Links::Refuse,
    )
    .ctx(&paths.cassette, || {
        format!("open {}", paths.writers.display())
    })
}

/// Removes `NAME.json.writers` and `NAME.json.lock` when a writer stops
/// cleanly, so an idle cassette folder holds its cassettes and nothing
/// else (they would show up in `git status`). Returns whether they are
/// gone.
///
/// Call holding the exclusive lock through `lock`, the file locked at
/// `paths.lock`, and after dropping the caller's own [`Session`]. Removing
/// a lock file is safe only because every locker follows
/// [`lock_current`]: whoever locks a file that was unlinked meanwhile sees
/// that the path no longer names it and opens the path again.
///
/// - `.writers` is removed only while this process holds it exclusively
///   (a `try_lock`): a writer that holds it shared is still recording, and
///   it removes both files when it stops. Nobody can join meanwhile:
///   joining needs the lock held here.
/// - `.lock` is removed while held exclusively here, so nobody else holds
///   it: whoever waits for it finds it unlinked once it is released.
///
/// Best effort: a file that cannot be removed stays, which is harmless.
/// The folder is not fsynced: a lock file that comes back after a power
/// loss is as harmless.
pub(crate) fn remove_lock_files(paths: &CassettePaths, lock: &File) -> bool {
    if !matches!(still_at(&paths.lock, lock, Links::Refuse), Ok(true)) {
        return false;
    }
    let writers = match open_checked(OpenOptions::new().read(true), &paths.writers, Links::Refuse) {
        Ok(file) => Some(file),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        // A link or another kind of file there is none of datovcr's.
        Err(_) => return false,
    };
    if let Some(writers) = &writers {
        if writers.try_lock().is_err() {
            return false;
        }
        if !matches!(still_at(&paths.writers, writers, Links::Refuse), Ok(true))
            || fs::remove_file(&paths.writers).is_err()
        {
            return false;
        }
    }
    fs::remove_file(&paths.lock).is_ok()
}

/// The lock file a writer keeps open between batches: locking it is one
/// `flock` and one `stat` instead of `mkdir` checks, `open`, `flock` and
/// `close`.
pub(crate) struct KeptLock {
    file: File,
}

impl KeptLock {
    /// Takes the exclusive lock, through `kept` when it is still the file at
    /// the lock path. A lock file that was removed or replaced meanwhile
    /// would no longer exclude other processes, so it is opened afresh.
    pub fn lock(kept: &mut Option<KeptLock>, paths: &CassettePaths) -> Result<(), RecordError> {
        let file = lock_current(
            &paths.lock,
            Links::Refuse,
            || match kept.take() {
                Some(lock) => Ok(Some(lock.file)),
                None => open_lock_file(paths).map(Some),
            },
            File::lock,
            |err| {
                RecordError::io(
                    &paths.cassette,
                    format!("lock {}", paths.lock.display()),
                    err,
                )
            },
        )?
        .expect("the lock file is created");
        *kept = Some(KeptLock { file });
        Ok(())
    }

    /// Takes the exclusive lock through `kept` only if that needs no
    /// waiting and the lock file is still the one at its path; `false`
    /// (lock not held) otherwise, and [`KeptLock::lock`] decides.
    pub fn try_lock(kept: &Option<KeptLock>, paths: &CassettePaths) -> bool {
        let Some(lock) = kept else {
            return false;
        };
        if lock.file.try_lock().is_err() {
            return false;
        }
        if matches!(still_at(&paths.lock, &lock.file, Links::Refuse), Ok(true)) {
            return true;
        }
        let _ = lock.file.unlock();
        false
    }

    pub fn unlock(kept: &Option<KeptLock>) {
        if let Some(lock) = kept {
            // If this fails, closing the file (the writer stops) releases it.
            let _ = lock.file.unlock();
        }
    }

    /// At a clean stop: [`remove_lock_files`] under this lock, which the
    /// caller holds ([`KeptLock::lock`]).
    pub fn remove_lock_files(kept: &Option<KeptLock>, paths: &CassettePaths) -> bool {
        kept.as_ref()
            .is_some_and(|lock| remove_lock_files(paths, &lock.file))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just
        // makes the release explicit.
        let _ = self.file.unlock();
    }
}

/// Makes a rename, creation or deletion in `dir` durable. The folder
/// itself may be a link (the user named it); `O_DIRECTORY` makes sure it
/// is a folder.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_DIRECTORY);
    options.open(dir)?.sync_all()
}

/// [`fsync_dir`] with the cassette named in the error.
pub(crate) fn sync_folder(paths: &CassettePaths) -> Result<(), RecordError> {
    fsync_dir(&paths.dir).ctx(&paths.cassette, || {
        format!("fsync folder {}", paths.dir.display())
    })
}

/// Creates `dir` and any missing parents, and syncs each parent whose
/// listing changed so the new folders survive a crash.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = vec![dir];
    while let Some(parent) = missing[missing.len() - 1].parent() {
        if parent.as_os_str().is_empty() || parent.is_dir() {
            break;
        }
        missing.push(parent);
    }
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        match created.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => fsync_dir(parent)?,
            _ => fsync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Replaces the cassette with `bytes` so that a crash leaves either the old
/// or the new file, complete: write a temp file in the same folder, fsync
/// it, rename it over the cassette, fsync the folder. Call under the lock.
pub(crate) fn write_atomic(paths: &CassettePaths, bytes: &[u8]) -> Result<(), RecordError> {
    let temp = paths.temp();
    let result = write_new_file(&temp, &paths.cassette, bytes)
        .ctx(&paths.cassette, || {
            format!("write temp file {}", temp.display())
        })
        .and_then(|()| {
            fs::rename(&temp, &paths.cassette).ctx(&paths.cassette, || {
                format!("rename {} over the cassette", temp.display())
            })
        });
    if result.is_err() {
        // Best effort: a temp file left behind is removed by the next recover.
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_folder(paths)
}

/// Writes and syncs a new file with the permissions of `like`, if it is a
/// regular file, so rewriting a cassette keeps its mode.
fn write_new_file(path: &Path, like: &Path, bytes: &[u8]) -> io::Result<()> {
    // create_new (O_EXCL) never follows a link either; O_NOFOLLOW says so.
    let mut file = open_checked(
        OpenOptions::new().write(true).create_new(true),
        path,
        Links::Refuse,
    )?;
    if let Ok(metadata) = fs::symlink_metadata(like)
        && metadata.is_file()
    {
        file.set_permissions(metadata.permissions())?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Removes files (already gone is fine), then syncs the folder once.
pub(crate) fn remove_durably<'a>(
    paths: &CassettePaths,
    files: impl IntoIterator<Item = &'a Path>,
) -> Result<(), RecordError> {
    let mut removed = false;
    for file in files {
        match fs::remove_file(file) {
            Ok(()) => removed = true,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).ctx(&paths.cassette, || format!("remove {}", file.display()));
            }
        }
    }
    if removed {
        sync_folder(paths)?;
    }
    Ok(())
}
