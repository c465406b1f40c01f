//! `schema-check` and secrets: no report quotes a secret from what it
//! checks (issue 11, kind 7), and secrets are found whatever the body's
//! label (kind 1) or the credential's spelling (kind 3).

use crate::support::canary::LeakSearch;
use crate::support::repo_path;
use crate::support::upstream::random_token;
use assert_cmd::Command;
use datovcr::cassette::{Body, Cassette};
use serde_json::{Value, json};
use std::path::Path;

fn canary() -> String {
    format!("cnry{}", random_token())
}

/// Runs schema-check with `args` in every format; returns (exit code,
/// json report) and checks that no output holds any of `canaries`, after
/// checking that the same search sees them in `input`.
fn reports(args: &[&str], canaries: &[String], input: &Path) -> (i32, Value) {
    let mut control = LeakSearch::new(canaries.to_vec());
    control.add_dir(input);
    assert_eq!(
        control
            .leaks()
            .into_iter()
            .map(|l| l.canary)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        canaries.len(),
        "the control search sees every canary in the input"
    );
    let mut search = LeakSearch::new(canaries.to_vec());
    let mut json = Value::Null;
    let mut code = -1;
    for format in ["human", "json", "junit"] {
        let output = Command::cargo_bin("datovcr")
            .unwrap()
            .arg("schema-check")
            .args(["--format", format])
            .args(args)
            .output()
            .unwrap();
        search.add_text(&format!("{format} stdout"), &output.stdout);
        search.add_text(&format!("{format} stderr"), &output.stderr);
        code = output.status.code().unwrap_or(-1);
        if format == "json" {
            json = serde_json::from_slice(&output.stdout).unwrap();
        }
    }
    search.assert_no_leaks("schema-check reports");
    (code, json)
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|finding| {
            (
                finding["category"].as_str().unwrap_or_default().to_owned(),
                format!(
                    "{} {} {}",
                    finding["side"].as_str().unwrap_or_default(),
                    finding["part"].as_str().unwrap_or_default(),
                    finding["pointer"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect()
}

#[test]
fn a_violation_message_never_quotes_the_tokens_of_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (canary(), canary());
    // `find` answers one resource; a list is a violation whose message
    // quotes the whole instance, tokens included.
    let payload = json!({"data": [
        {"type": "access_token", "id": "1", "attributes": {"name": "a", "token": first}},
        {"type": "access_token", "id": "2", "attributes": {"name": "b", "token": second,
            "note": format!("escaped \"{second}\"")}}
    ]});
    let file = dir.path().join("payload.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&payload).unwrap()).unwrap();
    let (code, report) = reports(
        &[
            "--endpoint",
            "access_tokens.find",
            "--response",
            file.to_str().unwrap(),
            "--status",
            "200",
        ],
        &[first, second],
        dir.path(),
    );
    assert_eq!(code, 1);
    let found = findings(&report);
    assert!(
        found.iter().any(|(category, _)| category == "violation"),
        "the violation is still reported: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(c, at)| c == "leaked_secret" && at.ends_with("/data/1/attributes/token")),
        "{found:?}"
    );
}

#[test]
fn secrets_are_found_in_text_bodies_headers_and_urls_whatever_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::load(&repo_path("cassettes/access-tokens-docs.json")).unwrap();
    let (token, basic_password, signature, session_id, cookie) =
        (canary(), canary(), canary(), canary(), canary());
    let base = cassette.interactions[0].clone();
    let mut planted = Vec::new();
    // A JSON:API token document stored as a text body.
    let mut text = base.clone();
    text.response.body = Body::Text(format!(
        "{{\"data\":{{\"type\":\"access_token\",\"id\":\"9\",\"attributes\":{{\"token\":\"{token}\"}}}}}}"
    ));
    planted.push(("response body /data/attributes/token", text));
    // A Basic credential, a cookie, a presigned URL and a session id.
    let mut headers = base.clone();
    headers.request.headers.set(
        "authorization",
        vec![format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("me:{basic_password}")
            )
        )],
    );
    headers
        .request
        .headers
        .set("cookie", vec![format!("sid={cookie}")]);
    headers.response.body = Body::Json(json!({"data": [
        {"type": "upload_request", "id": "u", "attributes": {
            "url": format!("https://s3.example/f?X-Amz-Date=1&X-Amz-Signature={signature}")}},
        {"type": "session", "id": session_id}
    ]}));
    planted.push(("request headers /authorization/0", headers));
    cassette.interactions = planted.iter().map(|(_, i)| i.clone()).collect();
    let file = dir.path().join("planted.json");
    std::fs::write(&file, cassette.to_bytes()).unwrap();
    let (code, report) = reports(
        &[file.to_str().unwrap()],
        &[token, basic_password, signature, session_id, cookie],
        dir.path(),
    );
    assert_eq!(code, 1);
    let leaks: Vec<String> = findings(&report)
        .into_iter()
        .filter(|(c, _)| c == "leaked_secret")
        .map(|(_, at)| at)
        .collect();
    for wanted in [
        "response body /data/attributes/token",
        "request headers /authorization/0",
        "request headers /cookie/0",
        "response body /data/0/attributes/url",
        "response body /data/1/id",
    ] {
        assert!(leaks.iter().any(|at| at == wanted), "{wanted} in {leaks:?}");
    }
}

#[test]
fn a_placeholder_in_every_form_is_not_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::load(&repo_path("cassettes/access-tokens-docs.json")).unwrap();
    let mut interaction = cassette.interactions[0].clone();
    interaction
        .request
        .headers
        .set("authorization", ["Basic [REDACTED]"]);
    interaction.response.body = Body::Json(json!({"data": [
        {"type": "upload_request", "id": "u", "attributes": {
            "url": "https://s3.example/f?X-Amz-Signature=%5BREDACTED%5D"}},
        {"type": "session", "id": "[REDACTED]"},
        {"type": "item_type", "id": "3", "attributes": {"api_key": "blog_post"}},
        {"type": "role", "id": "4", "attributes": {"can_manage_access_tokens": true}}
    ]}));
    cassette.interactions = vec![interaction];
    let file = dir.path().join("clean.json");
    std::fs::write(&file, cassette.to_bytes()).unwrap();
    let output = Command::cargo_bin("datovcr")
        .unwrap()
        .args(["schema-check", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["leaked_secrets"], 0, "{report}");
}

#[test]
fn no_report_names_a_case_by_a_path_that_holds_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::load(&repo_path("cassettes/access-tokens-docs.json")).unwrap();
    let bearer = canary();
    let mut interaction = cassette.interactions[2].clone();
    interaction.request.path = format!("/access_tokens/{bearer}");
    interaction
        .request
        .headers
        .set("authorization", vec![format!("Bearer {bearer}")]);
    cassette.interactions = vec![interaction];
    let file = dir.path().join("path.json");
    std::fs::write(&file, cassette.to_bytes()).unwrap();
    let (code, report) = reports(&[file.to_str().unwrap()], &[bearer], dir.path());
    assert_eq!(code, 1);
    let leaks: Vec<String> = findings(&report)
        .into_iter()
        .filter(|(c, _)| c == "leaked_secret")
        .map(|(_, at)| at)
        .collect();
    assert!(
        leaks.iter().any(|at| at.starts_with("request path")),
        "{leaks:?}"
    );
}
