//! The contract on real exchanges: the 352 real exchanges of 2022
//! (../shared/real-traffic), jobs followed from their start to their result
//! (in a cassette and through the proxy), and the shipped example cassette
//! of non-token resources.

use crate::contract_cma::{check, errors, job};
use crate::support::*;
use datovcr::cassette::{Body, Cassette, Interaction};
use datovcr::contract::{ContractSet, Part, Side};
use serde_json::{Value, json};

/// A document's `data`, or the `id`/`type` of a resource object.
fn json_api_member(pointer: &str) -> bool {
    let (parent, name) = pointer.rsplit_once('/').unwrap();
    let mut tokens = parent.rsplit('/');
    let last = tokens.next().unwrap_or_default();
    match name {
        "data" => parent.is_empty(),
        "id" | "type" => {
            last == "data"
                || (last.parse::<u64>().is_ok()
                    && matches!(tokens.next(), Some("data" | "included")))
        }
        _ => false,
    }
}

fn real_traffic_dir() -> std::path::PathBuf {
    repo_path("../shared/real-traffic/js-datocms-client")
}

/// `(cassette file name, interaction) -> host` from the real traffic's hosts.tsv.
fn real_traffic_hosts() -> std::collections::HashMap<(String, u64), String> {
    let text = std::fs::read_to_string(repo_path("../shared/real-traffic/hosts.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let file = fields[0].rsplit('/').next().unwrap().to_owned();
            ((file, fields[1].parse().unwrap()), fields[2].to_owned())
        })
        .collect()
}

