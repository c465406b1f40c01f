//! `datovcr replay` through the library API: fidelity, sequences, misses,
//! matching options, `--check`.

use crate::support::client::{HttpsClient, send};
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use crate::support::{create_body, interaction, repo_path, request, token_resource, update_body};
use datovcr::cassette::{Body, Cassette};
use datovcr::replay::{Exhausted, MatchRules, ReplayHandle, ReplayServer};
use http::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

fn plain_client() -> HttpsClient {
    // The test CA is irrelevant for plain HTTP; any PEM will do.
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

fn write_cassette(dir: &Path, name: &str, cassette: &Cassette) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

async fn replay(path: &Path) -> ReplayHandle {
    ReplayServer::builder()
        .cassette(path)
        .start()
        .await
        .expect("replay starts")
}

fn code_and_details(body: &[u8]) -> (String, Value) {
    let json: Value = serde_json::from_slice(body).unwrap();
    let error = &json["data"][0]["attributes"];
    (
        error["code"].as_str().unwrap().to_owned(),
        error["details"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_exchanges_replay_identically_after_the_upstream_is_gone() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let get = api_headers("bearer-abcdefgh", false);
    let with_body = api_headers("bearer-abcdefgh", true);
    let mut steps: Vec<(Method, String, Vec<u8>, bool)> = vec![
        (Method::GET, "/access_tokens".into(), vec![], false),
        (
            Method::POST,
            "/access_tokens".into(),
            serde_json::to_vec_pretty(&create_body()).unwrap(),
            true,
        ),
    ];
    let mut recorded = Vec::new();
    for step in 0..9 {
        if step == 2 {
            let id: Value = serde_json::from_slice(
                &recorded
                    .last()
                    .map(|(_, _, b): &(u16, String, bytes::Bytes)| b.clone())
                    .unwrap(),
            )
            .unwrap();
            let id = id["data"]["id"].as_str().unwrap().to_owned();
            let mut update = update_body(true);
            update["data"]["id"] = json!(id);
            steps.extend([
                (Method::GET, format!("/access_tokens/{id}"), vec![], false),
                (
                    Method::PUT,
                    format!("/access_tokens/{id}"),
                    serde_json::to_vec_pretty(&update).unwrap(),
                    true,
                ),
                (
                    Method::POST,
                    format!("/access_tokens/{id}/regenerate_token"),
                    vec![],
                    false,
                ),
                (Method::GET, "/access_tokens".into(), vec![], false),
                (
                    Method::DELETE,
                    format!(
                        "/access_tokens/{id}?destination_user_type=account&destination_user_id=7865"
                    ),
                    vec![],
                    false,
                ),
                (Method::GET, format!("/access_tokens/{id}"), vec![], false),
            ]);
        }
        let Some((method, path, body, has_body)) = steps.get(step).cloned() else {
            break;
        };
        let headers = if has_body { &with_body } else { &get };
        let (status, response_headers, response) = send(
            &client,
            method,
            &format!("{}{path}", proxy.uri()),
            &borrowed(headers),
            body,
        )
        .await;
        recorded.push((
            status.as_u16(),
            response_headers["content-type"]
                .to_str()
                .unwrap()
                .to_owned(),
            response,
        ));
    }
    assert_eq!(recorded.len(), 8);
    proxy.shutdown().await;
    upstream.shutdown().await;

    let server = replay(&dir.path().join("cassette.json")).await;
    let client = plain_client();
    for (index, (method, path, body, has_body)) in steps.iter().enumerate() {
        let headers = if *has_body { &with_body } else { &get };
        let (status, headers, response) = send(
            &client,
            method.clone(),
            &format!("{}{path}", server.uri()),
            &borrowed(headers),
            body.clone(),
        )
        .await;
        let (recorded_status, recorded_type, recorded_body) = &recorded[index];
        assert_eq!(status.as_u16(), *recorded_status, "{method} {path}");
        assert_eq!(
            headers["content-type"],
            recorded_type.as_str(),
            "Content-Type exactly as recorded"
        );
        assert_eq!(
            headers["content-length"],
            response.len().to_string().as_str()
        );
        let live: Value = serde_json::from_slice(recorded_body).unwrap();
        let replayed: Value = serde_json::from_slice(&response).unwrap();
        // Identical apart from the secrets, which are served as their placeholders.
        assert_eq!(replayed, mask_tokens(live), "{method} {path}");
    }
    let summary = server.shutdown().await;
    assert_eq!(summary.served, 8);
    assert_eq!(summary.misses, 0);
    assert_eq!(summary.unused_count(), 0);
}

#[tokio::test]
async fn bodies_are_served_byte_exact_with_recorded_key_order_and_binary_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    let mut json_reply = interaction(request("GET", "/ordered", None), 200, json!(null));
    json_reply.response.body = Body::from_bytes(
        br#"{"z":1,"a":{"y":2.50,"b":[3]}}"#,
        Some("application/json"),
    );
    json_reply
        .response
        .headers
        .set("content-type", ["application/vnd.api+json; charset=utf-8"]);
    cassette.interactions.push(json_reply);
    let mut binary = interaction(request("GET", "/binary", None), 200, json!(null));
    binary
        .response
        .headers
        .set("content-type", ["application/octet-stream"]);
    binary.response.body = Body::Binary(vec![0xff, 0xfe, 0x00, 0x80, b'x']);
    cassette.interactions.push(binary);
    let path = write_cassette(dir.path(), "bytes.json", &cassette);
    let server = replay(&path).await;
    let client = plain_client();
    let headers = api_headers("x", false);
    let (_, response_headers, body) = send(
        &client,
        Method::GET,
        &format!("{}/ordered", server.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(&body[..], br#"{"z":1,"a":{"y":2.50,"b":[3]}}"#);
    assert_eq!(
        response_headers["content-type"],
        "application/vnd.api+json; charset=utf-8"
    );
    let (_, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/binary", server.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(&body[..], &[0xff, 0xfe, 0x00, 0x80, b'x']);
}

fn list_create_list() -> Cassette {
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": []}),
    ));
    cassette.interactions.push(interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        json!({"data": token_resource("1", Some("[REDACTED]"))}),
    ));
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens", None),
        200,
        json!({"data": [token_resource("1", Some("[REDACTED]"))]}),
    ));
    cassette
}

#[tokio::test]
async fn list_create_list_replays_both_lists_in_order_then_repeats_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cassette(dir.path(), "flow.json", &list_create_list());
    let server = replay(&path).await;
    let client = plain_client();
    let get = api_headers("x", false);
    let get = borrowed(&get);
    let list_url = format!("{}/access_tokens", server.uri());
    let list = || send(&client, Method::GET, &list_url, &get, "");
    let first: Value = serde_json::from_slice(&list().await.2).unwrap();
    // The client pretty-prints with `id` before `type`: matching is semantic.
    let create = serde_json::to_vec_pretty(&create_body()).unwrap();
    let (status, _, _) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", server.uri()),
        &borrowed(&api_headers("y", true)),
        create,
    )
    .await;
    assert_eq!(status, 201);
    let second: Value = serde_json::from_slice(&list().await.2).unwrap();
    let third: Value = serde_json::from_slice(&list().await.2).unwrap();
    assert_eq!(first["data"], json!([]));
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        third, second,
        "after the last recorded response, the last one repeats"
    );
}

