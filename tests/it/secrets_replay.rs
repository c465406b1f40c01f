//! `datovcr replay` and credentials, through the real binary over real
//! sockets.
//!
//! 1. Replay never prints the credentials of the requests it receives: a
//!    bearer, cookie, `X-Api-Key`, a header the name rule catches, a
//!    `--redact-header`/`--redact-query`/`--redact-pointer` value or a
//!    credential query parameter, wherever the request repeats it (path,
//!    query, body, cassette name), is absent from hit and miss lines, the
//!    599 body with its `nearest`/`differences`, `--check` findings and the
//!    `x-datovcr-violations` header. `--match header:NAME` is refused for
//!    every credential header.
//! 2. `replay --on-miss record` takes the proxy's recording flags and
//!    redacts new episodes exactly as the proxy did; a cassette recorded
//!    with rules replay was not given still gets them, with a warning.
//!
//! Every case also asserts the output around the secret (the placeholder
//! where the secret was, the pointer, the message), so none passes because
//! nothing was said.

use crate::support::all_text_under;
use crate::support::canary::LeakSearch;
use crate::support::process::ServerProcess;
use crate::support::upstream::random_token;
use crate::support::{create_body, interaction, request, token_resource, update_body};
use bytes::Bytes;
use datovcr::cassette::Cassette;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A unique credential, recognisable in any output.
fn canary(label: &str) -> String {
    format!("canary{label}{}", random_token())
}

/// Fails if `text` holds `secret`, or any 12 characters of it in a row: a
/// secret cut short (a shortened value, a truncated line) still leaks.
fn assert_no_trace(secret: &str, text: &str, what: &str) {
    let chars: Vec<char> = secret.chars().collect();
    for window in chars.windows(12) {
        let window: String = window.iter().collect();
        assert!(
            !text.contains(&window),
            "{what} holds `{window}`, part of the secret {secret}:\n{text}"
        );
    }
}

/// The secret in no form the leak search knows (percent, JSON, base64 …)
/// and not even in part.
fn assert_nowhere(secrets: &[String], texts: &[(&str, &str)], dir: Option<&Path>) {
    let mut search = LeakSearch::new(secrets.iter().cloned());
    for (label, text) in texts {
        search.add_text(label, text.as_bytes());
        for secret in secrets {
            assert_no_trace(secret, text, label);
        }
    }
    if let Some(dir) = dir {
        search.add_dir(dir);
        for (path, text) in all_text_under(dir) {
            for secret in secrets {
                assert_no_trace(secret, &text, &path);
            }
        }
    }
    search.assert_no_leaks("replay output");
}