fn schema_check_json(paths: &[&std::path::Path]) -> (Option<i32>, Value) {
    let out = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
        .args(["schema-check", "--format", "json"])
        .args(paths)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

/// The 352 real exchanges of 2022: every CMA one is routed, the account API
/// is not under contract, and no error finding remains. What remains is
/// drift (docs/contract.md, "The real traffic of 2022", explains each kind)
/// and one "not recorded" note per CMA request, whose headers were not kept.
#[test]
fn real_traffic_is_all_routed_and_has_no_error_finding() {
    let hosts = real_traffic_hosts();
    let (code, report) = schema_check_json(&[&real_traffic_dir()]);
    assert_eq!(report["summary"]["interactions"], 352);
    assert_eq!(
        report["summary"]["violations"], 0,
        "{:#}",
        report["findings"]
    );
    assert_eq!(report["summary"]["leaked_secrets"], 0);
    assert_eq!(code, Some(0));

    let key = |value: &Value| {
        let file = value["file"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        (file, value["interaction"].as_u64().unwrap())
    };
    let unrouted: Vec<&Value> = report["not_under_contract"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    for case in &unrouted {
        assert_eq!(hosts[&key(case)], "account-api.datocms.com", "{case}");
    }
    let cma = hosts
        .values()
        .filter(|h| *h == "site-api.datocms.com")
        .count();
    assert_eq!(unrouted.len(), hosts.len() - cma);
    assert!(cma > 250, "{cma}");

    let findings = report["findings"].as_array().unwrap();
    let mut notes = 0;
    let mut endpoints = std::collections::BTreeSet::new();
    for finding in findings {
        assert_eq!(hosts[&key(finding)], "site-api.datocms.com");
        endpoints.insert(finding["endpoint"].as_str().unwrap().to_owned());
        match finding["category"].as_str().unwrap() {
            "not_recorded" => {
                assert_eq!(finding["part"], "headers");
                notes += 1;
            }
            "drift" => {
                assert_eq!(finding["side"], "response", "{finding}");
                let pointer = finding["pointer"].as_str().unwrap();
                let rule = finding["rule"].as_str().unwrap();
                assert!(
                    ["required", "additionalProperties"].contains(&rule),
                    "{finding}"
                );
                // JSON:API's own members are never drift.
                assert!(!json_api_member(pointer), "{finding}");
            }
            other => panic!("unexpected {other}: {finding}"),
        }
    }
    assert_eq!(
        notes, cma,
        "one note per CMA request, whose headers were not recorded"
    );
    for overlay in [
        "items.batch_publish",
        "items.batch_unpublish",
        "items.batch_destroy",
        "environments.promote",
        "uploads.create",
    ] {
        assert!(
            endpoints.contains(overlay),
            "{overlay} is exercised: {endpoints:?}"
        );
    }
}

/// The same real traffic, broken in ways the contract must catch: the clean
/// report above is not the check looking away.
#[test]
fn real_traffic_broken_by_hand_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let source = real_traffic_dir().join("site-api-item-batch-publishunpublish-works.json");
    let mut cassette: Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();
    let interactions = cassette["interactions"].as_array_mut().unwrap();
    // #2 is the result of the field create job of #1: its field is a record.
    interactions[2]["response"]["body"]["json"]["data"]["attributes"]["payload"]["data"]["type"] =
        json!("item");
    // #3 creates a record: its id becomes a number.
    interactions[3]["response"]["body"]["json"]["data"]["id"] = json!(112935566);
    // #4 publishes in batch: without the ids.
    interactions[4]["request"]
        .as_object_mut()
        .unwrap()
        .remove("query");
    // #5 is the result of the batch publish job: a count as text.
    interactions[5]["response"]["body"]["json"]["data"]["attributes"]["payload"]["meta"]["successful"] =
        json!("1");
    // #6 finds the record: its meta status is not one of the documented.
    interactions[6]["response"]["body"]["json"]["data"]["meta"]["status"] = json!("live");
    // #7 unpublishes in batch: answered 200.
    interactions[7]["response"]["status"] = json!(200);
    let path = dir.path().join("broken.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cassette).unwrap()).unwrap();

    let (code, report) = schema_check_json(&[&path]);
    assert_eq!(code, Some(1));
    let mut errors: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            format!(
                "#{} {} {} {} {} {}",
                f["interaction"],
                f["endpoint"].as_str().unwrap(),
                f["side"].as_str().unwrap(),
                f["part"].as_str().unwrap(),
                f["pointer"].as_str().unwrap(),
                f["rule"].as_str().unwrap()
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "#2 job_results.find response body /data/attributes/payload/data/type const",
            "#3 items.create response body /data/id type",
            "#4 items.batch_publish request query /filter required",
            "#5 job_results.find response body /data/attributes/payload/meta/successful type",
            "#6 items.find response body /data/meta/status enum",
            "#7 items.batch_unpublish response status  status",
        ]
    );
}

/// `(request, status, response body)` of interaction `index` of a real cassette.
fn real_exchange(file: &str, index: usize) -> (Value, u16, Value) {
    let cassette: Value =
        serde_json::from_slice(&std::fs::read(real_traffic_dir().join(file)).unwrap()).unwrap();
    let exchange = &cassette["interactions"][index];
    (
        exchange["request"].clone(),
        exchange["response"]["status"].as_u64().unwrap() as u16,
        exchange["response"]["body"]["json"].clone(),
    )
}

fn errors_of(contract: &ContractSet, exchange: &Interaction) -> Vec<(Side, Part, String, String)> {
    errors(&contract.check_interaction(exchange).expect("routed").1)
}

fn job_result(job_id: &str, status: u16, payload: Value) -> Interaction {
    interaction(
        request("GET", &format!("/job-results/{job_id}"), None),
        200,
        json!({"data": {"id": job_id, "type": "job_result",
            "attributes": {"status": status, "payload": payload}}}),
    )
}

/// A job's result is checked against the job schema of the call that
/// started it (its error schema when it failed), across the exchanges one
/// contract checks; a 404 while it runs is fine, an unknown job is not checked.
#[test]
fn a_job_result_is_checked_against_the_call_that_started_it() {
    // A field create of the real traffic: 202, then its result.
    let (create, _, _) = real_exchange("site-api-item-batch-publishunpublish-works.json", 1);
    let (_, _, result) = real_exchange("site-api-item-batch-publishunpublish-works.json", 2);
    let field = result["data"]["attributes"]["payload"].clone();
    assert_eq!(field["data"]["type"], "field");
    let contract = ContractSet::embedded().unwrap();
    let start = |job_id: &str| {
        let exchange = interaction(
            request(
                "POST",
                "/item-types/1869243/fields",
                Some(create["body"]["json"].clone()),
            ),
            202,
            job(json!(job_id)),
        );
        assert_eq!(errors_of(&contract, &exchange), vec![]);
    };
    let payload_error = |pointer: &str, rule: &str| {
        vec![(
            Side::Response,
            Part::Body,
            format!("/data/attributes/payload{pointer}"),
            rule.to_owned(),
        )]
    };

    start("j1");
    assert_eq!(
        errors_of(&contract, &job_result("j1", 201, field.clone())),
        vec![]
    );

    start("j2");
    let mut wrong = field.clone();
    wrong["data"]["type"] = json!("item");
    let (_, findings) = contract
        .check_interaction(&job_result("j2", 201, wrong.clone()))
        .unwrap();
    assert_eq!(errors(&findings), payload_error("/data/type", "const"));
    assert!(
        findings[0]
            .message
            .ends_with("(the result of job j2, which fields.create started)")
    );

    // Running: 404 with the error envelope, then the result, still checked.
    start("j3");
    let running = interaction(
        request("GET", "/job-results/j3", None),
        404,
        json!({"data": [{"id": "e1", "type": "api_error",
            "attributes": {"code": "NOT_FOUND", "details": {}}}]}),
    );
    assert_eq!(errors_of(&contract, &running), vec![]);
    let mut no_id = field.clone();
    no_id["data"].as_object_mut().unwrap().remove("id");
    assert_eq!(
        errors_of(&contract, &job_result("j3", 201, no_id.clone())),
        payload_error("/data/id", "required")
    );
    // Finished once: the same result again is not tied to the call any more.
    assert_eq!(
        errors_of(&contract, &job_result("j3", 201, no_id.clone())),
        vec![]
    );
    // A job nobody saw starting is not checked.
    assert_eq!(
        errors_of(&contract, &job_result("unknown", 201, json!({"any": 1}))),
        vec![]
    );

    // A failed job carries the error document of the call.
    start("j4");
    let failure = json!({"data": [{"id": "e2", "type": "api_error",
        "attributes": {"code": "INVALID_FIELD", "details": {"field": "api_key"}}}]});
    assert_eq!(
        errors_of(&contract, &job_result("j4", 422, failure)),
        vec![]
    );
    start("j5");
    assert_eq!(
        errors_of(&contract, &job_result("j5", 422, json!({"errors": []}))),
        payload_error("/data", "required")
    );

    // The 2022 batch calls of the overlay have their job schema too.
    let batch = interaction(
        request("PUT", "/items/publish?filter[ids]=1", Some(json!({}))),
        202,
        job(json!("jb")),
    );
    assert_eq!(errors_of(&contract, &batch), vec![]);
    assert_eq!(
        errors_of(
            &contract,
            &job_result(
                "jb",
                200,
                json!({"data": [], "meta": {"successful": "1", "failed": 0}})
            )
        ),
        payload_error("/meta/successful", "type")
    );
}

/// Through `datovcr proxy`: the job started by one exchange is checked
/// when a later exchange of the same run returns its result.
#[tokio::test]
async fn the_proxy_checks_a_job_result_against_the_call_that_started_it() {
    use crate::support::upstream::{CapturedRequest, FakeDato, FakeDatoOptions, ScriptedReply};
    use hyper::Method;
    let (create, _, _) = real_exchange("site-api-item-batch-publishunpublish-works.json", 1);
    let (_, _, result) = real_exchange("site-api-item-batch-publishunpublish-works.json", 2);
    let mut wrong = result.clone();
    wrong["data"]["id"] = json!("5f0c2b1a9d8e7f6a5b4c3d2e");
    wrong["data"]["attributes"]["payload"]["data"]["attributes"]["position"] = json!("first");
    let reply = |status: u16, body: &Value| ScriptedReply {
        status,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: serde_json::to_vec(body).unwrap(),
    };
    let (good, bad) = (result.clone(), wrong.clone());
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(
        move |request: &CapturedRequest| match (
            request.method.as_str(),
            request.path_and_query.as_str(),
        ) {
            ("POST", "/item-types/1869243/fields") => {
                let job_id = if request.header("x-case") == Some("bad") {
                    "5f0c2b1a9d8e7f6a5b4c3d2e"
                } else {
                    "55a7918ed04f380052bf8e9c"
                };
                Some(reply(202, &json!({"data": {"id": job_id, "type": "job"}})))
            }
            ("GET", "/job-results/55a7918ed04f380052bf8e9c") => Some(reply(200, &good)),
            ("GET", "/job-results/5f0c2b1a9d8e7f6a5b4c3d2e") => Some(reply(200, &bad)),
            _ => None,
        },
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = crate::support::proxy::start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = crate::support::proxy::client_for(&upstream);
    let body = serde_json::to_vec(&create["body"]["json"]).unwrap();
    let mut violations = Vec::new();
    for case in ["good", "bad"] {
        let mut headers = crate::support::proxy::api_headers("bearer-abcdefgh", true);
        headers.push(("x-case", case.to_owned()));
        let (status, response_headers, _) = crate::support::client::send(
            &client,
            Method::POST,
            &format!("{}/item-types/1869243/fields", proxy.uri()),
            &crate::support::proxy::borrowed(&headers),
            body.clone(),
        )
        .await;
        assert_eq!(status, 202);
        assert!(response_headers.get("x-datovcr-violations").is_none());
        let job_id = if case == "bad" {
            "5f0c2b1a9d8e7f6a5b4c3d2e"
        } else {
            "55a7918ed04f380052bf8e9c"
        };
        let (status, response_headers, _) = crate::support::client::send(
            &client,
            Method::GET,
            &format!("{}/job-results/{job_id}", proxy.uri()),
            &crate::support::proxy::borrowed(&crate::support::proxy::api_headers(
                "bearer-abcdefgh",
                false,
            )),
            "",
        )
        .await;
        assert_eq!(status, 200);
        violations.push(
            response_headers
                .get("x-datovcr-violations")
                .map(|value| value.to_str().unwrap().to_owned()),
        );
    }
    proxy.shutdown().await;
    assert_eq!(
        violations,
        [
            None,
            Some(
                "1; response body /data/attributes/payload/data/attributes/position [type]"
                    .to_owned()
            )
        ]
    );
}

/// The shipped example cassette of non-token resources (an item create, an
/// item-type list, an upload's job polled to completion) passes
/// `schema-check` without a single finding.
#[test]
fn the_example_cma_cassette_passes_schema_check_without_findings() {
    let (code, report) = schema_check_json(&[&repo_path("cassettes/cma-docs.json")]);
    assert_eq!(code, Some(0));
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["summary"]["interactions"], 5);
    assert_eq!(report["not_under_contract"], json!([]));
    let cassette = Cassette::load(&repo_path("cassettes/cma-docs.json")).unwrap();
    let ids: Vec<String> = cassette
        .interactions
        .iter()
        .map(|exchange| check(exchange).0)
        .collect();
    assert_eq!(
        ids,
        [
            "items.create",
            "item_types.list",
            "uploads.create",
            "job_results.find",
            "job_results.find"
        ]
    );
    // The job's payload is checked against uploads.create's job schema: a
    // broken one in the same cassette fails.
    let dir = tempfile::tempdir().unwrap();
    let mut broken = cassette.clone();
    broken.interactions[4].response.body.as_json_mut().unwrap()["data"]["attributes"]["payload"]
        ["data"]["attributes"]["size"] = json!("444");
    let path = dir.path().join("broken.json");
    std::fs::write(&path, broken.to_bytes()).unwrap();
    let (code, report) = schema_check_json(&[&path]);
    assert_eq!(code, Some(1));
    assert_eq!(
        report["findings"][0]["pointer"],
        "/data/attributes/payload/data/attributes/size"
    );
}

/// `datovcr replay --check` serves the example cassette from the shipped
/// cassettes folder: the documentation's item create, the model list, and
/// the upload's job, 404 while it runs and then its result, all clean.
#[tokio::test]
async fn replay_serves_the_example_cma_cassette_with_no_violation() {
    use crate::support::process::ServerProcess;
    use hyper::Method;
    let work = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["replay", "--listen", "127.0.0.1:0", "--check", "--cassette"]
        .iter()
        .map(|s| s.to_string())
        .chain([repo_path("cassettes").display().to_string()])
        .collect();
    let server = ServerProcess::start(work.path(), &args, &work.path().join("replay.stderr"));
    let pki = crate::support::tls::TestPki::new();
    let client = crate::support::client::https_client(pki.ca_file());
    let cassette = Cassette::load(&repo_path("cassettes/cma-docs.json")).unwrap();
    let headers = [
        ("authorization", "Bearer YOUR-API-TOKEN"),
        ("accept", "application/json"),
        ("x-api-version", "3"),
        ("content-type", "application/vnd.api+json"),
    ];
    for (index, expected_status) in [(0, 201), (1, 200), (2, 202), (3, 404), (4, 200)] {
        let recorded = &cassette.interactions[index];
        let body = match &recorded.request.body {
            Body::Json(json) => serde_json::to_vec(json).unwrap(),
            _ => Vec::new(),
        };
        let headers = if body.is_empty() {
            &headers[..3]
        } else {
            &headers[..]
        };
        let (status, response_headers, response_body) = crate::support::client::send(
            &client,
            Method::from_bytes(recorded.request.method.as_bytes()).unwrap(),
            &server.url(&recorded.request.path),
            headers,
            body,
        )
        .await;
        assert_eq!(status.as_u16(), expected_status, "#{index}");
        assert!(
            response_headers.get("x-datovcr-violations").is_none(),
            "#{index}: {:?}",
            response_headers.get("x-datovcr-violations")
        );
        let Body::Json(recorded_body) = &recorded.response.body else {
            panic!("JSON bodies");
        };
        assert_eq!(
            &serde_json::from_slice::<Value>(&response_body).unwrap(),
            recorded_body,
            "#{index}"
        );
    }
    let (exit, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
    assert!(
        stderr.contains("5 served, 0 miss(es), 0 forwarded, 0 violation(s)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("violation:") && !stderr.contains("drift"),
        "{stderr}"
    );
}
