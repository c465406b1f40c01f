//! Review of the remembered clean header fields: the field lines of one
//! name are one list (RFC 9110 §5.3), so `X-Forward: Token a` with
//! `X-Forward: b` is `X-Forward: Token a, b`, a credential whole, as it is
//! in a body's map of headers. Each line was read alone (and `a, Token b`
//! on one line by its first element only), and a value remembered clean on
//! a line of its own was skipped beside a credential: the rest of the list
//! reached the cassette. Each variant runs through the real binary.

use crate::support::canary::{LeakSearch, leaked_places};
use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::client_for;
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply, random_token};
use crate::support::{interaction, request, token_resource};
use datovcr::cassette::{Cassette, FieldValue, Headers};
use datovcr::redact::is_placeholder;
use http::Method;
use serde_json::{Value, json};
use std::path::Path;

fn canary() -> String {
    format!("cnry{}", random_token())
}

fn proxy(dir: &Path, upstream: &FakeDato) -> ServerProcess {
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--ca-file",
        upstream.ca_file().to_str().unwrap(),
        "--cassette",
        "lists.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ServerProcess::start(dir, &args, &dir.join("proxy.stderr"))
}

fn values<'h>(headers: &'h Headers, name: &str) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .map(FieldValue::as_str)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_header_spelled_like_a_credential_is_redacted() {
    let [c1, c2, c3, c4, c5, c6, c7] = std::array::from_fn(|_| canary());
    // Clean on a line of its own: recorded as it is, then remembered.
    let relay = format!("relay-{}", random_token());
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with({
        let (c6, c7) = (c6.clone(), c7.clone());
        move |request| {
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if request.path() == "/reply-lists" {
                for (name, value) in [
                    ("x-upstream-relay", format!("Bearer {c6}")),
                    ("x-upstream-relay", c7.clone()),
                    ("www-authenticate", "Bearer realm=\"dato\"".to_owned()),
                    ("www-authenticate", "Basic realm=\"keep-realm\"".to_owned()),
                ] {
                    headers.push((name.to_owned(), value));
                }
            }
            Some(ScriptedReply {
                status: 200,
                headers,
                body: b"{}".to_vec(),
            })
        }
    }))
    .await;
    let work = tempfile::tempdir().unwrap();
    let server = proxy(work.path(), &upstream);
    let client = client_for(&upstream);
    let token = format!("Token {c1}");
    let list = format!("{c3}, Bearer {c4}");
    let basic = format!("Basic {c5}");
    let exchanges: [(&str, Vec<(&str, &str)>); 5] = [
        ("/site", vec![("x-relay", &relay), ("x-keep", "plain-1")]),
        // The remembered value beside a credential, before and after it.
        ("/site", vec![("x-relay", &relay), ("x-relay", &basic)]),
        ("/site", vec![("x-forward", &token), ("X-Forward", &c2)]),
        // One line, the credential not first.
        ("/site", vec![("x-forward", &list), ("x-keep", "plain-1")]),
        (
            "/reply-lists",
            vec![("x-keep", "plain-1"), ("x-keep", "plain-2")],
        ),
    ];
    for (path, headers) in &exchanges {
        let (status, _, _) = send(&client, Method::GET, &server.url(path), headers, "").await;
        assert_eq!(status.as_u16(), 200, "{path} {headers:?}");
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");

    let cassette = Cassette::load(&work.path().join("lists.json")).expect("the cassette");
    let recorded: Vec<_> = cassette.interactions.iter().collect();
    assert_eq!(recorded.len(), exchanges.len(), "{stderr}");
    // What must stay: the value on a line of its own, plain lists, the
    // realms of challenges.
    assert_eq!(values(&recorded[0].request.headers, "x-relay"), [&*relay]);
    assert_eq!(
        values(&recorded[4].request.headers, "x-keep"),
        ["plain-1", "plain-2"]
    );
    assert!(
        values(&recorded[4].response.headers, "www-authenticate")
            .contains(&"Basic realm=\"keep-realm\"")
    );
    // What must go: every line of the lists spelled like credentials.
    for (at, side, name) in [
        (1, "request", "x-relay"),
        (2, "request", "x-forward"),
        (3, "request", "x-forward"),
        (4, "response", "x-upstream-relay"),
    ] {
        let headers = match side {
            "request" => &recorded[at].request.headers,
            _ => &recorded[at].response.headers,
        };
        let lines = values(headers, name);
        assert!(!lines.is_empty(), "#{at} {side} {name}");
        assert!(
            lines.iter().all(|value| is_placeholder(value)),
            "#{at} {side} {name}: {lines:?}"
        );
    }
    let mut search = LeakSearch::new([&c1, &c2, &c3, &c4, &c5, &c6, &c7]);
    search.add_dir(work.path());
    search.add_text("stderr", stderr.as_bytes());
    search.assert_no_leaks("datovcr proxy");
}

/// `schema-check` reads a cassette as the recorder does: a header's line
/// left live beside one spelled like a credential is a leak, wherever the
/// credential stands in the list. (With a placeholder in the list, the name
/// would be taken as `--redact-header` and read whole already: the lists
/// here are wholly live, as a hand edit or an older datovcr left them.)
#[test]
fn schema_check_finds_every_live_line_of_a_credential_list() {
    let [t1, c1, c2, t2] = std::array::from_fn(|_| canary());
    let mut cassette = Cassette::new();
    for (name, lines) in [
        ("x-forward", vec![format!("Token {t1}"), c1.clone()]),
        ("x-relay", vec![format!("{c2}, Bearer {t2}")]),
        // Plain lists are no leak.
        ("x-plain", vec!["plain-1".to_owned(), "plain-2".to_owned()]),
    ] {
        let mut request = request("GET", "/access_tokens", None);
        request.headers.set("authorization", ["Bearer [REDACTED]"]);
        request.headers.set(name, lines);
        let mut exchange = interaction(request, 200, json!({"data": [token_resource("1", None)]}));
        // Challenges neither.
        exchange.response.headers.set(
            "www-authenticate",
            ["Bearer realm=\"a\"", "Basic realm=\"b\""],
        );
        cassette.interactions.push(exchange);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lists.json"), cassette.to_bytes()).unwrap();
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir.path())
        .args(["schema-check", "--format", "json", "lists.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut search = LeakSearch::new([&t1, &c1, &c2, &t2]);
    search.add_text("schema-check's report", stdout.as_bytes());
    search.add_text("its stderr", &output.stderr);
    search.assert_no_leaks("schema-check");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    let leaks = leaked_places(&report);
    assert_eq!(
        leaks,
        [
            (0, "/x-forward/0".to_owned()),
            (0, "/x-forward/1".to_owned()),
            (1, "/x-relay/0".to_owned())
        ],
        "{stdout}"
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}");
}
