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
    // A request body to an endpoint that takes none (a search index's
    // trigger, which the 2022 client never called with `{}`).
    let mut with_body = interaction(
        request("POST", "/search-indexes/3/trigger", None),
        204,
        json!(null),
    );
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
        "application/json;q=0.05",
        "application/json;q=1.0",
        "application/json; quality=0",
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
        "application/json;Q=0",
        "application/json;q=0.",
        "application/json ;q=0",
        "application/json; q = 0",
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

/// Request-side errors of an interaction, as `part pointer rule`.
fn request_errors(interaction: &Interaction) -> Vec<String> {
    check(interaction)
        .1
        .iter()
        .filter(|f| f.is_error() && f.side == Side::Request)
        .map(|f| format!("{} {} {}", f.part, f.pointer, f.rule))
        .collect()
}

/// The 2022 client sends `{}` to action calls that document no body: the
/// overlay's amendments take `{}` or nothing, and nothing else.
#[test]
fn action_calls_take_an_empty_object_or_nothing() {
    for (id, method, path) in [
        (
            "environments.promote",
            "PUT",
            "/environments/sandbox/promote",
        ),
        (
            "maintenance_mode.activate",
            "PUT",
            "/maintenance-mode/activate",
        ),
        (
            "maintenance_mode.deactivate",
            "PUT",
            "/maintenance-mode/deactivate",
        ),
        (
            "build_triggers.trigger",
            "POST",
            "/build-triggers/9/trigger",
        ),
        ("build_triggers.reindex", "PUT", "/build-triggers/9/reindex"),
        ("item_types.duplicate", "POST", "/item-types/7/duplicate"),
        ("fields.duplicate", "POST", "/fields/3/duplicate"),
        ("items.duplicate", "POST", "/items/12/duplicate"),
        ("item_versions.restore", "POST", "/versions/5/restore"),
        (
            "webhook_calls.resend_webhook",
            "POST",
            "/webhook_calls/4/resend_webhook",
        ),
        ("sso_users.copy_users", "POST", "/sso-users/copy-users"),
        ("sso_groups.copy_roles", "POST", "/sso-groups/2/copy-roles"),
        (
            "sso_settings.generate_token",
            "PUT",
            "/sso-settings/generate-token",
        ),
        ("items.publish", "PUT", "/items/12/publish"),
        ("items.unpublish", "PUT", "/items/12/unpublish"),
    ] {
        let call = |body: Option<Value>| interaction(request(method, path, body), 200, json!({}));
        assert_eq!(check(&call(None)).0, id);
        assert_eq!(
            request_errors(&call(None)),
            Vec::<String>::new(),
            "{id} without a body"
        );
        assert_eq!(
            request_errors(&call(Some(json!({})))),
            Vec::<String>::new(),
            "{id} with {{}}"
        );
        let refused = request_errors(&call(Some(json!({"data": {"type": "x"}}))));
        assert_eq!(refused.len(), 1, "{id}: {refused:?}");
        assert!(refused[0].starts_with("body  "), "{id}: {refused:?}");
    }
    // The access-token rules are the overlay's own: regenerate takes no body.
    let regenerate = interaction(
        request(
            "POST",
            "/access_tokens/312/regenerate_token",
            Some(json!({})),
        ),
        200,
        json!({"data": token_resource("312", None)}),
    );
    assert_eq!(request_errors(&regenerate), ["body  no-body"]);
}

