//! Secrets in every disguise: odd header cases, header lists, custom
//! credential headers, query strings, brotli and gzip bodies, error bodies.
//! None may reach a cassette, a log line or a schema-check report.

use crate::support::all_text_under;
use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::client_for;
use crate::support::upstream::{Encoding, FakeDato, FakeDatoOptions, random_token};
use assert_cmd::Command;
use http::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_in_every_disguise_reach_no_file_log_or_report() {
    let work = tempfile::tempdir().unwrap();
    let canary = |name: &str| format!("canary{name}{}", random_token());
    let (bearer, second_bearer, api_key, cookie, custom, query_secret) = (
        canary("bearer"),
        canary("bearertwo"),
        canary("apikey"),
        canary("cookie"),
        canary("custom"),
        canary("query"),
    );
    let mut issued = Vec::new();
    for (name, encoding) in [
        ("brotli", Some(Encoding::Brotli)),
        ("gzip", Some(Encoding::Gzip)),
        ("identity", None),
    ] {
        let mut options = FakeDatoOptions::default()
            .token_generator(move |n| format!("canarytok{n:03}x{}", random_token()));
        if let Some(encoding) = encoding {
            options = options.force_encoding(encoding);
        }
        let upstream = FakeDato::start(options).await;
        let args: Vec<String> = [
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream.base_url(),
            "--ca-file",
            upstream.ca_file().to_str().unwrap(),
            "--cassette",
            &format!("cassettes/{name}.json"),
            "--redact-header",
            "X-Custom-Credential",
            "--redact-query",
            "api_token",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = ServerProcess::start(
            work.path(),
            &args,
            &work.path().join(format!("{name}.stderr")),
        );
        let client = client_for(&upstream);
        let headers: Vec<(&str, String)> = vec![
            ("AUTHORIZATION", format!("Bearer {bearer}")),
            ("Authorization", format!("Bearer {second_bearer}")),
            ("X-API-KEY", api_key.clone()),
            ("Cookie", format!("theme=dark; session={cookie}")),
            ("x-custom-credential", custom.clone()),
            ("accept", "application/json".into()),
            ("x-api-version", "3".into()),
        ];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for path in [
            "/access_tokens".to_owned(),
            "/access_tokens/312/regenerate_token".to_owned(),
            format!("/access_tokens?api_token={query_secret}&echo={bearer}"),
            "/__fault/echo-auth".to_owned(),
            "/__fault/error-token".to_owned(),
        ] {
            let method = if path.contains("regenerate") {
                Method::POST
            } else {
                Method::GET
            };
            send(&client, method, &server.url(&path), &headers, "").await;
        }
        let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(status.success(), "{stderr}");
        issued.extend(upstream.issued_tokens());
    }

    let report = Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(work.path())
        .args(["schema-check", "--format", "json", "cassettes"])
        .output()
        .unwrap();
    std::fs::write(work.path().join("report.json"), &report.stdout).unwrap();
    let junit = Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(work.path())
        .args(["schema-check", "--format", "junit", "cassettes"])
        .output()
        .unwrap();
    std::fs::write(work.path().join("report.xml"), &junit.stdout).unwrap();
    // The query parameters break the list endpoint's contract (exit 1), but
    // no secret is left for schema-check to find.
    let summary: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(summary["summary"]["leaked_secrets"], 0, "{summary}");
    assert_eq!(summary["summary"]["interactions"], 15);

    let mut canaries = vec![bearer, second_bearer, api_key, cookie, custom, query_secret];
    canaries.extend(issued);
    let files = all_text_under(work.path());
    assert!(
        files.len() >= 8,
        "three cassettes, three logs, two reports: {}",
        files.len()
    );
    for (path, text) in &files {
        for canary in &canaries {
            assert!(
                !text.contains(canary.as_str()),
                "{canary} leaked into {path}"
            );
        }
    }
    let brotli = &files
        .iter()
        .find(|(p, _)| p.ends_with("brotli.json"))
        .unwrap()
        .1;
    assert!(
        brotli.contains("\"token\": \"[REDACTED]\""),
        "the decoded brotli body was redacted, not skipped"
    );
    assert!(
        brotli.contains("\"x-custom-credential\": [\n            \"[REDACTED]\""),
        "{brotli}"
    );
}
