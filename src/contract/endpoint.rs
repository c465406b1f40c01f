//! One endpoint under contract: what its manifest entry says, and its
//! validators, compiled the first time the endpoint is checked.
//!
//! The whole CMA has 200-odd endpoints and several hundred schemas; building
//! every validator up front would cost start-up more than most runs spend
//! checking. An endpoint compiles once, on first use, and validators shared
//! between endpoints (the error envelope) are compiled once for all.

use super::manifest::StatusKey;
use super::query::QueryShape;
use super::routing::PathTemplate;
use jsonschema::Validator;
use std::sync::{Arc, OnceLock};

/// A schema a manifest names: its absolute URI in the registry and, for
/// messages, where it is (`schemas/cma/item.json#/$defs/Item`).
#[derive(Debug, Clone)]
pub struct SchemaRef {
    pub uri: String,
    pub label: String,
}

/// One endpoint under contract.
#[derive(Debug)]
pub struct Endpoint {
    /// `items.create`, `access_tokens.find` …
    pub id: String,
    /// Upper case.
    pub method: String,
    pub path: PathTemplate,
    pub(super) rules: Rules,
    pub(super) compiled: OnceLock<Result<Compiled, String>>,
}

/// The manifest entry, its references resolved.
#[derive(Debug)]
pub(super) struct Rules {
    pub body: Option<SchemaRef>,
    pub body_optional: bool,
    pub query: SchemaRef,
    pub query_required: bool,
    /// `(index of the path segment, pointer into the request body)`.
    pub path_params: Vec<(usize, String)>,
    /// `None`: the status is answered with no body.
    pub responses: Vec<(StatusKey, Option<SchemaRef>)>,
    pub success_statuses: Vec<u16>,
    pub job: Option<SchemaRef>,
    pub deprecated: Option<String>,
    pub doc_url: Option<String>,
    /// The manifest the entry comes from (`manifest.json`, `cma/manifest.json`).
    pub manifest: String,
}

/// The validators of one endpoint.
#[derive(Debug)]
pub(super) struct Compiled {
    pub body: Option<Arc<Validator>>,
    pub query: Arc<Validator>,
    pub query_shape: QueryShape,
    /// Exact statuses first, then classes, as the manifest lists them.
    pub responses: Vec<(StatusKey, Option<Arc<Validator>>)>,
    /// The finished job's payload, for endpoints that may answer 202.
    pub job: Option<Arc<Validator>>,
}

/// What the contract says about one response status.
#[derive(Debug, Clone, Copy)]
pub(super) enum Documented<'a> {
    /// The status is not documented for this endpoint.
    No,
    /// Documented, with no body.
    NoBody,
    Body(&'a Validator),
}

impl Compiled {
    /// The schema for `status`: an exact status wins over its class.
    pub fn response(&self, status: u16) -> Documented<'_> {
        let class = u8::try_from(status / 100).unwrap_or(0);
        let exact = self
            .responses
            .iter()
            .find(|(key, _)| *key == StatusKey::Exact(status));
        let found = exact.or_else(|| {
            self.responses
                .iter()
                .find(|(key, _)| *key == StatusKey::Class(class))
        });
        match found {
            None => Documented::No,
            Some((_, None)) => Documented::NoBody,
            Some((_, Some(validator))) => Documented::Body(validator),
        }
    }
}

impl Endpoint {
    /// True when the endpoint documents a request body (optional or not).
    pub fn has_request_body(&self) -> bool {
        self.rules.body.is_some()
    }

    /// True when the documented body may be left out (item publish).
    pub fn body_optional(&self) -> bool {
        self.rules.body_optional
    }

    /// True when the client always sends a query (search results).
    pub fn query_required(&self) -> bool {
        self.rules.query_required
    }

    /// The 2xx statuses the endpoint answers with, ascending.
    pub fn success_statuses(&self) -> &[u16] {
        &self.rules.success_statuses
    }

    /// True when the endpoint may answer 202 with a job whose result
    /// payload has a schema.
    pub fn has_job(&self) -> bool {
        self.rules.job.is_some()
    }

    /// The client's deprecation note, for endpoints it marks private.
    pub fn deprecated(&self) -> Option<&str> {
        self.rules.deprecated.as_deref()
    }

    /// The endpoint's page in DatoCMS's API reference.
    pub fn doc_url(&self) -> Option<&str> {
        self.rules.doc_url.as_deref()
    }

    /// The manifest the entry comes from, relative to the schema folder:
    /// `manifest.json` for the overlay, `cma/manifest.json` for the
    /// generated contract.
    pub fn manifest(&self) -> &str {
        &self.rules.manifest
    }

    /// The schema references of the entry, with where each sits
    /// (`request.body`, `responses.2xx`, `job` …).
    pub fn schema_labels(&self) -> Vec<(String, &str)> {
        let rules = &self.rules;
        let mut out = Vec::new();
        if let Some(body) = &rules.body {
            out.push(("request.body".to_owned(), body.label.as_str()));
        }
        out.push(("request.query".to_owned(), rules.query.label.as_str()));
        for (key, schema) in &rules.responses {
            let key = match key {
                StatusKey::Exact(status) => status.to_string(),
                StatusKey::Class(class) => format!("{class}xx"),
            };
            if let Some(schema) = schema {
                out.push((format!("responses.{key}"), schema.label.as_str()));
            }
        }
        if let Some(job) = &rules.job {
            out.push(("job".to_owned(), job.label.as_str()));
        }
        out
    }
}
