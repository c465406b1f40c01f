//! Issue 15 review: the performance changes attacked from outside (replay's
//! one-pass body key, the handler run inside the connection, `--record
//! none`'s late secret search, `--threads`), each break now fixed.

use crate::support::client::{HttpsClient, send};
use crate::support::{interaction, request, token_resource};
use datovcr::cassette::Cassette;
use datovcr::replay::{ReplayHandle, ReplayServer};
use http::Method;
use serde_json::json;
use std::path::{Path, PathBuf};

fn plain_client() -> HttpsClient {
    // The test CA is irrelevant for plain HTTP; any PEM will do.
    let pki = crate::support::tls::TestPki::new();
    crate::support::client::https_client(pki.ca_file())
}

fn write_cassette(dir: &Path, cassette: &Cassette) -> PathBuf {
    let path = dir.join("cassette.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    path
}

async fn replay(path: &Path) -> ReplayHandle {
    ReplayServer::builder()
        .cassette(path)
        .quiet(true)
        .start()
        .await
        .expect("replay starts")
}

/// serde_json reads an object whose first member is named
/// `$serde_json::private::Number` as a number, when its string is one, and
/// one named `$serde_json::private::RawValue` as the document its string
/// spells. The one-pass key wrote such a string into the key as it stood,
/// so a body that is no JSON number matched a recording the tree never
/// matches (the string closing the member and opening another).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_spelling_serde_json_private_names_matches_only_what_the_tree_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::new();
    for body in [
        json!({"a": 1, "b": 2}),
        json!({"a": 1, "$serde_json::private::RawValue": "[]"}),
    ] {
        cassette.interactions.push(interaction(
            request("POST", "/access_tokens", Some(body)),
            201,
            json!({"data": token_resource("312", None)}),
        ));
    }
    let server = replay(&write_cassette(dir.path(), &cassette)).await;
    let client = plain_client();
    let url = format!("{}/access_tokens", server.uri());
    let headers = [("content-type", "application/json")];
    let status = |body: &'static str| {
        let (client, url) = (&client, &url);
        async move {
            send(client, Method::POST, url, &headers, body)
                .await
                .0
                .as_u16()
        }
    };
    // What the tree reads as the recorded bodies matches (a control).
    assert_eq!(status(r#"{"b": 2, "a": 1.0}"#).await, 201);
    assert_eq!(
        status(r#"{"a":{"$serde_json::private::Number":"1"},"b":2}"#).await,
        201
    );
    assert_eq!(
        status(r#"{"a":1,"$serde_json::private::RawValue":"[]"}"#).await,
        201
    );
    // Not JSON numbers: the tree refuses these bodies, which are then
    // matched as text, and no recorded text is theirs.
    for body in [
        r#"{"a":{"$serde_json::private::Number":"1e0,\"b\":2e0"}}"#,
        r#"{"a":{"$serde_json::private::Number":"1e0"},"b":{"$serde_json::private::Number":"02"}}"#,
        r#"{"a":{"$serde_json::private::Number":"+1"},"b":2}"#,
        r#"{"a":{"$serde_json::private::Number":" 1"},"b":2}"#,
        // The tree reads `[]` and then finds a second member: not JSON.
        r#"{"$serde_json::private::RawValue":"[]","a":1}"#,
    ] {
        assert_eq!(status(body).await, 599, "{body}");
    }
    server.shutdown().await;
}
