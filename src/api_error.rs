//! Errors datovcr answers itself, in the JSON:API `api_error` envelope the
//! official client parses (`ApiError.findError(code)`), each with its own
//! `DATOVCR_*` code so nobody mistakes them for DatoCMS's answers.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};

/// The header that marks a response datovcr made itself.
pub const ERROR_HEADER: &str = "x-datovcr-error";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            details: json!({ "message": message.into() }),
        }
    }

    /// Adds a field to `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(details) = &mut self.details {
            details.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn message(&self) -> &str {
        self.details["message"].as_str().unwrap_or_default()
    }

    /// The body: one `api_error` whose id is stable per code, as DatoCMS's are.
    pub fn body(&self) -> Value {
        json!({
            "data": [{
                "id": self.code.to_ascii_lowercase().replace('_', "-"),
                "type": "api_error",
                "attributes": {
                    "code": self.code,
                    "details": self.details,
                }
            }]
        })
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(&self.body()).expect("a JSON value serializes");
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(ERROR_HEADER, HeaderValue::from_static(self.code));
        if self.status.canonical_reason().is_none() {
            // hyper would write `<none>` as the reason of a non-standard status.
            response
                .extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(b"datovcr"));
        }
        response
    }
}
