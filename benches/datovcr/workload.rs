//! What the load generator sends and what the servers answer: the official
//! client's requests (headers and pretty-printed bodies as captured in
//! `shared/reference/access-token-api.md` §9) and DatoCMS-shaped responses
//! (§6 headers, §2 resource). The static upstream, the bare baseline and the
//! generated cassettes all use these, so every target serves the same bytes.

use bytes::Bytes;
use datovcr::cassette::{
    Body, Cassette, FormatVersion, Headers, Interaction, Query, RecordedRequest, RecordedResponse,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use std::path::Path;

/// A long bearer, so the redactor also searches for it (secrets shorter
/// than 8 characters are only replaced where they are known to be).
pub const BEARER: &str = "Bearer 9b2f0c7d4e1a8b3c6d5e0f1a2b3c4d";

/// One request, ready to be cloned onto the wire.
#[derive(Clone)]
pub struct RequestTemplate {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One canned answer.
#[derive(Clone)]
pub struct CannedResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl CannedResponse {
    /// The body exactly as replay serves a recorded JSON body: compact, in
    /// recorded key order.
    pub fn body_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(&self.body).expect("JSON serializes"))
    }
}

/// The ten headers the official client sends (§9), in its order. `host` is
/// filled in per target; `content-length` is added by hyper.
fn client_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("connection", "keep-alive"),
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("authorization", BEARER),
        ("user-agent", "@datocms/cma-client v5.8.1"),
        ("x-api-version", "3"),
        ("accept-language", "*"),
        ("sec-fetch-mode", "cors"),
        ("accept-encoding", "gzip, deflate"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn template(method: Method, path: String, body: Option<&Value>) -> RequestTemplate {
    RequestTemplate {
        method,
        path,
        headers: client_headers(),
        // The official client pretty-prints with two spaces.
        body: body.map_or_else(Bytes::new, |body| {
            Bytes::from(serde_json::to_string_pretty(body).expect("JSON serializes"))
        }),
    }
}

/// The create body of §9, with a name of our choosing.
pub fn create_body(name: &str) -> Value {
    json!({
        "data": {
            "type": "access_token",
            "attributes": {
                "name": name,
                "can_access_cda": true,
                "can_access_cda_preview": true,
                "can_access_cma": false
            },
            "relationships": {"role": {"data": {"id": "34", "type": "role"}}}
        }
    })
}

/// An `access_token` resource as DatoCMS sends it; `token` only when given.
fn resource(id: &str, name: &str, token: Option<&str>) -> Value {
    let mut attributes = json!({
        "name": name,
        "hardcoded_type": null,
        "can_access_cda": true,
        "can_access_cda_preview": true,
        "can_access_cma": false,
        "last_cma_access": "never",
        "last_cda_access": "today"
    });
    if let Some(token) = token {
        attributes["token"] = json!(token);
    }
    json!({
        "type": "access_token",
        "id": id,
        "attributes": attributes,
        "relationships": {"role": {"data": {"type": "role", "id": "34"}}}
    })
}

/// Response headers per §6.
fn response_headers() -> Vec<(&'static str, String)> {
    [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "max-age=0, private, must-revalidate"),
        ("x-api-version", "3"),
        ("x-ratelimit-limit", "60"),
        ("x-ratelimit-remaining", "59"),
        ("x-request-id", "0f9c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"),
        ("vary", "Accept-Encoding"),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .collect()
}

/// The same, with the per-response values a real recording has: every
/// DatoCMS answer carries its own `x-request-id`.
fn unique_response_headers(serial: usize) -> Vec<(&'static str, String)> {
    let mut headers = response_headers();
    for (name, value) in &mut headers {
        if *name == "x-request-id" {
            *value = format!("0f9c1d2e-3b4a-4c5d-8e6f-{serial:012x}");
        }
    }
    headers
}

/// The three-request mix every throughput and latency row sends: create,
/// find and list, in turn, with their canned answers.
pub fn standard_mix() -> Vec<(RequestTemplate, CannedResponse)> {
    let create = create_body("Read-only API token");
    let tokens: Vec<Value> = (0..5)
        .map(|i| resource(&format!("31{i}"), &format!("Token {i}"), None))
        .collect();
    vec![
        (
            template(Method::POST, "/access_tokens".into(), Some(&create)),
            CannedResponse {
                status: 201,
                headers: response_headers(),
                body: json!({"data": resource("312", "Read-only API token",
                    Some("5f3a9c0e7b2d4f6a8c1e3b5d7f9a0c2e"))}),
            },
        ),
        (
            template(Method::GET, "/access_tokens/312".into(), None),
            CannedResponse {
                status: 200,
                headers: response_headers(),
                body: json!({"data": resource("312", "Read-only API token", None)}),
            },
        ),
        (
            template(Method::GET, "/access_tokens".into(), None),
            CannedResponse {
                status: 200,
                headers: response_headers(),
                body: json!({"data": tokens}),
            },
        ),
    ]
}

/// `count` distinct requests (every fifth a create with its own name, the
/// rest finds of distinct ids) with answers, for the large-cassette rows.
pub fn distinct_mix(count: usize) -> Vec<(RequestTemplate, CannedResponse)> {
    (0..count)
        .map(|i| {
            let id = (1000 + i).to_string();
            let name = format!("Token {i}");
            if i % 5 == 0 {
                let body = create_body(&name);
                (
                    template(Method::POST, "/access_tokens".into(), Some(&body)),
                    CannedResponse {
                        status: 201,
                        headers: unique_response_headers(i),
                        body: json!({"data": resource(&id, &name, Some("[REDACTED]"))}),
                    },
                )
            } else {
                (
                    template(Method::GET, format!("/access_tokens/{id}"), None),
                    CannedResponse {
                        status: 200,
                        headers: unique_response_headers(i),
                        body: json!({"data": resource(&id, &name, None)}),
                    },
                )
            }
        })
        .collect()
}

/// The exchange as a cassette holds it (authorization redacted, as the
/// proxy would have written it).
pub fn interaction(request: &RequestTemplate, response: &CannedResponse) -> Interaction {
    let mut headers = Headers::new();
    for (name, value) in &request.headers {
        let value = if name == "authorization" {
            datovcr::redact::BEARER_PLACEHOLDER
        } else {
            value.to_str().expect("ASCII header")
        };
        headers.append(name.as_str(), value);
    }
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: request.method.as_str().to_owned(),
            path: request.path.clone(),
            query: Query::default(),
            headers,
            body: Body::from_bytes(&request.body, content_type),
        },
        response: RecordedResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect(),
            body: Body::Json(response.body.clone()),
        },
    }
}

/// Writes a cassette holding `mix`, in order.
pub fn write_cassette(path: &Path, mix: &[(RequestTemplate, CannedResponse)]) {
    let cassette = Cassette {
        version: FormatVersion,
        interactions: mix
            .iter()
            .map(|(request, response)| interaction(request, response))
            .collect(),
    };
    std::fs::write(path, cassette.to_bytes()).expect("write the generated cassette");
}
