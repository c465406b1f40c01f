//! The names of a cassette's companion files, and finding the leftovers of
//! interrupted work.

use super::{IoContext, RecordError};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const JOURNAL_SUFFIX: &str = ".journal";
const LOCK_SUFFIX: &str = ".lock";
const WRITERS_SUFFIX: &str = ".writers";
const MERGE_INFIX: &str = ".merge-";
const TEMP_INFIX: &str = ".tmp-";

/// Distinguishes temp files written by one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A cassette and its companion files, all in the cassette's folder so that
/// renames between them are atomic.
#[derive(Debug, Clone)]
pub(crate) struct CassettePaths {
    pub cassette: PathBuf,
    pub dir: PathBuf,
    name: OsString,
    pub journal: PathBuf,
    pub lock: PathBuf,
    /// Held shared by every live writer (see `durable::Session`).
    pub writers: PathBuf,
}

/// Companion files found next to a cassette.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    pub journal: bool,
    /// `(file, K)` for each `name.merge-K`.
    pub merges: Vec<(PathBuf, usize)>,
    pub temps: Vec<PathBuf>,
}

impl Leftovers {
    /// Whether recovery has anything to do.
    pub fn is_pending(&self) -> bool {
        self.journal || !self.merges.is_empty() || !self.temps.is_empty()
    }
}

impl CassettePaths {
    pub fn new(cassette: &Path) -> Result<Self, RecordError> {
        let name = cassette
            .file_name()
            .ok_or_else(|| RecordError::NotAFile {
                path: cassette.to_owned(),
            })?
            .to_owned();
        let dir = match cassette.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let with = |suffix: &str| {
            let mut file = name.clone();
            file.push(suffix);
            dir.join(file)
        };
        Ok(Self {
            cassette: cassette.to_owned(),
            journal: with(JOURNAL_SUFFIX),
            lock: with(LOCK_SUFFIX),
            writers: with(WRITERS_SUFFIX),
            dir,
            name,
        })
    }

    pub fn merge(&self, base: usize) -> PathBuf {
        let mut file = self.name.clone();
        file.push(format!("{MERGE_INFIX}{base}"));
        self.dir.join(file)
    }

    /// A fresh temp file name: hidden, and unique per process and write.
    pub fn temp(&self) -> PathBuf {
        let mut file = OsString::from(".");
        file.push(&self.name);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        file.push(format!("{TEMP_INFIX}{}-{n}", std::process::id()));
        self.dir.join(file)
    }

    /// Lists the journal, merge files and temp files of this cassette.
    /// A missing folder has none.
    pub fn scan(&self) -> Result<Leftovers, RecordError> {
        let mut found = Leftovers::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            other => other.ctx(&self.cassette, || self.list_action())?,
        };
        for entry in entries {
            let entry = entry.ctx(&self.cassette, || self.list_action())?;
            let file = entry.file_name();
            let name = self.name.as_encoded_bytes();
            let bytes = file.as_encoded_bytes();
            if let Some(rest) = bytes.strip_prefix(name) {
                if rest == JOURNAL_SUFFIX.as_bytes() {
                    found.journal = true;
                } else if let Some(base) = rest.strip_prefix(MERGE_INFIX.as_bytes())
                    && let Some(base) = parse_number(base)
                {
                    found.merges.push((entry.path(), base));
                }
            } else if let Some(rest) = bytes.strip_prefix(b".")
                && let Some(rest) = rest.strip_prefix(name)
                && let Some(rest) = rest.strip_prefix(TEMP_INFIX.as_bytes())
                && is_pid_and_counter(rest)
            {
                found.temps.push(entry.path());
            }
        }
        found.merges.sort();
        found.temps.sort();
        Ok(found)
    }

    fn list_action(&self) -> String {
        format!("list folder {}", self.dir.display())
    }
}

/// The cassette a companion file belongs to, for any file named like the
/// journal, a merge file or a temp file of a `*.json` cassette. Names that
/// are not UTF-8 are never companions of a cassette datovcr would find.
pub(crate) fn owner_of_leftover(file: &OsStr) -> Option<&str> {
    let name = file.to_str()?;
    let owner = if let Some(owner) = name.strip_suffix(JOURNAL_SUFFIX) {
        owner
    } else if let Some((owner, base)) = name.rsplit_once(MERGE_INFIX)
        && parse_number(base.as_bytes()).is_some()
    {
        owner
    } else if let Some(hidden) = name.strip_prefix('.')
        && let Some((owner, rest)) = hidden.rsplit_once(TEMP_INFIX)
        && is_pid_and_counter(rest.as_bytes())
    {
        owner
    } else {
        return None;
    };
    owner.ends_with(".json").then_some(owner)
}

/// The cassette whose exchanges a file holds, for a journal or a merge
/// file of a `*.json` cassette: what a reader must read as (part of) that
/// cassette even when the cassette file does not exist. Temp files are not
/// counted: they are incomplete copies, removed at the next start.
pub fn pending_entries_of(file: &OsStr) -> Option<&str> {
    let name = file.to_str()?;
    let owner = match name.strip_suffix(JOURNAL_SUFFIX) {
        Some(owner) => owner,
        None => {
            let (owner, base) = name.rsplit_once(MERGE_INFIX)?;
            parse_number(base.as_bytes())?;
            owner
        }
    };
    owner.ends_with(".json").then_some(owner)
}

fn rsplit<'a>(bytes: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = bytes
        .windows(separator.len())
        .rposition(|window| window == separator)?;
    Some((&bytes[..at], &bytes[at + separator.len()..]))
}

fn parse_number(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn is_pid_and_counter(rest: &[u8]) -> bool {
    rsplit(rest, b"-")
        .is_some_and(|(pid, n)| parse_number(pid).is_some() && parse_number(n).is_some())
}
