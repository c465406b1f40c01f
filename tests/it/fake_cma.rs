//! The fake CMA of the broad flow (`FakeDato::with_cma`, tests/it/support/
//! upstream/cma.rs) refuses what the real API refuses, with its error
//! envelope, and every answer it gives, refusals included, keeps the
//! contract: `official_client_cma`'s clean `schema-check` is not a fake too
//! lenient to be wrong.

use crate::support::client::send;
use crate::support::cma_flow::schema_check;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions, random_token};
use http::Method;
use serde_json::{Value, json};

/// The fake refuses what the API refuses, with the API's error envelope,
/// and its every answer, refusals included, keeps the contract: the flow's
/// clean `schema-check` is not a fake too lenient to be wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_cma_refuses_what_the_api_refuses_within_the_contract() {
    let work = tempfile::tempdir().unwrap();
    let fake = FakeDato::start(FakeDatoOptions::default().with_cma()).await;
    let proxy = start_proxy(&fake, work.path(), |_| {}).await;
    let client = client_for(&fake);
    let bearer = random_token();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let headers = api_headers(&bearer, body.is_some());
        let url = format!("{}{path}", proxy.uri());
        let client = client.clone();
        async move {
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            send(&client, method, &url, &borrowed(&headers), body).await
        }
    };
    let model = json!({"data": {"type": "item_type",
        "attributes": {"name": "Post", "api_key": "post"}}});
    let (status, _, body) = call(Method::POST, "/item-types", Some(model.clone())).await;
    assert_eq!(status, 201);
    let model_id = serde_json::from_slice::<Value>(&body).unwrap()["data"]["id"].clone();
    let (status, _, body) = call(
        Method::POST,
        &format!("/item-types/{}/fields", model_id.as_str().unwrap()),
        Some(json!({"data": {"type": "field",
            "attributes": {"label": "Title", "field_type": "string", "api_key": "title"}}})),
    )
    .await;
    assert_eq!(status, 202);
    let job_id = serde_json::from_slice::<Value>(&body).unwrap()["data"]["id"].clone();
    let (status, _, _) = call(
        Method::GET,
        &format!("/job-results/{}", job_id.as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200, "a field's job is ready at the first poll");
    let (status, _, body) = call(
        Method::POST,
        "/build-triggers",
        Some(
            json!({"data": {"type": "build_trigger", "attributes": {"name": "b",
            "adapter": "custom", "adapter_settings": {}, "frontend_url": null,
            "autotrigger_on_scheduled_publications": false}}}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let trigger = serde_json::from_slice::<Value>(&body).unwrap()["data"]["id"].clone();
    let (status, headers, body) = call(
        Method::POST,
        &format!("/build-triggers/{}/trigger", trigger.as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!((status.as_u16(), body.len()), (204, 0));
    assert_eq!(headers.get("content-type"), None, "{headers:?}");

    // Refusals: the status, the error code and the field it names.
    let refused = |method: Method, path: &'static str, body: Option<Value>| {
        let answer = call(method, path, body);
        async move {
            let (status, _, answer) = answer.await;
            let answer: Value = serde_json::from_slice(&answer).unwrap();
            let error = &answer["data"][0]["attributes"];
            (
                status.as_u16(),
                error["code"].clone(),
                error["details"]["field"].clone(),
            )
        }
    };
    let invalid = |field: &str| (422, json!("INVALID_FIELD"), json!(field));
    let not_found = (404, json!("NOT_FOUND"), Value::Null);
    let record = json!({"data": {"type": "item", "attributes": {"nope": "x"},
        "relationships": {"item_type": {"data": {"type": "item_type", "id": model_id}}}}});
    let fork = |id: &str| json!({"data": {"type": "environment", "id": id}});
    let cases = [
        (
            refused(Method::POST, "/item-types", Some(model)).await,
            invalid("api_key"),
        ),
        (
            refused(Method::POST, "/items", Some(record)).await,
            invalid("nope"),
        ),
        (
            refused(Method::GET, "/items?page%5Blimit%5D=501", None).await,
            invalid("page[limit]"),
        ),
        (
            refused(Method::PUT, "/items/999/publish", None).await,
            not_found.clone(),
        ),
        (
            refused(Method::GET, "/job-results/5e1f0b7a00000000000000ff", None).await,
            not_found.clone(),
        ),
        (
            refused(Method::POST, "/environments/main/fork", Some(fork("main"))).await,
            invalid("id"),
        ),
        (
            refused(Method::POST, "/environments/nope/fork", Some(fork("x"))).await,
            not_found.clone(),
        ),
        (
            refused(Method::POST, "/build-triggers/999/trigger", None).await,
            not_found.clone(),
        ),
        (
            refused(Method::DELETE, "/webhooks/999", None).await,
            not_found.clone(),
        ),
    ];
    for (index, (got, expected)) in cases.iter().enumerate() {
        assert_eq!(got, expected, "refusal #{index}");
    }
    let refused = cases.len();
    // Nothing refused was stored: the list is still empty.
    let (status, _, body) = call(Method::GET, "/items?page%5Blimit%5D=2", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"data": [], "meta": {"total_count": 0}})
    );
    proxy.shutdown().await;

    let (code, report) = schema_check(work.path(), "json", &["cassette.json"]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["not_under_contract"], json!([]), "{report:#}");
    assert_eq!(report["summary"]["interactions"], 6 + refused);
}