#[tokio::test]
async fn exhausted_fail_turns_extra_requests_into_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cassette(dir.path(), "flow.json", &list_create_list());
    let server = ReplayServer::builder()
        .cassette(&path)
        .exhausted(Exhausted::Fail)
        .start()
        .await
        .unwrap();
    let client = plain_client();
    let get = api_headers("x", false);
    let url = format!("{}/access_tokens", server.uri());
    assert_eq!(
        send(&client, Method::GET, &url, &borrowed(&get), "")
            .await
            .0,
        200
    );
    assert_eq!(
        send(&client, Method::GET, &url, &borrowed(&get), "")
            .await
            .0,
        200
    );
    let (status, _, body) = send(&client, Method::GET, &url, &borrowed(&get), "").await;
    assert_eq!(status.as_u16(), 599);
    let (code, details) = code_and_details(&body);
    assert_eq!(code, "DATOVCR_NO_MATCH");
    assert!(
        details["message"]
            .as_str()
            .unwrap()
            .contains("already served"),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_identical_requests_each_get_a_different_recorded_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    for i in 0..50 {
        cassette.interactions.push(interaction(
            request("GET", "/access_tokens/312", None),
            200,
            json!({"data": token_resource(&i.to_string(), None)}),
        ));
    }
    let path = write_cassette(dir.path(), "fifty.json", &cassette);
    let server = replay(&path).await;
    let client = Arc::new(plain_client());
    let url = Arc::new(format!("{}/access_tokens/312", server.uri()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let (_, _, body) = send(
                &client,
                Method::GET,
                &url,
                &borrowed(&api_headers("x", false)),
                "",
            )
            .await;
            serde_json::from_slice::<Value>(&body).unwrap()["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids.sort_by_key(|id| id.parse::<u32>().unwrap());
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected, "none served twice, none skipped");
    assert_eq!(server.shutdown().await.unused_count(), 0);
}

#[tokio::test]
async fn each_kind_of_miss_names_the_nearest_interaction_and_what_differed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens/312", None),
        200,
        json!({"data": token_resource("312", None)}),
    ));
    let mut sandboxed = interaction(
        request(
            "DELETE",
            "/access_tokens/312?destination_user_type=account&destination_user_id=7",
            None,
        ),
        200,
        json!({"data": token_resource("312", None)}),
    );
    sandboxed.request.headers.set("x-environment", ["sandbox"]);
    cassette.interactions.push(sandboxed);
    cassette.interactions.push(interaction(
        request("PUT", "/access_tokens/312", Some(update_body(true))),
        200,
        json!({"data": token_resource("312", None)}),
    ));
    let path = write_cassette(dir.path(), "misses.json", &cassette);
    let server = replay(&path).await;
    let client = plain_client();
    let base = server.uri();
    let get = api_headers("x", false);
    let mut sandbox = get.clone();
    sandbox.push(("x-environment", "sandbox".into()));
    let mut renamed = update_body(true);
    renamed["data"]["attributes"]["name"] = json!("Other name");
    let cases: Vec<MissCase> = vec![
        (
            Method::POST,
            "/access_tokens/312".into(),
            get.clone(),
            vec![],
            "/method",
            json!("GET"),
            json!("POST"),
        ),
        (
            Method::GET,
            "/access_tokens/999".into(),
            get.clone(),
            vec![],
            "/path",
            json!("/access_tokens/312"),
            json!("/access_tokens/999"),
        ),
        (
            Method::DELETE,
            "/access_tokens/312?destination_user_type=account&destination_user_id=8".into(),
            sandbox.clone(),
            vec![],
            "/query/destination_user_id",
            json!("7"),
            json!("8"),
        ),
        (
            Method::DELETE,
            "/access_tokens/312?destination_user_type=account&destination_user_id=7".into(),
            get.clone(),
            vec![],
            "/headers/x-environment",
            json!("sandbox"),
            Value::Null,
        ),
        (
            Method::PUT,
            "/access_tokens/312".into(),
            api_headers("x", true),
            serde_json::to_vec(&renamed).unwrap(),
            "/body/data/attributes/name",
            json!("Renamed"),
            json!("Other name"),
        ),
    ];
    for (method, path, headers, body, pointer, recorded, received) in cases {
        let (status, response_headers, response) = send(
            &client,
            method.clone(),
            &format!("{base}{path}"),
            &borrowed(&headers),
            body,
        )
        .await;
        assert_eq!(status.as_u16(), 599, "{method} {path}");
        assert_eq!(response_headers["x-datovcr-error"], "DATOVCR_NO_MATCH");
        let (code, details) = code_and_details(&response);
        assert_eq!(code, "DATOVCR_NO_MATCH");
        assert_eq!(
            details["cassettes"][0],
            path_display(&dir.path().join("misses.json"))
        );
        let differences = details["nearest"]["differences"].as_array().unwrap();
        assert_eq!(differences.len(), 1, "{method} {path}: {differences:?}");
        assert_eq!(differences[0]["pointer"], pointer);
        assert_eq!(differences[0]["recorded"], recorded);
        assert_eq!(differences[0]["received"], received);
    }
    let summary = server.shutdown().await;
    assert_eq!(summary.misses, 5);
    assert_eq!(summary.served, 0);
    assert_eq!(summary.unused_count(), 3);
}

