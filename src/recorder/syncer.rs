//! The fsync thread: fsyncs written journals off the reply path, for
//! `--fsync after-response` (after the commit delay) and `--fsync periodic`
//! (at most once per interval).

use super::arrivals::{Arrivals, CommitDelay};
use super::journal::{FileId, OpenJournal};
use super::{Counters, IoContext, RecordError};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The thread that fsyncs written journals when the response does not wait
/// for it: at once for [`Fsync::AfterResponse`], at most once per interval
/// for [`Fsync::Periodic`]. The writer only marks a journal dirty; the
/// syncer keeps one duplicate handle per journal file, so a thousand
/// batches between two fsyncs cost one `dup`, not a thousand.
pub(super) struct Syncer {
    shared: Arc<(Mutex<Dirty>, Condvar)>,
    pub(super) thread: JoinHandle<()>,
}

/// When the syncer fsyncs what is dirty.
pub(super) enum Pace {
    /// [`Fsync::AfterResponse`]: as soon as something is dirty, once the
    /// exchanges on their way were written or the commit delay passed.
    Delayed(Arc<Arrivals>, Duration),
    /// [`Fsync::Periodic`]: at most once per interval.
    Interval(Duration),
}

/// Journals written since their last fsync.
#[derive(Default)]
struct Dirty {
    files: Vec<(FileId, File)>,
    closing: bool,
}

impl Syncer {
    pub(super) fn spawn(
        cassette: &Path,
        pace: Pace,
        counters: &Counters,
    ) -> Result<Syncer, RecordError> {
        let shared = Arc::new((Mutex::new(Dirty::default()), Condvar::new()));
        let name = cassette.display().to_string();
        let thread_shared = Arc::clone(&shared);
        let fsyncs = Arc::clone(&counters.background_fsyncs);
        let thread = std::thread::Builder::new()
            .name("datovcr-fsync".into())
            .spawn(move || sync_loop(&thread_shared, &pace, &name, &fsyncs))
            .ctx(cassette, || "start the fsync thread".into())?;
        Ok(Syncer { shared, thread })
    }

    /// Notes that `journal` has unsynced bytes.
    pub(super) fn mark_dirty(&self, journal: &OpenJournal) -> io::Result<()> {
        let (lock, wake) = &*self.shared;
        let mut dirty = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if dirty.files.iter().any(|(id, _)| *id == journal.id()) {
            return Ok(());
        }
        // A second handle, so the syncer's fsync never waits for the
        // writer and the writer never waits for the fsync.
        dirty.files.push((journal.id(), journal.file.try_clone()?));
        wake.notify_one();
        Ok(())
    }

    /// Syncs what is still dirty, then stops the thread.
    pub(super) fn finish(self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closing = true;
        wake.notify_one();
        let _ = self.thread.join();
    }
}

fn sync_loop(shared: &(Mutex<Dirty>, Condvar), pace: &Pace, name: &str, fsyncs: &AtomicU64) {
    let (lock, wake) = shared;
    let mut commit_delay = match pace {
        Pace::Delayed(_, delay) => Some(CommitDelay::new(*delay)),
        Pace::Interval(_) => None,
    };
    loop {
        let (files, closing) = {
            let mut dirty = lock.lock().unwrap_or_else(PoisonError::into_inner);
            match pace {
                Pace::Delayed(arrivals, _) => {
                    while dirty.files.is_empty() && !dirty.closing {
                        dirty = wake.wait(dirty).unwrap_or_else(PoisonError::into_inner);
                    }
                    if !dirty.closing {
                        drop(dirty);
                        if let Some(delay) = &mut commit_delay {
                            delay.wait(arrivals, || {});
                        }
                        dirty = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    }
                }
                Pace::Interval(interval) => {
                    // Marking a file dirty wakes this wait early; sleep the
                    // rest of the interval so fsyncs stay at most one per
                    // interval whatever the traffic.
                    let deadline = Instant::now() + *interval;
                    while !dirty.closing {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        dirty = wake
                            .wait_timeout(dirty, deadline - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                }
            }
            (std::mem::take(&mut dirty.files), dirty.closing)
        };
        for (_, file) in files {
            fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = file.sync_data() {
                // The exchanges were acknowledged already; all that can be
                // done is to say so loudly. Compaction at shutdown rewrites
                // and fsyncs the cassette anyway.
                eprintln!(
                    "datovcr: RECORDING NOT YET DURABLE for {name}: fsync of its journal failed: {err}"
                );
            }
        }
        if closing {
            return;
        }
    }
}
