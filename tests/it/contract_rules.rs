use crate::support::*;
use datovcr::cassette::{Body, Interaction};
use datovcr::contract::{Category, ContractSet, Finding, Part, Side};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn contract() -> &'static ContractSet {
    static CONTRACT: OnceLock<ContractSet> = OnceLock::new();
    CONTRACT.get_or_init(|| ContractSet::embedded().expect("built-in contract compiles"))
}

/// Findings for an interaction, which must be under contract.
fn check(interaction: &Interaction) -> Vec<Finding> {
    let (_, findings) = contract()
        .check_interaction(interaction)
        .expect("routed to an endpoint");
    findings
}

fn errors(findings: &[Finding]) -> Vec<(Side, Part, String, String)> {
    findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| (f.side, f.part, f.pointer.clone(), f.rule.clone()))
        .collect()
}

fn single(id: &str) -> Value {
    json!({ "data": token_resource(id, Some("[REDACTED]")) })
}

/// The client's real request for every endpoint, with a plausible answer.
fn valid_exchanges() -> Vec<(&'static str, Interaction)> {
    vec![
        (
            "access_tokens.create",
            interaction(
                request("POST", "/access_tokens", Some(create_body())),
                201,
                single("312"),
            ),
        ),
        (
            "access_tokens.update",
            interaction(
                request("PUT", "/access_tokens/312", Some(update_body(true))),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.update",
            interaction(
                request("PUT", "/access_tokens/312", Some(update_body(false))),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.list",
            interaction(
                request("GET", "/access_tokens", None),
                200,
                json!({"data": [token_resource("312", Some("[REDACTED]")), token_resource("313", None)]}),
            ),
        ),
        (
            "access_tokens.find",
            interaction(
                request("GET", "/access_tokens/312", None),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.regenerate_token",
            interaction(
                request("POST", "/access_tokens/312/regenerate_token", None),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.destroy",
            interaction(
                request("DELETE", "/access_tokens/312", None),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.destroy",
            interaction(
                request(
                    "DELETE",
                    "/access_tokens/312?destination_user_type=account&destination_user_id=7865",
                    None,
                ),
                200,
                single("312"),
            ),
        ),
        (
            "access_tokens.find",
            interaction(
                request("GET", "/access_tokens/999", None),
                404,
                json!({"data": [{"id": "010dc1", "type": "api_error", "attributes": {"code": "NOT_FOUND", "details": {}}}]}),
            ),
        ),
    ]
}

#[test]
fn official_client_requests_and_plausible_answers_pass_for_every_endpoint() {
    let mut seen = std::collections::BTreeSet::new();
    for (endpoint, exchange) in valid_exchanges() {
        let (routed, findings) = contract()
            .check_interaction(&exchange)
            .expect("under contract");
        assert_eq!(routed.id, endpoint);
        assert_eq!(
            findings,
            vec![],
            "{endpoint} {} {}",
            exchange.request.method,
            exchange.request.path
        );
        seen.insert(endpoint);
    }
    assert_eq!(seen.len(), 6, "all six endpoints covered");
}

#[test]
fn documentation_example_response_passes_with_empty_hardcoded_type_and_no_token() {
    let docs: Value = serde_json::from_str(
        r#"{"data":{"type":"access_token","id":"312","attributes":{"name":"Read-only API token","hardcoded_type":"","can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":true},"relationships":{"role":{"data":{"type":"role","id":"34"}}}}}"#,
    )
    .unwrap();
    let create = contract().endpoint("access_tokens.create").unwrap();
    assert_eq!(contract().check_response_body(create, 200, &docs), vec![]);
}

#[test]
fn wrong_data_type_fails_at_its_pointer_with_const() {
    let mut body = create_body();
    body["data"]["type"] = json!("item");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/type".into(),
            "const".into()
        )]
    );
}

#[test]
fn wrong_attribute_type_fails_with_type() {
    let mut body = create_body();
    body["data"]["attributes"]["can_access_cma"] = json!("false");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/attributes/can_access_cma".into(),
            "type".into()
        )]
    );
}

#[test]
fn missing_required_attribute_points_at_the_missing_key() {
    let mut body = create_body();
    body["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/attributes/name".into(),
            "required".into()
        )]
    );
}

#[test]
fn extra_request_attribute_is_an_error_not_drift() {
    let mut body = create_body();
    body["data"]["attributes"]["hardcoded_type"] = json!("admin");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/attributes/hardcoded_type".into(),
            "additionalProperties".into()
        )]
    );
}

#[test]
fn create_with_an_id_is_rejected() {
    let mut body = create_body();
    body["data"]["id"] = json!("312");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/id".into(),
            "additionalProperties".into()
        )]
    );
}

#[test]
fn null_role_on_create_is_rejected() {
    let mut body = create_body();
    body["data"]["relationships"]["role"]["data"] = Value::Null;
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/relationships/role/data".into(),
            "type".into()
        )]
    );
}

