//! The contract: JSON Schemas for every endpoint of the DatoCMS Content
//! Management API (generated into `schemas/cma/` by tools/contract-gen),
//! the hand-written overlay in `schemas/` (the access tokens, the header
//! rules, the error envelope, real API behaviour the generated schemas do not
//! describe) and the manifests that tie them to endpoints.
//!
//! A [`ContractSet`] is loaded once; each endpoint's validators are compiled
//! the first time it is checked. It knows nothing about sockets, so
//! `schema-check`, the proxy and replay all share it.

mod embedded;
mod endpoint;
mod finding;
mod headers;
mod jobs;
mod light;
mod manifest;
mod query;
mod quick;
mod routing;
mod schema_set;
#[cfg(test)]
mod tests;
mod validate;

pub use endpoint::Endpoint;
pub use finding::{
    Category, Finding, Part, Severity, Side, pointer_token, push_pointer_token, violations_summary,
};
pub use quick::{WireRequest, WireResponse};
pub use routing::{PathTemplate, Router};

use crate::cassette::{Body, Headers, Interaction, Query, RecordedRequest, RecordedResponse};
use endpoint::{Compiled, Documented};
use headers::HeaderRules;
use schema_set::{Compiler, MetaCheck};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use validate::validate;

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

/// The loaded contract.
#[derive(Debug)]
pub struct ContractSet {
    endpoints: Vec<Endpoint>,
    by_id: HashMap<String, usize>,
    /// Method and path to an index into `endpoints`.
    router: Router,
    headers: HeaderRules,
    compiler: Compiler,
    /// The `$id`s of the generated documents (see [`validate`]).
    generated: validate::Generated,
    /// Jobs seen starting, so their results are checked ([`jobs`]).
    jobs: jobs::JobLedger,
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
        schema_set::compile(files, MetaCheck::HandWritten)
    }

    /// A contract read from a folder holding `manifest.json` and the schemas
    /// it names, in it and its subfolders (`--schemas DIR`). Every file is
    /// checked against the JSON Schema meta-schema.
    pub fn from_dir(dir: &Path) -> Result<Self, ContractError> {
        schema_set::compile(schema_set::read_dir(dir)?, MetaCheck::Every)
    }

    /// Every endpoint, in manifest order (the generated contract's order,
    /// overlay entries in place of the ones they replace, added ones last).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.by_id.get(id).map(|&index| &self.endpoints[index])
    }

    /// Compiles every endpoint now rather than on first use; the first
    /// schema that cannot be compiled, named, is the error.
    pub fn compile_all(&self) -> Result<(), ContractError> {
        for endpoint in &self.endpoints {
            self.compiled(endpoint)
                .map_err(|message| ContractError::Invalid {
                    file: format!("endpoint {}", endpoint.id),
                    message: message.to_owned(),
                })?;
        }
        Ok(())
    }

    fn compiled<'s>(&'s self, endpoint: &'s Endpoint) -> Result<&'s Compiled, &'s str> {
        endpoint
            .compiled
            .get_or_init(|| self.compiler.endpoint(&endpoint.rules))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The compiled endpoint, or a finding that says why it cannot be checked.
    fn compiled_or_finding<'s>(
        &'s self,
        endpoint: &'s Endpoint,
        side: Side,
        findings: &mut Vec<Finding>,
    ) -> Option<&'s Compiled> {
        match self.compiled(endpoint) {
            Ok(compiled) => Some(compiled),
            Err(message) => {
                findings.push(Finding {
                    category: Category::Violation,
                    side,
                    part: Part::Body,
                    pointer: String::new(),
                    rule: "contract".into(),
                    message: format!("the contract for {} cannot be used: {message}", endpoint.id),
                });
                None
            }
        }
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
        let rules = &endpoint.rules;
        // Content-Type describes content (RFC 9110 §8.3): it is required
        // when a documented body is sent (a body sent where none is
        // documented is reported once, as such).
        let with_body = rules.body.is_some() && !matches!(request.body, Body::Empty);
        self.headers
            .check_request(request.headers, with_body, &mut findings);
        let Some(compiled) = self.compiled_or_finding(endpoint, side, &mut findings) else {
            return findings;
        };
        let query = query::read(request.query.pairs(), &compiled.query_shape);
        validate(
            &compiled.query,
            &query,
            side,
            Part::Query,
            &self.generated,
            &mut findings,
        );
        match (&compiled.body, request.body) {
            (None, Body::Empty) => {}
            (None, _) => findings.push(Finding {
                category: Category::Violation,
                side,
                part: Part::Body,
                pointer: String::new(),
                rule: "no-body".into(),
                message: format!("{} takes no request body, but one was sent", endpoint.id),
            }),
            (Some(_), Body::Empty) if rules.body_optional => {}
            (Some(schema), body) => {
                if let Some(json) = json_body(body, side, &mut findings) {
                    validate(
                        schema,
                        json,
                        side,
                        Part::Body,
                        &self.generated,
                        &mut findings,
                    );
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
        let has_content = !matches!(response.body, Body::Empty);
        self.headers
            .check_response(response.headers, has_content, &mut findings);
        let Some(compiled) = self.compiled_or_finding(endpoint, side, &mut findings) else {
            return findings;
        };
        match self.response_schema(endpoint, compiled, response.status, &mut findings) {
            Documented::No => {}
            Documented::NoBody => {
                if has_content {
                    findings.push(Finding {
                        category: Category::Violation,
                        side,
                        part: Part::Body,
                        pointer: String::new(),
                        rule: "no-body".into(),
                        message: format!(
                            "{} answers {} with no body, but one was sent",
                            endpoint.id, response.status
                        ),
                    });
                }
            }
            Documented::Body(schema) => {
                if let Some(json) = json_body(response.body, side, &mut findings) {
                    validate(
                        schema,
                        json,
                        side,
                        Part::Body,
                        &self.generated,
                        &mut findings,
                    );
                    self.follow_jobs(endpoint, response.status, json, &mut findings);
                }
            }
        }
        findings
    }

    /// Notes a job a 202 answer starts; checks the payload of a finished
    /// job's result against the schema of the call that started it: its job
    /// schema when the call succeeded, its error schema when it failed.
    fn follow_jobs(
        &self,
        endpoint: &Endpoint,
        status: u16,
        body: &Value,
        findings: &mut Vec<Finding>,
    ) {
        if status == 202 && endpoint.rules.job.is_some() {
            if let (Some(job_id), Some(&origin)) =
                (jobs::started_job(body), self.by_id.get(&endpoint.id))
            {
                self.jobs.started(job_id, origin);
            }
            return;
        }
        if status / 100 != 2 {
            return;
        }
        let Some((job_id, job_status, payload)) = jobs::job_result(body) else {
            return;
        };
        let Some(origin) = self.jobs.finished(job_id) else {
            return;
        };
        let origin = &self.endpoints[origin];
        let Some(compiled) = self.compiled_or_finding(origin, Side::Response, findings) else {
            return;
        };
        // The status the call really answered with must be one its responses
        // document (any 2xx stands for the finished job: real results carry
        // 201 for a fork that answers 202 directly); another (a 302, a 100)
        // is a violation, not a payload left unchecked.
        let documented = compiled.response(job_status);
        if job_status / 100 != 2 && matches!(documented, Documented::No) {
            findings.push(Finding {
                category: Category::Violation,
                side: Side::Response,
                part: Part::Body,
                pointer: "/data/attributes/status".into(),
                rule: "status".into(),
                message: format!(
                    "status {job_status} is not one {} is documented to answer with (the result \
                     of job {job_id})",
                    origin.id
                ),
            });
        }
        let schema = if job_status / 100 == 2 {
            compiled.job.as_deref()
        } else {
            match documented {
                Documented::Body(schema) => Some(schema),
                Documented::No | Documented::NoBody => None,
            }
        };
        let Some(schema) = schema else {
            return;
        };
        let from = findings.len();
        validate(
            schema,
            payload,
            Side::Response,
            Part::Body,
            &self.generated,
            findings,
        );
        for finding in &mut findings[from..] {
            finding.pointer = format!("/data/attributes/payload{}", finding.pointer);
            finding.message = format!(
                "{} (the result of job {job_id}, which {} started)",
                finding.message, origin.id
            );
        }
    }

    /// Checks a lone request body (`schema-check --request FILE`).
    pub fn check_request_body(&self, endpoint: &Endpoint, body: &Value) -> Vec<Finding> {
        let mut findings = Vec::new();
        let Some(compiled) = self.compiled_or_finding(endpoint, Side::Request, &mut findings)
        else {
            return findings;
        };
        match &compiled.body {
            Some(schema) => validate(
                schema,
                body,
                Side::Request,
                Part::Body,
                &self.generated,
                &mut findings,
            ),
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
        let Some(compiled) = self.compiled_or_finding(endpoint, Side::Response, &mut findings)
        else {
            return findings;
        };
        match self.response_schema(endpoint, compiled, status, &mut findings) {
            Documented::Body(schema) => validate(
                schema,
                body,
                Side::Response,
                Part::Body,
                &self.generated,
                &mut findings,
            ),
            Documented::NoBody => findings.push(Finding {
                category: Category::Violation,
                side: Side::Response,
                part: Part::Body,
                pointer: String::new(),
                rule: "no-body".into(),
                message: format!("{} answers {status} with no body", endpoint.id),
            }),
            Documented::No => {}
        }
        findings
    }

    /// What the contract says about `status`; a status finding when it is
    /// not documented, or is a 2xx the endpoint is not known to answer with.
    fn response_schema<'c>(
        &self,
        endpoint: &Endpoint,
        compiled: &'c Compiled,
        status: u16,
        findings: &mut Vec<Finding>,
    ) -> Documented<'c> {
        let documented = compiled.response(status);
        let undocumented_success =
            status / 100 == 2 && !endpoint.rules.success_statuses.contains(&status);
        if matches!(documented, Documented::No) || undocumented_success {
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
        documented
    }

    fn check_path_params(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: &Value,
        findings: &mut Vec<Finding>,
    ) {
        for (segment, pointer) in &endpoint.rules.path_params {
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
