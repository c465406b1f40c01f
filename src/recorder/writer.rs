//! One writer thread per cassette: the group commit.
//!
//! File I/O blocks, so it runs on a dedicated std thread rather than on the
//! async runtime. Appends reach the thread through a channel, in the order
//! they were submitted; the thread takes the first one, waits for the lock,
//! then takes everything else that queued meanwhile and writes the lot with
//! one `write` and one `fsync`. The more concurrent exchanges, the bigger
//! the batches, so the fsync cost per exchange falls under load.
//!
//! With [`Fsync::AfterResponse`] and [`Fsync::Periodic`] the batch is
//! acknowledged once it is written (in the kernel's page cache, so it
//! survives datovcr dying) and a second thread, the syncer
//! ([`super::syncer`]), fsyncs it off the reply path: after the commit
//! delay, or once per interval.

use super::arrivals::{Arrivals, CommitDelay, Ticket};
use super::compact::{check_unlocked, open_locked, recover_locked, reset_locked};
use super::durable::{KeptLock, Session, sync_folder};
use super::journal::OpenJournal;
use super::paths::CassettePaths;
use super::syncer::{Pace, Syncer};
use super::{CassetteSummary, Counters, Fsync, IoContext, RecordError, journal};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// When a writer's batches are fsynced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncPolicy {
    pub fsync: Fsync,
    /// [`Fsync::Periodic`]'s longest wait for an fsync.
    pub interval: Duration,
    /// How long an fsync may wait for exchanges on their way
    /// ([`super::arrivals::COMMIT_DELAY`]).
    pub commit_delay: Duration,
}

/// One serialized exchange and whom to tell once it is durable.
pub(crate) struct Job {
    pub line: Vec<u8>,
    pub ack: oneshot::Sender<Result<(), RecordError>>,
}

/// The recorder's side of a writer thread.
pub(crate) struct WriterHandle {
    cassette: std::path::PathBuf,
    sender: mpsc::Sender<Job>,
    /// Shared with the thread: [`WriterHandle::try_write_inline`] uses it
    /// while the thread is idle.
    writer: Arc<Mutex<Writer>>,
    /// Whether appends may be written on the caller's thread: only when no
    /// fsync stands between the write and the response.
    inline: bool,
    /// Exchanges on their way, which the fsync of a batch waits for
    /// ([`super::arrivals`]); `None` with [`Fsync::Periodic`], whose
    /// fsyncs are paced by the interval.
    arrivals: Option<Arc<Arrivals>>,
    /// Set once the cassette was opened (and reset, in `--record all`):
    /// [`WriterHandle::opener`] then has nothing to do.
    ready: Arc<AtomicBool>,
    inline_writes: Arc<AtomicU64>,
    thread: JoinHandle<(usize, bool)>,
}

