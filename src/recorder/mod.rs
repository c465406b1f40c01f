//! The durable cassette recorder: every recorded exchange is on disk before
//! its response reaches the client, and no crash can lose or corrupt one.
//!
//! # Files
//!
//! For a cassette `dir/name.json` the recorder uses, in the same folder:
//!
//! | file | what it is |
//! |---|---|
//! | `name.json` | the cassette (see `docs/cassette-format.md`); only ever replaced by rename |
//! | `name.json.journal` | exchanges not yet compacted: JSON Lines, one interaction per line |
//! | `name.json.lock` | the file every process locks (`File::lock`) before touching the others |
//! | `name.json.writers` | locked shared by every live writer; a `--record all` reset needs it free |
//!
//! The two lock files are removed by a writer's clean stop when no other
//! writer holds the cassette (see **Lock files** below).
//! | `name.json.merge-K` | a journal being compacted into a cassette that held `K` interactions |
//! | `.name.json.tmp-PID-N` | a new cassette being written; renamed over `name.json` when complete |
//!
//! # Why a journal
//!
//! Rewriting the pretty cassette per exchange would make each recording cost
//! grow with the cassette. Instead each exchange is appended to the journal,
//! and exchanges that arrive together share one `write` and one `fsync`
//! (group commit): a per-cassette writer thread takes everything queued, writes
//! it in one go, syncs once and then acknowledges every exchange of the batch.
//! `append` returns only after that acknowledgement. (`--fsync after-response`
//! and `--fsync periodic` acknowledge after the `write` and leave the
//! `fsync` to a second thread, at once or once per interval: see [`Fsync`].
//! With no fsync on the reply path there is nothing to group, so while the
//! writer thread is idle and the lock is free the caller writes its line
//! itself, under the same lock, and skips the hand-off.) The journal is folded into
//! the cassette (compaction) when the recorder closes and at the next start.
//!
//! # Crash-safety protocol
//!
//! Everything below happens while holding the exclusive lock on
//! `name.json.lock`, so threads and processes never interleave.
//!
//! - **Append**: check the journal *by path* for every batch. The writer keeps
//!   the journal it last wrote open and uses it only while the path still
//!   names that file and the file still ends where its last batch ended;
//!   otherwise (a compaction renamed it away, another process appended, a
//!   crashed writer left a torn tail) it opens the journal afresh and cuts any
//!   torn tail. Then it writes the batch, `sync_data`, and `fsync`s the folder
//!   when the journal was just created. A failed write is truncated away again.
//!   The lock file is kept open too, and checked against its path after each
//!   `flock`.
//! - **Compaction** never writes a cassette larger than
//!   [`crate::cassette::MAX_CASSETTE_BYTES`], the most `Cassette::load`
//!   reads: the merged cassette is serialized before any file changes, and
//!   a larger one is refused with every file left as it was.
//! - **Compaction** is exactly-once although it spans several renames:
//!   1. A leftover `name.json.merge-K` means an earlier compaction stopped
//!      halfway. With `n` complete lines in it: if the cassette holds `K`
//!      interactions the merge did not happen yet, so it is finished; if it
//!      holds `K + n` and ends with exactly those entries the merge happened,
//!      so only the merge file is deleted; anything else is an error that
//!      leaves every file untouched.
//!   2. The journal is parsed (a corrupt line in the middle is an error that
//!      changes nothing), then renamed to `name.json.merge-K`; folder fsync.
//!   3. The cassette is rewritten as old interactions + merge entries: temp
//!      file, `fsync`, rename over the cassette, folder `fsync`.
//!   4. The merge file is deleted; folder `fsync`.
//!
//! - **Opening**: before its first write into a cassette (and before the
//!   proxy forwards the first exchange meant for it), a writer checks under
//!   the lock that the cassette is one datovcr can read, or does not exist
//!   yet, and compacts anything pending. A cassette that fails (not a
//!   cassette at all, a link, a folder, a corrupt journal) is left as it
//!   is, and every exchange meant for it is refused with that error, so
//!   nothing is ever appended that could not be compacted.
//! - **Reset** (`--record all`): under the lock, and only if no other
//!   writer holds `name.json.writers`; otherwise refused. Every file it
//!   discards is read first: one datovcr cannot read is never deleted.
//! - **No links**: every file the recorder writes, or reads in order to
//!   write, is opened with `O_NOFOLLOW` and checked to be a regular file.
//!   Renames replace a link, never its target. The cassette folder itself
//!   may be a link: the user named it.
//!
//! - **Lock files** are removed at a clean stop (and after a recovery), so
//!   an idle folder holds only cassettes. Every locker, after its `flock`
//!   succeeds, checks that the path still names the file it locked (device
//!   and inode) and otherwise opens the path again: a file unlinked while
//!   it waited excludes nobody. The remover, holding `name.json.lock`
//!   exclusively and having left the writers itself, removes
//!   `name.json.writers` only if it can lock it exclusively at once (no
//!   other writer records into the cassette; none can join, joining needs
//!   the lock), then `name.json.lock`. A reader that finds no lock file
//!   reads without one and keeps the result only if afterwards there is
//!   still no lock file and the cassette is the same file.
//!
//! A crash between any two steps leaves a state that step 1 resolves, and the
//! cassette is always a complete file: it is only ever replaced by rename.
//! A journal line without its final newline was being written when the
//! process died; it was never acknowledged, so it is skipped. Temp files seen
//! under the lock belong to a writer that died (temp files are only written
//! under the lock), so they are removed.

