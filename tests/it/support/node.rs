//! The official Node client's scripts (tests/clients/node) as child
//! processes: run with a bounded time, their JSON document parsed, a missing
//! `node` or `npm ci` failing the test with the fix (never skipping it).

use super::process::kill;
use super::repo_path;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `DATOVCR_*` settings the scripts read; all are cleared before a run
/// so that a developer's environment cannot change a flow.
const SETTINGS: [&str; 10] = [
    "DATOVCR_BASE_URL",
    "DATOVCR_API_TOKEN",
    "DATOVCR_SHOW_TOKENS",
    "DATOVCR_REQUEST_TIMEOUT_MS",
    "DATOVCR_ROLE_ID",
    "DATOVCR_OTHER_ROLE_ID",
    "DATOVCR_DESTINATION_USER_TYPE",
    "DATOVCR_DESTINATION_USER_ID",
    "DATOVCR_WEBHOOK_HEADERS",
    "DATOVCR_WEBHOOK_PASSWORD",
];

pub fn node_dir() -> PathBuf {
    repo_path("tests/clients/node")
}

/// The exact version of `package` that tests/clients/node/package.json pins.
pub fn pinned_version(package: &str) -> String {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(node_dir().join("package.json")).unwrap()).unwrap();
    manifest["dependencies"][package]
        .as_str()
        .unwrap_or_else(|| panic!("package.json pins {package}"))
        .to_owned()
}

/// What one run printed, and how it ended.
pub struct NodeRun {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl NodeRun {
    /// The script's JSON document; fails with its stderr unless it exited 0.
    pub fn document(&self, what: &str) -> Value {
        assert!(
            self.status.success(),
            "{what}: node exited with {}\nstderr:\n{}\nstdout:\n{}",
            self.status,
            self.stderr,
            self.stdout
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: stdout is not one JSON document ({e}):\n{}",
                self.stdout
            )
        })
    }
}

/// Runs `node <script>` in tests/clients/node with `env` (and no other
/// `DATOVCR_*` setting), killed after `timeout`.
pub fn run(script: &str, env: &[(&str, String)], timeout: Duration) -> NodeRun {
    let dir = node_dir();
    let installed = dir.join("node_modules/@datocms/cma-client-node/package.json");
    assert!(
        installed.exists(),
        "{} is missing: install the official client once with \
         `npm ci --prefix tests/clients/node` (bash .ci/run does it)",
        installed.display()
    );
    let mut command = Command::new("node");
    command.arg(dir.join(script)).current_dir(&dir);
    for name in SETTINGS {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "`node` is not on PATH: these tests run the official DatoCMS client \
             (tests/clients/node) and need Node.js 20 or newer"
        ),
        Err(error) => panic!("could not start node: {error}"),
    };
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(timeout) {
        Ok(output) => {
            let output = output.expect("collect node's output");
            NodeRun {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = kill(pid, libc::SIGKILL);
            panic!("node {script} did not finish within {timeout:?}");
        }
    }
}

/// [`run`] off the async runtime, which must keep serving the fake.
pub async fn run_async(
    script: &'static str,
    env: Vec<(&'static str, String)>,
    timeout: Duration,
) -> NodeRun {
    match tokio::task::spawn_blocking(move || run(script, &env, timeout)).await {
        Ok(run) => run,
        // Keeps run's message (node missing, not installed, timeout).
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
