//! Instructions per request, from `perf stat -e instructions -p PID`, where
//! the machine exposes the hardware counter. Many virtual machines do not
//! (`perf stat -e instructions true` prints `<not supported>`): then every
//! row says so instead of printing a figure.

use crate::procs::{pin, signal};
use std::io::Read as _;
use std::process::{Child, Command, Stdio};

/// Whether `perf stat` can count instructions here, and if not, why.
#[derive(Debug, Clone)]
pub enum Support {
    Available,
    Unavailable(String),
}

/// Asks perf to count the instructions of `true`.
pub fn probe() -> Support {
    let output = Command::new("perf")
        .args(["stat", "-x,", "-e", "instructions", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => return Support::Unavailable(format!("perf not found ({err})")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    match count_from(&stderr) {
        Some(_) if output.status.success() => Support::Available,
        _ => Support::Unavailable(format!(
            "`perf stat -e instructions true` says {}",
            stderr
                .lines()
                .find(|line| line.contains("instructions"))
                .map(|line| line.split(',').next().unwrap_or(line).trim().to_owned())
                .unwrap_or_else(|| format!("{:?}", stderr.trim()))
        )),
    }
}

/// The instruction count of a `perf stat -x,` report, if it has one.
fn count_from(report: &str) -> Option<u64> {
    report
        .lines()
        // `COUNT,UNIT,EVENT,...`; the event may carry a modifier (`instructions:u`).
        .find(|line| {
            line.split(',')
                .nth(2)
                .is_some_and(|event| event.starts_with("instructions"))
        })
        .and_then(|line| line.split(',').next())
        .and_then(|count| count.trim().parse().ok())
}

/// perf counting the instructions of one process until [`Counting::stop`].
pub struct Counting {
    child: Child,
}

impl Counting {
    /// Starts counting `pid`'s instructions, perf itself on `core`.
    pub fn start(pid: u32, core: Option<usize>) -> Option<Counting> {
        let mut command = Command::new("perf");
        command
            .args(["stat", "-x,", "-e", "instructions", "-p"])
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        pin(&mut command, core)
            .spawn()
            .ok()
            .map(|child| Counting { child })
    }

    /// Stops perf and returns the instructions it counted.
    pub fn stop(mut self) -> Option<u64> {
        signal(self.child.id(), libc::SIGINT);
        let mut report = String::new();
        let _ = self.child.stderr.take()?.read_to_string(&mut report);
        let _ = self.child.wait();
        count_from(&report)
    }
}
