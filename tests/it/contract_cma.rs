//! The whole CMA under contract at run time: the generated contract
//! (schemas/cma/) loaded under the hand-written overlay, its per-status
//! responses ("no body", exact statuses over classes), optional bodies,
//! query reading, header rules in words, and the real traffic of
//! ../shared/real-traffic.

use crate::support::*;
use datovcr::cassette::{Body, Cassette, Headers, Interaction, RecordedResponse};
use datovcr::contract::{Category, ContractSet, Finding, Part, Side};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn contract() -> &'static ContractSet {
    static CONTRACT: OnceLock<ContractSet> = OnceLock::new();
    CONTRACT.get_or_init(|| ContractSet::embedded().expect("built-in contract loads"))
}

/// `(endpoint id, findings)` of an interaction, which must be routed.
fn check(interaction: &Interaction) -> (String, Vec<Finding>) {
    let (endpoint, findings) = contract()
        .check_interaction(interaction)
        .unwrap_or_else(|| {
            panic!(
                "{} {} is not routed",
                interaction.request.method, interaction.request.path
            )
        });
    (endpoint.id.clone(), findings)
}

fn errors(findings: &[Finding]) -> Vec<(Side, Part, String, String)> {
    findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| (f.side, f.part, f.pointer.clone(), f.rule.clone()))
        .collect()
}

fn response(status: u16, headers: Headers, body: Body) -> RecordedResponse {
    RecordedResponse {
        status,
        headers,
        body,
    }
}

fn job(id: Value) -> Value {
    json!({"data": {"id": id, "type": "job"}})
}

#[test]
fn cma_paths_route_to_their_generated_endpoints_and_the_account_api_does_not() {
    for (method, path, id) in [
        ("GET", "/items", "items.list"),
        ("POST", "/items", "items.create"),
        ("GET", "/items/12", "items.find"),
        ("PUT", "/items/12/publish", "items.publish"),
        ("GET", "/item-types", "item_types.list"),
        ("POST", "/item-types/7/fields", "fields.create"),
        ("POST", "/environments/main/fork", "environments.fork"),
        ("GET", "/job-results/5f3", "job_results.find"),
        (
            "POST",
            "/build-triggers/9/trigger",
            "build_triggers.trigger",
        ),
        ("GET", "/users/me", "users.find_me"),
        ("GET", "/users/42", "users.find"),
        ("GET", "/site", "site.find"),
        ("GET", "/access_tokens/312", "access_tokens.find"),
    ] {
        let endpoint = contract()
            .route(method, path)
            .unwrap_or_else(|| panic!("{method} {path}"));
        assert_eq!(endpoint.id, id, "{method} {path}");
    }
    for (method, path) in [
        ("GET", "/account"),
        ("PUT", "/account"),
        ("GET", "/sites"),
        ("GET", "/item_types"),
        ("PATCH", "/items/12"),
        ("GET", "/items/12/publish/now"),
    ] {
        assert!(
            contract().route(method, path).is_none(),
            "{method} {path} is not under contract"
        );
    }
}

#[test]
fn a_job_answer_is_checked_against_the_202_schema_and_a_direct_answer_against_2xx() {
    let body = json!({"data": {"type": "field", "attributes": {
        "label": "Title", "field_type": "string", "api_key": "title",
        "validators": {}, "appearance": {"editor": "single_line", "parameters": {}, "addons": []}
    }}});
    let create = || request("POST", "/item-types/7/fields", Some(body.clone()));
    let (id, findings) = check(&interaction(create(), 202, job(json!("5f3a"))));
    assert_eq!(id, "fields.create");
    assert_eq!(errors(&findings), vec![], "{findings:?}");

    let (_, findings) = check(&interaction(create(), 202, job(json!(12))));
    assert_eq!(
        errors(&findings),
        vec![(Side::Response, Part::Body, "/data/id".into(), "type".into())]
    );
    // A job is not what a 200 answers with: that is the finished field.
    let (_, findings) = check(&interaction(create(), 200, job(json!("5f3a"))));
    assert!(
        errors(&findings).contains(&(
            Side::Response,
            Part::Body,
            "/data/type".into(),
            "const".into()
        )),
        "{findings:?}"
    );
    // 202 is not documented for an endpoint without a job.
    let (_, findings) = check(&interaction(
        request("GET", "/item-types", None),
        202,
        job(json!("5f3a")),
    ));
    assert!(errors(&findings).contains(&(
        Side::Response,
        Part::Status,
        String::new(),
        "status".into()
    )));
}

