//! Issue 13's replay misses as a newcomer meets them: the nearest recorded
//! interaction ranks on method, then path similarity, then the rest, and a
//! client whose baseUrl has a path is told about `--path-prefix`.

use crate::support::client::{HttpsClient, send};
use crate::support::repo_path;
use datovcr::replay::ReplayServer;
use http::Method;
use serde_json::Value;

fn plain_client() -> HttpsClient {
    // The test CA is irrelevant for plain HTTP; any PEM will do.
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

/// The miss's message and its nearest interaction (method, path).
async fn miss(
    client: &HttpsClient,
    uri: &str,
    method: Method,
    path: &str,
) -> (String, String, String) {
    let (status, headers, body) = send(
        client,
        method.clone(),
        &format!("{uri}{path}"),
        &[("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 599, "{method} {path}");
    assert_eq!(headers.get("x-datovcr-error").unwrap(), "DATOVCR_NO_MATCH");
    let json: Value = serde_json::from_slice(&body).unwrap();
    let details = &json["data"][0]["attributes"]["details"];
    let nearest = &details["nearest"];
    (
        details["message"].as_str().unwrap().to_owned(),
        nearest["method"].as_str().unwrap_or_default().to_owned(),
        nearest["path"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nearest_interaction_ranks_method_then_path_then_the_rest() {
    let server = ReplayServer::builder()
        .cassette(repo_path("cassettes/access-tokens-docs.json"))
        .start()
        .await
        .unwrap();
    let client = plain_client();
    let uri = server.uri();
    // (method, path, nearest method, nearest path, --path-prefix hint)
    let cases = [
        (
            "GET",
            "/proxy-prefix/access_tokens",
            "GET",
            "/access_tokens",
            Some("/proxy-prefix"),
        ),
        (
            "GET",
            "/v1/api/access_tokens/312",
            "GET",
            "/access_tokens/312",
            Some("/v1/api"),
        ),
        (
            "PUT",
            "/x/access_tokens/312",
            "PUT",
            "/access_tokens/312",
            Some("/x"),
        ),
        (
            "POST",
            "/p/access_tokens/312/regenerate_token",
            "POST",
            "/access_tokens/312/regenerate_token",
            Some("/p"),
        ),
        (
            "GET",
            "/access_tokens/999",
            "GET",
            "/access_tokens/312",
            None,
        ),
        (
            "DELETE",
            "/access_tokens/999",
            "DELETE",
            "/access_tokens/312",
            None,
        ),
        ("PUT", "/access_tokens", "PUT", "/access_tokens/312", None),
        ("GET", "/access_token", "GET", "/access_tokens", None),
        (
            "GET",
            "/access_tokensx/312",
            "GET",
            "/access_tokens/312",
            None,
        ),
    ];
    for (method, path, nearest_method, nearest_path, hint) in cases {
        let method: Method = method.parse().unwrap();
        let (message, found_method, found_path) = miss(&client, &uri, method.clone(), path).await;
        assert_eq!(
            (found_method.as_str(), found_path.as_str()),
            (nearest_method, nearest_path),
            "{method} {path}: {message}"
        );
        match hint {
            Some(prefix) => assert!(
                message.contains(&format!("--path-prefix {prefix}")),
                "{method} {path}: {message}"
            ),
            None => assert!(
                !message.contains("--path-prefix"),
                "{method} {path}: {message}"
            ),
        }
    }
    // With the prefix given, the same request is served.
    let prefixed = ReplayServer::builder()
        .cassette(repo_path("cassettes/access-tokens-docs.json"))
        .path_prefix("/proxy-prefix")
        .start()
        .await
        .unwrap();
    let (status, _, _) = send(
        &client,
        Method::GET,
        &format!("{}/proxy-prefix/access_tokens", prefixed.uri()),
        &[("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(status.as_u16(), 200);
}
