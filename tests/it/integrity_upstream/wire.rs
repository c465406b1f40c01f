//! Raw HTTP/1.1 on a TCP stream (for requests hyper's client will not
//! send, and clients that vanish mid-exchange), and the real binary with
//! its stderr read line by line, so a test can wait for a log line.

use serde_json::Value;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single wait in these tests may take.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// One response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Names lowercased, in wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `DATOVCR_*` code of a JSON:API error body.
    pub fn error_code(&self) -> String {
        let json: Value = serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not a JSON error body: {}",
                String::from_utf8_lossy(&self.body)
            )
        });
        json["data"][0]["attributes"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn message(&self) -> String {
        let json: Value = serde_json::from_slice(&self.body).unwrap();
        json["data"][0]["attributes"]["details"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A kept-alive client connection written to byte by byte.
pub struct RawConn {
    pub stream: TcpStream,
    buffered: Vec<u8>,
}

impl RawConn {
    pub async fn open(addr: SocketAddr) -> RawConn {
        RawConn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffered: Vec::new(),
        }
    }

    /// Writes `request` and reads one response (framed by
    /// `content-length`; none for HEAD, 1xx, 204 and 304).
    pub async fn exchange(&mut self, request: &str) -> RawResponse {
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write the request");
        let bodiless = request.starts_with("HEAD ");
        tokio::time::timeout(PATIENCE, self.read_response(bodiless))
            .await
            .unwrap_or_else(|_| panic!("no response to {request:?} in {PATIENCE:?}"))
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "the server closed the connection; got so far: {:?}",
            String::from_utf8_lossy(&self.buffered)
        );
        self.buffered.extend_from_slice(&chunk[..n]);
    }

    async fn read_response(&mut self, bodiless_request: bool) -> RawResponse {
        let head_end = loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                break end;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buffered[..head_end]).into_owned();
        self.buffered.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let bodiless = bodiless_request || status < 200 || status == 204 || status == 304;
        let length = if bodiless {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .expect("datovcr frames its responses by content-length")
        };
        while self.buffered.len() < length {
            self.fill().await;
        }
        let body = self.buffered.drain(..length).collect();
        RawResponse {
            status,
            headers,
            body,
        }
    }
}

/// Writes `request` on a new connection and reads one response.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> RawResponse {
    RawConn::open(addr).await.exchange(request).await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The real `datovcr` binary, its stderr read line by line as it comes.
pub struct LoggedServer {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub log: Vec<String>,
}

impl LoggedServer {
    /// Runs `datovcr <args>` in `dir` (`args` must listen on port 0).
    pub fn start(dir: &Path, args: &[&str]) -> LoggedServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_datovcr"))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start datovcr");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read stdout");
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first stdout line: {first:?}"))
            .parse()
            .expect("an address");
        // Keep stdout drained so the summary never blocks the process.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        LoggedServer {
            child,
            addr,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a stderr line that satisfies `wanted`, and returns it.
    pub fn wait_for_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for_nth_line(what, 1, wanted)
    }

    /// Waits until `n` stderr lines satisfy `wanted`; returns the `n`th.
    pub fn wait_for_nth_line(
        &mut self,
        what: &str,
        n: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let mut seen = self.log.iter().filter(|line| wanted(line)).count();
        if seen >= n {
            let found = self.log.iter().filter(|line| wanted(line)).nth(n - 1);
            return found.expect("counted").clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if wanted(&line) {
                        seen += 1;
                        if seen == n {
                            return line;
                        }
                    }
                }
                Err(_) => panic!(
                    "no stderr line {n} with {what} in {PATIENCE:?}; stderr so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM (without waiting).
    pub fn terminate(&self) {
        crate::support::process::kill(self.child.id(), libc::SIGTERM).expect("signal");
    }

    /// Waits for the exit status, and reads the rest of stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            // The stderr reader ends when the process closes stderr: on exit.
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.log.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break self.child.wait().expect("wait");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "datovcr did not exit in {PATIENCE:?}; stderr:\n{}",
                    self.log.join("\n")
                ),
            }
        };
        self.log.extend(self.lines.try_iter());
        (status, self.log.clone())
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
