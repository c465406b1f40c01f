//! The access-token contract: JSON Schemas derived from the DatoCMS
//! documentation plus a manifest that ties them to endpoints.
//!
//! A [`ContractSet`] is compiled once (every validator is built up front)
//! and then checks any number of exchanges. It knows nothing about sockets,
//! so `schema-check`, the proxy and replay all share it.

mod embedded;
mod finding;
mod manifest;
mod routing;
mod schema_set;

pub use finding::{Category, Finding, Part, Severity, Side, pointer_token, violations_summary};
pub use routing::{PathTemplate, Router};

use crate::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A contract that could not be loaded. Always names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("cannot read schema folder {}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("schema {file}: {message}")]
    Invalid { file: String, message: String },
}

/// One endpoint under contract, with its validators compiled.
#[derive(Debug)]
pub struct Endpoint {
    pub id: String,
    pub method: String,
    pub path: PathTemplate,
    request_body: Option<Arc<Validator>>,
    query: Arc<Validator>,
    /// `(index of the path segment, pointer into the request body)`.
    path_params: Vec<(usize, String)>,
    /// Indexed by status class: `responses[2]` is the 2xx schema.
    responses: [Option<Arc<Validator>>; 6],
    success_statuses: Vec<u16>,
}

impl Endpoint {
    pub fn has_request_body(&self) -> bool {
        self.request_body.is_some()
    }
}

/// The compiled contract.
#[derive(Debug)]
pub struct ContractSet {
    endpoints: Vec<Endpoint>,
    /// Method and path to an index into `endpoints`.
    router: Router,
    request_headers: Arc<Validator>,
    request_headers_with_body: Arc<Validator>,
    response_headers: Arc<Validator>,
}

/// The request half of an exchange, borrowed from wherever it lives.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a Query,
    pub headers: &'a Headers,
    pub body: &'a Body,
}

/// The response half of an exchange.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub headers: &'a Headers,
    pub body: &'a Body,
}

impl<'a> From<&'a RecordedRequest> for RequestParts<'a> {
    fn from(request: &'a RecordedRequest) -> Self {
        Self {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
        }
    }
}

impl<'a> From<&'a RecordedResponse> for ResponseParts<'a> {
    fn from(response: &'a RecordedResponse) -> Self {
        Self {
            status: response.status,
            headers: &response.headers,
            body: &response.body,
        }
    }
}

impl ContractSet {
    /// The contract compiled into the binary.
    pub fn embedded() -> Result<Self, ContractError> {
        let files = embedded::SCHEMA_FILES
            .iter()
            .map(|(name, text)| schema_set::SchemaFile {
                name: (*name).to_owned(),
                origin: format!("(built in) schemas/{name}"),
                text: (*text).to_owned(),
            })
            .collect();
        schema_set::compile(files)
    }

