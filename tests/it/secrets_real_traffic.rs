//! Real DatoCMS traffic with its secrets put back as canaries.
//!
//! `../shared/real-traffic/js-datocms-client/` holds 65 cassettes (352 real
//! exchanges) whose secrets were redacted when they were converted. Here a
//! fresh canary goes back at every redacted place: every JSON string equal to
//! `[REDACTED]`, every `%5BREDACTED%5D` inside a string (a URL), and an
//! `Authorization: Bearer <canary>` on every request (the recordings kept no
//! request headers). A build trigger's `webhook_url` holds its
//! `webhook_token` in its path, so both get the same canary.
//!
//! - The proxy records that traffic, replayed by the fake upstream, and no
//!   canary may reach a cassette, journal, lock file, stdout or stderr in any
//!   encoding ([`LeakSearch`]), while everything that is not secret survives.
//! - `schema-check` on the canaried cassettes must report a leaked secret at
//!   exactly the planted places, without printing a canary in any format.
//! - `schema-check` on the redacted originals reports no leaked secret.

use crate::support::canary::LeakSearch;
use crate::support::client::{https_client, send};
use crate::support::process::kill;
use crate::support::upstream::{
    CapturedRequest, FakeDato, FakeDatoOptions, ScriptedReply, random_token,
};
use assert_cmd::Command;
use http::Method;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

const PLACEHOLDER: &str = "[REDACTED]";
const URL_PLACEHOLDER: &str = "%5BREDACTED%5D";
/// What `../shared/real-traffic/README.md` promises.
const CASSETTES: usize = 65;
const EXCHANGES: usize = 352;
/// Response headers a proxy may drop (RFC 9110 §7.6.1, plus `Keep-Alive`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// How long the proxy may take to start, or to stop after SIGTERM.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

fn real_traffic_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-traffic/js-datocms-client")
}

fn fresh_canary() -> String {
    format!("canary{}", &random_token()[..24])
}

/// A place a canary was put, as `schema-check --format json` names findings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    file: String,
    interaction: usize,
    side: String,
    part: String,
    pointer: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} #{} {} {} {}",
            self.file, self.interaction, self.side, self.part, self.pointer
        )
    }
}

impl Place {
    fn in_file(&self, file: &str) -> Place {
        Place {
            file: file.to_owned(),
            ..self.clone()
        }
    }
}

/// The real traffic, redacted as shipped and with canaries put back.
struct Planted {
    /// (file stem, redacted cassette, canaried cassette), in file order.
    cassettes: Vec<(String, Value, Value)>,
    /// Every place (file is the stem) and the canaries in it.
    places: BTreeMap<Place, Vec<String>>,
    canaries: Vec<String>,
}

impl Planted {
    fn load() -> Planted {
        let dir = real_traffic_dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (the shared real traffic)", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        assert_eq!(files.len(), CASSETTES, "cassettes in {}", dir.display());
        let mut planted = Planted {
            cassettes: Vec::new(),
            places: BTreeMap::new(),
            canaries: Vec::new(),
        };
        let mut placeholders = 0;
        for path in files {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            placeholders += count_placeholders(&original);
            let mut canaried = original.clone();
            let interactions = canaried["interactions"].as_array_mut().unwrap();
            for (index, interaction) in interactions.iter_mut().enumerate() {
                planted.plant_interaction(&stem, index, interaction);
            }
            planted.cassettes.push((stem, original, canaried));
        }
        let exchanges: usize = planted
            .cassettes
            .iter()
            .map(|(_, original, _)| original["interactions"].as_array().unwrap().len())
            .sum();
        assert_eq!(exchanges, EXCHANGES);
        // Every placeholder was replaced, and the count is what an
        // independent count of the shipped files says.
        for (stem, _, canaried) in &planted.cassettes {
            assert_eq!(
                count_placeholders(canaried),
                0,
                "{stem} still has a placeholder"
            );
        }
        // One place per changed string, plus one authorization per request.
        assert_eq!(planted.places.len() - EXCHANGES, placeholders);
        assert!(placeholders > 150, "{placeholders} placeholders");
        planted
    }