#[test]
fn a_trigger_answers_204_with_no_body_and_no_content_type() {
    let trigger = || request("POST", "/build-triggers/9/trigger", None);
    let mut exchange = interaction(trigger(), 204, json!(null));
    exchange.response = response(204, Headers::new(), Body::Empty);
    let (id, findings) = check(&exchange);
    assert_eq!(id, "build_triggers.trigger");
    assert_eq!(findings, vec![]);

    // A body where none is documented, whatever its headers.
    exchange.response = response(
        204,
        json_response_headers(),
        Body::Json(json!({"data": null})),
    );
    assert_eq!(
        errors(&check(&exchange).1),
        vec![(Side::Response, Part::Body, String::new(), "no-body".into())]
    );
    // 200 is not a status a trigger answers with.
    exchange.response = response(200, Headers::new(), Body::Empty);
    assert_eq!(
        errors(&check(&exchange).1),
        vec![(Side::Response, Part::Status, String::new(), "status".into())]
    );
    // A request body to an endpoint that takes none.
    let mut with_body = interaction(trigger(), 204, json!(null));
    with_body.response = response(204, Headers::new(), Body::Empty);
    with_body.request.body = Body::Json(json!({"data": {}}));
    assert_eq!(
        errors(&check(&with_body).1),
        vec![(Side::Request, Part::Body, String::new(), "no-body".into())]
    );
}

#[test]
fn an_optional_body_may_be_left_out_but_is_checked_when_sent() {
    let item = contract_example_item();
    let publish = |body: Option<Value>| {
        interaction(
            request("PUT", "/items/12/publish", body),
            200,
            json!({"data": item}),
        )
    };
    let (id, findings) = check(&publish(None));
    assert_eq!(id, "items.publish");
    assert_eq!(errors(&findings), vec![], "{findings:?}");

    let selective = json!({"data": {"type": "selective_publish_operation", "attributes": {
        "content_in_locales": ["en"], "non_localized_content": true}}});
    assert_eq!(errors(&check(&publish(Some(selective.clone()))).1), vec![]);

    let mut wrong = selective;
    wrong["data"]["attributes"]["non_localized_content"] = json!("yes");
    let findings = check(&publish(Some(wrong))).1;
    assert!(
        findings
            .iter()
            .any(|f| f.is_error() && f.side == Side::Request && f.part == Part::Body),
        "{findings:?}"
    );
}

/// A record as the API answers with one, every documented key present.
fn contract_example_item() -> Value {
    json!({
        "id": "12", "type": "item",
        "attributes": {"title": "Hello"},
        "relationships": {
            "item_type": {"data": {"type": "item_type", "id": "7"}},
            "creator": {"data": {"type": "account", "id": "1"}}
        },
        "meta": {
            "created_at": "2022-03-01T15:48:06.000Z", "updated_at": "2022-03-01T15:48:06.000Z",
            "published_at": null, "first_published_at": null, "publication_scheduled_at": null,
            "unpublishing_scheduled_at": null, "status": "draft", "is_valid": true,
            "is_current_version_valid": true, "is_published_version_valid": null,
            "current_version": "abc", "stage": null, "has_children": null
        }
    })
}

#[test]
fn requests_recorded_without_headers_get_a_note_not_violations() {
    let mut exchange = interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": []}),
    );
    exchange.request.headers = Headers::new();
    let (_, findings) = check(&exchange);
    assert_eq!(errors(&findings), vec![]);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].category, Category::NotRecorded);
    assert_eq!(findings[0].part, Part::Headers);
    assert!(!findings[0].is_error());

    // One header recorded is a recording with headers: the rules apply.
    exchange.request.headers = [("accept", "application/json")].into_iter().collect();
    let rules: Vec<String> = errors(&check(&exchange).1)
        .into_iter()
        .map(|(_, _, pointer, rule)| format!("{pointer} {rule}"))
        .collect();
    assert_eq!(
        rules,
        ["/x-api-version required", "/authorization required"]
    );
}