impl WriterHandle {
    /// Starts the thread for `cassette`. With `reset`, the cassette is
    /// emptied under the lock before the first batch is written.
    pub fn spawn(
        cassette: &Path,
        reset: bool,
        policy: SyncPolicy,
        counters: &Counters,
    ) -> Result<WriterHandle, RecordError> {
        let SyncPolicy {
            fsync,
            interval: fsync_interval,
            commit_delay,
        } = policy;
        let (sender, receiver) = mpsc::channel();
        let arrivals = Arc::new(Arrivals::default());
        let syncer = match fsync {
            Fsync::BeforeResponse => None,
            Fsync::AfterResponse => Some(Syncer::spawn(
                cassette,
                Pace::Delayed(Arc::clone(&arrivals), commit_delay),
                counters,
            )?),
            Fsync::Periodic => Some(Syncer::spawn(
                cassette,
                Pace::Interval(fsync_interval),
                counters,
            )?),
        };
        if let Some(syncer) = &syncer {
            arrivals.set_waiter(syncer.thread.thread().clone());
        }
        let batch_waits = fsync == Fsync::BeforeResponse;
        let ready = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            paths: CassettePaths::new(cassette)?,
            syncer,
            lock: None,
            journal: None,
            opened: false,
            checked: false,
            session: None,
            ready: Arc::clone(&ready),
            needs_reset: reset,
            folder_unsynced: false,
            batches: Arc::clone(&counters.batches),
            appended: 0,
            stopped: false,
        };
        let writer = Arc::new(Mutex::new(writer));
        let thread_writer = Arc::clone(&writer);
        let thread_arrivals = batch_waits.then(|| Arc::clone(&arrivals));
        let thread = std::thread::Builder::new()
            .name("datovcr-recorder".into())
            .spawn(move || {
                let arrivals = thread_arrivals
                    .as_deref()
                    .map(|a| (a, CommitDelay::new(commit_delay)));
                run(&thread_writer, &receiver, arrivals)
            })
            .ctx(cassette, || "start the writer thread".into())?;
        if batch_waits {
            arrivals.set_waiter(thread.thread().clone());
        }
        Ok(WriterHandle {
            cassette: cassette.to_owned(),
            sender,
            writer,
            inline: fsync != Fsync::BeforeResponse,
            arrivals: (fsync != Fsync::Periodic).then_some(arrivals),
            ready,
            inline_writes: Arc::clone(&counters.inline_writes),
            thread,
        })
    }

    /// Writes `line` on the calling thread when that means no waiting: no
    /// fsync before the response, the writer thread idle, the journal
    /// already open and the cassette's file lock free at once. `None`
    /// leaves the exchange to the thread ([`WriterHandle::send`]). Saves
    /// the hand-off to the thread and back, two wake-ups per exchange,
    /// which were most of what recording added to a response without an
    /// fsync on its path.
    pub fn try_write_inline(&self, line: &[u8]) -> Option<Result<(), RecordError>> {
        if !self.inline {
            return None;
        }
        let mut writer = self.writer.try_lock().ok()?;
        let written = writer.try_commit_now(line)?;
        self.inline_writes.fetch_add(1, Ordering::Relaxed);
        Some(written)
    }

    /// Counts an exchange bound for this cassette until the ticket is
    /// dropped, once its line is queued.
    pub fn ticket(&self) -> Ticket {
        self.arrivals
            .as_ref()
            .map_or_else(Ticket::none, Arrivals::ticket)
    }

    pub fn cassette(&self) -> &Path {
        &self.cassette
    }

    /// What opens the cassette before the first exchange is forwarded;
    /// `None` once that was done (see `Recorder::prepare`).
    pub fn opener(&self) -> Option<Opener> {
        if self.ready.load(Ordering::Acquire) {
            return None;
        }
        Some(Opener(Arc::clone(&self.writer)))
    }

    pub fn send(&self, job: Job) -> Result<(), RecordError> {
        self.sender.send(job).map_err(|_| RecordError::WriterGone {
            cassette: self.cassette.clone(),
        })
    }

    /// Lets the thread write what is queued, waits for it to stop, then
    /// compacts the cassette. Blocks. `None` for a cassette this writer
    /// never opened (every exchange for it was refused): nothing of its
    /// own is there, and the cassette is left as it is.
    pub fn finish(self) -> Result<Option<CassetteSummary>, RecordError> {
        drop(self.sender);
        let (appended, opened) = self.thread.join().map_err(|_| RecordError::WriterGone {
            cassette: self.cassette.clone(),
        })?;
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let interactions = writer.stop(opened)?;
        if !opened {
            return Ok(None);
        }
        Ok(Some(CassetteSummary {
            path: self.cassette,
            interactions,
            appended,
        }))
    }
}

/// Opens a writer's cassette from another thread (blocking).
pub(crate) struct Opener(Arc<Mutex<Writer>>);

impl Opener {
    /// Opens the cassette under the lock: checks it and compacts what is
    /// pending, and in `--record all` checks that the reset would be
    /// allowed. The error names the cassette and the reason.
    pub fn open(self) -> Result<(), RecordError> {
        let mut writer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        writer.open()
    }
}

