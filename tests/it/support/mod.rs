//! Fixtures shared by the tests: the official client's real request shapes
//! (reference §9) and small builders, plus a fake DatoCMS upstream
//! ([`upstream::FakeDato`]), its test PKI ([`tls`]) and a client that trusts
//! it ([`client`]), and a leak search for canary secrets ([`canary::LeakSearch`]).

pub mod canary;
pub mod client;
pub mod cma_flow;
pub mod node;
pub mod process;
pub mod proxy;
pub mod tls;
pub mod upstream;

use datovcr::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A copy of the repository's `schemas/` (with its `cma/` subfolder) in
/// `dir`, for tests that edit the contract.
pub fn copy_schemas(dir: &std::path::Path) {
    copy_tree(&repo_path("schemas"), dir);
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, target).unwrap();
        }
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The ten headers @datocms/cma-client 5.8.1 sends (as Node's fetch adds them).
pub fn client_headers(with_body: bool) -> Headers {
    let mut headers: Headers = [
        ("host", "127.0.0.1:33641"),
        ("connection", "keep-alive"),
        ("accept", "application/json"),
        ("authorization", "Bearer x"),
        ("user-agent", "@datocms/cma-client v5.8.1"),
        ("x-api-version", "3"),
        ("accept-language", "*"),
        ("sec-fetch-mode", "cors"),
        ("accept-encoding", "gzip, deflate"),
    ]
    .into_iter()
    .collect();
    if with_body {
        headers.append("content-type", "application/json");
    }
    headers
}

pub fn create_body() -> Value {
    json!({
      "data": {
        "type": "access_token",
        "attributes": {
          "name": "Read-only API token",
          "can_access_cda": true,
          "can_access_cda_preview": true,
          "can_access_cma": false
        },
        "relationships": { "role": { "data": { "id": "34", "type": "role" } } }
      }
    })
}

pub fn update_body(with_role: bool) -> Value {
    let mut body = json!({
      "data": {
        "id": "312",
        "type": "access_token",
        "attributes": {
          "name": "Renamed",
          "can_access_cda": true,
          "can_access_cda_preview": false,
          "can_access_cma": true
        },
        "relationships": { "role": { "data": { "id": "35", "type": "role" } } }
      }
    });
    if !with_role {
        body["data"]
            .as_object_mut()
            .unwrap()
            .remove("relationships");
    }
    body
}

/// A token as the server returns it, with every documented attribute.
pub fn token_resource(id: &str, token: Option<&str>) -> Value {
    json!({
        "type": "access_token",
        "id": id,
        "attributes": {
            "name": "Read-only API token",
            "token": token,
            "can_access_cda": true,
            "can_access_cda_preview": true,
            "can_access_cma": false,
            "hardcoded_type": null,
            "last_cma_access": "never",
            "last_cda_access": "today"
        },
        "relationships": { "role": { "data": { "type": "role", "id": "34" } } }
    })
}

pub fn json_response_headers() -> Headers {
    [("content-type", "application/json; charset=utf-8")]
        .into_iter()
        .collect()
}

pub fn request(method: &str, path_and_query: &str, body: Option<Value>) -> RecordedRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: Query::parse(query),
        headers: client_headers(body.is_some()),
        body: body.map(Body::Json).unwrap_or_default(),
    }
}

pub fn interaction(request: RecordedRequest, status: u16, body: Value) -> Interaction {
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request,
        response: RecordedResponse {
            status,
            headers: json_response_headers(),
            body: Body::Json(body),
        },
    }
}

/// Every file under `dir`, recursively, as (path, lossy text): for raw
/// searches that need no decoding (see [`canary::LeakSearch`] for those).
pub fn all_text_under(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(all_text_under(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            found.push((path.display().to_string(), text));
        }
    }
    found
}
