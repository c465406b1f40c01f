//! The journal: JSON Lines, one interaction per line, appended in batches.
//!
//! A line is complete when it ends with `\n`. Only a batch's last line can
//! lack it, and only when the writer died mid-write, before the batch was
//! acknowledged, so an unterminated tail is dropped, never reported.

use super::paths::CassettePaths;
use super::{IoContext, RecordError};
use crate::cassette::Interaction;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The complete lines of a journal (or merge) file, parsed; `None` if the
/// file does not exist. A complete line that does not parse is an error.
pub(crate) fn read(file: &Path, cassette: &Path) -> Result<Option<Vec<Interaction>>, RecordError> {
    // A journal replaced by something else (a link to /dev/zero, say) would
    // be read forever: only regular files are journals.
    match std::fs::metadata(file) {
        Ok(metadata) if !metadata.is_file() => {
            return Err(RecordError::NotAFile {
                path: file.to_owned(),
            });
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    match std::fs::read(file) {
        Ok(bytes) => parse(&bytes, file).map(Some),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).ctx(cassette, || format!("read {}", file.display())),
    }
}

/// Parses the complete lines of `bytes`; `file` only names the source.
pub(crate) fn parse(bytes: &[u8], file: &Path) -> Result<Vec<Interaction>, RecordError> {
    let complete = match bytes.iter().rposition(|&byte| byte == b'\n') {
        Some(last) => &bytes[..=last],
        None => &[],
    };
    complete
        .split_inclusive(|&byte| byte == b'\n')
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_slice(line).map_err(|err| RecordError::CorruptJournal {
                journal: file.to_owned(),
                line: index + 1,
                message: err.to_string(),
            })
        })
        .collect()
}

/// What [`append`] did.
pub(crate) struct Appended {
    /// The journal did not exist before: the caller must sync the folder.
    pub created: bool,
    /// The journal, open, for a caller that syncs it later.
    pub file: File,
}

/// Appends `batch` (whole lines) to the journal, and syncs it when `sync`.
/// Call under the lock.
///
/// The journal is opened by path every time, so a journal that another
/// process renamed to a merge file is never written to. On failure the file
/// is cut back to where it was, so a partial batch cannot end up in the
/// middle of the journal once later batches are appended.
pub(crate) fn append(
    paths: &CassettePaths,
    batch: &[u8],
    sync: bool,
) -> Result<Appended, RecordError> {
    let action = |verb: &str| format!("{verb} journal {}", paths.journal.display());
    let created = !paths
        .journal
        .try_exists()
        .ctx(&paths.cassette, || action("check"))?;
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&paths.journal)
        .ctx(&paths.cassette, || action("open"))?;
    let start = cut_torn_tail(&mut file).ctx(&paths.cassette, || action("repair the end of"))?;
    let mut written = file.write_all(batch);
    if sync {
        written = written.and_then(|()| file.sync_data());
    }
    if written.is_err() {
        // Best effort; if this fails too, the next append cuts the tail.
        let _ = file.set_len(start);
    }
    written.ctx(&paths.cassette, || action("append to"))?;
    Ok(Appended { created, file })
}

/// Drops an unterminated last line (left by a writer that died, never
/// acknowledged) and returns the resulting length.
fn cut_torn_tail(file: &mut File) -> io::Result<u64> {
    const CHUNK: u64 = 4096;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buffer = [0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buffer[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(newline) = chunk.iter().rposition(|&byte| byte == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end != len {
        file.set_len(end)?;
    }
    Ok(end)
}
