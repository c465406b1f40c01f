//! The commit delay: a batch waits, briefly, for exchanges already on their
//! way to the same cassette, so that one `fsync` covers them all.
//!
//! Group commit alone ([`super::writer`]) batches what queued while the
//! previous fsync ran. When the proxy itself is the bottleneck, that is two
//! or three exchanges: each fsync cost about 100 µs of CPU on the shared
//! core, and durable recording ran at half the rate of `--fsync periodic`
//! (see docs/performance.md, "Recording durably"). Like PostgreSQL's
//! `commit_delay` with `commit_siblings`, the writer waits only while
//! other exchanges for the cassette are in flight (between
//! `Recorder::prepare` and the moment their line is queued), and at most
//! [`COMMIT_DELAY`]. A lone exchange (one client, `c=1`) never waits.
//!
//! Company that is slow (exchanges waiting on an upstream that takes its
//! time) makes the wait pure cost: it runs out and nothing arrives. A
//! waiter whose wait ran out with nothing to show for it stops waiting for
//! [`FRUITLESS_PAUSE`], then tries once more ([`CommitDelay`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The longest a batch waits for exchanges in flight before it is written
/// and fsynced. It bounds what the delay adds to an exchange's latency.
pub const COMMIT_DELAY: Duration = Duration::from_millis(1);

/// How long a waiter stops waiting after a wait that ran out with no
/// exchange arriving.
pub const FRUITLESS_PAUSE: Duration = Duration::from_millis(100);

/// Exchanges bound for one cassette that have not queued their line yet,
/// and the thread that waits for them.
#[derive(Default)]
pub(crate) struct Arrivals {
    unqueued: AtomicUsize,
    /// Tickets dropped so far: whether anything arrived during a wait.
    arrived: AtomicU64,
    /// Woken when `unqueued` falls to zero.
    waiter: OnceLock<Thread>,
}

impl Arrivals {
    /// Names the thread [`Arrivals::wait`] runs on. Set once.
    pub fn set_waiter(&self, thread: Thread) {
        let _ = self.waiter.set(thread);
    }

    /// Counts one more exchange on its way; it stops counting when the
    /// ticket is dropped.
    pub fn ticket(self: &std::sync::Arc<Self>) -> Ticket {
        self.unqueued.fetch_add(1, Ordering::AcqRel);
        Ticket(Some(std::sync::Arc::clone(self)))
    }

    /// How many exchanges are on their way.
    pub fn unqueued(&self) -> usize {
        self.unqueued.load(Ordering::Acquire)
    }

    /// How many exchanges have arrived (queued, or ended unrecorded).
    fn arrived(&self) -> u64 {
        self.arrived.load(Ordering::Acquire)
    }

    /// Blocks until no exchange is on its way or `delay` has passed,
    /// whichever is first, calling `gather` after every wake-up so the
    /// caller can take what queued. Returns at once when nothing is on its
    /// way. Call on the waiter thread.
    pub fn wait(&self, delay: Duration, mut gather: impl FnMut()) -> Waited {
        let deadline = Instant::now() + delay;
        loop {
            gather();
            if self.unqueued() == 0 {
                return Waited::Settled;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Waited::RanOut;
            };
            // A wake-up token left by an earlier ticket only ends this
            // wait early; the loop checks again.
            std::thread::park_timeout(left);
        }
    }
}

/// How an [`Arrivals::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Nothing was on its way any more.
    Settled,
    /// The delay passed with exchanges still on their way.
    RanOut,
}

/// The commit delay as one waiter thread applies it: [`Arrivals::wait`],
/// skipped for a pause after a wait that ran out with nothing arriving.
pub(crate) struct CommitDelay {
    delay: Duration,
    pause: Duration,
    paused_until: Option<Instant>,
}

impl CommitDelay {
    pub fn new(delay: Duration) -> Self {
        Self::with_pause(delay, FRUITLESS_PAUSE)
    }

    pub fn with_pause(delay: Duration, pause: Duration) -> Self {
        Self {
            delay,
            pause,
            paused_until: None,
        }
    }

    /// Waits for the exchanges on their way, as [`Arrivals::wait`], unless
    /// paused; `gather` is called at least once either way.
    pub fn wait(&mut self, arrivals: &Arrivals, mut gather: impl FnMut()) {
        if let Some(until) = self.paused_until {
            if Instant::now() < until {
                gather();
                return;
            }
            self.paused_until = None;
        }
        let before = arrivals.arrived();
        if arrivals.wait(self.delay, &mut gather) == Waited::RanOut && arrivals.arrived() == before
        {
            self.paused_until = Some(Instant::now() + self.pause);
        }
    }
}