mod arrivals;
mod compact;
mod durable;
mod error;
mod journal;
mod paths;
mod syncer;
mod writer;

#[cfg(test)]
mod disk_tests;
#[cfg(test)]
mod tests;

pub use arrivals::{COMMIT_DELAY, Ticket};
pub use compact::{has_pending_entries, load_with_journal, lock_for_reading, recover, recover_dir};
pub(crate) use error::IoContext;
pub use error::RecordError;
pub use paths::pending_entries_of;

use crate::redact::RedactedInteraction;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;
use writer::{Job, SyncPolicy, WriterHandle};

/// What the proxy does with the exchanges it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RecordMode {
    /// Start every cassette afresh: the first exchange recorded into a
    /// cassette empties it first.
    All,
    /// Keep what the cassette holds and append new exchanges.
    #[default]
    New,
    /// Record nothing.
    None,
}

/// When a recorded exchange is fsynced, relative to its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Fsync {
    /// The exchange is fsynced before the client gets its response: an
    /// acknowledged exchange survives a power loss. Costs one fsync of
    /// latency per exchange, shared by the exchanges in flight together
    /// (a batch waits up to 1 ms for them).
    #[default]
    BeforeResponse,
    /// The exchange is written to the journal before the response and
    /// fsynced right after it, off the reply path: an acknowledged exchange
    /// survives datovcr crashing or being killed, but not the machine
    /// crashing in the few milliseconds before its fsync.
    AfterResponse,
    /// The exchange is written to the journal before the response, and the
    /// journal is fsynced at most once per `--fsync-interval` (Redis's
    /// `appendfsync everysec`): an acknowledged exchange survives datovcr
    /// crashing or being killed; a machine crash can lose the last interval.
    Periodic,
}

