//! The whole CMA under contract at run time: the generated contract
//! (schemas/cma/) loaded under the hand-written overlay, its per-status
//! responses ("no body", exact statuses over classes), optional bodies,
//! query reading, header rules in words, the overlay's rules for real API
//! behaviour, and documented-but-absent as drift.

use crate::support::*;
use datovcr::cassette::{Body, Cassette, Headers, Interaction, RecordedResponse};
use datovcr::contract::{Category, ContractSet, Finding, Part, Side};
use serde_json::{Value, json};
use std::sync::OnceLock;

pub(crate) fn contract() -> &'static ContractSet {
    static CONTRACT: OnceLock<ContractSet> = OnceLock::new();
    CONTRACT.get_or_init(|| ContractSet::embedded().expect("built-in contract loads"))
}

/// `(endpoint id, findings)` of an interaction, which must be routed.
pub(crate) fn check(interaction: &Interaction) -> (String, Vec<Finding>) {
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

pub(crate) fn errors(findings: &[Finding]) -> Vec<(Side, Part, String, String)> {
    findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| (f.side, f.part, f.pointer.clone(), f.rule.clone()))
        .collect()
}

pub(crate) fn response(status: u16, headers: Headers, body: Body) -> RecordedResponse {
    RecordedResponse {
        status,
        headers,
        body,
    }
}

pub(crate) fn job(id: Value) -> Value {
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
pub(crate) fn contract_example_item() -> Value {
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
pub(crate) fn request_errors(interaction: &Interaction) -> Vec<String> {
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
