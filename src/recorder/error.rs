//! Why an exchange could not be recorded, or a cassette not be compacted.

use crate::cassette::CassetteError;
use crate::redact::LeakError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why an exchange could not be recorded, or a cassette not be compacted.
/// Every message names the cassette and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not recording into cassette {}: {source}", cassette.display())]
    Leak {
        cassette: PathBuf,
        #[source]
        source: LeakError,
    },
    #[error(
        "cassette {}: cannot {action}: {source}. The cassette file was left as it was; \
         fix the cause (folder permissions, free disk space) and retry",
        cassette.display()
    )]
    Io {
        cassette: PathBuf,
        action: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The reader's own words: read-only commands (replay, schema-check)
    /// report it too, so it says nothing about writing.
    #[error("{0}")]
    Cassette(#[from] CassetteError),
    #[error(
        "cassette {} does not exist and has no journal; record it first",
        cassette.display()
    )]
    NoCassette { cassette: PathBuf },
    #[error(
        "journal {}, line {line}: {message}. Nothing was changed; fix or delete that line \
         (every line must be one complete interaction), then run again",
        journal.display()
    )]
    CorruptJournal {
        journal: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "cassette {} holds {found} interactions, but merge file {} expects {base} (not merged yet) \
         or {} ending with its {entries} entries (already merged). Nothing was changed; \
         compare the two files and delete the one that is wrong",
        cassette.display(), merge.display(), base + entries
    )]
    MergeMismatch {
        cassette: PathBuf,
        merge: PathBuf,
        base: usize,
        entries: usize,
        found: usize,
    },
    #[error(
        "cassette {} has several merge files ({}); an earlier compaction went wrong. \
         Nothing was changed; merge them by hand and delete them",
        cassette.display(), list(files)
    )]
    ConflictingMerges {
        cassette: PathBuf,
        files: Vec<PathBuf>,
    },
    #[error(
        "cassette {}: adding the {entries} exchange(s) in {} would make it {size} bytes, over \
         the {limit}-byte limit for one cassette. Nothing was changed and nothing is lost: replay \
         and schema-check read that file too. To compact it, rename it to OTHER.json.journal \
         beside the cassette (it then becomes cassette OTHER.json at the next start); to keep \
         recording, send `x-datovcr-cassette: NAME` or pass another --cassette",
        cassette.display(), pending.display()
    )]
    TooLarge {
        cassette: PathBuf,
        /// The journal or merge file whose exchanges stay pending.
        pending: PathBuf,
        entries: usize,
        size: usize,
        limit: u64,
    },
    #[error("cassette path `{}` does not name a file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "not recording into cassette {}: {}. datovcr records only into a cassette it can read \
         and leaves this one as it is: repair or move away what is named, or record into \
         another cassette (x-datovcr-cassette or --cassette)",
        cassette.display(), source.reason()
    )]
    Unusable {
        cassette: PathBuf,
        #[source]
        source: Box<RecordError>,
    },
    #[error(
        "not recording into cassette {}: --record all would empty it, but another datovcr \
         writer is recording into it ({} is locked), and its acknowledged exchanges would be \
         lost. Nothing was changed; stop the other proxy first, or record into another cassette",
        cassette.display(), writers.display()
    )]
    InUse { cassette: PathBuf, writers: PathBuf },
    #[error(
        "not recording into cassette {}: the exchange breaks a rule every cassette reader \
         applies ({reason}), so it would be written but never read back",
        cassette.display()
    )]
    Unreadable { cassette: PathBuf, reason: String },
    #[error(
        "not recording into cassette {}: this proxy already records into {limit} cassettes \
         (--max-cassettes), each with a writer thread and open files. Nothing was forwarded; \
         name fewer cassettes in one run (x-datovcr-cassette), or restart the proxy with a \
         higher --max-cassettes",
        cassette.display()
    )]
    TooManyCassettes { cassette: PathBuf, limit: usize },
    #[error(
        "not recording into cassette {}: the recorder was closed (shutdown in progress)",
        cassette.display()
    )]
    Closed { cassette: PathBuf },
    #[error(
        "not recording into cassette {}: its writer thread stopped unexpectedly; \
         this exchange may not be recorded",
        cassette.display()
    )]
    WriterGone { cassette: PathBuf },
}