    fn plant_interaction(&mut self, stem: &str, index: usize, interaction: &mut Value) {
        for side in ["request", "response"] {
            let half = interaction[side].as_object_mut().unwrap();
            let mut planted_here: Vec<(String, String, Vec<String>)> = Vec::new();
            for part in ["path", "query", "headers", "body"] {
                let Some(value) = half.get_mut(part) else {
                    continue;
                };
                // A body is `{"json": …}`, `{"text": …}` or `{"base64": …}`.
                let value = match (part, value) {
                    ("body", Value::Object(body)) => match body.iter_mut().next() {
                        Some((_, inner)) => inner,
                        None => continue,
                    },
                    (_, value) => value,
                };
                let mut found = Vec::new();
                plant(value, &mut String::new(), None, None, &mut found);
                for (pointer, canaries) in found {
                    planted_here.push((part.to_owned(), pointer, canaries));
                }
            }
            if side == "request" {
                let bearer = fresh_canary();
                let headers = half
                    .entry("headers")
                    .or_insert_with(|| Value::Object(Map::new()));
                assert!(headers.get("authorization").is_none());
                headers["authorization"] = Value::Array(vec![format!("Bearer {bearer}").into()]);
                planted_here.push(("headers".into(), "/authorization/0".into(), vec![bearer]));
            }
            for (part, pointer, canaries) in planted_here {
                self.canaries.extend(canaries.iter().cloned());
                let place = Place {
                    file: stem.to_owned(),
                    interaction: index,
                    side: side.to_owned(),
                    part,
                    pointer,
                };
                self.places.entry(place).or_default().extend(canaries);
            }
        }
    }

    /// The canaried cassettes written to `dir/NAME.json`.
    fn write_canaried(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (stem, _, canaried) in &self.cassettes {
            let mut bytes = serde_json::to_vec_pretty(canaried).unwrap();
            bytes.push(b'\n');
            std::fs::write(dir.join(format!("{stem}.json")), bytes).unwrap();
        }
    }
}

/// Strings equal to the placeholder, plus strings holding the URL placeholder.
fn count_placeholders(value: &Value) -> usize {
    match value {
        Value::String(s) => usize::from(s == PLACEHOLDER || s.contains(URL_PLACEHOLDER)),
        Value::Array(items) => items.iter().map(count_placeholders).sum(),
        Value::Object(map) => map.values().map(count_placeholders).sum(),
        _ => 0,
    }
}

