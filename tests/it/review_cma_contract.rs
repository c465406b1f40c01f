//! Issue 14's adversarial review: what broke the whole-CMA contract from
//! the outside, through the real binary, now fixed.

use crate::support::{interaction, request};
use datovcr::cassette::Cassette;
use serde_json::{Value, json};

/// `schema-check --format json` on `cassette`: the exit code and the
/// `(interaction, severity, pointer, rule)` of each finding.
fn findings(cassette: &Cassette) -> (i32, Vec<(u64, String, String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.json"), cassette.to_bytes()).unwrap();
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir.path())
        .args(["schema-check", "--format", "json", "c.json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let found = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |key: &str| f[key].as_str().unwrap_or_default().to_owned();
            (
                f["interaction"].as_u64().unwrap(),
                text("severity"),
                text("pointer"),
                text("rule"),
            )
        })
        .collect();
    (output.status.code().unwrap(), found)
}

/// A job's result carries the status its call really answered with. One
/// the call's responses do not document (a redirect, an informational
/// status) was a payload nobody checked; it is a violation at
/// `/data/attributes/status`. Any 2xx stands for the finished job (real
/// results say 201 for a fork that answers 202), and a documented error
/// status with the error envelope is clean.
#[test]
fn a_job_result_with_a_status_its_call_never_answers_is_a_violation() {
    let field = json!({"data": {"type": "field",
        "attributes": {"label": "Title", "field_type": "string", "api_key": "title"}}});
    let error = json!({"data": [{"id": "e1", "type": "api_error",
        "attributes": {"code": "INVALID_FIELD", "details": {}}}]});
    let mut cassette = Cassette::new();
    let recorded = |method: &str, path: &str, body: Option<Value>| {
        let mut request = request(method, path, body);
        request.headers.set("authorization", ["Bearer [REDACTED]"]);
        request
    };
    let statuses: [(u16, Value); 5] = [
        (302, json!({"data": []})),
        (100, json!({})),
        (304, json!({"hello": 1})),
        (422, error),
        (201, json!({"data": []})),
    ];
    for (index, (status, payload)) in statuses.iter().enumerate() {
        let job = format!("job-{index}");
        cassette.interactions.push(interaction(
            recorded("POST", "/item-types/1/fields", Some(field.clone())),
            202,
            json!({"data": {"type": "job", "id": job}}),
        ));
        cassette.interactions.push(interaction(
            recorded("GET", &format!("/job-results/{job}"), None),
            200,
            json!({"data": {"type": "job_result", "id": job,
                "attributes": {"status": status, "payload": payload}}}),
        ));
    }
    let (_, found) = findings(&cassette);
    let at_status: Vec<u64> = found
        .iter()
        .filter(|(_, severity, pointer, rule)| {
            severity == "error" && pointer == "/data/attributes/status" && rule == "status"
        })
        .map(|(index, ..)| *index)
        .collect();
    assert_eq!(at_status, [1, 3, 5], "{found:#?}");
    // The 422's envelope is the error schema's, and is clean.
    assert!(!found.iter().any(|(index, ..)| *index == 7), "{found:#?}");
}