impl RecordError {
    /// The `DATOVCR_*` code for this error when the proxy answers with it.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Unusable { .. } => "DATOVCR_CASSETTE_UNUSABLE",
            RecordError::InUse { .. } => "DATOVCR_CASSETTE_IN_USE",
            RecordError::TooManyCassettes { .. } => "DATOVCR_TOO_MANY_CASSETTES",
            _ => "DATOVCR_RECORDING_FAILED",
        }
    }

    /// Whether the cassette's state, not a failure, is the cause: the
    /// cassette is not one datovcr writes into, or another writer holds it
    /// (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            RecordError::Unusable { .. } | RecordError::InUse { .. }
        )
    }

    /// Whether a limit of this proxy, not a failure, is the cause (HTTP 503).
    pub fn is_over_limit(&self) -> bool {
        matches!(self, RecordError::TooManyCassettes { .. })
    }

    /// What went wrong, without the advice the full message adds: what
    /// [`RecordError::Unusable`] quotes.
    fn reason(&self) -> String {
        match self {
            RecordError::Io { action, source, .. } => format!("cannot {action}: {source}"),
            RecordError::Cassette(err) => err.to_string(),
            RecordError::CorruptJournal {
                journal,
                line,
                message,
            } => format!("journal {}, line {line}: {message}", journal.display()),
            other => other.to_string(),
        }
    }

    /// Whether the files at the cassette's paths are the cause: not a
    /// cassette, a link or another non-file where a file should be, a
    /// corrupt journal, merge files that disagree, a cassette too large.
    /// Not: permissions, a full disk, a thread that stopped.
    pub(crate) fn is_about_the_files(&self) -> bool {
        let kind_is_about_files = |kind: std::io::ErrorKind| {
            use std::io::ErrorKind::*;
            matches!(kind, InvalidInput | IsADirectory | NotADirectory)
        };
        match self {
            RecordError::Cassette(CassetteError::Invalid { .. })
            | RecordError::CorruptJournal { .. }
            | RecordError::MergeMismatch { .. }
            | RecordError::ConflictingMerges { .. }
            | RecordError::TooLarge { .. }
            | RecordError::NotAFile { .. } => true,
            RecordError::Cassette(CassetteError::Io { source, .. }) => {
                kind_is_about_files(source.kind())
            }
            RecordError::Io { source, .. } => kind_is_about_files(source.kind()),
            _ => false,
        }
    }

    pub(crate) fn io(cassette: &Path, action: String, source: std::io::Error) -> RecordError {
        RecordError::Io {
            cassette: cassette.to_owned(),
            action,
            source: Arc::new(source),
        }
    }
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

impl RecordError {
    /// The same failure for another waiter of the same batch: every exchange
    /// of a failed group commit gets the error. Only I/O errors come out of a
    /// batch; anything else is carried as text.
    pub(crate) fn for_waiter(&self, cassette: &Path) -> RecordError {
        match self {
            RecordError::Io {
                cassette,
                action,
                source,
            } => RecordError::Io {
                cassette: cassette.clone(),
                action: action.clone(),
                source: Arc::clone(source),
            },
            other => RecordError::Io {
                cassette: cassette.to_owned(),
                action: "record".into(),
                source: Arc::new(std::io::Error::other(other.to_string())),
            },
        }
    }
}

/// Adds the cassette and the failed action to an I/O error.
pub(crate) trait IoContext<T> {
    fn ctx(self, cassette: &Path, action: impl FnOnce() -> String) -> Result<T, RecordError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, cassette: &Path, action: impl FnOnce() -> String) -> Result<T, RecordError> {
        self.map_err(|source| RecordError::Io {
            cassette: cassette.to_owned(),
            action: action(),
            source: Arc::new(source),
        })
    }
}