struct Writer {
    paths: CassettePaths,
    /// Present unless [`Fsync::BeforeResponse`]: who fsyncs written batches.
    syncer: Option<Syncer>,
    /// The lock file and the journal, kept open between batches.
    lock: Option<KeptLock>,
    journal: Option<OpenJournal>,
    /// The cassette was checked and compacted under the lock
    /// ([`open_locked`]); until then nothing is written.
    opened: bool,
    /// [`check_unlocked`] found the cassette readable and nothing pending.
    checked: bool,
    /// This writer's place among the cassette's writers, from its open
    /// (or, in `--record all`, its reset) until it stops.
    session: Option<Session>,
    /// Shared with [`WriterHandle`]: opened, and reset if it had to be.
    ready: Arc<AtomicBool>,
    /// [`super::RecordMode::All`] and the reset has not succeeded yet.
    needs_reset: bool,
    /// The journal was created but the folder sync that makes its name
    /// durable failed; retried with the next batch.
    folder_unsynced: bool,
    batches: Arc<AtomicU64>,
    appended: usize,
    /// [`Writer::stop`] ran: the writer is done with the cassette.
    stopped: bool,
}

/// The writer thread: runs batches until every sender is gone and the
/// queue is empty; returns how many exchanges were appended, and whether
/// the cassette was ever opened.
fn run(
    writer: &Mutex<Writer>,
    receiver: &mpsc::Receiver<Job>,
    mut arrivals: Option<(&Arrivals, CommitDelay)>,
) -> (usize, bool) {
    let lock = || writer.lock().unwrap_or_else(PoisonError::into_inner);
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        if let Some((arrivals, delay)) = &mut arrivals {
            delay.wait(arrivals, || jobs.extend(receiver.try_iter()));
        }
        let mut writer = lock();
        let result = writer.commit(&mut jobs, receiver);
        let cassette = writer.paths.cassette.clone();
        // Released before anyone is woken: a waiter's next append can then
        // be written inline instead of finding the writer still busy.
        drop(writer);
        for job in jobs {
            let outcome = match &result {
                Ok(()) => Ok(()),
                Err(err) => Err(err.for_waiter(&cassette)),
            };
            // The caller may have stopped waiting; the exchange is
            // written either way.
            let _ = job.ack.send(outcome);
        }
    }
    let mut writer = lock();
    if let Some(syncer) = writer.syncer.take() {
        syncer.finish();
    }
    (writer.appended, writer.opened)
}

impl Writer {
    /// Writes one batch: `jobs` holds the first exchange and receives every
    /// other exchange queued by the time the lock is held.
    fn commit(
        &mut self,
        jobs: &mut Vec<Job>,
        receiver: &mpsc::Receiver<Job>,
    ) -> Result<(), RecordError> {
        self.check_unlocked()?;
        KeptLock::lock(&mut self.lock, &self.paths)?;
        let result = self.commit_locked(jobs, receiver);
        KeptLock::unlock(&self.lock);
        result
    }

    /// Opens the cassette (see `Recorder::prepare`), and in `--record all`
    /// checks that the reset would be allowed.
    fn open(&mut self) -> Result<(), RecordError> {
        // A `Recorder::prepare` still running when the recorder closed must
        // not create the lock files again after `stop` removed them.
        if self.stopped {
            return Err(RecordError::Closed {
                cassette: self.paths.cassette.clone(),
            });
        }
        self.check_unlocked()?;
        KeptLock::lock(&mut self.lock, &self.paths).map_err(|err| self.unusable(err))?;
        let result = self.open_locked().and_then(|()| {
            if self.needs_reset {
                self.check_reset_allowed()
            } else {
                Ok(())
            }
        });
        KeptLock::unlock(&self.lock);
        result
    }

    /// The last work of a writer whose thread has stopped, under the lock:
    /// compacts the cassette if it was `opened` (returns how many
    /// interactions it holds), leaves the cassette's writers, and removes
    /// the lock files unless another writer still holds the cassette
    /// ([`KeptLock::remove_lock_files`]). A writer that never opened the
    /// cassette only tidies the lock file it may have created.
    fn stop(&mut self, opened: bool) -> Result<usize, RecordError> {
        self.stopped = true;
        if self.lock.is_none() && !opened {
            return Ok(0);
        }
        KeptLock::lock(&mut self.lock, &self.paths)?;
        let compacted = if opened {
            recover_locked(&self.paths)
        } else {
            Ok(0)
        };
        // This writer's own shared hold on `.writers` would count as
        // another writer's.
        self.session = None;
        self.journal = None;
        if compacted.is_ok() {
            KeptLock::remove_lock_files(&self.lock, &self.paths);
        }
        // Closing the file releases the lock.
        self.lock = None;
        compacted
    }