/// `--schemas DIR` reads the generated contract from the folder's `cma/`
/// too: a tightened generated rule changes the verdict, and a broken
/// generated file is named.
#[test]
fn a_schemas_folder_brings_its_own_generated_contract() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas");
    copy_schemas(&schemas);
    let mut cassette = Cassette::new();
    let body = json!({"data": {"type": "field", "attributes": {
        "label": "Title", "field_type": "string", "api_key": "title",
        "validators": {}, "appearance": {"editor": "single_line", "parameters": {}, "addons": []}
    }}});
    let mut exchange = interaction(
        request("POST", "/item-types/7/fields", Some(body)),
        202,
        job(json!("5f3a")),
    );
    exchange
        .request
        .headers
        .set("authorization", ["Bearer [REDACTED]"]);
    cassette.interactions.push(exchange);
    let cassette_path = dir.path().join("jobs.json");
    std::fs::write(&cassette_path, cassette.to_bytes()).unwrap();
    let run = || {
        assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
            .args(["schema-check", "--format", "json", "--schemas"])
            .arg(&schemas)
            .arg(&cassette_path)
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let job_file = schemas.join("cma/job.json");
    let text = std::fs::read_to_string(&job_file).unwrap();
    std::fs::write(
        &job_file,
        text.replace("\"const\": \"job\"", "\"const\": \"task\""),
    )
    .unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["findings"][0]["pointer"], "/data/type");
    assert_eq!(report["findings"][0]["rule"], "const");
    assert_eq!(report["findings"][0]["endpoint"], "fields.create");

    std::fs::write(&job_file, "{\"$id\": ").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("schema {}: not valid JSON", job_file.display())),
        "{stderr}"
    );
}

/// Query findings of a request, as `pointer rule`.
fn query_errors(method: &str, path_and_query: &str) -> Vec<String> {
    let (_, findings) = check(&interaction(
        request(method, path_and_query, None),
        200,
        json!({"data": []}),
    ));
    findings
        .iter()
        .filter(|f| f.is_error() && f.part == Part::Query)
        .map(|f| format!("{} {}", f.pointer, f.rule))
        .collect()
}

#[test]
fn bracketed_query_keys_nest_and_take_the_schemas_types() {
    for query in [
        "/items?filter[type]=1869250&page[limit]=500",
        "/items?filter%5Btype%5D=12&page%5Boffset%5D=0&page%5Blimit%5D=10&order_by=title_ASC&version=current&locale=en&nested=true",
        "/items?filter[ids]=12,31&nested=false",
        "/items?filter[fields][title][eq]=Hello&filter[type]=article",
        "/items/12?nested=true",
        "/uploads?page[limit]=500",
        "/site?include=item_types,item_types.fields",
        "/site?include=item_types&include=item_types.fields",
        "/build-events?page[offset]=20&filter[fields][event_type][eq]=response_success",
        "/access_tokens",
    ] {
        assert_eq!(query_errors("GET", query), Vec::<String>::new(), "{query}");
    }
    for (method, query) in [
        (
            "POST",
            "/environments/main/fork?immediate_return=true&fast=false",
        ),
        (
            "DELETE",
            "/access_tokens/312?destination_user_type=account&destination_user_id=7865",
        ),
        ("DELETE", "/item-types/7?skip_menu_items_deletion=true"),
    ] {
        let (_, findings) = check(&interaction(request(method, query, None), 200, json!({})));
        let query_findings: Vec<_> = findings.iter().filter(|f| f.part == Part::Query).collect();
        assert!(query_findings.is_empty(), "{query}: {query_findings:?}");
    }
}

#[test]
fn query_values_of_the_wrong_type_or_place_are_reported_where_they_are() {
    for (query, expected) in [
        ("/items?page[limit]=ten", vec!["/page/limit type"]),
        ("/items?page[limit]=1.5", vec!["/page/limit type"]),
        ("/items?nested=yes", vec!["/nested type"]),
        ("/items?nested=true&nested=false", vec!["/nested type"]),
        ("/items?page=2", vec!["/page type"]),
        ("/items?page[limit]=5&page=2", vec!["/page type"]),
        (
            "/uploads?page[offset]=-&page[limit]=1",
            vec!["/page/offset type"],
        ),
        (
            "/menu-items?filter[ids]=1&filter[other]=2",
            vec!["/filter/other additionalProperties"],
        ),
        (
            "/build-events?filter[fields][event_type][eq]=deploy_started",
            vec!["/filter/fields/event_type/eq enum"],
        ),
        (
            "/access_tokens?page[limit]=2",
            vec!["/page additionalProperties"],
        ),
        ("/access_tokens?page=2", vec!["/page additionalProperties"]),
    ] {
        assert_eq!(query_errors("GET", query), expected, "{query}");
    }
    let (_, findings) = check(&interaction(
        request(
            "DELETE",
            "/access_tokens/312?destination_user_type=robot",
            None,
        ),
        200,
        json!({}),
    ));
    assert!(
        findings.iter().any(|f| f.part == Part::Query
            && f.pointer == "/destination_user_type"
            && f.rule == "enum"),
        "{findings:?}"
    );
}

