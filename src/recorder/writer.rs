//! One writer thread per cassette: the group commit.
//!
//! File I/O blocks, so it runs on a dedicated std thread rather than on the
//! async runtime. Appends reach the thread through a channel, in the order
//! they were submitted; the thread takes the first one, waits for the lock,
//! then takes everything else that queued meanwhile and writes the lot with
//! one `write` and one `fsync`. The more concurrent exchanges, the bigger
//! the batches, so the fsync cost per exchange falls under load.
//!
//! With [`Fsync::AfterResponse`] the batch is acknowledged once it is
//! written (in the kernel's page cache, so it survives datovcr dying) and a
//! second thread, the syncer, fsyncs it off the reply path.

use super::compact::{recover, reset_locked};
use super::durable::{KeptLock, sync_folder};
use super::journal::OpenJournal;
use super::paths::CassettePaths;
use super::{CassetteSummary, Fsync, IoContext, RecordError, journal};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// One serialized exchange and whom to tell once it is durable.
pub(crate) struct Job {
    pub line: Vec<u8>,
    pub ack: oneshot::Sender<Result<(), RecordError>>,
}

/// The recorder's side of a writer thread.
pub(crate) struct WriterHandle {
    cassette: std::path::PathBuf,
    sender: mpsc::Sender<Job>,
    thread: JoinHandle<usize>,
}

impl WriterHandle {
    /// Starts the thread for `cassette`. With `reset`, the cassette is
    /// emptied under the lock before the first batch is written.
    pub fn spawn(
        cassette: &Path,
        reset: bool,
        fsync: Fsync,
        batches: &Arc<AtomicU64>,
    ) -> Result<WriterHandle, RecordError> {
        let (sender, receiver) = mpsc::channel();
        let syncer = match fsync {
            Fsync::BeforeResponse => None,
            Fsync::AfterResponse => Some(Syncer::spawn(cassette)?),
        };
        let writer = Writer {
            paths: CassettePaths::new(cassette)?,
            syncer,
            lock: None,
            journal: None,
            receiver,
            needs_reset: reset,
            folder_unsynced: false,
            batches: Arc::clone(batches),
            appended: 0,
        };
        let thread = std::thread::Builder::new()
            .name("datovcr-recorder".into())
            .spawn(move || writer.run())
            .ctx(cassette, || "start the writer thread".into())?;
        Ok(WriterHandle {
            cassette: cassette.to_owned(),
            sender,
            thread,
        })
    }

    pub fn cassette(&self) -> &Path {
        &self.cassette
    }

    pub fn send(&self, job: Job) -> Result<(), RecordError> {
        self.sender.send(job).map_err(|_| RecordError::WriterGone {
            cassette: self.cassette.clone(),
        })
    }

    /// Lets the thread write what is queued, waits for it to stop, then
    /// compacts the cassette. Blocks.
    pub fn finish(self) -> Result<CassetteSummary, RecordError> {
        drop(self.sender);
        let appended = self.thread.join().map_err(|_| RecordError::WriterGone {
            cassette: self.cassette.clone(),
        })?;
        let interactions = recover(&self.cassette)?;
        Ok(CassetteSummary {
            path: self.cassette,
            interactions,
            appended,
        })
    }
}

struct Writer {
    paths: CassettePaths,
    /// Present with [`Fsync::AfterResponse`]: who fsyncs written batches.
    syncer: Option<Syncer>,
    /// The lock file and the journal, kept open between batches.
    lock: Option<KeptLock>,
    journal: Option<OpenJournal>,
    receiver: mpsc::Receiver<Job>,
    /// [`super::RecordMode::All`] and the reset has not succeeded yet.
    needs_reset: bool,
    /// The journal was created but the folder sync that makes its name
    /// durable failed; retried with the next batch.
    folder_unsynced: bool,
    batches: Arc<AtomicU64>,
    appended: usize,
}

impl Writer {
    /// Runs batches until every sender is gone and the queue is empty;
    /// returns how many exchanges were appended.
    fn run(mut self) -> usize {
        while let Ok(first) = self.receiver.recv() {
            let mut jobs = vec![first];
            let result = self.commit(&mut jobs);
            for job in jobs {
                let outcome = match &result {
                    Ok(()) => Ok(()),
                    Err(err) => Err(err.for_waiter(&self.paths.cassette)),
                };
                // The caller may have stopped waiting; the exchange is
                // written either way.
                let _ = job.ack.send(outcome);
            }
        }
        if let Some(syncer) = self.syncer.take() {
            syncer.finish();
        }
        self.appended
    }

    /// Writes one batch: `jobs` holds the first exchange and receives every
    /// other exchange queued by the time the lock is held.
    fn commit(&mut self, jobs: &mut Vec<Job>) -> Result<(), RecordError> {
        KeptLock::lock(&mut self.lock, &self.paths)?;
        let result = self.commit_locked(jobs);
        KeptLock::unlock(&self.lock);
        result
    }

    fn commit_locked(&mut self, jobs: &mut Vec<Job>) -> Result<(), RecordError> {
        jobs.extend(self.receiver.try_iter());
        if self.needs_reset {
            reset_locked(&self.paths)?;
            self.needs_reset = false;
        }
        let batch: Vec<u8> = jobs
            .iter()
            .map(|job| job.line.as_slice())
            .collect::<Vec<_>>()
            .concat();
        let sync_now = self.syncer.is_none();
        if journal::append(&self.paths, &batch, sync_now, &mut self.journal)? {
            self.folder_unsynced = true;
        }
        if self.folder_unsynced {
            sync_folder(&self.paths)?;
            self.folder_unsynced = false;
        }
        if let (Some(syncer), Some(journal)) = (&self.syncer, &self.journal) {
            // A second handle, so the syncer's fsync never waits for the
            // writer and the writer never waits for the fsync.
            let handle = journal.file.try_clone().ctx(&self.paths.cassette, || {
                format!("duplicate journal {}", self.paths.journal.display())
            })?;
            syncer.sync_later(handle);
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.appended += jobs.len();
        Ok(())
    }
}

/// The thread that fsyncs written batches for [`Fsync::AfterResponse`].
/// Files queued while it syncs are synced together afterwards; a sync of
/// an already clean file costs next to nothing.
struct Syncer {
    sender: mpsc::Sender<File>,
    thread: JoinHandle<()>,
}

impl Syncer {
    fn spawn(cassette: &Path) -> Result<Syncer, RecordError> {
        let (sender, receiver) = mpsc::channel::<File>();
        let name = cassette.display().to_string();
        let thread = std::thread::Builder::new()
            .name("datovcr-fsync".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    for file in std::iter::once(first).chain(receiver.try_iter()) {
                        if let Err(err) = file.sync_data() {
                            // The exchanges were acknowledged already; all that
                            // can be done is to say so loudly. Compaction at
                            // shutdown rewrites and fsyncs the cassette anyway.
                            eprintln!(
                                "datovcr: RECORDING NOT YET DURABLE for {name}: fsync of its journal failed: {err}"
                            );
                        }
                    }
                }
            })
            .ctx(cassette, || "start the fsync thread".into())?;
        Ok(Syncer { sender, thread })
    }

    fn sync_later(&self, file: File) {
        // The thread only stops once this sender is dropped.
        let _ = self.sender.send(file);
    }

    /// Waits until everything queued is synced.
    fn finish(self) {
        drop(self.sender);
        let _ = self.thread.join();
    }
}
