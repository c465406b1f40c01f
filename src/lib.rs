//! datovcr: a record/replay proxy and contract tester for the DatoCMS
//! Content Management API, centred on its API-token resource.
//!
//! The library holds the pieces every mode shares:
//!
//! - [`cassette`]: the cassette file format (version 1), load and save.
//! - [`contract`]: the JSON Schema contract for the `/access_tokens`
//!   endpoints, compiled once and checked per exchange.
//! - [`content_coding`]: removing a body's content codings so it can be
//!   recorded and searched in plain.
//! - [`redact`]: the placeholders secrets are replaced with, and the search
//!   for secrets that were not.
//! - [`recorder`]: durable, crash-safe appends to cassettes (journal + compaction).
//! - [`check`]: the `schema-check` command: cassettes in, findings out.
//! - [`recorder`]: the durable write path into cassettes.
//! - [`proxy`] and [`replay`]: the two servers, on the shared [`server`] loop.
//!
//! # Replaying cassettes in Rust tests
//!
//! ```no_run
//! # async fn demo() -> Result<(), datovcr::replay::ReplayError> {
//! let server = datovcr::ReplayServer::builder()
//!     .cassette("cassettes/access-tokens-docs.json")
//!     .start()
//!     .await?;
//! // Point the client under test at the server; dropping the handle stops it.
//! let base_url = server.uri(); // http://127.0.0.1:PORT
//! # let _ = base_url;
//! # Ok(())
//! # }
//! ```
//!
//! # Checking an exchange against the contract
//!
//! ```
//! use datovcr::cassette::{Body, Headers, Query};
//! use datovcr::contract::{ContractSet, RequestParts};
//!
//! let contract = ContractSet::embedded().expect("the built-in contract compiles");
//! let create = contract.route("POST", "/access_tokens").expect("create is under contract");
//! let headers: Headers = [
//!     ("authorization", "Bearer x"),
//!     ("accept", "application/json"),
//!     ("content-type", "application/json"),
//!     ("x-api-version", "3"),
//! ]
//! .into_iter()
//! .collect();
//! let body = Body::Json(serde_json::json!({"data": {"type": "role"}}));
//! let findings = contract.check_request(create, RequestParts {
//!     method: "POST",
//!     path: "/access_tokens",
//!     query: &Query::default(),
//!     headers: &headers,
//!     body: &body,
//! });
//! assert!(findings.iter().any(|f| f.pointer == "/data/type" && f.rule == "const"));
//! ```

pub mod api_error;
pub mod body_reader;
pub mod cassette;
pub mod check;
pub mod cli;
pub mod content_coding;
pub mod contract;
mod json_name;
mod json_object;
pub mod panic_report;
pub mod proxy;
pub mod recorder;
pub mod redact;
pub mod replay;
pub mod server;

pub use replay::ReplayServer;

/// The Rust examples of `docs/library.md`, compiled and run as doc tests so
/// the page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/library.md")]
struct LibraryGuide;