/// `live` with every access_token secret replaced by the placeholder.
fn mask_tokens(mut live: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(object) => {
                if object.get("type") == Some(&json!("access_token"))
                    && let Some(token) = object
                        .get_mut("attributes")
                        .and_then(|a| a.get_mut("token"))
                    && token.is_string()
                {
                    *token = json!("[REDACTED]");
                }
                object.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut live);
    live
}

/// method, path, headers, body, then the expected difference: pointer,
/// recorded value, received value.
type MissCase = (
    Method,
    String,
    Vec<(&'static str, String)>,
    Vec<u8>,
    &'static str,
    Value,
    Value,
);

fn path_display(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn match_options_can_ignore_the_body_or_a_volatile_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    cassette.interactions.push(interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        json!({"data": token_resource("1", None)}),
    ));
    let path = write_cassette(dir.path(), "c.json", &cassette);
    let mut other = create_body();
    other["data"]["attributes"]["name"] = json!("A name generated per run");
    let other = serde_json::to_vec(&other).unwrap();
    let client = plain_client();
    let headers = api_headers("x", true);

    let strict = replay(&path).await;
    let url = format!("{}/access_tokens", strict.uri());
    assert_eq!(
        send(
            &client,
            Method::POST,
            &url,
            &borrowed(&headers),
            other.clone()
        )
        .await
        .0
        .as_u16(),
        599
    );

    let no_body = ReplayServer::builder()
        .cassette(&path)
        .match_rules(MatchRules::parse("method,path,query").unwrap())
        .start()
        .await
        .unwrap();
    let url = format!("{}/access_tokens", no_body.uri());
    assert_eq!(
        send(
            &client,
            Method::POST,
            &url,
            &borrowed(&headers),
            other.clone()
        )
        .await
        .0,
        201
    );

    let mut rules = MatchRules::default();
    rules
        .ignore_body_pointers
        .push("/data/attributes/name".into());
    let ignoring = ReplayServer::builder()
        .cassette(&path)
        .match_rules(rules)
        .start()
        .await
        .unwrap();
    let url = format!("{}/access_tokens", ignoring.uri());
    assert_eq!(
        send(&client, Method::POST, &url, &borrowed(&headers), other)
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn the_cassette_header_selects_one_of_several_cassettes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, id) in [("suite-a", "1"), ("suite-b", "2")] {
        let mut cassette = Cassette::new();
        cassette.interactions.push(interaction(
            request("GET", "/access_tokens/9", None),
            200,
            json!({"data": token_resource(id, None)}),
        ));
        write_cassette(dir.path(), &format!("{name}.json"), &cassette);
    }
    let server = replay(dir.path()).await;
    let client = plain_client();
    for (name, id) in [("suite-b", "2"), ("suite-a", "1"), ("suite-b.json", "2")] {
        let mut headers = api_headers("x", false);
        headers.push(("x-datovcr-cassette", name.into()));
        let (_, _, body) = send(
            &client,
            Method::GET,
            &format!("{}/access_tokens/9", server.uri()),
            &borrowed(&headers),
            "",
        )
        .await;
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["data"]["id"],
            id,
            "{name}"
        );
    }
    let mut headers = api_headers("x", false);
    headers.push(("x-datovcr-cassette", "suite-c".into()));
    let (status, _, body) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens/9", server.uri()),
        &borrowed(&headers),
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 599);
    assert!(String::from_utf8_lossy(&body).contains("suite-c"));
}

