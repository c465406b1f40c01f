//! Issue 14 loose end: maps of HTTP headers inside JSON bodies (a webhook's
//! custom `headers`, a webhook call's `request_headers` and
//! `response_headers`, an upload request's `request_headers`) are read by
//! every header rule the recorder applies to real headers, the user's
//! `--redact-header NAME` included: when the proxy records, when replay
//! matches and reports a request, and when `schema-check` searches a
//! cassette for leaks (with the names the cassette holds redacted).
//!
//! Variants: the name in another case than the rule's, several names, maps
//! nested in `included` and `meta`, list values, a name redacted on the
//! wire only or in a body map only.

use crate::support::canary::{LeakSearch, leaked_places};
use crate::support::client::send;
use crate::support::process::ServerProcess;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply, random_token};
use crate::support::{interaction, request};
use datovcr::cassette::{Cassette, FieldValue};
use datovcr::redact::{PLACEHOLDER, RedactionRules};
use http::Method;
use serde_json::{Value, json};
use std::path::Path;

fn canary(label: &str) -> String {
    format!("canarymap{label}{}", random_token())
}

/// A webhook create whose custom headers are `headers`.
fn webhook_create(headers: Value) -> Value {
    json!({"data": {"type": "webhook", "attributes": {
        "name": "hook", "url": "https://hooks.example/in", "headers": headers,
        "events": [], "custom_payload": null, "http_basic_user": null,
        "http_basic_password": null, "enabled": true, "payload_api_version": "3",
        "nested_items_in_payload": false, "auto_retry": true}}})
}

/// The webhook as the API answers: its headers echoed, and (as a listing
/// with `include` would) one of its calls, with that call's headers.
fn webhook_answer(headers: &Value, call_request: Value, nested: Value) -> Value {
    json!({"data": {"type": "webhook", "id": "77",
        "attributes": {"name": "hook", "headers": headers}},
        "included": [{"type": "webhook_call", "id": "5",
            "attributes": {"request_headers": call_request, "response_headers": {}}}],
        "meta": {"upload": {"REQUEST_HEADERS": nested}}})
}

