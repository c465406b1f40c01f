//! `datovcr proxy` as a developer runs it: the real binary, its stderr, its
//! files, and the first promise of the product: no secret on disk or in logs.

use crate::support::client::{HttpsClient, decoded_body, send};
use crate::support::process::ServerProcess;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions, random_token};
use crate::support::{create_body, update_body};
use assert_cmd::Command;
use datovcr::server::Drained;
use http::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The whole official-client flow, plus the two fault paths that carry
/// secrets in disguise.
async fn run_flow(client: &HttpsClient, base: &str, bearer: &str) {
    let get = api_headers(bearer, false);
    let body = api_headers(bearer, true);
    let url = |path: &str| format!("{base}{path}");
    let (status, _, _) = send(
        client,
        Method::GET,
        &url("/access_tokens"),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, headers, created) = send(
        client,
        Method::POST,
        &url("/access_tokens"),
        &borrowed(&body),
        serde_json::to_vec_pretty(&create_body()).unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let id =
        serde_json::from_slice::<Value>(&decoded_body(&headers, &created)).unwrap()["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = format!("/access_tokens/{id}");
    assert_eq!(
        send(client, Method::GET, &url(&path), &borrowed(&get), "")
            .await
            .0,
        200
    );
    for with_role in [true, false] {
        let mut update = update_body(with_role);
        update["data"]["id"] = json!(id);
        let update = serde_json::to_vec(&update).unwrap();
        assert_eq!(
            send(client, Method::PUT, &url(&path), &borrowed(&body), update)
                .await
                .0,
            200
        );
    }
    let regenerate = format!("{path}/regenerate_token");
    assert_eq!(
        send(client, Method::POST, &url(&regenerate), &borrowed(&get), "")
            .await
            .0,
        200
    );
    assert_eq!(
        send(
            client,
            Method::GET,
            &url("/access_tokens"),
            &borrowed(&get),
            ""
        )
        .await
        .0,
        200
    );
    let destroy = format!("{path}?destination_user_type=account&destination_user_id=7865");
    assert_eq!(
        send(client, Method::DELETE, &url(&destroy), &borrowed(&get), "")
            .await
            .0,
        200
    );
    assert_eq!(
        send(client, Method::GET, &url(&path), &borrowed(&get), "")
            .await
            .0,
        404
    );
    assert_eq!(
        send(
            client,
            Method::GET,
            &url("/__fault/echo-auth"),
            &borrowed(&get),
            ""
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            client,
            Method::GET,
            &url("/__fault/error-token"),
            &borrowed(&get),
            ""
        )
        .await
        .0,
        422
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secrets_never_reach_disk_or_logs_and_the_cassette_passes_schema_check() {
    let work = tempfile::tempdir().unwrap();
    let cassettes = work.path().join("cassettes");
    let bearer = format!("canarybearer{}", random_token());
    let plain = FakeDato::start(
        FakeDatoOptions::default()
            .token_generator(|n| format!("canarytok{n:04}x{}", random_token())),
    )
    .await;
    let gzip = FakeDato::start(
        FakeDatoOptions::default()
            .force_gzip()
            .token_generator(|n| format!("canarygz{n:04}x{}", random_token())),
    )
    .await;

    let mut stderr_logs = Vec::new();
    for (name, upstream) in [("plain", &plain), ("gzip", &gzip)] {
        let stderr_path = work.path().join(format!("{name}.stderr"));
        let args: Vec<String> = [
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream.base_url(),
            "--ca-file",
            &upstream.ca_file().display().to_string(),
            "--cassette",
            &format!("cassettes/{name}.json"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = ServerProcess::start(work.path(), &args, &stderr_path);
        run_flow(
            &client_for(upstream),
            &format!("http://{}", server.addr),
            &bearer,
        )
        .await;
        let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(status.success(), "proxy exit: {status}\n{stderr}");
        assert!(stderr.contains("11 exchange(s)"), "{stderr}");
        assert!(
            stderr.contains(&format!("wrote cassettes/{name}.json: 11 interaction(s)")),
            "{stderr}"
        );
        stderr_logs.push(stderr);
    }

    let mut canaries = vec![bearer.clone()];
    canaries.extend(plain.issued_tokens());
    canaries.extend(gzip.issued_tokens());
    assert!(canaries.len() >= 7, "tokens were issued: {canaries:?}");
    for file in files_under(work.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for canary in &canaries {
            assert!(
                !text.contains(canary.as_str()),
                "{canary} leaked into {}",
                file.display()
            );
        }
    }
    for name in ["plain", "gzip"] {
        let text = std::fs::read_to_string(cassettes.join(format!("{name}.json"))).unwrap();
        assert!(
            text.contains("\"Bearer [REDACTED]\""),
            "{name}: bearer placeholder"
        );
        assert!(
            text.contains("\"token\": \"[REDACTED]\""),
            "{name}: token placeholder"
        );
        assert!(text.contains("[REDACTED]") && text.contains("/__fault/echo-auth"));
    }
    Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(work.path())
        .args(["schema-check", "cassettes"])
        .assert()
        .code(0);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_exchanges_and_persists_them() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.limits.upstream_response_timeout = Duration::from_millis(500);
    })
    .await;
    let client = client_for(&upstream);
    let url = format!("{}/access_tokens/312", proxy.uri());
    let in_flight = tokio::spawn(async move {
        send(
            &client,
            Method::GET,
            &url,
            &borrowed(&api_headers("bearer-abcdefgh", false)),
            "",
        )
        .await
    });
    upstream.wait_for_requests(1).await;
    let summary = proxy.shutdown().await;
    let (status, _, _) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the in-flight exchange was answered");
    assert_eq!(summary.drained, Drained::All);
    assert_eq!(summary.exchanges, 1);
    assert_eq!(summary.cassettes.len(), 1);
    assert_eq!(summary.cassettes[0].interactions, 1);
}

#[test]
fn unsafe_or_malformed_options_exit_2_with_the_fix() {
    let run = |args: &[&str]| {
        Command::cargo_bin("datovcr")
            .unwrap()
            .args(args)
            .assert()
            .code(2)
    };
    let out = run(&["proxy", "--listen", "0.0.0.0:0"]);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--allow-remote"));
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "http://site-api.datocms.com",
    ]);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("use https"));
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("/nonexistent/ca.pem"));
    let out = run(&["proxy", "--max-request-body", "10GB"]);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("64KiB or 10MiB"));
    let out = run(&["proxy", "--redact-pointer", "data/token"]);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("JSON pointer"));
    run(&["proxy", "--record", "sometimes"]);
}

