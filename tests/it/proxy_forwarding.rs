use crate::support::client::{decoded_body, send};
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy, start_proxy_with};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use crate::support::{create_body, update_body};
use datovcr::cassette::{Body, Cassette};
use http::Method;
use serde_json::{Value, json};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn all_six_endpoints_are_forwarded_over_tls_and_answered_as_the_upstream_sent() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let base = proxy.uri();
    let get = api_headers("live-bearer-value-1234", false);
    let with_body = api_headers("live-bearer-value-1234", true);

    let (status, headers, body) = send(
        &client,
        Method::GET,
        &format!("{base}/access_tokens"),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert!(
        headers.get("x-datovcr-violations").is_none(),
        "a valid exchange carries no violation header"
    );
    assert!(json_of(&body)["data"].is_array());

    let create = serde_json::to_vec_pretty(&create_body()).unwrap();
    let (status, _, body) = send(
        &client,
        Method::POST,
        &format!("{base}/access_tokens"),
        &borrowed(&with_body),
        create,
    )
    .await;
    assert_eq!(status, 201);
    let id = json_of(&body)["data"]["id"].as_str().unwrap().to_owned();

    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{base}/access_tokens/{id}"),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let mut update = update_body(false);
    update["data"]["id"] = json!(id);
    let (status, _, body) = send(
        &client,
        Method::PUT,
        &format!("{base}/access_tokens/{id}"),
        &borrowed(&with_body),
        serde_json::to_vec(&update).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["data"]["attributes"]["name"], "Renamed");
    let (status, _, _) = send(
        &client,
        Method::POST,
        &format!("{base}/access_tokens/{id}/regenerate_token"),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        &client,
        Method::DELETE,
        &format!(
            "{base}/access_tokens/{id}?destination_user_type=account&destination_user_id=7865"
        ),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{base}/access_tokens/{id}"),
        &borrowed(&get),
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(json_of(&body)["data"][0]["attributes"]["code"], "NOT_FOUND");

    let forwarded = upstream.requests();
    assert_eq!(forwarded.len(), 7);
    assert_eq!(
        forwarded[5].path_and_query,
        format!("/access_tokens/{id}?destination_user_type=account&destination_user_id=7865")
    );
    assert_eq!(
        forwarded[1].header("authorization"),
        Some("Bearer live-bearer-value-1234"),
        "the token passes through"
    );

    let summary = proxy.shutdown().await;
    assert_eq!(summary.exchanges, 7);
    assert_eq!(summary.violations, 0);
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let recorded: Vec<(String, String, u16)> = cassette
        .interactions
        .iter()
        .map(|i| {
            (
                i.request.method.clone(),
                i.request.path.clone(),
                i.response.status,
            )
        })
        .collect();
    assert_eq!(
        recorded,
        vec![
            ("GET".into(), "/access_tokens".into(), 200),
            ("POST".into(), "/access_tokens".into(), 201),
            ("GET".into(), format!("/access_tokens/{id}"), 200),
            ("PUT".into(), format!("/access_tokens/{id}"), 200),
            (
                "POST".into(),
                format!("/access_tokens/{id}/regenerate_token"),
                200
            ),
            ("DELETE".into(), format!("/access_tokens/{id}"), 200),
            ("GET".into(), format!("/access_tokens/{id}"), 404),
        ]
    );
    assert_eq!(cassette.interactions[5].request.query.pairs().len(), 2);
}

#[tokio::test]
async fn hop_by_hop_and_own_headers_are_stripped_and_host_is_the_upstreams() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let mut headers = api_headers("bearer-abcdefgh", false);
    headers.push(("connection", "keep-alive, x-hop-secret".into()));
    headers.push(("x-hop-secret", "must-not-pass".into()));
    headers.push(("proxy-authorization", "Basic cHJveHk6cGFzcw==".into()));
    headers.push(("x-datovcr-cassette", "suite-a".into()));
    headers.push(("x-custom-header", "kept".into()));
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let seen = &upstream.requests()[0];
    for stripped in ["x-hop-secret", "proxy-authorization", "x-datovcr-cassette"] {
        assert_eq!(seen.header(stripped), None, "{stripped} was forwarded");
    }
    assert_eq!(seen.header("x-custom-header"), Some("kept"));
    assert_eq!(
        seen.header("host"),
        Some(upstream.addr().to_string().as_str())
    );
    assert_eq!(
        seen.header("accept-encoding"),
        Some("identity"),
        "the proxy asks for readable bodies"
    );
    drop(proxy);
    assert!(
        dir.path().join("suite-a.json").exists()
            || dir.path().join("suite-a.json.journal").exists()
    );
}