/// `--redact-header X-Tenant-Ref --redact-header x-customer`: the proxy
/// records the wire header and every body map entry under those names (any
/// case, list values, nested maps) as placeholders, and leaves the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_redacts_redact_header_names_in_body_header_maps() {
    let [wire, sent_lower, sent_upper, echoed_list, nested] =
        ["wire", "lower", "upper", "list", "nested"].map(canary);
    let sent = json!({"x-tenant-ref": sent_lower, "X-CUSTOMER": sent_upper,
        "X-Source": "datovcr"});
    let answer = webhook_answer(
        &sent,
        json!({"X-Customer": [echoed_list, "second"], "Accept": "*/*"}),
        json!({"X-Tenant-Ref": nested}),
    );
    let reply = serde_json::to_vec(&answer).unwrap();
    let upstream = FakeDato::start(FakeDatoOptions::default().respond_with(move |_| {
        Some(ScriptedReply {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: reply.clone(),
        })
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.redaction = RedactionRules {
            headers: vec!["X-Tenant-Ref".into(), "x-customer".into()],
            ..RedactionRules::default()
        };
    })
    .await;
    let mut headers = api_headers(&canary("bearer"), true);
    headers.push(("x-tenant-ref", wire.clone()));
    let (status, ..) = send(
        &client_for(&upstream),
        Method::POST,
        &format!("{}/webhooks", proxy.uri()),
        &borrowed(&headers),
        serde_json::to_vec(&webhook_create(sent)).unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    proxy.shutdown().await;

    let mut search = LeakSearch::new([&wire, &sent_lower, &sent_upper, &echoed_list, &nested]);
    search.add_dir(dir.path());
    assert!(search.input_count() > 0);
    search.assert_no_leaks("the cassette recorded with --redact-header");
    let cassette: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cassette.json")).unwrap()).unwrap();
    let recorded = &cassette["interactions"][0];
    let request = &recorded["request"]["body"]["json"]["data"]["attributes"]["headers"];
    assert_eq!(
        *request,
        json!({"x-tenant-ref": PLACEHOLDER, "X-CUSTOMER": PLACEHOLDER, "X-Source": "datovcr"})
    );
    let response = &recorded["response"]["body"]["json"];
    assert_eq!(response["data"]["attributes"]["headers"], *request);
    assert_eq!(
        response["included"][0]["attributes"]["request_headers"],
        json!({"X-Customer": [PLACEHOLDER, PLACEHOLDER], "Accept": "*/*"})
    );
    assert_eq!(
        response["meta"]["upload"]["REQUEST_HEADERS"]["X-Tenant-Ref"],
        PLACEHOLDER
    );
}

/// A cassette whose webhook create was recorded with `--redact-header
/// X-Tenant-Ref`: its body map holds the placeholder.
fn recorded_webhook(dir: &Path) -> std::path::PathBuf {
    let mut cassette = Cassette::new();
    let headers = json!({"X-Tenant-Ref": PLACEHOLDER, "X-Source": "datovcr"});
    cassette.interactions.push(interaction(
        request("POST", "/webhooks", Some(webhook_create(headers.clone()))),
        201,
        webhook_answer(&headers, json!({}), json!({})),
    ));
    let path = dir.join("webhooks.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

/// Replay with the rule the cassette was recorded with: a request carrying
/// the live value in its body map (in another case) matches the recorded
/// placeholder, and a request that misses never prints the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_matches_and_hides_redact_header_names_in_body_header_maps() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = recorded_webhook(dir.path());
    let args: Vec<String> = [
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        cassette.to_str().unwrap(),
        "--redact-header",
        "x-tenant-ref",
    ]
    .map(String::from)
    .to_vec();
    let server = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let client =
        crate::support::client::https_client(crate::support::tls::TestPki::new().ca_file());
    let [hit, missed] = ["hit", "missed"].map(canary);
    let headers = api_headers("replay-bearer", true);
    // The rule is given in lowercase; the map spells the name as recorded.
    let body = |value: &str, source: &str| {
        let headers = json!({"X-Tenant-Ref": value, "X-Source": source});
        serde_json::to_vec(&webhook_create(headers)).unwrap()
    };
    let (status, _, answer) = send(
        &client,
        Method::POST,
        &server.url("/webhooks"),
        &borrowed(&headers),
        body(&hit, "datovcr"),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let (status, _, missed_answer) = send(
        &client,
        Method::POST,
        &server.url("/webhooks"),
        &borrowed(&headers),
        body(&missed, "another source"),
    )
    .await;
    let (exit, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
    let missed_answer = String::from_utf8_lossy(&missed_answer).into_owned();
    assert_eq!(status, 599, "{missed_answer}");
    assert!(
        missed_answer.contains("/body/data/attributes/headers/X-Source"),
        "{missed_answer}"
    );
    let mut search = LeakSearch::new([&hit, &missed]);
    search.add_text("the miss answer", missed_answer.as_bytes());
    search.add_text("replay's stderr", stderr.as_bytes());
    search.assert_no_leaks("replay with --redact-header");
}

/// `schema-check` has no `--redact-header`: it reads the names a cassette
/// holds redacted (on the wire or in a body map, in any case) as the
/// recording's rules, and reports the same name in clear in any body map
/// of that cassette as a leak. A name never redacted is not one.
#[test]
fn schema_check_finds_a_redacted_header_name_in_clear_in_body_maps() {
    let [on_wire, in_map, in_list] = ["onwire", "inmap", "inlist"].map(canary);
    let mut cassette = Cassette::new();
    // Recorded with --redact-header X-Tenant-Ref (the wire header) and
    // --redact-header X-Customer (a body map entry).
    let mut first = request(
        "POST",
        "/webhooks",
        Some(webhook_create(
            json!({"X-Customer": PLACEHOLDER, "X-Plain": "kept"}),
        )),
    );
    first
        .headers
        .append("x-tenant-ref", FieldValue::from(PLACEHOLDER));
    let mut second = request("GET", "/webhooks/77", None);
    for recorded in [&mut first, &mut second] {
        recorded
            .headers
            .set("authorization", [format!("Bearer {PLACEHOLDER}")]);
    }
    cassette.interactions.push(interaction(
        first,
        201,
        webhook_answer(&json!({"X-Customer": PLACEHOLDER}), json!({}), json!({})),
    ));
    // A later exchange, edited by hand or recorded without the rules.
    cassette.interactions.push(interaction(
        second,
        200,
        webhook_answer(
            &json!({"x-customer": in_map, "X-Plain": "kept"}),
            json!({"X-TENANT-REF": [in_list]}),
            json!({"X-Tenant-Ref": on_wire}),
        ),
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.json"), cassette.to_bytes()).unwrap();
    let output = assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir.path())
        .args(["schema-check", "--format", "json", "hooks.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let mut search = LeakSearch::new([&on_wire, &in_map, &in_list]);
    search.add_text("schema-check's report", stdout.as_bytes());
    search.assert_no_leaks("schema-check quoting a secret");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let leaks = leaked_places(&report);
    assert_eq!(
        leaks,
        [
            (1, "/data/attributes/headers/x-customer".to_owned()),
            (
                1,
                "/included/0/attributes/request_headers/X-TENANT-REF/0".to_owned()
            ),
            (1, "/meta/upload/REQUEST_HEADERS/X-Tenant-Ref".to_owned()),
        ]
    );
}

/// `replay --on-miss record` without the flags a cassette was recorded
/// with: a name the cassette holds redacted only in a body map is redacted
/// in new episodes' maps too, and the warning names the missing flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_episodes_adopt_names_the_cassette_redacted_in_body_maps() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http().respond_with(
        |request| {
            // The webhook as created: the sent headers echoed.
            let sent: Value = serde_json::from_slice(&request.body).ok()?;
            let answer =
                webhook_answer(&sent["data"]["attributes"]["headers"], json!({}), json!({}));
            Some(ScriptedReply {
                status: 201,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&answer).unwrap(),
            })
        },
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = recorded_webhook(dir.path());
    let args: Vec<String> = [
        "replay",
        "--listen",
        "127.0.0.1:0",
        "--cassette",
        cassette.to_str().unwrap(),
        "--on-miss",
        "record",
        "--upstream",
        &upstream.base_url(),
    ]
    .map(String::from)
    .to_vec();
    let server = ServerProcess::start(dir.path(), &args, &dir.path().join("stderr"));
    let client =
        crate::support::client::https_client(crate::support::tls::TestPki::new().ca_file());
    let live = canary("episode");
    let body = webhook_create(json!({"x-tenant-ref": live, "X-Source": "new"}));
    let (status, _, answer) = send(
        &client,
        Method::POST,
        &server.url("/webhooks"),
        &borrowed(&api_headers("episode-bearer", true)),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    let (exit, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    assert!(
        stderr.contains(
            "was recorded with --redact-header x-tenant-ref, which this run was not given"
        ),
        "{stderr}"
    );
    let episodes = Cassette::load(&cassette).unwrap().interactions;
    assert_eq!(episodes.len(), 2);
    let recorded = serde_json::to_value(&episodes[1]).unwrap();
    for side in ["request", "response"] {
        let headers = recorded[side]["body"]["json"]["data"]["attributes"]["headers"].clone();
        assert_eq!(
            headers,
            json!({"x-tenant-ref": PLACEHOLDER, "X-Source": "new"}),
            "{side}"
        );
    }
    let mut search = LeakSearch::new([&live]);
    search.add_dir(dir.path());
    search.assert_no_leaks("new episodes without the flags");
}