/// Puts a fresh canary at every placeholder under `value`, and lists each
/// string changed (its pointer) with the canaries now in it. `webhook` is the
/// canary of the enclosing object's `webhook_token`, which `key`
/// (`webhook_token` or `webhook_url`) shares.
fn plant(
    value: &mut Value,
    pointer: &mut String,
    key: Option<&str>,
    webhook: Option<&str>,
    found: &mut Vec<(String, Vec<String>)>,
) {
    let len = pointer.len();
    match value {
        Value::String(text) if text == PLACEHOLDER => {
            let canary = match (key, webhook) {
                (Some("webhook_token"), Some(shared)) => shared.to_owned(),
                _ => fresh_canary(),
            };
            *text = canary.clone();
            found.push((pointer.clone(), vec![canary]));
        }
        Value::String(text) if text.contains(URL_PLACEHOLDER) => {
            // In a webhook URL's path the placeholder is the webhook token.
            let path_end = text.find(['?', '#']).unwrap_or(text.len());
            let mut canaries = Vec::new();
            let mut out = String::new();
            let mut rest = text.as_str();
            let mut offset = 0;
            while let Some(at) = rest.find(URL_PLACEHOLDER) {
                let canary = match (key, webhook) {
                    (Some("webhook_url"), Some(shared)) if offset + at < path_end => {
                        shared.to_owned()
                    }
                    _ => fresh_canary(),
                };
                out.push_str(&rest[..at]);
                out.push_str(&canary);
                canaries.push(canary);
                offset += at + URL_PLACEHOLDER.len();
                rest = &rest[at + URL_PLACEHOLDER.len()..];
            }
            out.push_str(rest);
            *text = out;
            found.push((pointer.clone(), canaries));
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                pointer.push_str(&format!("/{index}"));
                plant(item, pointer, None, None, found);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            let shared = (map.get("webhook_token").and_then(Value::as_str) == Some(PLACEHOLDER))
                .then(fresh_canary);
            for (name, item) in map.iter_mut() {
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                plant(item, pointer, Some(name), shared.as_deref(), found);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// One canaried exchange, as the client sends it and the fake answers it.
struct Exchange {
    cassette: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    reply: ScriptedReply,
}

fn body_bytes(body: Option<&Value>) -> Vec<u8> {
    match body {
        None | Some(Value::Null) => Vec::new(),
        Some(body) => {
            if let Some(json) = body.get("json") {
                serde_json::to_vec(json).unwrap()
            } else if let Some(text) = body.get("text").and_then(Value::as_str) {
                text.as_bytes().to_vec()
            } else if let Some(encoded) = body.get("base64").and_then(Value::as_str) {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap()
            } else {
                panic!("unknown body shape {body}")
            }
        }
    }
}

fn exchanges(planted: &Planted) -> Vec<Exchange> {
    let mut exchanges = Vec::new();
    for (stem, _, canaried) in &planted.cassettes {
        for interaction in canaried["interactions"].as_array().unwrap() {
            let request = &interaction["request"];
            let response = &interaction["response"];
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in request
                .get("query")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                match value {
                    Value::Array(values) => {
                        for value in values {
                            query.append_pair(name, value.as_str().unwrap());
                        }
                    }
                    value => {
                        query.append_pair(name, value.as_str().unwrap());
                    }
                }
            }
            let body = body_bytes(request.get("body"));
            let mut headers: Vec<(String, String)> = request["headers"]
                .as_object()
                .unwrap()
                .iter()
                .flat_map(|(name, values)| {
                    values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|value| (name.clone(), value.as_str().unwrap().to_owned()))
                })
                .collect();
            headers.push(("x-datovcr-cassette".into(), stem.clone()));
            headers.push(("accept".into(), "application/json".into()));
            if !body.is_empty() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            let reply_headers = response["headers"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(name, _)| {
                    !matches!(
                        name.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    )
                })
                .flat_map(|(name, values)| {
                    values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|value| (name.clone(), value.as_str().unwrap().to_owned()))
                })
                .collect();
            exchanges.push(Exchange {
                cassette: stem.clone(),
                method: request["method"].as_str().unwrap().to_owned(),
                path: request["path"].as_str().unwrap().to_owned(),
                query: query.finish(),
                headers,
                body,
                reply: ScriptedReply {
                    status: u16::try_from(response["status"].as_u64().unwrap()).unwrap(),
                    headers: reply_headers,
                    body: body_bytes(response.get("body")),
                },
            });
        }
    }
    exchanges
}

/// `datovcr proxy` as a child process, with all of its stdout kept (the
/// shared `ServerProcess` reads only the first line).
struct ProxyProcess {
    pid: u32,
    addr: SocketAddr,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    exited: mpsc::Receiver<std::process::ExitStatus>,
    stderr_path: PathBuf,
    finished: bool,
}

impl ProxyProcess {
    fn start(dir: &Path, args: &[String], stderr_path: &Path) -> ProxyProcess {
        let stderr = std::fs::File::create(stderr_path).unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start datovcr");
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut all = Vec::new();
            let _ = reader.read_until(b'\n', &mut all);
            let _ = line_tx.send(String::from_utf8_lossy(&all).into_owned());
            let _ = reader.read_to_end(&mut all);
            all
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
            panic!("datovcr {args:?} did not start: {first:?}\n{stderr}");
        };
        ProxyProcess {
            pid,
            addr: addr.parse().unwrap(),
            stdout,
            exited,
            stderr_path: stderr_path.to_owned(),
            finished: false,
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// SIGTERM; then the exit status, all of stdout and all of stderr.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<u8>, Vec<u8>) {
        kill(self.pid, libc::SIGTERM).unwrap();
        let status = self
            .exited
            .recv_timeout(PROCESS_TIMEOUT)
            .expect("the proxy exits after SIGTERM");
        self.finished = true;
        let stdout = std::mem::replace(&mut self.stdout, std::thread::spawn(Vec::new));
        let stdout = stdout.join().unwrap();
        let stderr = std::fs::read(&self.stderr_path).unwrap();
        (status, stdout, stderr)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if !self.finished && self.exited.try_recv().is_err() {
            let _ = kill(self.pid, libc::SIGKILL);
        }
    }
}

/// True for a JSON attribute name that names a secret (`api_key` of an
/// item type, field or fieldset excepted by the caller).
fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "api_key",
        "api-key",
        "authorization",
        "session",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// True if `recorded` is `original` with some stretches (query values,
/// userinfo, path segments) replaced by the URL placeholder: each stretch is
/// non-empty and holds no `&`, `?`, `#` or `/`.
fn only_url_redactions(original: &str, recorded: &str) -> bool {
    let parts: Vec<&str> = recorded.split(URL_PLACEHOLDER).collect();
    if parts.len() < 2 {
        return false;
    }
    let Some(mut rest) = original.strip_prefix(parts[0]) else {
        return false;
    };
    for (i, part) in parts.iter().enumerate().skip(1) {
        let last = i + 1 == parts.len();
        let limit = rest.find(['&', '?', '#', '/']).unwrap_or(rest.len());
        let stretch = (1..=limit)
            .filter(|&end| rest.is_char_boundary(end))
            .find(|&end| {
                let after = &rest[end..];
                if last {
                    after == *part
                } else {
                    after.starts_with(part)
                }
            });
        match stretch {
            Some(end) => rest = &rest[end + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// What the recorded copy of a redacted original may differ in.
#[derive(Default)]
struct Survival {
    kept: usize,
    extra_redactions: Vec<String>,
    problems: Vec<String>,
}

impl Survival {
    /// Compares an original (redacted as shipped) JSON value with its
    /// recording: equal, except that more secret-named JSON attributes may
    /// have become the placeholder, and URLs may have gained URL
    /// placeholders. Header values (array items, no key) must survive as
    /// they were: the shipped response headers hold no secret (the control
    /// test below says so), e.g. `access-control-allow-credentials: true`.
    fn compare(&mut self, at: &str, key: Option<&str>, original: &Value, recorded: &Value) {
        match (original, recorded) {
            (Value::String(o), Value::String(r)) if o == r => {
                if !o.contains(PLACEHOLDER) && !o.contains(URL_PLACEHOLDER) {
                    self.kept += 1;
                }
            }
            (Value::String(o), Value::String(r))
                if r == PLACEHOLDER && key.is_some_and(secret_name) && o != PLACEHOLDER =>
            {
                self.extra_redactions.push(at.to_owned());
            }
            (Value::String(o), Value::String(r)) if only_url_redactions(o, r) => {
                self.extra_redactions.push(at.to_owned());
            }
            (Value::Object(o), Value::Object(r)) => {
                for (name, value) in o {
                    let here = format!("{at}/{name}");
                    match r.get(name) {
                        Some(recorded) => self.compare(&here, Some(name), value, recorded),
                        None => self
                            .problems
                            .push(format!("{here}: missing from the recording")),
                    }
                }
                for name in r.keys().filter(|name| !o.contains_key(*name)) {
                    self.problems.push(format!(
                        "{at}/{name}: in the recording, not in the original"
                    ));
                }
            }
            (Value::Array(o), Value::Array(r)) if o.len() == r.len() => {
                for (index, (o, r)) in o.iter().zip(r).enumerate() {
                    self.compare(&format!("{at}/{index}"), None, o, r);
                }
            }
            (o, r) if o == r => {}
            (o, r) => {
                let show = |v: &Value| {
                    let text = v.to_string();
                    text.chars().take(160).collect::<String>()
                };
                self.problems
                    .push(format!("{at}: recorded {} for {}", show(r), show(o)));
            }
        }
    }
}

/// (pointer, value) of every `attributes.api_key` of an item type, field or
/// fieldset: public identifiers such as `article`, never secrets.
fn public_api_keys(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            let public = map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| matches!(t, "item_type" | "field" | "fieldset"));
            if public && let Some(Value::String(api_key)) = value.pointer("/attributes/api_key") {
                out.push((format!("{at}/attributes/api_key"), api_key.clone()));
            }
            for (name, item) in map {
                public_api_keys(item, &format!("{at}/{name}"), out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                public_api_keys(item, &format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

/// Runs `datovcr schema-check --format FORMAT PATH` in `dir`: exit code,
/// stdout, stderr.
fn schema_check(dir: &Path, format: &str, path: &str) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let output = Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir)
        .args(["schema-check", "--format", format, path])
        .output()
        .unwrap();
    (output.status.code(), output.stdout, output.stderr)
}

/// Problems grouped by what follows their `cassette #N` location, most
/// frequent first, for failure messages.
fn kinds(problems: &[String]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for problem in problems {
        let kind = problem
            .split_once(" #")
            .map(|(_, rest)| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
            .unwrap_or(problem);
        *counts.entry(kind.to_owned()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    counts
        .iter()
        .take(20)
        .map(|(kind, count)| format!("\n    {count} x {kind}"))
        .collect()
}

/// Up to `n` items of a list, one a line, for failure messages.
fn first<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>, n: usize) -> String {
    items
        .into_iter()
        .take(n)
        .map(|item| format!("\n    {item:?}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_recording_real_traffic_writes_no_canary_and_keeps_everything_else() {
    let planted = Planted::load();
    let exchanges = exchanges(&planted);
    assert_eq!(exchanges.len(), EXCHANGES);

    // The fake answers the Nth request with the Nth recorded response, after
    // checking that it is the request that was recorded with it.
    let script: Arc<Vec<(String, String, ScriptedReply)>> = Arc::new(
        exchanges
            .iter()
            .map(|e| (e.method.clone(), e.path.clone(), e.reply.clone()))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let options = FakeDatoOptions::default().respond_with(move |request: &CapturedRequest| {
        let n = next.fetch_add(1, Ordering::SeqCst);
        Some(match script.get(n) {
            Some((method, path, reply)) if *method == request.method && path == request.path() => {
                reply.clone()
            }
            expected => ScriptedReply {
                status: 500,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!(
                    "fake: request #{n} was {} {}, expected {:?}",
                    request.method,
                    request.path(),
                    expected.map(|(method, path, _)| format!("{method} {path}"))
                )
                .into_bytes(),
            },
        })
    });
    let upstream = FakeDato::start(options).await;
    let work = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--ca-file",
        upstream.ca_file().to_str().unwrap(),
        "--cassette",
        "cassettes/unnamed.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let proxy = ProxyProcess::start(work.path(), &args, &logs.path().join("proxy.stderr"));
    let client = https_client(upstream.ca_file());
    let mut problems = Vec::new();
    for (index, exchange) in exchanges.iter().enumerate() {
        let target = if exchange.query.is_empty() {
            exchange.path.clone()
        } else {
            format!("{}?{}", exchange.path, exchange.query)
        };
        let headers: Vec<(&str, &str)> = exchange
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let method = Method::from_bytes(exchange.method.as_bytes()).unwrap();
        let (status, _, body) = send(
            &client,
            method,
            &proxy.url(&target),
            &headers,
            exchange.body.clone(),
        )
        .await;
        if status.as_u16() != exchange.reply.status {
            problems.push(format!(
                "exchange {index} ({} {} {target}): the client got {status}, the upstream sent {}: {}",
                exchange.cassette,
                exchange.method,
                exchange.reply.status,
                String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
            ));
        }
    }
    let (exit, stdout, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
        .await
        .unwrap();
    if !exit.success() {
        problems.push(format!("the proxy exited with {exit}"));
    }
    if upstream.request_count() != EXCHANGES {
        problems.push(format!(
            "{} request(s) reached the upstream, {EXCHANGES} were sent",
            upstream.request_count()
        ));
    }

    // The search sees every canary in a cassette that holds them all, so
    // it would fail this test if the proxy wrote them.
    let control = tempfile::tempdir().unwrap();
    planted.write_canaried(control.path());
    let mut search = LeakSearch::new(planted.canaries.iter().cloned());
    search.add_dir(control.path());
    let seen: BTreeSet<String> = search.leaks().into_iter().map(|leak| leak.canary).collect();
    let unseen: Vec<&String> = planted
        .canaries
        .iter()
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(
        unseen.is_empty(),
        "the leak search misses{}",
        first(&unseen, 10)
    );

    // No canary anywhere the proxy wrote, in any encoding.
    let mut search = LeakSearch::new(planted.canaries.iter().cloned());
    search.add_dir(work.path());
    search.add_text("proxy stdout", &stdout);
    search.add_text("proxy stderr", &stderr);
    assert!(search.input_count() >= CASSETTES + 2);
    let leaks = search.leaks();
    let leaked: BTreeSet<&str> = leaks.iter().map(|leak| leak.canary.as_str()).collect();
    let leaked_places: Vec<String> = planted
        .places
        .iter()
        .filter(|(_, canaries)| canaries.iter().any(|c| leaked.contains(c.as_str())))
        .map(|(place, _)| place.to_string())
        .collect();

    // The recording holds all of the traffic, and everything not secret.
    let mut survival = Survival::default();
    let mut api_keys = 0;
    for (stem, original, _) in &planted.cassettes {
        let path = work.path().join("cassettes").join(format!("{stem}.json"));
        let Ok(bytes) = std::fs::read(&path) else {
            problems.push(format!("{}: not written", path.display()));
            continue;
        };
        let recorded: Value = match serde_json::from_slice(&bytes) {
            Ok(recorded) => recorded,
            Err(e) => {
                problems.push(format!("{}: not JSON: {e}", path.display()));
                continue;
            }
        };
        let originals = original["interactions"].as_array().unwrap();
        let recordings = recorded["interactions"].as_array().unwrap();
        if originals.len() != recordings.len() {
            problems.push(format!(
                "{stem}: {} interaction(s) recorded, {} sent",
                recordings.len(),
                originals.len()
            ));
            continue;
        }
        for (index, (original, recorded)) in originals.iter().zip(recordings).enumerate() {
            let at = format!("{stem} #{index}");
            for pointer in ["/request/method", "/request/path", "/response/status"] {
                if original.pointer(pointer) != recorded.pointer(pointer) {
                    problems.push(format!(
                        "{at}{pointer}: recorded {:?}, sent {:?}",
                        recorded.pointer(pointer),
                        original.pointer(pointer)
                    ));
                }
            }
            if recorded.pointer("/request/headers/authorization")
                != Some(&serde_json::json!(["Bearer [REDACTED]"]))
            {
                problems.push(format!(
                    "{at}: request authorization recorded as {:?}",
                    recorded.pointer("/request/headers/authorization")
                ));
            }
            // Response headers as the fake sent them: the recorded ones plus
            // `content-length`; the proxy may drop hop-by-hop ones.
            let headers_of = |interaction: &Value, extra: &[&str]| {
                let mut headers = interaction["response"]["headers"]
                    .as_object()
                    .unwrap()
                    .clone();
                headers.retain(|name, _| {
                    !HOP_BY_HOP.contains(&name.as_str()) && !extra.contains(&name.as_str())
                });
                Value::Object(headers)
            };
            survival.compare(
                &format!("{at}/response/headers"),
                None,
                &headers_of(original, &[]),
                &headers_of(recorded, &["content-length"]),
            );
            for pointer in ["/request/query", "/request/body", "/response/body"] {
                match (original.pointer(pointer), recorded.pointer(pointer)) {
                    (Some(o), Some(r)) => survival.compare(&format!("{at}{pointer}"), None, o, r),
                    (None, None) => {}
                    (o, r) => problems.push(format!("{at}{pointer}: recorded {r:?}, sent {o:?}")),
                }
            }
            let mut keys = Vec::new();
            public_api_keys(original, "", &mut keys);
            for (pointer, value) in keys {
                api_keys += 1;
                if recorded.pointer(&pointer).and_then(Value::as_str) != Some(value.as_str()) {
                    problems.push(format!(
                        "{at}{pointer}: the public api_key {value:?} became {:?}",
                        recorded.pointer(&pointer)
                    ));
                }
            }
        }
    }
    problems.extend(survival.problems.iter().cloned());
    assert!(api_keys > 20, "only {api_keys} public api_key values");
    assert!(survival.kept > 2000, "only {} strings kept", survival.kept);

    assert!(
        leaks.is_empty() && problems.is_empty(),
        "{} canary sighting(s) from {} planted place(s):{}\n\
         {} other problem(s), by kind:{}\n\
         ({} strings kept, {} more redacted than in the originals:{})",
        leaks.len(),
        leaked_places.len(),
        first(
            leaks
                .iter()
                .map(ToString::to_string)
                .chain(leaked_places.iter().map(|p| format!("planted at {p}"))),
            40
        ),
        problems.len(),
        kinds(&problems),
        survival.kept,
        survival.extra_redactions.len(),
        first(&survival.extra_redactions, 10),
    );
}

#[test]
fn schema_check_reports_each_canary_planted_in_real_traffic_and_prints_none() {
    let planted = Planted::load();
    let dir = tempfile::tempdir().unwrap();
    planted.write_canaried(&dir.path().join("canaried"));

    let (code, json_out, json_err) = schema_check(dir.path(), "json", "canaried");
    let report: Value = serde_json::from_slice(&json_out).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&json_out),
            String::from_utf8_lossy(&json_err)
        )
    });
    assert_eq!(
        report["summary"]["interactions"], EXCHANGES,
        "{}",
        report["summary"]
    );
    assert_eq!(report["unreadable"], serde_json::json!([]));
    let found: BTreeSet<Place> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == "leaked_secret")
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            Place {
                file: file.to_owned(),
                interaction: usize::try_from(f["interaction"].as_u64().unwrap()).unwrap(),
                side: f["side"].as_str().unwrap().to_owned(),
                part: f["part"].as_str().unwrap().to_owned(),
                pointer: f["pointer"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    let expected: BTreeSet<Place> = planted
        .places
        .keys()
        .map(|place| place.in_file(&format!("canaried/{}.json", place.file)))
        .collect();
    let missing: Vec<String> = expected.difference(&found).map(Place::to_string).collect();
    let unexpected: Vec<String> = found.difference(&expected).map(Place::to_string).collect();

    // No format may print a canary, on stdout or stderr.
    let (human_code, human_out, human_err) = schema_check(dir.path(), "human", "canaried");
    let (junit_code, junit_out, junit_err) = schema_check(dir.path(), "junit", "canaried");
    let mut search = LeakSearch::new(planted.canaries.iter().cloned());
    for (label, text) in [
        ("json report", &json_out),
        ("json stderr", &json_err),
        ("human report", &human_out),
        ("human stderr", &human_err),
        ("junit report", &junit_out),
        ("junit stderr", &junit_err),
    ] {
        search.add_text(label, text);
    }
    let leaks = search.leaks();

    assert!(
        missing.is_empty() && unexpected.is_empty() && leaks.is_empty(),
        "{} of {} planted place(s) not reported as a leaked secret, by kind:{}\n\
         {} leaked-secret finding(s) where nothing was planted, by kind:{}\n\
         {} canary sighting(s) in the reports:{}",
        missing.len(),
        expected.len(),
        kinds(&missing),
        unexpected.len(),
        kinds(&unexpected),
        leaks.len(),
        first(leaks.iter().map(ToString::to_string), 20),
    );
    assert_eq!(code, Some(1), "leaks make schema-check exit 1");
    assert_eq!(human_code, Some(1));
    assert_eq!(junit_code, Some(1));
}

#[test]
fn schema_check_finds_no_leaked_secret_in_the_redacted_real_traffic() {
    let dir = real_traffic_dir();
    let (code, out, err) = schema_check(&dir, "json", ".");
    let report: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        )
    });
    assert_ne!(code, Some(2), "{}", String::from_utf8_lossy(&err));
    assert_eq!(report["unreadable"], serde_json::json!([]));
    assert_eq!(report["summary"]["files"], CASSETTES);
    assert_eq!(report["summary"]["interactions"], EXCHANGES);
    let leaks: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == "leaked_secret")
        .map(|f| {
            format!(
                "{} #{} {} {} {}: {}",
                f["file"].as_str().unwrap_or_default(),
                f["interaction"],
                f["side"].as_str().unwrap_or_default(),
                f["part"].as_str().unwrap_or_default(),
                f["pointer"].as_str().unwrap_or_default(),
                f["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} leaked-secret finding(s) in traffic that holds none, by kind:{}",
        leaks.len(),
        kinds(&leaks)
    );
    assert_eq!(report["summary"]["leaked_secrets"], 0);
}