#[test]
fn create_without_relationships_is_rejected_but_update_without_is_fine() {
    let mut body = create_body();
    body["data"]
        .as_object_mut()
        .unwrap()
        .remove("relationships");
    let findings = check(&interaction(
        request("POST", "/access_tokens", Some(body)),
        201,
        single("1"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/relationships".into(),
            "required".into()
        )]
    );
}

#[test]
fn bad_enum_values_fail_in_query_and_response() {
    let findings = check(&interaction(
        request(
            "DELETE",
            "/access_tokens/312?destination_user_type=robot",
            None,
        ),
        200,
        single("312"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Query,
            "/destination_user_type".into(),
            "enum".into()
        )]
    );

    let mut body = single("312");
    body["data"]["attributes"]["last_cma_access"] = json!("last_year");
    let findings = check(&interaction(
        request("GET", "/access_tokens/312", None),
        200,
        body,
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Response,
            Part::Body,
            "/data/attributes/last_cma_access".into(),
            "enum".into()
        )]
    );
}

#[test]
fn update_whose_id_differs_from_the_path_is_rejected() {
    let findings = check(&interaction(
        request("PUT", "/access_tokens/999", Some(update_body(true))),
        200,
        single("999"),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Body,
            "/data/id".into(),
            "path-id".into()
        )]
    );
}

#[test]
fn missing_api_version_and_wrong_content_type_are_header_violations() {
    let mut exchange = interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        single("1"),
    );
    exchange.request.headers.remove("x-api-version");
    exchange.request.headers.set("content-type", ["text/plain"]);
    let findings = check(&exchange);
    assert_eq!(
        errors(&findings),
        vec![
            (
                Side::Request,
                Part::Headers,
                "/content-type".into(),
                "pattern".into()
            ),
            (
                Side::Request,
                Part::Headers,
                "/x-api-version".into(),
                "required".into()
            ),
        ]
    );
}

#[test]
fn authorization_must_be_a_non_empty_bearer() {
    let mut exchange = interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": []}),
    );
    exchange.request.headers.set("authorization", ["Bearer "]);
    assert_eq!(
        errors(&check(&exchange)),
        vec![(
            Side::Request,
            Part::Headers,
            "/authorization".into(),
            "pattern".into()
        )]
    );
}

#[test]
fn both_json_media_types_are_accepted_with_parameters() {
    for media in [
        "application/json",
        "application/vnd.api+json",
        "application/json; charset=utf-8",
    ] {
        let mut exchange = interaction(
            request("POST", "/access_tokens", Some(create_body())),
            201,
            single("1"),
        );
        exchange.request.headers.set("accept", [media]);
        exchange.request.headers.set("content-type", [media]);
        assert_eq!(check(&exchange), vec![], "{media}");
    }
}

#[test]
fn response_without_json_content_type_is_a_violation() {
    let mut exchange = interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": []}),
    );
    exchange
        .response
        .headers
        .set("content-type", ["application/vnd.api+json"]);
    assert_eq!(
        errors(&check(&exchange)),
        vec![(
            Side::Response,
            Part::Headers,
            "/content-type".into(),
            "pattern".into()
        )]
    );
}

#[test]
fn undocumented_response_attribute_is_drift_not_an_error() {
    let mut body = single("312");
    body["data"]["attributes"]["expires_at"] = json!("2027-01-01");
    let findings = check(&interaction(
        request("GET", "/access_tokens/312", None),
        200,
        body,
    ));
    assert_eq!(errors(&findings), vec![]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].category, Category::Drift);
    assert_eq!(findings[0].pointer, "/data/attributes/expires_at");
}

#[test]
fn undocumented_status_and_bodyless_request_rules_hold() {
    let findings = check(&interaction(
        request("DELETE", "/access_tokens/312", None),
        204,
        json!({"data": null}),
    ));
    assert!(errors(&findings).contains(&(
        Side::Response,
        Part::Status,
        String::new(),
        "status".into()
    )));

    let mut exchange = interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": []}),
    );
    exchange.request.body = Body::Json(json!({"x": 1}));
    assert_eq!(
        errors(&check(&exchange)),
        vec![(Side::Request, Part::Body, String::new(), "no-body".into())]
    );
}

#[test]
fn unknown_query_parameter_on_list_is_rejected() {
    let findings = check(&interaction(
        request("GET", "/access_tokens?page=2", None),
        200,
        json!({"data": []}),
    ));
    assert_eq!(
        errors(&findings),
        vec![(
            Side::Request,
            Part::Query,
            "/page".into(),
            "additionalProperties".into()
        )]
    );
}

#[test]
fn error_envelope_is_checked_on_4xx() {
    let findings = check(&interaction(
        request("GET", "/access_tokens/1", None),
        404,
        json!({"errors": [{"title": "not found"}]}),
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
}

#[test]
fn paths_outside_the_contract_are_not_routed() {
    assert!(contract().route("GET", "/account").is_none());
    assert!(contract().route("PATCH", "/access_tokens/1").is_none());
    assert_eq!(
        contract()
            .route("post", "/access_tokens/9/regenerate_token")
            .unwrap()
            .id,
        "access_tokens.regenerate_token"
    );
}
