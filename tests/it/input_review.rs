//! Review of the second promise, bad input never crashes the tool and never
//! loses data: malformed cassettes, journals, manifests, request bodies and
//! cassette names, attacked from outside through the real binary. Each
//! break found is a test here: every reader judges a file the same way, and
//! what the tool cannot do is said, with the input and the fix.

use crate::support::client::{HttpsClient, send};
use crate::support::process::ServerProcess;
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply};
use crate::support::{copy_schemas, repo_path};
use http::Method;
use std::path::Path;
use std::process::{Command, Stdio};

fn datovcr() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
}

/// A client for the proxy and replay (plain HTTP; any CA will do).
fn plain_client() -> HttpsClient {
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

/// `datovcr ARGS` in `dir`: exit code and everything it printed. Bounded:
/// a server that starts where it must refuse is killed after 20 s (exit
/// code `None`), so the caller's assertion fails rather than hangs.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .write_stdin(Vec::new())
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("panicked") && !text.contains(datovcr::panic_report::MARK),
        "datovcr {args:?} panicked:\n{text}"
    );
    (out.status.code(), text)
}

/// `replay --cassette FILE`, which must refuse at start-up: exit code and
/// what it printed.
fn replay_refusal(dir: &Path, file: &str) -> (Option<i32>, String) {
    let (code, text) = run(
        dir,
        &["replay", "--listen", "127.0.0.1:0", "--cassette", file],
    );
    assert!(
        !text.contains("listening on"),
        "replay started on {file}:\n{text}"
    );
    (code, text)
}

/// One interaction, its request and response given as JSON text.
fn interaction(request: &str, response: &str) -> String {
    format!(
        r#"{{"recorded_at": "2026-11-27T10:00:00Z", "request": {request}, "response": {response}}}"#
    )
}

fn cassette(interactions: &[String]) -> String {
    format!(
        "{{\n  \"version\": 1,\n  \"interactions\": [\n    {}\n  ]\n}}\n",
        interactions.join(",\n    ")
    )
}

const GET_X: &str = r#"{"method": "GET", "path": "/x"}"#;
const OK_TEXT: &str = r#"{"status": 200, "body": {"text": "hello"}}"#;

/// `file` in `dir` is refused by `schema-check` (exit 2) and by `replay`
/// (exit 2), both naming it with a position and saying `words`, and left
/// byte for byte as it was.
fn every_reader_refuses(dir: &Path, file: &str, words: &str) {
    let path = dir.join(file);
    let before = std::fs::read(&path).ok();
    let (code, text) = run(dir, &["schema-check", file]);
    assert_eq!(
        code,
        Some(2),
        "{file}: schema-check must call it unreadable:\n{text}"
    );
    assert!(
        text.contains(words),
        "{file}: schema-check, expected {words:?}:\n{text}"
    );
    assert!(
        text.contains(&format!("{file}:")) || text.contains(&format!("{file}.journal")),
        "{file}: schema-check names no file:\n{text}"
    );
    let (code, text) = replay_refusal(dir, file);
    assert_eq!(code, Some(2), "{file}: replay must refuse:\n{text}");
    assert!(
        text.contains(words),
        "{file}: replay, expected {words:?}:\n{text}"
    );
    assert_eq!(
        std::fs::read(&path).ok(),
        before,
        "{file}: a reader changed it"
    );
}