    /// A contract read from a folder holding `manifest.json` and the schemas
    /// it names (`--schemas DIR`).
    pub fn from_dir(dir: &Path) -> Result<Self, ContractError> {
        schema_set::compile(schema_set::read_dir(dir)?)
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.id == id)
    }

    /// The endpoint a request is for, or `None` when it is not under contract.
    pub fn route(&self, method: &str, path: &str) -> Option<&Endpoint> {
        self.router
            .lookup(method, path)
            .map(|index| &self.endpoints[index])
    }

    /// Checks a recorded interaction. `None` means "not under contract".
    pub fn check_interaction(
        &self,
        interaction: &Interaction,
    ) -> Option<(&Endpoint, Vec<Finding>)> {
        let request = &interaction.request;
        let endpoint = self.route(&request.method, &request.path)?;
        let mut findings = self.check_request(endpoint, request.into());
        let response = &interaction.response;
        findings.extend(self.check_response(endpoint, response.into()));
        Some((endpoint, findings))
    }

    /// Checks headers, query, body and path parameters of a request.
    pub fn check_request(&self, endpoint: &Endpoint, request: RequestParts<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        let side = Side::Request;
        let header_rules = if endpoint.has_request_body() {
            &self.request_headers_with_body
        } else {
            &self.request_headers
        };
        validate(
            header_rules,
            &request.headers.to_json(),
            side,
            Part::Headers,
            &mut findings,
        );
        validate(
            &endpoint.query,
            &request.query.to_json(),
            side,
            Part::Query,
            &mut findings,
        );
        match (&endpoint.request_body, request.body) {
            (None, Body::Empty) => {}
            (None, _) => findings.push(Finding {
                category: Category::Violation,
                side,
                part: Part::Body,
                pointer: String::new(),
                rule: "no-body".into(),
                message: format!("{} takes no request body, but one was sent", endpoint.id),
            }),
            (Some(schema), body) => {
                if let Some(json) = json_body(body, side, &mut findings) {
                    validate(schema, json, side, Part::Body, &mut findings);
                    self.check_path_params(endpoint, request.path, json, &mut findings);
                }
            }
        }
        findings
    }

    /// Checks status, headers and body of a response.
    pub fn check_response(&self, endpoint: &Endpoint, response: ResponseParts<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        let side = Side::Response;
        validate(
            &self.response_headers,
            &response.headers.to_json(),
            side,
            Part::Headers,
            &mut findings,
        );
        let Some(schema) = self.response_schema(endpoint, response.status, &mut findings) else {
            return findings;
        };
        if let Some(json) = json_body(response.body, side, &mut findings) {
            validate(schema, json, side, Part::Body, &mut findings);
        }
        findings
    }

    /// Checks a lone request body (`schema-check --request FILE`).
    pub fn check_request_body(&self, endpoint: &Endpoint, body: &Value) -> Vec<Finding> {
        let mut findings = Vec::new();
        match &endpoint.request_body {
            Some(schema) => validate(schema, body, Side::Request, Part::Body, &mut findings),
            None => findings.push(Finding {
                category: Category::Violation,
                side: Side::Request,
                part: Part::Body,
                pointer: String::new(),
                rule: "no-body".into(),
                message: format!("{} takes no request body", endpoint.id),
            }),
        }
        findings
    }

    /// Checks a lone response body (`schema-check --response FILE --status N`).
    pub fn check_response_body(
        &self,
        endpoint: &Endpoint,
        status: u16,
        body: &Value,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        if let Some(schema) = self.response_schema(endpoint, status, &mut findings) {
            validate(schema, body, Side::Response, Part::Body, &mut findings);
        }
        findings
    }

    fn response_schema<'s>(
        &'s self,
        endpoint: &'s Endpoint,
        status: u16,
        findings: &mut Vec<Finding>,
    ) -> Option<&'s Arc<Validator>> {
        let class = usize::from(status / 100);
        let schema = endpoint.responses.get(class).and_then(Option::as_ref);
        let undocumented_success = class == 2 && !endpoint.success_statuses.contains(&status);
        if schema.is_none() || undocumented_success {
            findings.push(Finding {
                category: Category::Violation,
                side: Side::Response,
                part: Part::Status,
                pointer: String::new(),
                rule: "status".into(),
                message: format!(
                    "status {status} is not one {} is documented to answer with",
                    endpoint.id
                ),
            });
        }
        schema
    }

    fn check_path_params(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: &Value,
        findings: &mut Vec<Finding>,
    ) {
        for (segment, pointer) in &endpoint.path_params {
            let in_path = endpoint.path.segment(path, *segment);
            let in_body = body.pointer(pointer).and_then(Value::as_str);
            if let (Some(in_path), Some(in_body)) = (in_path, in_body)
                && in_path != in_body
            {
                findings.push(Finding {
                    category: Category::Violation,
                    side: Side::Request,
                    part: Part::Body,
                    pointer: pointer.clone(),
                    rule: "path-id".into(),
                    message: format!("`{in_body}` differs from the id in the path, `{in_path}`"),
                });
            }
        }
    }
}

/// The JSON value of a body that must be JSON; a finding otherwise.
fn json_body<'b>(body: &'b Body, side: Side, findings: &mut Vec<Finding>) -> Option<&'b Value> {
    let message = match body {
        Body::Json(value) => return Some(value),
        Body::Empty => "the body is empty, but a JSON document is required",
        Body::Text(_) | Body::Binary(_) => "the body is not JSON",
    };
    findings.push(Finding {
        category: Category::Violation,
        side,
        part: Part::Body,
        pointer: String::new(),
        rule: "json".into(),
        message: message.into(),
    });
    None
}

/// Runs one validator and turns its errors into findings. Undocumented
/// properties in a response are drift; everywhere else they are violations.
fn validate(
    schema: &Validator,
    instance: &Value,
    side: Side,
    part: Part,
    findings: &mut Vec<Finding>,
) {
    if schema.is_valid(instance) {
        return;
    }
    for error in schema.iter_errors(instance) {
        let at = error.instance_path().as_str().to_owned();
        let violation = |pointer: String, rule: &str, message: String| Finding {
            category: Category::Violation,
            side,
            part,
            pointer,
            rule: rule.to_owned(),
            message,
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let (category, message) = match side {
                        Side::Response => (
                            Category::Drift,
                            format!("`{name}` is not in the documented contract (API drift?)"),
                        ),
                        Side::Request => {
                            (Category::Violation, format!("`{name}` is not allowed here"))
                        }
                    };
                    findings.push(Finding {
                        category,
                        side,
                        part,
                        pointer: format!("{at}/{}", pointer_token(name)),
                        rule: "additionalProperties".into(),
                        message,
                    });
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| property.to_string());
                findings.push(violation(
                    format!("{at}/{}", pointer_token(&name)),
                    "required",
                    format!("`{name}` is required but missing"),
                ));
            }
            kind => findings.push(violation(at, kind.keyword(), error.to_string())),
        }
    }
}