/// One exchange on its way to a cassette, from `Recorder::prepare` until
/// its line is queued or it ends without one (refused, upstream failure).
/// Dropping it is the "queued" signal; an empty ticket (no recording, or a
/// writer that never waits) counts nothing.
#[must_use = "the writer waits for this exchange until the ticket is dropped"]
pub struct Ticket(Option<std::sync::Arc<Arrivals>>);

impl Ticket {
    /// A ticket that counts nothing.
    pub fn none() -> Ticket {
        Ticket(None)
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Ticket").field(&self.0.is_some()).finish()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let Some(arrivals) = self.0.take() else {
            return;
        };
        arrivals.arrived.fetch_add(1, Ordering::AcqRel);
        if arrivals.unqueued.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(waiter) = arrivals.waiter.get()
        {
            waiter.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_lone_batch_does_not_wait() {
        let arrivals = Arc::new(Arrivals::default());
        arrivals.set_waiter(std::thread::current());
        let started = Instant::now();
        let mut gathered = 0;
        arrivals.wait(Duration::from_secs(30), || gathered += 1);
        assert_eq!(gathered, 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_wait_ends_when_the_last_exchange_on_its_way_queues() {
        let arrivals = Arc::new(Arrivals::default());
        arrivals.set_waiter(std::thread::current());
        let tickets: Vec<Ticket> = (0..3).map(|_| arrivals.ticket()).collect();
        assert_eq!(arrivals.unqueued(), 3);
        let dropper = std::thread::spawn(move || drop(tickets));
        let started = Instant::now();
        // A delay far longer than any test: only the unpark can end it.
        arrivals.wait(Duration::from_secs(60), || {});
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(arrivals.unqueued(), 0);
        dropper.join().unwrap();
    }

    #[test]
    fn the_wait_is_bounded_by_the_delay() {
        let arrivals = Arc::new(Arrivals::default());
        arrivals.set_waiter(std::thread::current());
        let stuck = arrivals.ticket();
        let started = Instant::now();
        arrivals.wait(Duration::from_millis(20), || {});
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(20), "{waited:?}");
        assert_eq!(arrivals.unqueued(), 1);
        drop(stuck);
        assert_eq!(arrivals.unqueued(), 0);
    }

    /// Runs `wait` on a thread of its own: a wait that should have been
    /// skipped but was not fails the test instead of hanging it.
    fn within_a_minute(wait: impl FnOnce() + Send + 'static) {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            wait();
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("the wait was skipped");
    }

    #[test]
    fn after_a_fruitless_wait_the_waits_pause() {
        let arrivals = Arc::new(Arrivals::default());
        let stuck = arrivals.ticket();
        let shared = Arc::clone(&arrivals);
        within_a_minute(move || {
            shared.set_waiter(std::thread::current());
            let mut delay = CommitDelay::with_pause(Duration::from_millis(20), HOUR);
            let started = Instant::now();
            delay.wait(&shared, || {});
            assert!(started.elapsed() >= Duration::from_millis(20));
            // The same delay, now an hour long: paused, it is not waited.
            delay.delay = HOUR;
            let mut gathered = 0;
            delay.wait(&shared, || gathered += 1);
            assert_eq!(gathered, 1, "what queued is still taken");
        });
        drop(stuck);
    }

    #[test]
    fn after_the_pause_a_wait_is_tried_again() {
        let arrivals = Arc::new(Arrivals::default());
        arrivals.set_waiter(std::thread::current());
        let _stuck = arrivals.ticket();
        let mut delay = CommitDelay::with_pause(Duration::from_millis(20), Duration::ZERO);
        delay.wait(&arrivals, || {});
        let started = Instant::now();
        delay.wait(&arrivals, || {});
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "waited again"
        );
    }

    #[test]
    fn a_wait_that_something_reached_does_not_pause() {
        let arrivals = Arc::new(Arrivals::default());
        let _stuck = arrivals.ticket();
        let late = arrivals.ticket();
        let shared = Arc::clone(&arrivals);
        let mut late = Some(late);
        let mut delay = CommitDelay::with_pause(Duration::from_millis(20), HOUR);
        arrivals.set_waiter(std::thread::current());
        // One exchange arrives during the wait (dropped by the first
        // gather), the other never does: the wait runs out, but it was
        // worth it, so the next one waits too.
        delay.wait(&shared, || drop(late.take()));
        let started = Instant::now();
        delay.wait(&shared, || {});
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "waited again"
        );
    }
}
