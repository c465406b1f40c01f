//! The file-system primitives the protocol is built from: the lock, folder
//! fsync, and atomic replacement of the cassette.

use super::paths::CassettePaths;
use super::{IoContext, RecordError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

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
        create_dir_durably(&paths.dir).ctx(&paths.cassette, || {
            format!("create folder {}", paths.dir.display())
        })?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&paths.lock)
            .ctx(&paths.cassette, || {
                format!("open lock file {}", paths.lock.display())
            })?;
        file.lock()
            .ctx(&paths.cassette, || format!("lock {}", paths.lock.display()))?;
        Ok(LockGuard { file })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just
        // makes the release explicit.
        let _ = self.file.unlock();
    }
}

/// Makes a rename, creation or deletion in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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

/// Writes and syncs a new file with the permissions of `like`, if it exists,
/// so rewriting a cassette keeps its mode.
fn write_new_file(path: &Path, like: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    if let Ok(metadata) = fs::metadata(like) {
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