/// The private batch calls of 2022 that 5.8.1 no longer lists are overlay
/// endpoints; `PUT /items/publish` is not an update of a record `publish`.
#[test]
fn the_private_batch_calls_of_2022_are_under_contract() {
    let job_answer = |method: &str, path: &str, body: Option<Value>| {
        interaction(
            request(method, path, body),
            202,
            job(json!("f04bdddc6e390c4d8a2d11e2")),
        )
    };
    for (id, method, path, body) in [
        (
            "items.batch_publish",
            "PUT",
            "/items/publish?filter[ids]=112935566",
            Some(json!({})),
        ),
        (
            "items.batch_unpublish",
            "PUT",
            "/items/unpublish?filter[ids]=1,2",
            None,
        ),
        (
            "items.batch_destroy",
            "DELETE",
            "/items?filter%5Bids%5D=112935565",
            None,
        ),
        (
            "uploads.batch_destroy",
            "DELETE",
            "/uploads/batch-destroy?filter[ids]=4",
            None,
        ),
        (
            "uploads.batch_add_tags",
            "PUT",
            "/uploads/batch-add-tags?filter[ids]=4,5",
            Some(json!({"data": {"type": "upload", "attributes": {"tags": ["cats"]}}})),
        ),
    ] {
        let (routed, findings) = check(&job_answer(method, path, body));
        assert_eq!(routed, id, "{method} {path}");
        assert_eq!(errors(&findings), vec![], "{method} {path}");
        assert!(contract().endpoint(id).unwrap().deprecated().is_some());
    }
    assert_eq!(
        request_errors(&job_answer("PUT", "/items/publish", Some(json!({})))),
        ["query /filter required"]
    );
    assert_eq!(
        request_errors(&job_answer(
            "DELETE",
            "/items?filter[ids]=1&filter[type]=7",
            None
        )),
        ["query /filter/type additionalProperties"]
    );
    assert_eq!(
        request_errors(&job_answer(
            "PUT",
            "/items/publish?filter[ids]=1",
            Some(json!({"x": 1}))
        )),
        ["body  maxProperties"]
    );
    let (_, findings) = check(&interaction(
        request("PUT", "/items/unpublish?filter[ids]=1", None),
        200,
        json!({"data": []}),
    ));
    assert!(errors(&findings).contains(&(
        Side::Response,
        Part::Status,
        String::new(),
        "status".into()
    )));
    assert_eq!(
        contract().route("PUT", "/items/12").unwrap().id,
        "items.update"
    );
}

/// Upload bodies take `default_field_metadata` per field (5.8.1) or per
/// locale (2022), and nothing in between.
#[test]
fn upload_bodies_take_the_metadata_of_either_version() {
    let create = |metadata: Value| {
        interaction(
            request(
                "POST",
                "/uploads",
                Some(json!({"data": {"type": "upload", "attributes": {
                    "path": "/205/1565776891-image.png", "author": "Mark",
                    "default_field_metadata": metadata}}})),
            ),
            202,
            job(json!("5f3a")),
        )
    };
    for metadata in [
        json!({"en": {"alt": "Nyan", "title": "My cat", "custom_data": {}, "focal_point": {"x": 0.1, "y": 0.1}},
               "it": {"title": null, "alt": "Alt", "custom_data": {}, "focal_point": null}}),
        json!({"alt": {"en": "Nyan"}, "title": {"en": "My cat"}, "custom_data": {"en": {}},
               "focal_point": {"x": 0.5, "y": 0.5}}),
        json!({}),
    ] {
        assert_eq!(
            request_errors(&create(metadata.clone())),
            Vec::<String>::new(),
            "{metadata}"
        );
    }
    for metadata in [
        json!({"en": {"alt": 12}}),
        json!({"en": {"caption": "x"}}),
        json!({"alt": {"en": "Nyan"}, "it": {"alt": "Gatto"}}),
        json!({"EN_us!": {"alt": "x"}}),
        json!({"focal_point": {"x": "left", "y": 0.5}}),
    ] {
        assert_eq!(
            request_errors(&create(metadata.clone())).len(),
            1,
            "{metadata}"
        );
    }
    let update = interaction(
        request(
            "PUT",
            "/uploads/4",
            Some(json!({"data": {"type": "upload", "id": "4", "attributes": {
                "default_field_metadata": {"en": {"alt": "x", "title": null, "custom_data": {}}}}}})),
        ),
        202,
        job(json!("5f3a")),
    );
    assert_eq!(request_errors(&update), Vec::<String>::new());
}

