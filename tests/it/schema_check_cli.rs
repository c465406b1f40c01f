use crate::support::*;
use assert_cmd::Command;
use datovcr::cassette::Cassette;
use serde_json::{Value, json};
use std::path::Path;

fn datovcr() -> Command {
    Command::cargo_bin("datovcr").unwrap()
}

/// A copy of the shipped docs cassette, edited by `edit`.
fn planted(dir: &Path, name: &str, edit: impl FnOnce(&mut Cassette)) -> std::path::PathBuf {
    let mut cassette = Cassette::load(&repo_path("cassettes/access-tokens-docs.json")).unwrap();
    edit(&mut cassette);
    let path = dir.join(name);
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

fn plant_violation(cassette: &mut Cassette) {
    cassette.interactions[0].request.body.as_json_mut().unwrap()["data"]["attributes"]["can_access_cma"] =
        json!("yes");
}

fn plant_token(cassette: &mut Cassette) {
    cassette.interactions[4]
        .response
        .body
        .as_json_mut()
        .unwrap()["data"]["attributes"]["token"] = json!("0123456789abcdef0123456789abcd");
}

#[test]
fn shipped_cassettes_pass_with_the_default_path() {
    let output = datovcr()
        .current_dir(repo_path(""))
        .arg("schema-check")
        .assert()
        .code(0);
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("0 violation(s), 0 leaked secret(s)"),
        "{stdout}"
    );
}

#[test]
fn works_from_any_directory_with_the_built_in_schemas() {
    let dir = tempfile::tempdir().unwrap();
    datovcr()
        .current_dir(dir.path())
        .arg("schema-check")
        .arg(repo_path("cassettes"))
        .assert()
        .code(0);
}

#[test]
fn planted_violation_exits_1_and_names_the_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let path = planted(dir.path(), "bad.json", plant_violation);
    let output = datovcr().arg("schema-check").arg(&path).assert().code(1);
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("#0 POST /access_tokens (access_tokens.create): error: request body /data/attributes/can_access_cma [type]"),
        "{stdout}"
    );
    assert!(stdout.contains("1 violation(s)"), "{stdout}");
}

#[test]
fn planted_unredacted_token_and_bearer_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = planted(dir.path(), "leak.json", |c| {
        plant_token(c);
        c.interactions[2]
            .request
            .headers
            .set("authorization", ["Bearer 0123456789abcdef0123456789abcd"]);
    });
    let output = datovcr().arg("schema-check").arg(&path).assert().code(1);
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("#4 POST /access_tokens/312/regenerate_token"),
        "{stdout}"
    );
    assert!(
        stdout.contains("response body /data/attributes/token [placeholder]"),
        "{stdout}"
    );
    assert!(stdout.contains("#2 GET /access_tokens/312 (access_tokens.find): leaked secret: request headers /authorization/0"), "{stdout}");
    assert!(stdout.contains("2 leaked secret(s)"), "{stdout}");
}

#[test]
fn json_format_lists_every_finding_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = planted(dir.path(), "both.json", |c| {
        plant_violation(c);
        plant_token(c);
    });
    let output = datovcr()
        .args(["schema-check", "--format", "json"])
        .arg(&path)
        .assert()
        .code(1);
    let report: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["file"], path.display().to_string());
    assert_eq!(findings[0]["interaction"], 0);
    assert_eq!(findings[0]["endpoint"], "access_tokens.create");
    assert_eq!(findings[0]["side"], "request");
    assert_eq!(findings[0]["pointer"], "/data/attributes/can_access_cma");
    assert_eq!(findings[0]["rule"], "type");
    assert_eq!(findings[0]["severity"], "error");
    assert_eq!(findings[1]["category"], "leaked_secret");
    assert_eq!(report["summary"]["exit_code"], 1);
    assert_eq!(report["summary"]["interactions"], 7);
}

#[test]
fn junit_format_is_well_formed_with_one_testcase_per_interaction() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path(), "a-bad.json", plant_violation);
    planted(dir.path(), "b-off-contract.json", |c| {
        let mut extra = c.interactions[1].clone();
        extra.request.path = "/account".into();
        c.interactions.push(extra);
    });
    let output = datovcr()
        .args(["schema-check", "--format", "junit"])
        .arg(dir.path())
        .assert()
        .code(1);
    let xml = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 15);
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0]
            .text()
            .unwrap()
            .contains("/data/attributes/can_access_cma")
    );
    let skipped: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "the /account request is not under contract"
    );
    assert_eq!(root.attribute("failures"), Some("1"));
}

#[test]
fn drift_and_off_contract_requests_do_not_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = planted(dir.path(), "drift.json", |c| {
        c.interactions[2].response.body.as_json_mut().unwrap()["data"]["attributes"]["expires_at"] =
            json!(null);
        let mut extra = c.interactions[1].clone();
        extra.request.path = "/account".into();
        c.interactions.push(extra);
    });
    let output = datovcr().arg("schema-check").arg(&path).assert().code(0);
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("warning (drift): response body /data/attributes/expires_at"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#7 GET /account: not under contract"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 drift warning(s), 1 not under contract"),
        "{stdout}"
    );
}

