//! Where code runs, and how much CPU it used.
//!
//! The machine has 2 cores, and the load generator needs CPU too. To keep
//! its cost from leaking into the ratios, every party gets a single-threaded
//! tokio runtime on a dedicated OS thread: the load generator is pinned to
//! one core ([`LOAD_CORE`]) and every server (baseline, replay, proxy, fake
//! upstream, and the recorder's writer thread, which inherits the affinity
//! of the thread that spawns it) to the other ([`SERVER_CORE`]). Baseline
//! and target are placed identically, so the ratio compares like with like.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The core the load generator runs on.
pub const LOAD_CORE: usize = 0;
/// The core every server under test runs on.
pub const SERVER_CORE: usize = 1;

/// A current-thread tokio runtime driven by its own (optionally pinned)
/// thread. Futures given to [`RuntimeThread::run`] execute there; dropping
/// it stops the runtime and every task on it.
pub struct RuntimeThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RuntimeThread {
    pub fn spawn(name: &str, core: usize) -> RuntimeThread {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                pin_current_thread(core);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime");
                ready_tx
                    .send(runtime.handle().clone())
                    .expect("the spawner waits for the handle");
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Give servers' connection tasks no chance to linger.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("spawn a runtime thread");
        RuntimeThread {
            handle: ready_rx.recv().expect("the runtime thread starts"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `future` on this runtime's thread and waits for its output.
    pub fn run<F, T>(&self, future: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().expect("the future ran to completion")
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the calling thread to `core`, when the machine has that many cores
/// (otherwise everything shares what there is, baseline and target alike).
fn pin_current_thread(core: usize) {
    if available_cores() <= core {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within
    // it for core < CPU_SETSIZE; pid 0 means the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time of `clock` (`CLOCK_THREAD_CPUTIME_ID`, `CLOCK_PROCESS_CPUTIME_ID`).
pub fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write into.
    unsafe { libc::clock_gettime(clock, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// While alive, file descriptor 2 goes to `/dev/null`. The proxy logs one
/// line per exchange on stderr and has no switch to stop it; a terminal
/// would make that the benchmark's bottleneck, so the proxy rows write it
/// to `/dev/null` instead (the formatting and the `write` call still count).
pub struct StderrSilenced {
    saved: libc::c_int,
}

impl StderrSilenced {
    pub fn new() -> StderrSilenced {
        // SAFETY: plain fd juggling; failures leave stderr as it was.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 2);
                libc::close(null);
            }
            StderrSilenced { saved }
        }
    }
}

impl Drop for StderrSilenced {
    fn drop(&mut self) {
        if self.saved >= 0 {
            // SAFETY: `saved` is the descriptor dup'ed in `new`.
            unsafe {
                libc::dup2(self.saved, 2);
                libc::close(self.saved);
            }
        }
    }
}

/// CPU time of every thread of this process so far, summed per thread name
/// (`bench-proxy`, `bench-upstream`, `datovcr-recorder` …). Threads that
/// ended are not counted, so take deltas over a window in which none ends.
pub fn cpu_by_thread_name() -> BTreeMap<String, Duration> {
    let mut totals = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return totals;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if let Some(cpu) = thread_cpu_time(tid) {
            *totals.entry(name.trim().to_owned()).or_default() += cpu;
        }
    }
    totals
}

/// The CPU clock of thread `tid` of this process: Linux encodes it as
/// `(!tid << 3) | CPUCLOCK_PERTHREAD (4) | CPUCLOCK_SCHED (2)`
/// (`MAKE_THREAD_CPUCLOCK` in the kernel's posix-timers.h).
fn thread_cpu_time(tid: i32) -> Option<Duration> {
    let clock: libc::clockid_t = (!tid << 3) | 6;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write into; a bad clock id only
    // makes the call fail.
    let status = unsafe { libc::clock_gettime(clock, &mut now) };
    (status == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}
