//! The journal: JSON Lines, one interaction per line, appended in batches.
//!
//! A line is complete when it ends with `\n`. Only a batch's last line can
//! lack it, and only when the writer died mid-write, before the batch was
//! acknowledged, so an unterminated tail is dropped, never reported.

use super::paths::CassettePaths;
use super::{IoContext, RecordError};
use crate::cassette::Interaction;
use crate::cassette::fs::{Links, open_checked, open_regular};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The complete lines of a journal (or merge) file, parsed; `None` if the
/// file does not exist. A complete line that does not parse is an error.
/// Only regular files are journals: one replaced by a FIFO or a device
/// would be read forever. Readers follow a link; the recorder, which
/// folds what it reads into the cassette, does not (`links`).
pub(crate) fn read(
    file: &Path,
    cassette: &Path,
    links: Links,
) -> Result<Option<Vec<Interaction>>, RecordError> {
    let action = || format!("read {}", file.display());
    let mut handle = match open_regular(file, links) {
        Ok(handle) => handle,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).ctx(cassette, action),
    };
    let mut bytes = Vec::new();
    handle.read_to_end(&mut bytes).ctx(cassette, action)?;
    parse(&bytes, file).map(Some)
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

/// Which file a path or handle refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(metadata: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

/// The journal as one writer left it after its last batch, kept open so the
/// next batch needs no `open`, no `close` and no torn-tail check.
pub(crate) struct OpenJournal {
    pub file: File,
    id: FileId,
    /// Where this writer's last batch ended.
    end: u64,
}

impl OpenJournal {
    /// Which file this is: a journal compacted away and created again is
    /// another file, with its own pending fsync.
    pub fn id(&self) -> FileId {
        self.id
    }
}

/// Appends `batch` (whole lines) to the journal, and syncs it when `sync`.
/// Returns whether the journal was created, in which case the caller must
/// sync the folder. Call under the lock.
///
/// `open` is the journal this writer kept open. It is used only while the
/// journal at the path is still that file and still ends where this writer
/// left it; otherwise (another process compacted it away, appended to it,
/// or a crash left a torn tail) the journal is opened afresh by path and
/// any torn tail is cut first. On failure the file is cut back to where it
/// was, so a partial batch cannot end up in the middle of the journal once
/// later batches are appended.
pub(crate) fn append(
    paths: &CassettePaths,
    batch: &[u8],
    sync: bool,
    open: &mut Option<OpenJournal>,
) -> Result<bool, RecordError> {
    let action = |verb: &str| format!("{verb} journal {}", paths.journal.display());
    // The path itself, not a link's target: a link is refused below.
    let on_disk = match std::fs::symlink_metadata(&paths.journal) {
        Ok(metadata) => Some((FileId::of(&metadata), metadata.len())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).ctx(&paths.cassette, || action("check")),
    };
    let unchanged = match (&*open, on_disk) {
        (Some(journal), Some((id, len))) => journal.id == id && journal.end == len,
        _ => false,
    };
    if !unchanged {
        *open = None;
        let mut file = open_checked(
            OpenOptions::new().read(true).append(true).create(true),
            &paths.journal,
            Links::Refuse,
        )
        .ctx(&paths.cassette, || action("open"))?;
        let metadata = file.metadata().ctx(&paths.cassette, || action("check"))?;
        // A hard link is no symbolic link, but appending to one writes to
        // every other name of the file too (one outside the folder, a
        // backup snapshot): the journal must be the file's only name.
        let names = hard_links(&metadata);
        if names > 1 {
            let refused = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "it has {names} names (hard links); appending would change the file under \
                     its other names too, so datovcr does not write to it"
                ),
            );
            return Err(refused).ctx(&paths.cassette, || action("open"));
        }
        let end = cut_torn_tail(&mut file).ctx(&paths.cassette, || action("repair the end of"))?;
        let id = FileId::of(&metadata);
        *open = Some(OpenJournal { file, id, end });
    }
    let journal = open.as_mut().expect("opened above");
    let start = journal.end;
    let mut written = journal.file.write_all(batch);
    if sync {
        written = written.and_then(|()| journal.file.sync_data());
    }
    match written {
        Ok(()) => {
            journal.end = start + batch.len() as u64;
            Ok(on_disk.is_none())
        }
        Err(err) => {
            // Best effort; if this fails too, the next append cuts the tail.
            let _ = journal.file.set_len(start);
            *open = None;
            Err(err).ctx(&paths.cassette, || action("append to"))
        }
    }
}

fn hard_links(metadata: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.nlink()
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