#[test]
fn single_request_and_response_payloads_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("create.json");
    std::fs::write(&good, serde_json::to_vec(&create_body()).unwrap()).unwrap();
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.create",
            "--request",
        ])
        .arg(&good)
        .assert()
        .code(0);

    let mut bad_body = create_body();
    bad_body["data"]["type"] = json!("role");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&bad_body).unwrap()).unwrap();
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.create",
            "--request",
        ])
        .arg(&bad)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("request body /data/type [const]"));

    let response = dir.path().join("response.json");
    std::fs::write(
        &response,
        serde_json::to_vec(&json!({"data": token_resource("1", None)})).unwrap(),
    )
    .unwrap();
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.find",
            "--status",
            "200",
            "--response",
        ])
        .arg(&response)
        .assert()
        .code(0);
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.find",
            "--status",
            "404",
            "--response",
        ])
        .arg(&response)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("response body /data [type]"));

    let leaky = dir.path().join("leaky.json");
    std::fs::write(
        &leaky,
        serde_json::to_vec(&json!({"data": token_resource("1", Some("deadbeef"))})).unwrap(),
    )
    .unwrap();
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.regenerate_token",
            "--status",
            "200",
            "--response",
        ])
        .arg(&leaky)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("leaked secret"));
}

#[test]
fn usage_io_and_parse_errors_exit_2_with_a_named_input() {
    let dir = tempfile::tempdir().unwrap();
    // clap usage errors
    datovcr()
        .args(["schema-check", "--status", "200"])
        .assert()
        .code(2);
    datovcr()
        .args(["schema-check", "--format", "xml"])
        .assert()
        .code(2);
    // missing path
    datovcr()
        .args(["schema-check", "/nonexistent/cassette.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent/cassette.json"));
    // no default folder
    datovcr()
        .current_dir(dir.path())
        .arg("schema-check")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no cassettes/ folder"));
    // unknown endpoint
    let body = dir.path().join("b.json");
    std::fs::write(&body, "{}").unwrap();
    datovcr()
        .args([
            "schema-check",
            "--endpoint",
            "access_tokens.nope",
            "--request",
        ])
        .arg(&body)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "unknown endpoint `access_tokens.nope`",
        ));
    // a cassette that is not JSON: the others are still checked, the exit is 2
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"version\": 1,").unwrap();
    datovcr()
        .arg("schema-check")
        .arg(&broken)
        .arg(repo_path("cassettes"))
        .assert()
        .code(2)
        .stdout(predicates::str::contains(format!(
            "error: cassette {}:1:",
            broken.display()
        )))
        .stdout(predicates::str::contains(
            "checked 12 interaction(s) in 3 file(s)",
        ));
}

#[test]
fn schemas_flag_reads_a_folder_and_names_a_malformed_file() {
    datovcr()
        .args(["schema-check", "--schemas"])
        .arg(repo_path("schemas"))
        .arg(repo_path("cassettes"))
        .assert()
        .code(0);

    let dir = tempfile::tempdir().unwrap();
    copy_schemas(dir.path());
    let broken = dir.path().join("error-response.json");
    std::fs::write(&broken, "{ \"$id\": ").unwrap();
    datovcr()
        .args(["schema-check", "--schemas"])
        .arg(dir.path())
        .arg(repo_path("cassettes"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "schema {}: not valid JSON at line 1",
            broken.display()
        )));

    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    datovcr()
        .args(["schema-check", "--schemas"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("manifest.json: missing"));
}

#[test]
fn schemas_folder_with_a_tightened_rule_changes_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    copy_schemas(dir.path());
    // A contract that documents only 201 for create: the docs cassette's 200 must now fail.
    let manifest_path = dir.path().join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replacen(
            "\"success_statuses\": [200, 201]",
            "\"success_statuses\": [201]",
            1,
        ),
    )
    .unwrap();
    datovcr()
        .args(["schema-check", "--schemas"])
        .arg(dir.path())
        .arg(repo_path("cassettes"))
        .assert()
        .code(1)
        .stdout(predicates::str::contains("response status (root) [status]"));
}

#[test]
fn hostile_schema_folders_name_the_file_and_never_panic() {
    let cases: [(&str, &[u8], &str); 5] = [
        ("manifest.json", br#"{"version": 9, "headers": {"request": "a", "request_with_body": "b", "response": "c"}, "endpoints": []}"#, "manifest version 9 is not supported"),
        ("manifest.json", br#"{"version": 1, "headers": [], "endpoints": {}}"#, "not a valid manifest"),
        ("access-token.json", b"{\"$id\": \"\xff\"}", "cannot read"),
        ("access-token.json", br#"{"type": "object"}"#, "has no `$id`"),
        ("no-query.json", br#"{"$id": "https://datovcr.invalid/schemas/no-query.json", "type": 12}"#, "not a valid JSON Schema"),
    ];
    for (file, content, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_schemas(dir.path());
        std::fs::write(dir.path().join(file), content).unwrap();
        let out = datovcr()
            .args(["schema-check", "--schemas"])
            .arg(dir.path())
            .arg(repo_path("cassettes"))
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(file), "{file}: {stderr}");
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains(datovcr::panic_report::MARK),
            "{stderr}"
        );
    }
}