/// Exposes a datovcr bug: `listening on` is printed before the SIGTERM
/// handler is installed, so a supervisor that stops the proxy as soon as it
/// announces kills it instead (exit by signal, no summary, journal left
/// uncompacted). `ServerProcess::terminate` works around it elsewhere.
#[test]
fn sigterm_right_after_the_listening_line_still_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..30 {
        let server = ServerProcess::start(
            dir.path(),
            &[
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "https://127.0.0.1:9",
                "--cassette",
                "cassette.json",
            ]
            .map(String::from),
            &dir.path().join("stderr"),
        );
        let (status, stderr) = server.terminate();
        assert!(
            status.success(),
            "attempt {attempt}: the proxy exited with {status}; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("0 exchange(s)"),
            "attempt {attempt}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_logs_only_exchanges_with_findings() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let work = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "proxy",
        "--quiet",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--ca-file",
        upstream.ca_file().to_str().unwrap(),
        "--record",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = ServerProcess::start(work.path(), &args, &work.path().join("stderr"));
    let client = client_for(&upstream);
    let valid = api_headers("bearer-abcdefgh", false);
    assert_eq!(
        send(
            &client,
            Method::GET,
            &server.url("/access_tokens/312"),
            &borrowed(&valid),
            ""
        )
        .await
        .0,
        200
    );
    let mut no_version = valid.clone();
    no_version.retain(|(name, _)| *name != "x-api-version");
    send(
        &client,
        Method::GET,
        &server.url("/access_tokens"),
        &borrowed(&no_version),
        "",
    )
    .await;
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        !stderr.contains("GET /access_tokens/312 200"),
        "a clean exchange was logged: {stderr}"
    );
    assert!(
        stderr.contains("GET /access_tokens 200"),
        "the exchange with a finding was logged: {stderr}"
    );
    assert!(stderr.contains("/x-api-version [required]"), "{stderr}");
}
