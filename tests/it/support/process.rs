//! The real `datovcr` binary as a child process: started with a port-0
//! listener, its address read from its first stdout line, stderr captured
//! to a file so tests can search it, stopped with SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its address, or to exit after SIGTERM.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ServerProcess {
    pid: u32,
    pub addr: SocketAddr,
    stderr_path: PathBuf,
    exited: mpsc::Receiver<ExitStatus>,
    finished: bool,
}

impl ServerProcess {
    /// Runs `datovcr <args>` (which must include `--listen 127.0.0.1:0`), in
    /// `dir`, and waits for `listening on http://ADDR`.
    pub fn start(dir: &Path, args: &[String], stderr_path: &Path) -> ServerProcess {
        Self::start_with_env(dir, args, &[], stderr_path)
    }

    /// [`ServerProcess::start`] with extra environment variables for the child.
    pub fn start_with_env(
        dir: &Path,
        args: &[String],
        env: &[(&str, &str)],
        stderr_path: &Path,
    ) -> ServerProcess {
        let stderr = std::fs::File::create(stderr_path).expect("create the stderr file");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start datovcr");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut first = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut first);
            let _ = line_tx.send(first);
        });
        let (exit_tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let first = line_rx.recv_timeout(PROCESS_TIMEOUT).unwrap_or_default();
        let Some(addr) = first.trim().strip_prefix("listening on http://") else {
            let _ = kill(pid, libc::SIGKILL);
            let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
            panic!(
                "datovcr {args:?} did not start: first stdout line {first:?}, stderr:\n{stderr}"
            );
        };
        ServerProcess {
            pid,
            addr: addr.parse().expect("a socket address"),
            stderr_path: stderr_path.to_owned(),
            exited,
            finished: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends `signal`, once the server catches it, and waits for the exit status.
    pub fn stop_with(self, signal: libc::c_int) -> (ExitStatus, String) {
        self.signal_now(signal)
    }

    /// SIGTERM, the graceful stop. datovcr registers its handlers before it
    /// prints the listening line, so this is safe at any moment after start.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.signal_now(libc::SIGTERM)
    }

    fn signal_now(mut self, signal: libc::c_int) -> (ExitStatus, String) {
        kill(self.pid, signal).expect("signal the server");
        let status = self
            .exited
            .recv_timeout(PROCESS_TIMEOUT)
            .expect("datovcr exits after a signal");
        self.finished = true;
        (status, self.stderr())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.finished && self.exited.try_recv().is_err() {
            let _ = kill(self.pid, libc::SIGKILL);
        }
    }
}

/// Sends `signal` to `pid` (a child of this test process).
pub fn kill(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).expect("pids fit pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