/// A cassette with the find, update and create exchanges of the docs.
fn docs_cassette(dir: &Path) -> PathBuf {
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens/312", None),
        200,
        json!({"data": token_resource("312", None)}),
    ));
    cassette.interactions.push(interaction(
        request("PUT", "/access_tokens/312", Some(update_body(true))),
        200,
        json!({"data": token_resource("312", None)}),
    ));
    cassette.interactions.push(interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        json!({"data": token_resource("313", Some("[REDACTED]"))}),
    ));
    let path = dir.join("docs.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

fn replay(dir: &Path, cassette: &Path, extra: &[&str], stderr: &str) -> ServerProcess {
    let mut list = vec![
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        cassette.to_str().unwrap(),
    ];
    list.extend_from_slice(extra);
    ServerProcess::start(dir, &args(&list), &dir.join(stderr))
}

async fn stop(server: ServerProcess) -> String {
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    stderr
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// `details` of a datovcr error answer.
    fn details(&self) -> Value {
        self.json()["data"][0]["attributes"]["details"].clone()
    }
}

/// One plain-HTTP request, the whole answer read.
async fn send(
    url: String,
    method: Method,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut builder = Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder.body(Full::new(body.into())).unwrap();
    let exchange = async {
        let response = client.request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a whole body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer in 10 s"))
}

/// The official client's headers with `authorization: Bearer <bearer>`,
/// then `extra`.
fn headers(bearer: &str, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut list = vec![
        ("authorization", format!("Bearer {bearer}")),
        ("accept", "application/json".to_owned()),
        ("x-api-version", "3".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    list.extend(extra.iter().cloned());
    list
}

/// A request that misses, the secret it carries, and what its answer and
/// the stderr must still say.
struct MissCase {
    name: &'static str,
    secret: String,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// In the 599 body.
    answer_says: Vec<String>,
    /// In stderr.
    log_says: Vec<String>,
}

impl MissCase {
    fn get(name: &'static str, secret: String, path: String) -> MissCase {
        MissCase {
            name,
            secret,
            method: Method::GET,
            path,
            headers: headers("x", &[]),
            body: Vec::new(),
            answer_says: Vec::new(),
            log_says: Vec::new(),
        }
    }

    fn headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers = headers;
        self
    }

    fn answer_says(mut self, text: &str) -> Self {
        self.answer_says.push(text.to_owned());
        self
    }

    fn log_says(mut self, text: &str) -> Self {
        self.log_says.push(text.to_owned());
        self
    }
}

/// Runs every case against one replay, then checks each answer and the
/// stderr for its secret and its surrounding output.
async fn run_misses(extra: &[&str], cases: Vec<MissCase>) {
    let dir = tempfile::tempdir().unwrap();
    let cassette = docs_cassette(dir.path());
    let server = replay(dir.path(), &cassette, extra, "stderr");
    let mut answers = Vec::new();
    for case in &cases {
        let answer = send(
            server.url(&case.path),
            case.method.clone(),
            &case.headers,
            case.body.clone(),
        )
        .await;
        answers.push(answer);
    }
    let stderr = stop(server).await;
    for (case, answer) in cases.iter().zip(&answers) {
        assert_eq!(
            answer.status.as_u16(),
            599,
            "{}: {}",
            case.name,
            answer.body
        );
        assert!(
            answer.body.contains("DATOVCR_NO_MATCH"),
            "{}: {}",
            case.name,
            answer.body
        );
        for expected in &case.answer_says {
            assert!(
                answer.body.contains(expected.as_str()),
                "{}: the answer lacks {expected}: {}",
                case.name,
                answer.body
            );
        }
        for expected in &case.log_says {
            assert!(
                stderr.contains(expected.as_str()),
                "{}: stderr lacks {expected}:\n{stderr}",
                case.name
            );
        }
        assert_nowhere(
            std::slice::from_ref(&case.secret),
            &[(case.name, &answer.body), ("stderr", &stderr)],
            None,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_never_print_the_credentials_of_the_request() {
    let bearer = canary("bearer");
    let query = canary("query");
    let cookie = canary("cookie");
    let api_key = canary("apikey");
    let session = canary("session");
    let cassette_name = canary("cassettename");
    let named = |secret: &str| format!("/access_tokens/{secret}");
    let cases = vec![
        // The issue's example: the bearer also in the path.
        MissCase::get("bearer in path", bearer.clone(), named(&bearer))
            .headers(headers(&bearer, &[]))
            .answer_says(r#""request":{"method":"GET","path":"/access_tokens/[REDACTED]"}"#)
            .answer_says(r#""received":"/access_tokens/[REDACTED]""#)
            .answer_says(r#""nearest":{"cassette":"#)
            .log_says("MISS GET /access_tokens/[REDACTED]: no recorded interaction matches")
            .log_says(
                r#"differs at /path: recorded "/access_tokens/312", received "/access_tokens/[REDACTED]""#,
            ),
        // A credential query parameter, shown by the differences.
        MissCase::get(
            "access_token in query",
            query.clone(),
            format!("/access_tokens/312?access_token={query}"),
        )
        .answer_says(r#""pointer":"/query/access_token""#)
        .answer_says(r#""received":"[REDACTED]""#)
        .log_says(r#"differs at /query/access_token: recorded null, received "[REDACTED]""#),
        // A cookie value, repeated in the path.
        MissCase::get("cookie", cookie.clone(), named(&cookie))
            .headers(headers(
                "x",
                &[("cookie", format!("theme=dark; session={cookie}"))],
            ))
            .answer_says(r#""path":"/access_tokens/[REDACTED]""#),
        // A header only the name rule knows as a credential.
        MissCase::get("x-session-id", session.clone(), named(&session))
            .headers(headers("x", &[("x-session-id", session.clone())]))
            .answer_says(r#""path":"/access_tokens/[REDACTED]""#),
        // The cassette header naming the bearer: the unknown-cassette miss.
        MissCase::get(
            "secret cassette name",
            cassette_name.clone(),
            "/access_tokens/312".into(),
        )
        .headers(headers(
            &cassette_name,
            &[("x-datovcr-cassette", cassette_name.clone())],
        ))
        .answer_says("names no loaded cassette; loaded: docs")
        .log_says("MISS x-datovcr-cassette: `[REDACTED]` names no loaded cassette"),
    ];
    // An X-Api-Key value copied into a long body field: the difference is
    // shortened to 120 characters, which must not cut the secret in half
    // before it is scrubbed.
    let mut body = create_body();
    body["data"]["attributes"]["name"] = json!(format!("{}{api_key}", "n".repeat(100)));
    let mut cases = cases;
    cases.push(MissCase {
        name: "x-api-key in a long body value",
        secret: api_key.clone(),
        method: Method::POST,
        path: "/access_tokens".into(),
        headers: headers("x", &[("x-api-key", api_key.clone())]),
        body: serde_json::to_vec(&body).unwrap(),
        answer_says: vec![
            r#""pointer":"/body/data/attributes/name""#.into(),
            format!(r#""received":"{}[REDACTED]""#, "n".repeat(100)),
        ],
        log_says: vec![format!(
            r#"differs at /body/data/attributes/name: recorded "Read-only API token", received "{}[REDACTED]""#,
            "n".repeat(100)
        )],
    });
    run_misses(&[], cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_takes_the_redaction_flags_and_never_prints_what_they_name() {
    let tenant = canary("tenant");
    let reference = canary("reference");
    let pointed = canary("pointer");
    let mut body = create_body();
    body["data"]["attributes"]["name"] = json!(pointed);
    let cases = vec![
        // --redact-header: a header no built-in rule knows.
        MissCase::get("--redact-header", tenant.clone(), format!("/access_tokens/{tenant}"))
            .headers(headers("x", &[("x-tenant", tenant.clone())]))
            .answer_says(r#""path":"/access_tokens/[REDACTED]""#)
            .log_says("MISS GET /access_tokens/[REDACTED]"),
        // --redact-query: a parameter no built-in rule knows.
        MissCase::get(
            "--redact-query",
            reference.clone(),
            format!("/access_tokens/312?tenant_ref={reference}"),
        )
        .answer_says(r#""pointer":"/query/tenant_ref""#)
        .log_says(r#"differs at /query/tenant_ref: recorded null, received "[REDACTED]""#),
        // --redact-pointer: a body value no built-in rule knows.
        MissCase {
            name: "--redact-pointer",
            secret: pointed.clone(),
            method: Method::POST,
            path: "/access_tokens".into(),
            headers: headers("x", &[]),
            body: serde_json::to_vec(&body).unwrap(),
            answer_says: vec![
                r#""pointer":"/body/data/attributes/name""#.into(),
                r#""received":"[REDACTED]""#.into(),
            ],
            log_says: vec![
                r#"differs at /body/data/attributes/name: recorded "Read-only API token", received "[REDACTED]""#.into(),
            ],
        },
    ];
    run_misses(
        &[
            "--redact-header",
            "X-Tenant",
            "--redact-query",
            "tenant_ref",
            "--redact-pointer",
            "/data/attributes/name",
        ],
        cases,
    )
    .await;
}

/// Needs `Secrets::scrub` to find a secret in its percent-encoded form: the
/// request path is logged and answered as the client sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percent_encoded_secret_in_the_path_is_not_printed_either() {
    let cookie = format!("{}+/=", canary("encoded"));
    let encoded: String = cookie
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let cases = vec![
        MissCase::get(
            "percent-encoded cookie in path",
            cookie.clone(),
            format!("/access_tokens/{encoded}"),
        )
        .headers(headers("x", &[("cookie", format!("session={cookie}"))]))
        .answer_says(r#""request":{"method":"GET","path":"/access_tokens/"#)
        .log_says("MISS GET /access_tokens/"),
    ];
    run_misses(&[], cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_and_check_findings_never_print_the_credentials_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = docs_cassette(dir.path());
    // Method only: any GET is the recorded find, any PUT the recorded update.
    let server = replay(
        dir.path(),
        &cassette,
        &["--match", "method", "--check"],
        "stderr",
    );
    let in_path = canary("hitpath");
    let scheme = canary("scheme");
    let in_key = canary("bodykey");

    // The hit line shows the path the client sent.
    let hit = send(
        server.url(&format!("/access_tokens/{in_path}")),
        Method::GET,
        &headers(&in_path, &[]),
        "",
    )
    .await;
    assert_eq!(hit.status, 200, "{}", hit.body);

    // A credential the contract refuses: the finding quotes the value.
    let mut wrong_scheme = headers("x", &[]);
    wrong_scheme[0].1 = format!("Token {scheme}");
    let finding = send(
        server.url("/access_tokens/312"),
        Method::GET,
        &wrong_scheme,
        "",
    )
    .await;
    assert_eq!(finding.status, 200, "{}", finding.body);

    // The bearer as a body key: the finding's pointer names it, in the log
    // and in x-datovcr-violations.
    let mut body = update_body(true);
    body["data"][in_key.as_str()] = json!(true);
    let flagged = send(
        server.url("/access_tokens/312"),
        Method::PUT,
        &headers(&in_key, &[]),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(flagged.status, 200, "{}", flagged.body);
    let violations = flagged
        .headers
        .get("x-datovcr-violations")
        .expect("the violation is marked")
        .to_str()
        .unwrap()
        .to_owned();

    let stderr = stop(server).await;
    assert!(
        stderr.contains("datovcr: GET /access_tokens/[REDACTED] 200 replayed"),
        "{stderr}"
    );
    // The whole value or only its credential part replaced, the finding stays.
    let pattern_finding = stderr
        .lines()
        .find(|line| {
            line.contains("violation: request headers /authorization [pattern]: Authorization must")
        })
        .unwrap_or_else(|| panic!("no authorization finding:\n{stderr}"));
    assert!(
        pattern_finding.contains("received \"") && pattern_finding.ends_with(r#"[REDACTED]""#),
        "{pattern_finding}"
    );
    assert!(
        stderr.contains(
            "violation: request body /data/[REDACTED] [additionalProperties]: `[REDACTED]` is not allowed here"
        ),
        "{stderr}"
    );
    assert_eq!(
        violations,
        "1; request body /data/[REDACTED] [additionalProperties]"
    );
    assert_nowhere(
        &[in_path, scheme, in_key],
        &[
            ("stderr", &stderr),
            ("x-datovcr-violations", &violations),
            ("hit body", &hit.body),
            ("finding body", &finding.body),
        ],
        None,
    );
}

#[test]
fn match_on_a_credential_header_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = docs_cassette(dir.path());
    let refused: &[&[&str]] = &[
        &["--match", "method,path,header:authorization"],
        &["--match", "method,path,header:Cookie"],
        &["--match", "method,path,header:x-api-key"],
        &["--match", "method,path,header:x-auth-token"],
        &["--match", "method,path,header:x-session-id"],
        &[
            "--match",
            "method,path,header:x-tenant",
            "--redact-header",
            "X-Tenant",
        ],
    ];
    for extra in refused {
        let output = assert_cmd::Command::cargo_bin("datovcr")
            .unwrap()
            .current_dir(dir.path())
            .args(["replay", "--listen", "127.0.0.1:0", "--cassette"])
            .arg(&cassette)
            .args(*extra)
            // A replay that starts instead is killed: the test fails, not hangs.
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains("is a credential header and is never matched"),
            "{extra:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{extra:?} must not start");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_on_an_ordinary_header_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = docs_cassette(dir.path());
    let server = replay(
        dir.path(),
        &cassette,
        &["--match", "method,path,header:x-tenant"],
        "stderr",
    );
    let answer = send(
        server.url("/access_tokens/312"),
        Method::GET,
        &headers("x", &[("x-tenant", "acme".into())]),
        "",
    )
    .await;
    assert_eq!(answer.status.as_u16(), 599);
    assert!(
        answer.details()["nearest"]["differences"]
            .to_string()
            .contains("/headers/x-tenant"),
        "{}",
        answer.body
    );
    stop(server).await;
}

/// A plain-HTTP upstream that answers every request with a JSON body
/// echoing its path, its `x-custom-secret` and `x-tenant-ref` headers and
/// its query, the way an API quoting a credential back would.
struct EchoUpstream {
    url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    async fn start() -> EchoUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move { Ok::<_, std::convert::Infallible>(echo(request)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        EchoUpstream {
            url,
            requests,
            task,
        }
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn echo(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let body = json!({
        "data": {
            "type": "echo",
            "id": "1",
            "attributes": {
                "path": request.uri().path(),
                "message": format!(
                    "you sent {} for tenant {} as {}",
                    header("x-custom-secret"),
                    header("x-tenant-ref"),
                    request.uri().query().unwrap_or_default()
                ),
            }
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The proxy records with `--redact-header` and `--redact-query`; `replay
/// --on-miss record` appends new episodes to the same cassette, first with
/// the same flags, then without them. No secret reaches the cassette folder
/// or stderr either way, and the run without them says which flags it was
/// missing. (`x-custom-secret` is a credential by its name alone;
/// `x-tenant-ref` and `tenant_ref` only by the flags.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_episodes_are_redacted_with_the_proxys_rules() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let upstream = EchoUpstream::start().await;
    let cassette = dir.join("cassettes/custom.json");
    let cassette_arg = "cassettes/custom.json";
    let flags = [
        "--redact-header",
        "X-Custom-Secret",
        "--redact-header",
        "X-Tenant-Ref",
        "--redact-query",
        "tenant_ref",
    ];
    let mut secrets = Vec::new();
    // The headers and the query of one client's requests.
    let mut request_with = |label: &str| {
        let [custom, tenant, reference] =
            ["custom", "tenant", "reference"].map(|part| canary(&format!("{label}{part}")));
        secrets.extend([custom.clone(), tenant.clone(), reference.clone()]);
        let headers = headers(
            "x",
            &[("x-custom-secret", custom), ("x-tenant-ref", tenant)],
        );
        (headers, format!("?tenant_ref={reference}"))
    };
    let recorded = request_with("proxy");
    let replayed_with_flags = request_with("flags");
    let replayed_without = request_with("bare");
    let bad_name = canary("badname");
    secrets.push(bad_name.clone());

    // 1. The proxy records the first episode.
    let mut proxy_args = vec![
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.url,
        "--cassette",
        cassette_arg,
    ];
    proxy_args.extend_from_slice(&flags);
    let proxy = ServerProcess::start(dir, &args(&proxy_args), &dir.join("proxy.stderr"));
    let answer = send(
        proxy.url(&format!("/items/1{}", recorded.1)),
        Method::GET,
        &recorded.0,
        "",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let proxy_stderr = stop(proxy).await;

    // 2. Replay records a miss with the same flags, and refuses a bad
    // cassette name that quotes the bearer, without printing the bearer.
    let record = |extra: &[&str], stderr: &str| {
        let mut list = vec![
            "--on-miss",
            "record",
            "--upstream",
            &upstream.url,
            "--record-into",
            cassette_arg,
        ];
        list.extend_from_slice(extra);
        replay(dir, Path::new(cassette_arg), &list, stderr)
    };
    let server = record(&flags, "with-flags.stderr");
    let (with_flags, query) = &replayed_with_flags;
    let new = send(
        server.url(&format!("/items/2{query}")),
        Method::GET,
        with_flags,
        "",
    )
    .await;
    assert_eq!(new.status, 200, "{}", new.body);
    let mut named = headers(&bad_name, &[]);
    named.push(("x-datovcr-cassette", format!("../{bad_name}")));
    let refused = send(server.url("/items/3"), Method::GET, &named, "").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("DATOVCR_BAD_CASSETTE_NAME")
            && refused
                .body
                .contains("`../[REDACTED]` is not a cassette name"),
        "{}",
        refused.body
    );
    let with_flags_stderr = stop(server).await;
    assert!(
        !with_flags_stderr.contains("warning"),
        "{with_flags_stderr}"
    );

    // 3. Replay records a miss without the flags: the cassette's redacted
    // headers are redacted anyway, and a warning names the missing flags.
    let server = record(&[], "without-flags.stderr");
    let (without, query) = &replayed_without;
    let new = send(
        server.url(&format!("/items/4{query}")),
        Method::GET,
        without,
        "",
    )
    .await;
    assert_eq!(new.status, 200, "{}", new.body);
    let without_stderr = stop(server).await;
    assert!(
        without_stderr.contains(&format!(
            "datovcr: warning: {cassette_arg} was recorded with --redact-header x-tenant-ref, --redact-query tenant_ref, which this run was not given"
        )),
        "{without_stderr}"
    );
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst),
        3,
        "one per episode"
    );

    // Every episode is on disk, redacted where the secrets were.
    let episodes = Cassette::load(&cassette).unwrap().interactions;
    let paths: Vec<&str> = episodes.iter().map(|e| e.request.path.as_str()).collect();
    assert_eq!(paths, ["/items/1", "/items/2", "/items/4"]);
    for episode in &episodes {
        for name in ["x-custom-secret", "x-tenant-ref"] {
            assert_eq!(
                episode.request.headers.get_all(name),
                ["[REDACTED]"],
                "{}",
                episode.request.path
            );
        }
        assert_eq!(
            episode.request.query.pairs(),
            [("tenant_ref".to_owned(), "[REDACTED]".to_owned())],
            "{}",
            episode.request.path
        );
        let body = serde_json::to_string(&episode.response.body).unwrap();
        assert!(
            body.contains("you sent [REDACTED] for tenant [REDACTED] as tenant_ref=[REDACTED]"),
            "{body}"
        );
    }
    assert_nowhere(
        &secrets,
        &[
            ("proxy stderr", &proxy_stderr),
            ("replay stderr, with flags", &with_flags_stderr),
            ("replay stderr, without flags", &without_stderr),
            ("refused answer", &refused.body),
        ],
        Some(dir),
    );
}

#[test]
fn replay_help_documents_the_recording_flags() {
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(["replay", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for flag in [
        "--redact-header <NAME>",
        "--redact-pointer <POINTER>",
        "--redact-query <NAME>",
        "--fsync <FSYNC>",
        "--fsync-interval <DURATION>",
        "pass the rules the cassette was recorded with",
    ] {
        assert!(help.contains(flag), "replay --help lacks {flag}:\n{help}");
    }
}

/// Replay matches a received request in the form the recorder wrote its
/// twin: a live password, `?access_token=`, a secret-named header value and
/// a gzip-coded body find the interaction recorded with placeholders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carrying_live_secrets_match_their_redacted_recordings() {
    use datovcr::cassette::{
        Body, Cassette, Interaction, Query, RecordedRequest, RecordedResponse,
    };
    use datovcr::redact::Redactor;
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let (password, query_token) = (canary("password"), canary("query"));
    let request_body = format!(
        r#"{{"data":{{"type":"email_credentials","attributes":{{"email":"me@example.com","password":"{password}"}}}}}}"#
    );
    let live = Interaction {
        recorded_at: "2026-11-29T10:00:00Z".into(),
        request: RecordedRequest {
            method: "POST".into(),
            path: "/sessions".into(),
            query: Query::parse(&format!("access_token={query_token}&page=2")),
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: Body::from_bytes(request_body.as_bytes(), Some("application/json")),
        },
        response: RecordedResponse {
            status: 201,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: Body::Json(
                serde_json::json!({"data": {"type": "account", "id": "recorded-answer"}}),
            ),
        },
    };
    let redacted = Redactor::default().redact(live);
    let mut cassette = Cassette::new();
    cassette.interactions.push(redacted.interaction().clone());
    let path = dir.path().join("sessions.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&password));

    let server = datovcr::ReplayServer::builder()
        .cassette(&path)
        .start()
        .await
        .unwrap();
    let client =
        crate::support::client::https_client(crate::support::tls::TestPki::new().ca_file());
    let url = format!(
        "{}/sessions?access_token={query_token}&page=2",
        server.uri()
    );
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzipped.write_all(request_body.as_bytes()).unwrap();
    let gzipped = gzipped.finish().unwrap();
    for (label, headers, body) in [
        (
            "plain",
            vec![("content-type", "application/json")],
            request_body.clone().into_bytes(),
        ),
        (
            "gzip",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzipped,
        ),
    ] {
        let (status, _, answer) =
            crate::support::client::send(&client, http::Method::POST, &url, &headers, body).await;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status.as_u16(), 201, "{label}: {answer}");
        assert!(answer.contains("recorded-answer"), "{label}: {answer}");
    }
    // A different password is a different request: no match.
    let other = request_body.replace(&password, "another-password-1");
    let (status, _, _) = crate::support::client::send(
        &client,
        http::Method::POST,
        &url,
        &[("content-type", "application/json")],
        other,
    )
    .await;
    assert_eq!(
        status.as_u16(),
        201,
        "placeholders match any live secret in their place"
    );
}