/// Header findings are sentences: no regular expression, the received value quoted.
fn header_messages(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.part == Part::Headers)
        .map(|f| {
            for regex_mark in ["^", "\\s", "(?", "does not match", "[^"] {
                assert!(
                    !f.message.contains(regex_mark),
                    "{regex_mark} in {}",
                    f.message
                );
            }
            f.message.clone()
        })
        .collect()
}

#[test]
fn accept_allows_json_by_any_media_range_and_refusals_are_told_in_words() {
    let with_accept = |accept: &str| {
        let mut exchange = interaction(
            request("POST", "/access_tokens", Some(create_body())),
            201,
            json!({"data": token_resource("312", None)}),
        );
        exchange.request.headers.set("accept", [accept]);
        check(&exchange).1
    };
    for accept in [
        "*/*",
        "application/*",
        "Application/JSON",
        "application/vnd.api+json; charset=utf-8",
        "application/json, text/plain, */*",
        "text/html, application/json;q=0.9",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ] {
        assert_eq!(with_accept(accept), vec![], "{accept}");
    }
    for accept in [
        "text/html",
        "application/xml",
        "text/*",
        "application/jsonx",
        "application/json;q=0",
        "application/json; q=0.000, text/html",
        "*/*;q=0",
        "",
    ] {
        let findings = with_accept(accept);
        assert_eq!(
            errors(&findings),
            vec![(
                Side::Request,
                Part::Headers,
                "/accept".into(),
                "pattern".into()
            )],
            "{accept}"
        );
        assert_eq!(
            header_messages(&findings),
            vec![format!(
                "Accept must allow application/json: one of its media ranges is application/json, \
                 application/vnd.api+json, application/* or */* (parameters allowed), not refused \
                 with q=0; received \"{accept}\""
            )]
        );
    }
}

#[test]
fn every_header_rule_is_told_in_words() {
    let mut exchange = interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        json!({"data": token_resource("312", None)}),
    );
    exchange.request.headers.set("x-api-version", ["2"]);
    exchange.request.headers.set("authorization", ["Token abc"]);
    exchange.request.headers.set("content-type", ["text/plain"]);
    exchange.response.headers.set("content-type", ["text/html"]);
    let (_, findings) = check(&exchange);
    let mut messages = header_messages(&findings);
    messages.sort();
    assert_eq!(
        messages,
        [
            "Authorization must be \"Bearer\" followed by an API token; received \"Token abc\"",
            "Content-Type must be application/json or application/vnd.api+json (parameters \
             allowed); received \"text/plain\"",
            "Content-Type must name application/json (the official client refuses a non-GET \
             answer without it); received \"text/html\"",
            "X-Api-Version must be 3; received \"2\"",
        ]
    );
}

/// curl's own request, `Accept: */*`, through `schema-check`: accepted;
/// a refused Accept is printed as a sentence.
#[test]
fn schema_check_accepts_curls_accept_and_words_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, accept: &str| {
        let mut exchange = interaction(
            request("GET", "/access_tokens", None),
            200,
            json!({"data": []}),
        );
        exchange.request.headers = [
            ("host", "127.0.0.1:8787"),
            ("user-agent", "curl/8.5.0"),
            ("accept", accept),
            ("authorization", "Bearer [REDACTED]"),
            ("x-api-version", "3"),
        ]
        .into_iter()
        .collect();
        let mut cassette = Cassette::new();
        cassette.interactions.push(exchange);
        let path = dir.path().join(name);
        std::fs::write(&path, cassette.to_bytes()).unwrap();
        path
    };
    let run = |path: &std::path::Path| {
        assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
            .arg("schema-check")
            .arg(path)
            .output()
            .unwrap()
    };
    let out = run(&write("curl.json", "*/*"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&write("html.json", "text/html"));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "error: request headers /accept [pattern]: Accept must allow application/json"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("(?i)") && !stdout.contains("does not match"),
        "{stdout}"
    );
}
