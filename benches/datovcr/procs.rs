//! Servers as separate processes: started pinned to a core, their address
//! read from their first stdout line (`listening on http://ADDR`, as
//! `datovcr` prints it), their CPU time read from `/proc/PID/stat`, stopped
//! with SIGTERM (SIGKILL if they linger).

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its address, or to exit after SIGTERM.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Where processes run: the load generator on one core, every server on the
/// other, or (`--no-pin`) wherever the kernel puts them.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    Pinned { load: usize, server: usize },
    Unpinned,
}

impl Placement {
    pub fn describe(self) -> String {
        match self {
            Placement::Pinned { load, server } => {
                format!("load generator pinned to core {load}, server processes to core {server}")
            }
            Placement::Unpinned => "no pinning (--no-pin): the kernel places every process".into(),
        }
    }

    pub fn server_core(self) -> Option<usize> {
        match self {
            Placement::Pinned { server, .. } => Some(server),
            Placement::Unpinned => None,
        }
    }

    pub fn load_core(self) -> Option<usize> {
        match self {
            Placement::Pinned { load, .. } => Some(load),
            Placement::Unpinned => None,
        }
    }
}

/// Makes `command`'s process (and every thread it starts) run on `core`
/// only. Set before `exec`, so no thread of the child ever runs elsewhere.
pub fn pin(command: &mut Command, core: Option<usize>) -> &mut Command {
    if let Some(core) = core {
        // SAFETY: the closure runs between fork and exec and only calls
        // sched_setaffinity, which is async-signal-safe; a zeroed cpu_set_t
        // is a valid empty set and CPU_SET stays within it for core < 1024.
        unsafe {
            command.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(core, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command
}

/// A running server process.
pub struct Server {
    pub addr: SocketAddr,
    pid: u32,
    /// Time from spawning to the listening line.
    pub startup: Duration,
    stderr_path: PathBuf,
    exited: mpsc::Receiver<ExitStatus>,
    finished: bool,
}

impl Server {
    /// Spawns `command` (stdout piped, stderr to `<dir>/<name>.stderr`) on
    /// `core` and waits for its `listening on http://ADDR` line.
    pub fn start(
        name: &str,
        mut command: Command,
        core: Option<usize>,
        dir: &Path,
    ) -> Result<Server, String> {
        let stderr_path = dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|err| format!("create {}: {err}", stderr_path.display()))?;
        pin(&mut command, core)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let spawned = Instant::now();
        let mut child: Child = command
            .spawn()
            .map_err(|err| format!("start {name} ({command:?}): {err}"))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = line_tx.send(first);
            // Keep draining, so a chatty server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let (exit_tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let first = line_rx.recv_timeout(PROCESS_TIMEOUT).unwrap_or_default();
        let startup = spawned.elapsed();
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok());
        let Some(addr) = addr else {
            signal(pid, libc::SIGKILL);
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            return Err(format!(
                "{name} did not start: first stdout line {first:?}, stderr:\n{stderr}"
            ));
        };
        Ok(Server {
            addr,
            pid,
            startup,
            stderr_path,
            exited,
            finished: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// User plus system CPU time the process has used so far, all its
    /// threads, ended ones included (`/proc/PID/stat` fields 14 and 15).
    pub fn cpu(&self) -> Duration {
        process_cpu(self.pid).unwrap_or_default()
    }

    /// Threads the process has now (`/proc/PID/task`).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid)).map_or(0, |tasks| tasks.count())
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (SIGKILL after the timeout).
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.finished = true;
        signal(self.pid, libc::SIGTERM);
        match self.exited.recv_timeout(PROCESS_TIMEOUT) {
            Ok(status) => Some(status),
            Err(_) => {
                signal(self.pid, libc::SIGKILL);
                self.exited.recv_timeout(PROCESS_TIMEOUT).ok()
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.finished && self.exited.try_recv().is_err() {
            signal(self.pid, libc::SIGKILL);
            let _ = self.exited.recv_timeout(PROCESS_TIMEOUT);
        }
    }
}

/// Sends `signal` to `pid`, a child this bench started.
pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// utime + stime of `pid`, from `/proc/PID/stat` (in clock ticks there).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields are counted after its closing one, which is field 3 `state`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks))
}