/// In a response, a key only the generated contract requires may be
/// absent: drift. JSON:API's own members and the overlay's rules stay
/// violations, and requests stay strict.
#[test]
fn documented_but_absent_is_drift_only_where_the_generated_contract_requires_it() {
    let find = |item: Value| {
        check(&interaction(
            request("GET", "/items/12", None),
            200,
            json!({"data": item}),
        ))
    };
    let mut item = contract_example_item();
    assert_eq!(find(item.clone()).1, vec![]);
    item["meta"].as_object_mut().unwrap().remove("has_children");
    item.as_object_mut().unwrap().remove("relationships");
    let (_, findings) = find(item.clone());
    assert_eq!(errors(&findings), vec![]);
    let drift: Vec<(Category, String)> = findings
        .iter()
        .map(|f| (f.category, format!("{} {}", f.pointer, f.message)))
        .collect();
    assert_eq!(
        drift,
        [
            (
                Category::Drift,
                "/data/relationships `relationships` is documented but absent (API drift?)".into()
            ),
            (
                Category::Drift,
                "/data/meta/has_children `has_children` is documented but absent (API drift?)"
                    .into()
            ),
        ]
    );
    for structural in ["id", "type"] {
        let mut broken = contract_example_item();
        broken.as_object_mut().unwrap().remove(structural);
        assert_eq!(
            errors(&find(broken).1),
            vec![(
                Side::Response,
                Part::Body,
                format!("/data/{structural}"),
                "required".into()
            )]
        );
    }
    let (_, findings) = check(&interaction(
        request("GET", "/items/12", None),
        200,
        json!({"meta": {}}),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Response,
            Part::Body,
            "/data".into(),
            "required".into()
        )]
    );
    // A relationship's linkage is a resource identifier: its id is JSON:API's.
    let mut linkage = contract_example_item();
    linkage["relationships"]["item_type"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    assert_eq!(
        errors(&find(linkage).1),
        vec![(
            Side::Response,
            Part::Body,
            "/data/relationships/item_type/data/id".into(),
            "required".into()
        )]
    );
    // The overlay says an access token always has a name.
    let mut token = token_resource("312", None);
    token["attributes"].as_object_mut().unwrap().remove("name");
    let (_, findings) = check(&interaction(
        request("GET", "/access_tokens/312", None),
        200,
        json!({"data": token}),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Response,
            Part::Body,
            "/data/attributes/name".into(),
            "required".into()
        )]
    );
    // The error envelope is the overlay's too.
    let (_, findings) = check(&interaction(
        request("GET", "/items/12", None),
        404,
        json!({"data": [{"id": "1", "type": "api_error", "attributes": {"details": {}}}]}),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Response,
            Part::Body,
            "/data/0/attributes/code".into(),
            "required".into()
        )]
    );
    // A request missing what the generated contract requires is refused.
    let body = json!({"data": {"type": "item_type", "attributes": {"name": "Article"}}});
    let findings = request_errors(&interaction(
        request("POST", "/item-types", Some(body)),
        201,
        json!({}),
    ));
    assert!(
        findings.contains(&"body /data/attributes/api_key required".to_owned()),
        "{findings:?}"
    );
}

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

fn list_endpoints(extra: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
        .args(["schema-check", "--list-endpoints"])
        .args(extra)
        .output()
        .unwrap()
}

