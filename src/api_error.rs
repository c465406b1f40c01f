//! Errors datovcr answers itself, in the JSON:API `api_error` envelope the
//! official client parses (`ApiError.findError(code)`), each with its own
//! `DATOVCR_*` code so nobody mistakes them for DatoCMS's answers.

use crate::body_reader::BodyError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Value, json};

/// The header that marks a response datovcr made itself.
pub const ERROR_HEADER: &str = "x-datovcr-error";

/// The `Allow` of datovcr's 405: the methods an API client sends. datovcr
/// refuses only CONNECT, but lists what is meant to be sent.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

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
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            // RFC 9110 §15.5.6: a 405 lists the methods the target supports.
            headers.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        }
        if self.status.canonical_reason().is_none() {
            // hyper would write `<none>` as the reason of a non-standard status.
            response
                .extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(b"datovcr"));
        }
        response
    }
}

/// A request body that could not be read: what the client is told.
impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "DATOVCR_BODY_TOO_LARGE",
                format!("the request body is larger than {limit} bytes (--max-request-body)"),
            ),
            BodyError::IdleTimeout(after) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "DATOVCR_BODY_TIMEOUT",
                format!("the request body stalled for {after:?} (--body-idle-timeout)"),
            ),
            BodyError::TotalTimeout(after) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "DATOVCR_BODY_TIMEOUT",
                format!("the request body took longer than {after:?} (--request-body-timeout)"),
            ),
            BodyError::Failed(err) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "DATOVCR_BAD_REQUEST",
                format!("the request body could not be read: {err}"),
            ),
        }
    }
}
