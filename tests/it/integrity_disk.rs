//! Issue 12, section A, "Data on disk": whatever the recorder writes every
//! reader accepts; an unreadable cassette stops no work on the others;
//! nothing that is not a cassette is ever replaced; another process's
//! acknowledged exchanges are never reset away; a journal is the cassette
//! it belongs to; and no link is ever written through.

mod deep_bodies;
mod isolation;
mod journal_only;
mod links;
mod not_a_cassette;
mod other_writers;

use crate::support::client::{HttpsClient, send};
use crate::support::process::ServerProcess;
use crate::support::proxy::{api_headers, borrowed};
use bytes::Bytes;
use datovcr::cassette::{Cassette, Headers, Interaction, RecordedRequest, RecordedResponse};
use http::{HeaderMap, Method, StatusCode};
use std::path::{Path, PathBuf};

/// A plain-HTTP fake upstream that answers every request 200 with a JSON
/// body naming its path, so tests can use any path they like.
fn echo_upstream() -> crate::support::upstream::FakeDatoOptions {
    crate::support::upstream::FakeDatoOptions::default()
        .plain_http()
        .respond_with(|request| {
            Some(crate::support::upstream::ScriptedReply {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&serde_json::json!({"path": request.path()})).unwrap(),
            })
        })
}

/// `datovcr proxy` on port 0 to `upstream`, recording into `cassette`.
fn proxy_args(upstream: &str, cassette: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push("--cassette".into());
    args.push(cassette.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `datovcr replay` on port 0 serving `paths`.
fn replay_args(paths: &[&Path], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["replay", "--listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for path in paths {
        args.push("--cassette".into());
        args.push(path.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Starts `datovcr ARGS` in `dir`, its stderr in `dir/NAME.stderr`.
fn start(dir: &Path, name: &str, args: &[String]) -> ServerProcess {
    ServerProcess::start(dir, args, &dir.join(format!("{name}.stderr")))
}

/// Stops a server with SIGTERM; its exit code and stderr.
async fn stop(server: ServerProcess) -> (Option<i32>, String) {
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    (status.code(), stderr)
}

/// A GET with the official client's headers, optionally naming a cassette.
async fn get(
    client: &HttpsClient,
    url: &str,
    cassette: Option<&str>,
) -> (StatusCode, HeaderMap, Bytes) {
    request(client, Method::GET, url, cassette, Bytes::new()).await
}

async fn request(
    client: &HttpsClient,
    method: Method,
    url: &str,
    cassette: Option<&str>,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut headers = api_headers("bearer-abcdefgh", !body.is_empty());
    if let Some(name) = cassette {
        headers.push(("x-datovcr-cassette", name.to_owned()));
    }
    send(client, method, url, &borrowed(&headers), body).await
}

/// The `DATOVCR_*` code of an answer datovcr made itself.
fn datovcr_error(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-datovcr-error")
        .map(|value| value.to_str().unwrap())
}

/// Runs `datovcr ARGS` to completion in `dir`: exit code, stdout, stderr.
/// A run that does not finish within a minute (a reader blocked on a FIFO,
/// say) is killed and fails the test.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_datovcr"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run datovcr");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(output) => {
            let output = output.expect("wait for datovcr");
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
        Err(_) => {
            let _ = crate::support::process::kill(pid, libc::SIGKILL);
            panic!("datovcr {args:?} did not finish within a minute");
        }
    }
}

/// `schema-check --format json` on `paths`: exit code and the report.
fn schema_check(dir: &Path, paths: &[&Path]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["schema-check".to_owned(), "--format".into(), "json".into()];
    args.extend(paths.iter().map(|path| path.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(dir, &args);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("schema-check printed no JSON report ({err}): {stderr}"));
    (code, report)
}

/// A one-interaction cassette file answering `GET path` with 200 and `body`.
fn write_cassette(file: &Path, paths: &[&str]) {
    let mut cassette = Cassette::new();
    cassette
        .interactions
        .extend(paths.iter().map(|path| recorded_get(path)));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, cassette.to_bytes()).unwrap();
}

/// A recorded `GET path` answered 200 with a JSON body naming the path.
fn recorded_get(path: &str) -> Interaction {
    let mut request_headers = Headers::new();
    request_headers.append("authorization", "Bearer [REDACTED]");
    let mut response_headers = Headers::new();
    response_headers.append("content-type", "application/json");
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: Default::default(),
            headers: request_headers,
            body: Default::default(),
        },
        response: RecordedResponse {
            status: 200,
            headers: response_headers,
            body: datovcr::cassette::Body::Json(serde_json::json!({"path": path})),
        },
    }
}

/// Journal lines (JSON Lines, one interaction each) for `paths`.
fn journal_lines(paths: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for path in paths {
        bytes.extend(serde_json::to_vec(&recorded_get(path)).unwrap());
        bytes.push(b'\n');
    }
    bytes
}

/// The request paths of a cassette as every reader sees it.
fn recorded_paths(cassette: &Path) -> Vec<String> {
    datovcr::recorder::load_with_journal(cassette)
        .unwrap_or_else(|err| panic!("{err}"))
        .interactions
        .into_iter()
        .map(|interaction| interaction.request.path)
        .collect()
}

/// Every entry of a folder with what it is, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut entries: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let metadata = std::fs::symlink_metadata(&path).unwrap();
            let what = if metadata.file_type().is_symlink() {
                format!("link to {}", std::fs::read_link(&path).unwrap().display())
            } else if metadata.is_file() {
                format!("file {:?}", std::fs::read(&path).unwrap())
            } else {
                format!("{:?}", metadata.file_type())
            };
            (path, what)
        })
        .collect();
    entries.sort();
    entries
}

/// `after` holds every entry of `before` unchanged; anything new is an
/// empty lock file (`*.lock`, `*.writers`), which datovcr may create beside
/// a cassette it then refuses.
fn assert_kept(before: &[(PathBuf, String)], after: &[(PathBuf, String)], what: &str) {
    for entry in before {
        assert!(
            after.contains(entry),
            "{what}: {entry:?} changed or went away"
        );
    }
    for (path, kind) in after {
        if before.iter().any(|(old, _)| old == path) {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            (name.ends_with(".lock") || name.ends_with(".writers")) && kind == "file []",
            "{what}: new entry {path:?} ({kind})"
        );
    }
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other precondition.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}