/// `schema-check --list-endpoints`: every endpoint once, with method, path,
/// body and success statuses, as text and as JSON.
#[test]
fn list_endpoints_prints_every_endpoint_with_its_body_and_statuses() {
    let out = list_endpoints(&[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "METHOD", "PATH", "BODY", "SUCCESS"]);
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(rows.iter().all(|row| row.len() == 5), "{text}");
    assert_eq!(rows.len(), contract().endpoints().len());
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(ids.len(), rows.len(), "each id once");
    let generated: Value =
        serde_json::from_slice(&std::fs::read(repo_path("schemas/cma/manifest.json")).unwrap())
            .unwrap();
    for entry in generated["endpoints"].as_array().unwrap() {
        assert!(
            ids.contains(entry["id"].as_str().unwrap()),
            "{}",
            entry["id"]
        );
    }
    for expected in [
        ["items.create", "POST", "/items", "yes", "200,201"],
        ["item_types.list", "GET", "/item-types", "no", "200"],
        [
            "fields.create",
            "POST",
            "/item-types/{itemTypeId}/fields",
            "yes",
            "200,201,202",
        ],
        [
            "build_triggers.trigger",
            "POST",
            "/build-triggers/{buildTriggerId}/trigger",
            "optional",
            "204",
        ],
        [
            "search_indexes.trigger",
            "POST",
            "/search-indexes/{searchIndexId}/trigger",
            "no",
            "204",
        ],
        [
            "items.publish",
            "PUT",
            "/items/{itemId}/publish",
            "optional",
            "200",
        ],
        [
            "access_tokens.create",
            "POST",
            "/access_tokens",
            "yes",
            "200,201",
        ],
        [
            "access_tokens.regenerate_token",
            "POST",
            "/access_tokens/{id}/regenerate_token",
            "no",
            "200,201",
        ],
        ["items.batch_destroy", "DELETE", "/items", "no", "202"],
    ] {
        assert!(rows.contains(&expected.to_vec()), "{expected:?} in\n{text}");
    }

    let out = list_endpoints(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), rows.len());
    let fork = list
        .iter()
        .find(|e| e["id"] == "environments.fork")
        .unwrap();
    assert_eq!(fork["method"], "POST");
    assert_eq!(fork["path"], "/environments/{environmentId}/fork");
    assert_eq!(fork["success_statuses"], json!([200, 202]));
    assert_eq!(fork["job"], true);
    assert_eq!(fork["manifest"], "cma/manifest.json");
    let batch = list
        .iter()
        .find(|e| e["id"] == "items.batch_publish")
        .unwrap();
    assert_eq!(batch["manifest"], "manifest.json");
    assert!(
        batch["deprecated"]
            .as_str()
            .unwrap()
            .contains("items.bulk_publish")
    );
}