    /// The unlocked half of opening: a cassette that cannot be read is
    /// refused before any lock file is created beside it.
    fn check_unlocked(&mut self) -> Result<(), RecordError> {
        if self.opened {
            return Ok(());
        }
        self.checked = check_unlocked(&self.paths).map_err(|err| self.unusable(err))?;
        Ok(())
    }

    /// [`RecordError::Unusable`] when the files at the cassette's paths are
    /// the cause (not a cassette, a link, a corrupt journal); the error as
    /// it is when the system is (permissions, a full disk).
    fn unusable(&self, err: RecordError) -> RecordError {
        if err.is_about_the_files() {
            RecordError::Unusable {
                cassette: self.paths.cassette.clone(),
                source: Box::new(err),
            }
        } else {
            err
        }
    }

    fn commit_locked(
        &mut self,
        jobs: &mut Vec<Job>,
        receiver: &mpsc::Receiver<Job>,
    ) -> Result<(), RecordError> {
        jobs.extend(receiver.try_iter());
        self.open_locked()?;
        if self.needs_reset {
            self.check_reset_allowed()?;
            reset_locked(&self.paths).map_err(|err| self.unusable(err))?;
            // Joined under the same lock as the check: no other writer
            // can join in between, and none can reset after this.
            self.session = Some(Session::join(&self.paths).map_err(|err| self.unusable(err))?);
            self.needs_reset = false;
            self.ready.store(true, Ordering::Release);
        }
        let batch: Vec<u8> = jobs
            .iter()
            .map(|job| job.line.as_slice())
            .collect::<Vec<_>>()
            .concat();
        self.write_batch(&batch, jobs.len())
    }

    /// Opens the cassette once: it must be one datovcr can read, or absent,
    /// and what is pending is compacted ([`open_locked`]). A writer that
    /// will not reset joins the cassette's writers here; one that will
    /// joins at its reset. Call under the lock.
    fn open_locked(&mut self) -> Result<(), RecordError> {
        if self.opened {
            return Ok(());
        }
        open_locked(&self.paths, self.checked).map_err(|err| self.unusable(err))?;
        if !self.needs_reset {
            self.session = Some(Session::join(&self.paths).map_err(|err| self.unusable(err))?);
            self.ready.store(true, Ordering::Release);
        }
        self.opened = true;
        Ok(())
    }

    /// `--record all` empties the cassette only while no other writer
    /// holds it. Call under the lock, before joining.
    fn check_reset_allowed(&self) -> Result<(), RecordError> {
        if Session::nobody_else(&self.paths).map_err(|err| self.unusable(err))? {
            Ok(())
        } else {
            Err(RecordError::InUse {
                cassette: self.paths.cassette.clone(),
                writers: self.paths.writers.clone(),
            })
        }
    }

    /// The inline path of [`WriterHandle::try_write_inline`]: only in the
    /// steady state, where a batch is one `write` under a lock taken
    /// without waiting. Anything else (the first batch, a pending reset or
    /// folder sync, another process holding the lock) is the thread's.
    fn try_commit_now(&mut self, line: &[u8]) -> Option<Result<(), RecordError>> {
        if self.needs_reset || self.folder_unsynced || self.journal.is_none() {
            return None;
        }
        if !KeptLock::try_lock(&self.lock, &self.paths) {
            return None;
        }
        let result = self.write_batch(line, 1);
        KeptLock::unlock(&self.lock);
        Some(result)
    }

    /// Appends whole journal lines (`count` exchanges). Call under the lock.
    fn write_batch(&mut self, batch: &[u8], count: usize) -> Result<(), RecordError> {
        let sync_now = self.syncer.is_none();
        if journal::append(&self.paths, batch, sync_now, &mut self.journal)? {
            self.folder_unsynced = true;
        }
        if self.folder_unsynced {
            sync_folder(&self.paths)?;
            self.folder_unsynced = false;
        }
        if let (Some(syncer), Some(journal)) = (&self.syncer, &self.journal) {
            syncer.mark_dirty(journal).ctx(&self.paths.cassette, || {
                format!("duplicate journal {}", self.paths.journal.display())
            })?;
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.appended += count;
        Ok(())
    }
}