/// How long `--fsync periodic` lets written exchanges wait for their fsync.
pub const DEFAULT_FSYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A cassette this recorder wrote to, as it stands after [`Recorder::close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassetteSummary {
    pub path: PathBuf,
    /// Interactions in the cassette file after compaction.
    pub interactions: usize,
    /// Interactions this recorder appended to it.
    pub appended: usize,
}

/// Records exchanges into cassettes. Cheap to clone; clones share the writer
/// threads, so appends from every clone into one cassette are ordered.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

/// What the writer threads report, shared with them.
#[derive(Default)]
pub(crate) struct Counters {
    /// Journal batches written.
    pub batches: Arc<AtomicU64>,
    /// fsyncs done off the reply path (after-response and periodic).
    pub background_fsyncs: Arc<AtomicU64>,
    /// Batches written on the caller's thread rather than the writer's.
    pub inline_writes: Arc<AtomicU64>,
}

struct Inner {
    mode: RecordMode,
    policy: SyncPolicy,
    /// The most cassettes with a writer at once ([`Recorder::with_max_cassettes`]).
    max_cassettes: usize,
    counters: Counters,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// One writer per cassette, keyed by absolute path.
    writers: BTreeMap<PathBuf, WriterHandle>,
    /// Relative cassette paths already made absolute. Resolving one reads
    /// the working directory (`getcwd`), twice per exchange before this;
    /// datovcr never changes its working directory, so the answer holds.
    resolved: HashMap<PathBuf, PathBuf>,
}

/// An exchange handed to the recorder; resolves once it is on disk.
pub(crate) enum Pending {
    /// Queued for the writer thread's next batch.
    Queued {
        cassette: PathBuf,
        ack: oneshot::Receiver<Result<(), RecordError>>,
    },
    /// Written already, on the caller's thread.
    Written(Result<(), RecordError>),
}

impl Pending {
    pub(crate) async fn durable(self) -> Result<(), RecordError> {
        match self {
            Pending::Queued { cassette, ack } => ack
                .await
                .unwrap_or(Err(RecordError::WriterGone { cassette })),
            Pending::Written(result) => result,
        }
    }
}

impl Recorder {
    /// A recorder that fsyncs each exchange before its response.
    pub fn new(mode: RecordMode) -> Self {
        Self::with_fsync(mode, Fsync::BeforeResponse)
    }

    pub fn with_fsync(mode: RecordMode, fsync: Fsync) -> Self {
        Self::with_fsync_interval(mode, fsync, DEFAULT_FSYNC_INTERVAL)
    }

    /// `interval`: how long [`Fsync::Periodic`] lets a written exchange wait
    /// for its fsync; ignored by the other policies.
    pub fn with_fsync_interval(
        mode: RecordMode,
        fsync: Fsync,
        interval: std::time::Duration,
    ) -> Self {
        Self::with_policy(
            mode,
            SyncPolicy {
                fsync,
                interval,
                commit_delay: COMMIT_DELAY,
            },
        )
    }

    fn with_policy(mode: RecordMode, policy: SyncPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                mode,
                policy,
                max_cassettes: DEFAULT_MAX_CASSETTES,
                counters: Counters::default(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// As [`Recorder::with_fsync`], with a commit delay of `commit_delay`
    /// rather than [`COMMIT_DELAY`]: tests give it one no test outlives, so
    /// that only the exchanges in flight can end a batch's wait.
    #[cfg(test)]
    pub(crate) fn with_commit_delay(
        mode: RecordMode,
        fsync: Fsync,
        commit_delay: std::time::Duration,
    ) -> Self {
        Self::with_policy(
            mode,
            SyncPolicy {
                fsync,
                interval: DEFAULT_FSYNC_INTERVAL,
                commit_delay,
            },
        )
    }

    /// At most `limit` cassettes get a writer (a thread, two or three open
    /// files) during this recorder's life; an exchange for one more is
    /// refused before it is forwarded ([`RecordError::TooManyCassettes`]).
    /// A client names cassettes per request (`x-datovcr-cassette`), so
    /// without a bound it could make the proxy start threads and open files
    /// until the system refuses them, and then fail the cassettes it was
    /// already recording. Call before the recorder is shared.
    pub fn with_max_cassettes(mut self, limit: usize) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_max_cassettes is called before the recorder is shared")
            .max_cassettes = limit;
        self
    }

    pub fn mode(&self) -> RecordMode {
        self.inner.mode
    }

    /// How many journal batches were written and fsynced so far. Lower than
    /// the number of appends when group commit combines them.
    pub fn batches_written(&self) -> u64 {
        self.inner.counters.batches.load(Ordering::Relaxed)
    }

    /// How many exchanges were written on the calling thread, without the
    /// hand-off to the writer thread (after-response and periodic only).
    pub fn inline_writes(&self) -> u64 {
        self.inner.counters.inline_writes.load(Ordering::Relaxed)
    }

    /// How many journal fsyncs the fsync thread did so far
    /// ([`Fsync::AfterResponse`] and [`Fsync::Periodic`]; 0 otherwise).
    pub fn background_fsyncs(&self) -> u64 {
        self.inner
            .counters
            .background_fsyncs
            .load(Ordering::Relaxed)
    }

    /// Durably appends one exchange to `cassette`: returns once it is
    /// fsynced in the journal (with [`Fsync::AfterResponse`] and
    /// [`Fsync::Periodic`], once it is written there; the fsync follows). The exchange is serialized with
    /// [`RedactedInteraction::to_journal_line`] (the fail-closed leak check)
    /// before anything is queued, so a leak writes nothing.
    ///
    /// Exchanges land in the order their `append` was first polled. If the
    /// future is dropped after that, the exchange is still written.
    pub async fn append(
        &self,
        cassette: &Path,
        interaction: &RedactedInteraction,
    ) -> Result<(), RecordError> {
        self.append_prepared(cassette, interaction, Ticket::none())
            .await
    }

    /// [`Recorder::append`] for an exchange [`Recorder::prepare`] counted:
    /// its `ticket` is dropped once the exchange is queued, which may end a
    /// batch's wait for it.
    pub async fn append_prepared(
        &self,
        cassette: &Path,
        interaction: &RedactedInteraction,
        ticket: Ticket,
    ) -> Result<(), RecordError> {
        let submitted = self.submit(cassette, interaction);
        // Queued (or refused): a batch waiting for this exchange can go.
        drop(ticket);
        match submitted? {
            Some(pending) => pending.durable().await,
            None => Ok(()),
        }
    }

    /// Queues an exchange without waiting for it; `None` in
    /// [`RecordMode::None`]. The queue order is the order in the file.
    pub(crate) fn submit(
        &self,
        cassette: &Path,
        interaction: &RedactedInteraction,
    ) -> Result<Option<Pending>, RecordError> {
        if self.inner.mode == RecordMode::None {
            return Ok(None);
        }
        // The rules every reader applies, checked before anything is
        // written: the recorder never writes what a reader would refuse.
        interaction
            .interaction()
            .check()
            .map_err(|reason| RecordError::Unreadable {
                cassette: cassette.to_owned(),
                reason,
            })?;
        let line = interaction
            .to_journal_line()
            .map_err(|source| RecordError::Leak {
                cassette: cassette.to_owned(),
                source,
            })?;
        let key = self.writer_key(cassette)?;
        let mut state = self.state();
        let writer = self.writer_for(&mut state, cassette, key)?;
        // Under the recorder's lock, so `close` cannot interleave.
        if let Some(written) = writer.try_write_inline(&line) {
            return Ok(Some(Pending::Written(written)));
        }
        let (ack, receiver) = oneshot::channel();
        writer.send(Job { line, ack })?;
        Ok(Some(Pending::Queued {
            cassette: cassette.to_owned(),
            ack: receiver,
        }))
    }

    /// Makes sure an exchange can be recorded into `cassette` before it is
    /// forwarded, so the upstream never acts on one that cannot be: the
    /// cassette must be one datovcr can read (or not exist yet), and with
    /// [`RecordMode::All`] no other writer may hold it. The first call per
    /// cassette reads it (and compacts what is pending) under the lock; once
    /// that succeeded, calls cost a flag check. Always `Ok` in
    /// [`RecordMode::None`].
    ///
    /// The same checks run again before the first write, so a cassette
    /// that changes in between is still caught.
    ///
    /// The returned [`Ticket`] counts the exchange as on its way to the
    /// cassette: a durable batch may wait for it ([`COMMIT_DELAY`]). Hand
    /// it to [`Recorder::append_prepared`], or drop it as soon as the exchange will
    /// not be recorded.
    pub async fn prepare(&self, cassette: &Path) -> Result<Ticket, RecordError> {
        if self.inner.mode == RecordMode::None {
            return Ok(Ticket::none());
        }
        let key = self.writer_key(cassette)?;
        let (opener, ticket) = {
            let mut state = self.state();
            let writer = self.writer_for(&mut state, cassette, key)?;
            (writer.opener(), writer.ticket())
        };
        let Some(opener) = opener else {
            return Ok(ticket);
        };
        let cassette = cassette.to_owned();
        tokio::task::spawn_blocking(move || opener.open())
            .await
            .unwrap_or(Err(RecordError::WriterGone { cassette }))?;
        Ok(ticket)
    }

    /// The key of `cassette`'s writer: its absolute path, computed outside
    /// the state lock the first time a relative path is seen.
    fn writer_key(&self, cassette: &Path) -> Result<PathBuf, RecordError> {
        if cassette.is_absolute() {
            return writer_key(cassette);
        }
        if let Some(key) = self.state().resolved.get(cassette) {
            return Ok(key.clone());
        }
        let key = writer_key(cassette)?;
        let mut state = self.state();
        // Bounded: cassette names a client chooses per request are many.
        if state.resolved.len() < RESOLVED_PATHS {
            state.resolved.insert(cassette.to_owned(), key.clone());
        }
        Ok(key)
    }

    /// The writer thread of `cassette`, started if needed.
    fn writer_for<'s>(
        &self,
        state: &'s mut State,
        cassette: &Path,
        key: PathBuf,
    ) -> Result<&'s WriterHandle, RecordError> {
        if state.closed {
            return Err(RecordError::Closed {
                cassette: cassette.to_owned(),
            });
        }
        let full = state.writers.len() >= self.inner.max_cassettes;
        Ok(match state.writers.entry(key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(_) if full => {
                return Err(RecordError::TooManyCassettes {
                    cassette: cassette.to_owned(),
                    limit: self.inner.max_cassettes,
                });
            }
            std::collections::btree_map::Entry::Vacant(entry) => {
                let reset = self.inner.mode == RecordMode::All;
                let handle =
                    WriterHandle::spawn(cassette, reset, self.inner.policy, &self.inner.counters)?;
                entry.insert(handle)
            }
        })
    }

    /// Finishes every queued append, stops the writer threads and compacts
    /// every cassette this recorder wrote to. Appends after this fail with
    /// [`RecordError::Closed`].
    ///
    /// Every cassette is attempted; the first failure is returned. A cassette
    /// that failed to compact keeps its journal, so nothing is lost: the next
    /// [`recover`] finishes the job.
    pub async fn close(&self) -> Result<Vec<CassetteSummary>, RecordError> {
        let writers = {
            let mut state = self.state();
            state.closed = true;
            std::mem::take(&mut state.writers)
        };
        let mut summaries = Vec::new();
        let mut first_error = None;
        for writer in writers.into_values() {
            let cassette = writer.cassette().to_owned();
            let result = tokio::task::spawn_blocking(move || writer.finish())
                .await
                .unwrap_or(Err(RecordError::WriterGone { cassette }));
            match result {
                Ok(summary) => summaries.extend(summary),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(summaries),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every
        // update is a single insert or take.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many cassettes a [`Recorder`] writes into at most, unless told
/// otherwise (`--max-cassettes`).
pub const DEFAULT_MAX_CASSETTES: usize = 256;

/// How many relative cassette paths [`Recorder`] keeps resolved.
const RESOLVED_PATHS: usize = 1024;

/// Writers are keyed by absolute path (computed outside the state lock).
fn writer_key(cassette: &Path) -> Result<PathBuf, RecordError> {
    std::path::absolute(cassette).ctx(cassette, || "resolve the cassette path".into())
}