#[test]
fn list_endpoints_lists_a_schemas_folder_and_refuses_other_work() {
    let dir = tempfile::tempdir().unwrap();
    copy_schemas(dir.path());
    let manifest = dir.path().join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            "\"success_statuses\": [200, 201]",
            "\"success_statuses\": [201]",
            1,
        ),
    )
    .unwrap();
    let out = list_endpoints(&["--schemas", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let create = text
        .lines()
        .find(|l| l.starts_with("access_tokens.create "))
        .unwrap();
    assert!(create.ends_with(" 201"), "{create}");

    for conflicting in [
        vec!["cassettes"],
        vec!["--endpoint", "items.create", "--request", "x.json"],
    ] {
        let out = list_endpoints(&conflicting);
        assert_eq!(out.status.code(), Some(2), "{conflicting:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    }
    // The lone-payload check names the list instead of printing 200 ids.
    let out = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
        .args([
            "schema-check",
            "--endpoint",
            "items.crate",
            "--request",
            "-",
        ])
        .write_stdin("{}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "unknown endpoint `items.crate`; `datovcr schema-check --list-endpoints` lists all"
        ),
        "{stderr}"
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

/// Every generated schema file, by file name.
fn generated_documents() -> std::collections::BTreeMap<String, Value> {
    std::fs::read_dir(repo_path("schemas/cma"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| !path.ends_with("manifest.json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            )
        })
        .collect()
}

/// `$ref` (`#/$defs/X` or `file.json#/$defs/X`) made in `file`: the target and its file.
fn follow<'d>(
    documents: &'d std::collections::BTreeMap<String, Value>,
    file: &str,
    reference: &str,
) -> (&'d Value, String) {
    let (target, pointer) = reference.split_once('#').unwrap();
    let target = if target.is_empty() { file } else { target };
    (
        documents[target].pointer(pointer).unwrap(),
        target.to_owned(),
    )
}

/// `(resource type, attribute, admits a string)` for every attribute, at
/// any depth, of every resource the generated contract defines.
fn resource_attributes() -> Vec<(String, String, bool)> {
    let documents = generated_documents();
    let mut out = Vec::new();
    for (file, document) in &documents {
        for definition in document["$defs"].as_object().unwrap().values() {
            let properties = &definition["properties"];
            let (Some(kind), Some(attributes)) =
                (properties.get("type"), properties.get("attributes"))
            else {
                continue;
            };
            if properties.get("id").is_none() {
                continue;
            }
            let kind = match kind.get("$ref").and_then(Value::as_str) {
                Some(reference) => follow(&documents, file, reference).0,
                None => kind,
            };
            let Some(kind) = kind["const"].as_str() else {
                continue;
            };
            let mut stack = vec![(attributes, file.clone(), String::new(), 0)];
            while let Some((schema, file, path, depth)) = stack.pop() {
                if depth > 8 {
                    continue;
                }
                if let Some(reference) = schema["$ref"].as_str() {
                    let (target, file) = follow(&documents, &file, reference);
                    stack.push((target, file, path.clone(), depth + 1));
                }
                for keyword in ["anyOf", "oneOf", "allOf"] {
                    for branch in schema[keyword].as_array().into_iter().flatten() {
                        stack.push((branch, file.clone(), path.clone(), depth + 1));
                    }
                }
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    let path = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    let admits_string = admits_string(&documents, &file, property);
                    out.push((kind.to_owned(), path.clone(), admits_string));
                    stack.push((property, file.clone(), path, depth + 1));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn admits_string(
    documents: &std::collections::BTreeMap<String, Value>,
    file: &str,
    schema: &Value,
) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let (target, file) = follow(documents, file, reference);
        return admits_string(documents, &file, target);
    }
    let typed = match &schema["type"] {
        Value::String(name) => name == "string",
        Value::Array(names) => names.iter().any(|name| name == "string"),
        _ => false,
    };
    typed
        || ["anyOf", "oneOf"].iter().any(|keyword| {
            schema[*keyword]
                .as_array()
                .into_iter()
                .flatten()
                .any(|branch| admits_string(documents, file, branch))
        })
}

/// The rows of docs/contract.md's "Secret attributes" table:
/// `(resource type, attribute, verdict)`.
fn documented_secret_attributes() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo_path("docs/contract.md")).unwrap();
    let section = text
        .split("### Secret attributes")
        .nth(1)
        .expect("docs/contract.md has a Secret attributes section");
    let section = section.split("\n#").next().unwrap();
    let mut rows: Vec<(String, String, String)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let unquote = |cell: &str| cell.trim_matches('`').to_owned();
            (unquote(cells[1]), unquote(cells[2]), cells[3].to_owned())
        })
        .collect();
    rows.sort();
    rows
}

/// Every attribute of the contract whose name the redaction's name rule
/// matches, with what the redaction really does to it (asked of the
/// redactor, on a response carrying it), is the list docs/contract.md gives.
#[test]
fn the_secret_attribute_list_is_what_the_schemas_and_the_redaction_say() {
    let mut found = Vec::new();
    for (kind, path, admits_string) in resource_attributes() {
        let name = path.rsplit('.').next().unwrap();
        if !datovcr::redact::rules::is_secret_name(name) {
            continue;
        }
        let value = if admits_string {
            json!("blog_post")
        } else {
            json!(true)
        };
        // `a.b` as `{"a": {"b": value}}`.
        let attributes = path
            .rsplit('.')
            .fold(value.clone(), |inner, part| json!({ part: inner }));
        let exchange = interaction(
            request("GET", "/x", None),
            200,
            json!({"data": {"type": kind, "id": "1", "attributes": attributes}}),
        );
        // A redactor of its own: one remembers the secrets it has seen.
        let redacted = datovcr::redact::Redactor::default().redact(exchange);
        let Body::Json(body) = &redacted.interaction().response.body else {
            panic!("a JSON body stays JSON");
        };
        let pointer = format!("/data/attributes/{}", path.replace('.', "/"));
        let kept = body.pointer(&pointer) == Some(&value);
        let verdict = match (kept, admits_string) {
            (false, _) => "secret",
            (true, true) => "public",
            (true, false) => "public (never a string)",
        };
        found.push((kind, path, verdict.to_owned()));
    }
    found.sort();
    assert!(found.len() >= 8, "{found:?}");
    assert_eq!(
        documented_secret_attributes(),
        found,
        "docs/contract.md, Secret attributes: one row per attribute, as the redaction treats it"
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
