//! `schemas/manifest.json`: which rules apply to which endpoint.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "$comment", default)]
    pub _comment: Option<String>,
    pub version: u32,
    pub headers: HeaderSchemas,
    pub endpoints: Vec<EndpointSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSchemas {
    pub request: String,
    pub request_with_body: String,
    pub response: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// A stable name such as `access_tokens.create`.
    pub id: String,
    pub method: String,
    /// A template such as `/access_tokens/{id}`; `{name}` matches one segment.
    pub path: String,
    pub request: RequestSpec,
    /// Status class (`2xx`, `4xx`, `5xx`) to body schema.
    pub responses: BTreeMap<String, String>,
    /// The 2xx statuses the endpoint is known to answer with.
    pub success_statuses: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The body schema, or null when the request carries no body.
    pub body: Option<String>,
    pub query: String,
    /// Path parameter name to a pointer into the request body that must hold
    /// the same value (update's `data.id`).
    #[serde(default)]
    pub path_params: BTreeMap<String, String>,
}