#[tokio::test]
async fn a_base_url_path_prefix_is_removed_before_forwarding_and_recording() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.path_prefix = Some("/proxy-prefix".into())
    })
    .await;
    let client = client_for(&upstream);
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/proxy-prefix/access_tokens/312", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(upstream.requests()[0].path_and_query, "/access_tokens/312");
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(cassette.interactions[0].request.path, "/access_tokens/312");
}

#[tokio::test]
async fn a_compressed_response_reaches_the_client_intact_and_the_cassette_decoded() {
    let upstream = FakeDato::start(FakeDatoOptions::default().force_gzip()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let (status, headers, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens/312", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(json_of(&decoded_body(&headers, &body))["data"]["id"], "312");
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    let response = &cassette.interactions[0].response;
    assert!(response.headers.get("content-encoding").is_none());
    let Body::Json(json) = &response.body else {
        panic!("the recorded body is not JSON: {:?}", response.body);
    };
    assert_eq!(json["data"]["id"], "312");
}

#[tokio::test]
async fn violations_are_reported_in_a_header_without_changing_the_response() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let mut body = create_body();
    body["data"]["attributes"]["can_access_cma"] = json!("yes");
    let (status, headers, response) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", true)),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(
        upstream.request_count(),
        1,
        "without --enforce the request is forwarded"
    );
    let violations = headers["x-datovcr-violations"].to_str().unwrap();
    assert!(
        violations.starts_with("1; request body /data/attributes/can_access_cma [type]"),
        "{violations}"
    );
    // The upstream's own answer (the fake's 422 INVALID_FIELD) passes through unchanged.
    assert_eq!(status, 422);
    assert_eq!(
        json_of(&response)["data"][0]["attributes"]["code"],
        "INVALID_FIELD"
    );
    assert!(headers.get("x-datovcr-error").is_none());
    let summary = proxy.shutdown().await;
    assert_eq!(summary.violations, 1);
}

#[tokio::test]
async fn enforce_rejects_an_invalid_request_without_forwarding_it() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.enforcement.requests = true
    })
    .await;
    let client = client_for(&upstream);
    let mut body = create_body();
    body["data"]["relationships"]["role"]["data"] = Value::Null;
    let (status, headers, response) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", true)),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("application/json")
    );
    let error = &json_of(&response)["data"][0];
    assert_eq!(error["type"], "api_error");
    assert_eq!(error["attributes"]["code"], "DATOVCR_CONTRACT_VIOLATION");
    assert_eq!(
        error["attributes"]["details"]["violations"][0]["pointer"],
        "/data/relationships/role/data"
    );
    assert_eq!(
        upstream.request_count(),
        0,
        "nothing reached the real account"
    );

    let (status, _, _) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", true)),
        serde_json::to_vec(&create_body()).unwrap(),
    )
    .await;
    assert_eq!(status, 201, "a valid request still goes through");
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(
        cassette.interactions.len(),
        1,
        "the rejected request was not recorded"
    );
}

#[tokio::test]
async fn enforce_responses_replaces_a_broken_response_with_502_and_still_records_it() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // A contract in which find answers only 201: the fake's 200 breaks it.
    let schemas = dir.path().join("schemas");
    crate::support::copy_schemas(&schemas);
    let manifest = std::fs::read_to_string(schemas.join("manifest.json")).unwrap();
    let find = manifest.find("\"id\": \"access_tokens.find\"").unwrap();
    let tightened = format!(
        "{}{}",
        &manifest[..find],
        manifest[find..].replacen(
            "\"success_statuses\": [200]",
            "\"success_statuses\": [201]",
            1
        )
    );
    std::fs::write(schemas.join("manifest.json"), tightened).unwrap();
    let contract = datovcr::contract::ContractSet::from_dir(&schemas).unwrap();

    let proxy = start_proxy_with(&upstream, dir.path(), contract, |config| {
        config.enforcement.responses = true
    })
    .await;
    let client = client_for(&upstream);
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens/312", proxy.uri()),
        &borrowed(&api_headers("bearer-abcdefgh", false)),
        "",
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(
        json_of(&body)["data"][0]["attributes"]["code"],
        "DATOVCR_RESPONSE_VIOLATION"
    );
    proxy.shutdown().await;
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(
        cassette.interactions[0].response.status, 200,
        "what the upstream sent is recorded"
    );
}