#[tokio::test]
async fn check_reports_contract_violations_of_replayed_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    let mut broken = token_resource("312", None);
    broken["attributes"]["last_cma_access"] = json!("last_year");
    cassette.interactions.push(interaction(
        request("GET", "/access_tokens/312", None),
        200,
        json!({"data": broken}),
    ));
    let path = write_cassette(dir.path(), "c.json", &cassette);
    let server = ReplayServer::builder()
        .cassette(&path)
        .check(true)
        .start()
        .await
        .unwrap();
    let client = plain_client();
    let (status, headers, _) = send(
        &client,
        Method::GET,
        &format!("{}/access_tokens/312", server.uri()),
        &borrowed(&api_headers("x", false)),
        "",
    )
    .await;
    assert_eq!(status, 200, "the recorded response is still served");
    assert_eq!(
        headers["x-datovcr-violations"],
        "1; response body /data/attributes/last_cma_access [enum]"
    );
    assert_eq!(server.shutdown().await.violations, 1);
}

#[tokio::test]
async fn the_shipped_cassettes_answer_the_documentation_create_request() {
    let server = replay(&repo_path("cassettes")).await;
    let client = plain_client();
    let docs_body = r#"{"data":{"type":"access_token","attributes":{"name":"Read-only API token","can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":true},"relationships":{"role":{"data":{"type":"role","id":"34"}}}}}"#;
    let headers = [
        ("authorization", "Bearer YOUR-API-TOKEN"),
        ("accept", "application/json"),
        ("x-api-version", "3"),
        ("content-type", "application/vnd.api+json"),
    ];
    let (status, response_headers, body) = send(
        &client,
        Method::POST,
        &format!("{}/access_tokens", server.uri()),
        &headers,
        docs_body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(response_headers["content-type"], "application/json");
    let documented: Value = serde_json::from_str(
        r#"{"data":{"type":"access_token","id":"312","attributes":{"name":"Read-only API token","hardcoded_type":"","can_access_cda":true,"can_access_cda_preview":true,"can_access_cma":true},"relationships":{"role":{"data":{"type":"role","id":"34"}}}}}"#,
    )
    .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), documented);
}

/// Whether `addr` is still served by the replay that holds `marker`: a
/// closed port is not, and neither is another test's server that took the
/// freed port meanwhile (the suite runs many at once).
async fn still_serves(addr: std::net::SocketAddr, marker: &str) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET {marker} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    matches!(read, Ok(Ok(_))) && answer.starts_with(b"HTTP/1.1 200 ")
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("/marker/{}", crate::support::upstream::random_token());
    let mut cassette = list_create_list();
    cassette.interactions.push(interaction(
        request("GET", &marker, None),
        200,
        json!({"ok": true}),
    ));
    let path = write_cassette(dir.path(), "flow.json", &cassette);
    let server = replay(&path).await;
    let addr = server.addr();
    assert!(still_serves(addr, &marker).await, "the marker is served");
    server.shutdown().await;
    assert!(
        !still_serves(addr, &marker).await,
        "nothing serves it after shutdown"
    );
    let dropped = replay(&path).await;
    let addr = dropped.addr();
    assert!(still_serves(addr, &marker).await, "the marker is served");
    drop(dropped);
    // The stop is asynchronous; give the accept loop a bounded number of turns.
    let mut closed = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if !still_serves(addr, &marker).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the listener closes after the handle is dropped");
}