/// serde derives structs that also read from arrays, fields by position:
/// `[1, []]` was an empty cassette, `["2026-…", {…}, {…}]` an interaction,
/// `["GET", "/x"]` a request, for replay, schema-check, journal recovery
/// and the library, though the format (and every writer) has objects only.
/// Every reader now refuses them, naming the file, the position and the
/// fields the object must have.
#[test]
fn structs_spelled_as_arrays_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let whole = interaction(GET_X, OK_TEXT);
    let cases = [
        (
            "cassette-empty",
            "[1, []]\n".to_owned(),
            "`version`, `interactions`",
        ),
        (
            "cassette",
            format!("[1, [{whole}]]\n"),
            "`version`, `interactions`",
        ),
        (
            "interaction",
            cassette(&[format!(r#"["2026-11-27T10:00:00Z", {GET_X}, {OK_TEXT}]"#)]),
            "`recorded_at`, `request`, `response`",
        ),
        (
            "request",
            cassette(&[interaction(r#"["GET", "/x"]"#, OK_TEXT)]),
            "`method`, `path`",
        ),
        (
            "request-full",
            cassette(&[interaction(
                r#"["GET", "/x", {}, {}, {"text": "a"}]"#,
                OK_TEXT,
            )]),
            "`method`, `path`",
        ),
        (
            "response",
            cassette(&[interaction(GET_X, "[200]")]),
            "`status`, `headers`, `body`",
        ),
        (
            "response-full",
            cassette(&[interaction(GET_X, r#"[200, {}, {"text": "a"}]"#)]),
            "`status`, `headers`, `body`",
        ),
        // After a good interaction: the one-pass reader meets it mid-file.
        (
            "second",
            cassette(&[whole.clone(), interaction(GET_X, "[201]")]),
            "`status`, `headers`, `body`",
        ),
    ];
    for (label, text, fields) in &cases {
        let file = format!("{label}.json");
        std::fs::write(dir.path().join(&file), text).unwrap();
        every_reader_refuses(
            dir.path(),
            &file,
            &format!("expected a JSON object with the fields {fields}"),
        );
        let err = datovcr::cassette::Cassette::load(&dir.path().join(&file)).unwrap_err();
        assert!(
            err.to_string().contains(fields),
            "{label}: the library: {err}"
        );
    }
    // A journal line is an interaction: the same rule, for a cassette known
    // only by its journal (a crash before the first compaction).
    for (label, line) in [
        (
            "journal-interaction",
            format!(r#"["2026-11-27T10:00:00Z", {GET_X}, {OK_TEXT}]"#),
        ),
        (
            "journal-response",
            interaction(GET_X, "[200]").replace('\n', ""),
        ),
    ] {
        let journal = dir.path().join(format!("{label}.json.journal"));
        std::fs::write(
            &journal,
            format!("{}\n{line}\n", interaction(GET_X, OK_TEXT)),
        )
        .unwrap();
        every_reader_refuses(
            dir.path(),
            &format!("{label}.json"),
            "expected a JSON object with the fields",
        );
    }
}

/// The proxy's start-up recovery reads a journal the same way: a journal
/// holding an interaction spelled as an array is not folded into a
/// cassette (which would turn it into an object no one wrote); exchanges
/// for it are refused before they are forwarded, and it stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_never_folds_a_journal_line_spelled_as_an_array() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http().respond_with(|_| {
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"fresh".to_vec(),
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("odd.json.journal");
    let lines = format!(
        "{}\n[\"2026-11-27T10:00:00Z\", {GET_X}, {OK_TEXT}]\n",
        interaction(GET_X, OK_TEXT)
    );
    std::fs::write(&journal, &lines).unwrap();
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--cassette",
        "odd.json",
    ]
    .map(String::from)
    .to_vec();
    let proxy = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let client = plain_client();
    let (status, _, body) = send(&client, Method::GET, &proxy.url("/x"), &[], "").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("DATOVCR_CASSETTE_UNUSABLE"), "{body}");
    assert!(body.contains("expected a JSON object"), "{body}");
    assert_eq!(upstream.request_count(), 0, "the exchange was forwarded");
    let (exit, _) = tokio::task::spawn_blocking(move || proxy.terminate())
        .await
        .unwrap();
    assert!(exit.success());
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), lines);
    assert!(
        !dir.path().join("odd.json").exists(),
        "a cassette was made of it"
    );
    upstream.shutdown().await;
}

/// Manifests are read by the same derived structs: a `headers` object or
/// an endpoint's `request` spelled as an array was read by position.
#[test]
fn manifest_objects_spelled_as_arrays_are_refused_naming_the_manifest() {
    let manifest = std::fs::read_to_string(repo_path("schemas/manifest.json")).unwrap();
    let headers = r#""headers": {
    "request": "request-headers.json",
    "request_with_body": "request-headers-with-body.json",
    "response": "response-headers.json"
  }"#;
    assert!(manifest.contains(headers), "the overlay's headers changed");
    let create_request =
        r#""request": { "body": "access-token-create-request.json", "query": "no-query.json" }"#;
    assert!(
        manifest.contains(create_request),
        "the create entry changed"
    );
    for (label, edited) in [
        (
            "headers",
            manifest.replace(
                headers,
                r#""headers": ["request-headers.json", "request-headers-with-body.json", "response-headers.json"]"#,
            ),
        ),
        (
            "request",
            manifest.replace(
                create_request,
                r#""request": ["access-token-create-request.json", false, "no-query.json"]"#,
            ),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_schemas(dir.path());
        std::fs::write(dir.path().join("manifest.json"), edited).unwrap();
        let schemas = dir.path().display().to_string();
        let (code, text) = run(dir.path(), &["schema-check", "--list-endpoints", "--schemas", &schemas]);
        assert_eq!(code, Some(2), "{label}: {text}");
        assert!(text.contains("manifest.json"), "{label}: {text}");
        assert!(text.contains("expected a JSON object"), "{label}: {text}");
    }
}

/// serde_json reads an object whose first member is named
/// `$serde_json::private::Number` (or `…::RawValue`) as the number (or
/// document) its string spells. Replay served a response body naming one
/// as its text and `schema-check` read it as something else, or refused
/// it (`"nope"` is no number); a request body was matched as the number.
/// The recorder already stores such a body as `text`; every reader now
/// refuses a `json` body naming one (escapes undone), with one message.
#[test]
fn json_bodies_naming_serde_json_private_names_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let response = |body: &str| format!(r#"{{"status": 200, "body": {body}}}"#);
    let request = |body: &str| format!(r#"{{"method": "POST", "path": "/x", "body": {body}}}"#);
    let cases = [
        (
            "response-not-a-number",
            interaction(
                GET_X,
                &response(r#"{"json": {"$serde_json::private::Number": "nope"}}"#),
            ),
        ),
        (
            "response-raw",
            interaction(
                GET_X,
                &response(r#"{"json": {"$serde_json::private::RawValue": "5"}}"#),
            ),
        ),
        (
            "response-nested",
            interaction(
                GET_X,
                &response(r#"{"json": {"a": [{"$serde_json::private::Number": "1.50"}]}}"#),
            ),
        ),
        (
            "response-escaped",
            interaction(
                GET_X,
                &response(r#"{"json": {"\u0024serde_json::pr\u0069vate::RawValue": "[]"}}"#),
            ),
        ),
        (
            "response-later-member",
            interaction(
                GET_X,
                &response(r#"{"json": {"a": 1, "$serde_json::private::Number": "2"}}"#),
            ),
        ),
        (
            "response-in-a-string",
            interaction(
                GET_X,
                &response(r#"{"json": {"note": "$serde_json::private::Number"}}"#),
            ),
        ),
        (
            "request-number",
            interaction(
                &request(r#"{"json": {"$serde_json::private::Number": "1e5"}}"#),
                OK_TEXT,
            ),
        ),
        (
            "request-raw",
            interaction(
                &request(r#"{"json": {"$serde_json::private::RawValue": "{\"b\": [1, 2.50]}"}}"#),
                OK_TEXT,
            ),
        ),
        (
            "request-nested",
            interaction(
                &request(r#"{"json": {"a": {"$serde_json::private::Number": "-0.10"}}}"#),
                OK_TEXT,
            ),
        ),
    ];
    for (label, odd) in &cases {
        let file = format!("{label}.json");
        // After a good interaction, so the one-pass reader meets it mid-file.
        std::fs::write(
            dir.path().join(&file),
            cassette(&[interaction(GET_X, OK_TEXT), odd.clone()]),
        )
        .unwrap();
        every_reader_refuses(dir.path(), &file, "body.json names `$serde_json::private::");
        let err = datovcr::cassette::Cassette::load(&dir.path().join(&file)).unwrap_err();
        assert!(
            err.to_string().contains("store such a body as `text`"),
            "{label}: {err}"
        );
        // The same interaction as a journal line.
        let journal = dir.path().join(format!("{label}-journal.json.journal"));
        std::fs::write(&journal, format!("{}\n", odd.replace('\n', ""))).unwrap();
        every_reader_refuses(
            dir.path(),
            &format!("{label}-journal.json"),
            "`$serde_json::private::",
        );
    }
    // A lone payload is judged as the body it would be.
    std::fs::write(
        dir.path().join("payload.json"),
        r#"{"data": {"$serde_json::private::RawValue": "{}"}}"#,
    )
    .unwrap();
    let (code, text) = run(
        dir.path(),
        &[
            "schema-check",
            "--endpoint",
            "access_tokens.create",
            "--request",
            "payload.json",
        ],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("payload.json: body.json names `$serde_json::private::"),
        "{text}"
    );
}

/// What the recorder writes of such a body (`text`, byte for byte) every
/// reader reads, and replay serves it as the upstream sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_body_naming_private_names_is_read_back_by_every_reader() {
    const ODD: &str = r#"{"a":{"$serde_json::private::Number":"1.50"},"b":{"$serde_json::private::RawValue":"5"}}"#;
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http().respond_with(|_| {
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: ODD.as_bytes().to_vec(),
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--cassette",
        "odd.json",
    ]
    .map(String::from)
    .to_vec();
    let proxy = ServerProcess::start(dir.path(), &args, &dir.path().join("proxy.stderr"));
    let client = plain_client();
    let json = [("content-type", "application/json")];
    let (status, _, body) = send(&client, Method::POST, &proxy.url("/x"), &json, ODD).await;
    assert_eq!((status.as_u16(), body.as_ref()), (200, ODD.as_bytes()));
    let (exit, _) = tokio::task::spawn_blocking(move || proxy.terminate())
        .await
        .unwrap();
    assert!(exit.success());
    upstream.shutdown().await;

    let (code, text) = run(dir.path(), &["schema-check", "odd.json"]);
    assert_ne!(code, Some(2), "{text}");
    let args: Vec<String> = [
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        "odd.json",
    ]
    .map(String::from)
    .to_vec();
    let replay = ServerProcess::start(dir.path(), &args, &dir.path().join("replay.stderr"));
    let (status, _, body) = send(&client, Method::POST, &replay.url("/x"), &json, ODD).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body.as_ref(), ODD.as_bytes());
    tokio::task::spawn_blocking(move || replay.terminate())
        .await
        .unwrap();
}

/// The threads of a running process (Linux: `/proc/PID/status`).
fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("a Threads line")
}

/// An upstream that answers every request with a small text body.
async fn text_upstream() -> FakeDato {
    FakeDato::start(FakeDatoOptions::default().plain_http().respond_with(|_| {
        Some(ScriptedReply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"fresh".to_vec(),
        })
    }))
    .await
}

fn proxy_args(upstream: &FakeDato, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--upstream",
        &upstream.base_url(),
        "--cassette",
        "main.json",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

/// Every cassette a client names (`x-datovcr-cassette`) got a writer
/// thread and three open files for the rest of the run: 200 names, 202
/// threads and 612 descriptors. Under a 100-descriptor limit the proxy's
/// own `--cassette` then failed with "Too many open files". The cassettes
/// of one run are now bounded (`--max-cassettes`, 256 by default): one
/// more gets 503 `DATOVCR_TOO_MANY_CASSETTES`, is not forwarded and
/// creates nothing, and the cassettes already in use keep recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cassettes_a_client_names_are_bounded_and_the_rest_keep_recording() {
    let upstream = text_upstream().await;
    let client = plain_client();
    for (limit, flags) in [
        (3usize, vec!["--max-cassettes", "3"]),
        (256, vec![]),
        (1, vec!["--fsync", "periodic", "--max-cassettes", "1"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let proxy = ServerProcess::start(
            dir.path(),
            &proxy_args(&upstream, &flags),
            &dir.path().join("stderr"),
        );
        let get = |name: Option<String>| {
            let (client, url) = (&client, proxy.url("/x"));
            async move {
                let headers: Vec<(&str, &str)> = name
                    .iter()
                    .map(|name| ("x-datovcr-cassette", name.as_str()))
                    .collect();
                let (status, _, body) = send(client, Method::GET, &url, &headers, "").await;
                (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
            }
        };
        // The proxy's own cassette, then names up to the limit.
        assert_eq!(get(None).await.0, 200, "limit {limit}");
        for index in 1..limit {
            assert_eq!(
                get(Some(format!("n{index}"))).await.0,
                200,
                "limit {limit}: n{index}"
            );
        }
        let forwarded = upstream.request_count();
        let threads = threads_of(proxy.pid());
        for index in limit..limit + 40 {
            let (status, body) = get(Some(format!("n{index}"))).await;
            assert_eq!(status, 503, "limit {limit}: n{index}: {body}");
            assert!(body.contains("DATOVCR_TOO_MANY_CASSETTES"), "{body}");
            assert!(
                body.contains(&format!(
                    "already records into {limit} cassettes (--max-cassettes)"
                )),
                "{body}"
            );
            assert!(!dir.path().join(format!("n{index}.json.journal")).exists());
        }
        assert_eq!(
            upstream.request_count(),
            forwarded,
            "limit {limit}: a refused exchange was forwarded"
        );
        assert_eq!(
            threads_of(proxy.pid()),
            threads,
            "limit {limit}: refused names started threads"
        );
        // The cassettes in use keep recording.
        assert_eq!(get(None).await.0, 200);
        if limit > 1 {
            assert_eq!(get(Some("n1".into())).await.0, 200);
        }
        let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
            .await
            .unwrap();
        assert!(exit.success(), "{stderr}");
        let main = datovcr::cassette::Cassette::load(&dir.path().join("main.json")).unwrap();
        assert_eq!(main.interactions.len(), 2, "limit {limit}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        assert_eq!(names.len(), limit, "limit {limit}: {names:?}");
    }
    upstream.shutdown().await;
}

/// `--max-cassettes` takes 1 to 65536; anything else is a usage error
/// naming the option.
#[test]
fn a_cassette_limit_outside_its_range_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["0", "-1", "65537", "many", ""] {
        let flag = format!("--max-cassettes={value}");
        let (code, text) = run(dir.path(), &["proxy", "--listen", "127.0.0.1:0", &flag]);
        assert_eq!(code, Some(2), "{value:?}: {text}");
        assert!(text.contains("--max-cassettes"), "{value:?}: {text}");
        assert!(!text.contains("listening on"), "{text}");
    }
}

/// Gzip of `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A request body whose content coding cannot be removed cannot be
/// redacted, so a recording proxy refuses it before the upstream sees it
/// (415). With `--record none` it was forwarded as sent without a word,
/// even in the log; it is still forwarded (a validating proxy relays what
/// it cannot read), and the log says, also with `--quiet`, that its body
/// was not decoded and why. The 415's advice named "the server's" header
/// for a client's request; it now names the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_body_is_refused_when_recording_and_reported_when_forwarded() {
    let upstream = text_upstream().await;
    let client = plain_client();
    let bomb = gzip(&vec![b' '; 64 * 1024]);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "not-gzip",
            "gzip",
            br#"{"data":{"type":"item"}}"#.to_vec(),
            "does not decode as gzip",
        ),
        (
            "truncated-gzip",
            "gzip",
            gzip(br#"{"data":{"type":"item"}}"#)[..12].to_vec(),
            "does not decode as gzip",
        ),
        (
            "unknown-coding",
            "x-snappy",
            b"{}".to_vec(),
            "`Content-Encoding: x-snappy`, which datovcr cannot decode",
        ),
        (
            "stacked-second-broken",
            "gzip, br",
            gzip(b"not brotli"),
            "does not decode as",
        ),
        (
            "over-the-limit",
            "gzip",
            bomb,
            "larger than the 1024-byte limit",
        ),
    ];
    for mode in ["new", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let flags = ["--record", mode, "--max-request-body", "1KiB"];
        let proxy = ServerProcess::start(
            dir.path(),
            &proxy_args(&upstream, &flags),
            &dir.path().join("stderr"),
        );
        for (label, coding, body, words) in &cases {
            let before = upstream.request_count();
            let headers = [
                ("content-type", "application/json"),
                ("content-encoding", *coding),
            ];
            let url = proxy.url(&format!("/{label}"));
            let (status, _, answer) =
                send(&client, Method::POST, &url, &headers, body.clone()).await;
            let answer = String::from_utf8_lossy(&answer);
            if mode == "new" {
                assert_eq!(status, 415, "{label}: {answer}");
                assert!(
                    answer.contains("DATOVCR_UNDECODABLE_BODY"),
                    "{label}: {answer}"
                );
                assert!(answer.contains(words), "{label}: {answer}");
                assert!(
                    answer.contains("--record none forwards such a request unrecorded"),
                    "{label}: {answer}"
                );
                assert!(!answer.contains("the server's"), "{label}: {answer}");
                assert_eq!(
                    upstream.request_count(),
                    before,
                    "{label}: forwarded while recording"
                );
            } else {
                assert_eq!(status, 200, "{label}: {answer}");
                let forwarded = upstream.requests().pop().unwrap();
                assert_eq!(forwarded.path(), format!("/{label}"));
                assert_eq!(
                    forwarded.body.as_ref(),
                    body.as_slice(),
                    "{label}: not forwarded as sent"
                );
                assert_eq!(
                    forwarded.header("content-encoding"),
                    Some(*coding),
                    "{label}"
                );
            }
        }
        let (exit, stderr) = tokio::task::spawn_blocking(move || proxy.terminate())
            .await
            .unwrap();
        assert!(exit.success(), "{stderr}");
        for (label, _, _, words) in &cases {
            let line = stderr
                .lines()
                .find(|line| line.contains(&format!("POST /{label} ")))
                .unwrap_or_else(|| {
                    panic!("--record {mode}: no log line for {label} (with --quiet):\n{stderr}")
                });
            assert!(line.contains(words), "--record {mode}: {label}: {line}");
            if mode == "none" {
                assert!(
                    line.contains("request body not decoded, forwarded as sent"),
                    "{label}: {line}"
                );
            }
        }
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(files, ["stderr"], "--record {mode}: something was recorded");
    }
    upstream.shutdown().await;
}

/// Limits that let nothing through were taken as given: the proxy (and
/// replay) started, then closed every connection (`--header-read-timeout
/// 0s`), accepted none (`--max-connections 0`), answered every request 503
/// (`--max-in-flight 0`) or timed every body out; a `--redact-header` no
/// header can be named redacted nothing without a word. Each is now a
/// usage error (exit 2) naming the option and what to give.
#[test]
fn limits_that_let_nothing_through_are_usage_errors_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("--header-read-timeout", "0s", "above zero"),
        ("--body-idle-timeout", "0ms", "above zero"),
        ("--request-body-timeout", "0s", "above zero"),
        ("--write-timeout", "0s", "above zero"),
        ("--upstream-connect-timeout", "0s", "above zero"),
        ("--upstream-response-timeout", "0ns", "above zero"),
        ("--upstream-body-idle-timeout", "0s", "above zero"),
        ("--max-connections", "0", "1 or more"),
        ("--max-in-flight", "0", "1 or more"),
        ("--max-headers", "0", "1 or more"),
        ("--max-headers", "many", "not a count"),
        ("--redact-header", "x api key", "not an HTTP token"),
        ("--redact-header", "x-key:", "not an HTTP token"),
    ];
    for command in ["proxy", "replay"] {
        for (flag, value, words) in cases {
            let option = format!("{flag}={value}");
            let (code, text) =
                run_refused(dir.path(), &[command, "--listen", "127.0.0.1:0", &option]);
            assert_eq!(code, Some(2), "{command} {option}: {text}");
            assert!(
                text.contains(flag) && text.contains(words),
                "{command} {option}: {text}"
            );
        }
    }
    // The shutdown grace may be zero: stop without waiting.
    let args: Vec<String> = ["proxy", "--listen", "127.0.0.1:0", "--shutdown-grace", "0s"]
        .map(String::from)
        .to_vec();
    let proxy = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let (exit, stderr) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
}

/// `datovcr ARGS`, expected to exit at once: its exit code and output, or
/// `None` (and the process killed) if it is still running after 20 s, as
/// a server that accepted the options would be.
fn run_refused(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = datovcr()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// A cassette (or a payload) saved with a UTF-8 byte order mark was refused
/// as "expected value at line 1 column 1", which names no fix. Every reader
/// now says what it is and how to save the file; a cassette after the mark
/// or a mark alone alike.
#[test]
fn a_byte_order_mark_is_refused_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let full = cassette(&[interaction(GET_X, OK_TEXT)]);
    for (file, text) in [
        ("bom.json", format!("\u{feff}{full}")),
        (
            "bom-empty.json",
            "\u{feff}{\"version\": 1, \"interactions\": []}\n".to_owned(),
        ),
        ("bom-only.json", "\u{feff}".to_owned()),
    ] {
        std::fs::write(dir.path().join(file), text).unwrap();
        every_reader_refuses(dir.path(), file, "without a BOM");
    }
    // A single payload too.
    std::fs::write(dir.path().join("payload.json"), "\u{feff}{\"data\": []}").unwrap();
    let (code, text) = run(
        dir.path(),
        &[
            "schema-check",
            "--response",
            "payload.json",
            "--endpoint",
            "access_tokens.list",
            "--status",
            "200",
        ],
    );
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("payload.json") && text.contains("without a BOM"),
        "{text}"
    );
}

/// `--match header:NAME` with a NAME no request can carry (a space, a
/// colon, a non-ASCII letter) matched nothing, silently: every request with
/// that "header" missed. It is a usage error naming the part and the rule.
#[test]
fn a_match_header_that_is_no_header_name_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes");
    let shipped = shipped.to_str().unwrap();
    for spec in [
        "method,header:x env",
        "header:x:y",
        "path,header:ümlaut",
        "header:x\tenv",
    ] {
        let (code, text) = run(
            dir.path(),
            &[
                "replay",
                "--listen",
                "127.0.0.1:0",
                "--cassette",
                shipped,
                "--match",
                spec,
            ],
        );
        assert_eq!(code, Some(2), "{spec:?}: {text}");
        assert!(text.contains("--match"), "{spec:?}: {text}");
        assert!(text.contains("not an HTTP token"), "{spec:?}: {text}");
        assert!(!text.contains("listening on"), "{spec:?}: {text}");
    }
}
