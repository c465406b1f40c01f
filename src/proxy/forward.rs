//! Sending a checked request to the upstream and reading its whole answer:
//! the one retry of a safe method on a stale connection, the timeouts, and
//! the headers that never cross (hop-by-hop, datovcr's own).

use super::Proxy;
use super::answers::upstream_body_error;
use super::headers::{strip_hop_by_hop, strip_own};
use super::report::Report;
use super::upstream;
use crate::api_error::ApiError;
use crate::body_reader;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header, request, response};
use http_body_util::Full;
use std::sync::atomic::{AtomicBool, Ordering};

impl Proxy {
    pub(super) async fn forward(
        &self,
        parts: &request::Parts,
        path: &str,
        body: Bytes,
        report: &mut Report,
    ) -> Result<(response::Parts, Bytes), ApiError> {
        let limits = &self.config.limits;
        let upstream_name = self
            .config
            .upstream
            .authority()
            .map(|a| a.as_str())
            .unwrap_or("the upstream");
        let uri = self.upstream_uri(path, parts.uri.query())?;
        let mut headers = parts.headers.clone();
        // hyper-util sets Host from the URI when it is absent.
        headers.remove(header::HOST);
        // The body is forwarded whole, so it is framed afresh by its real
        // length: a Content-Length the client sent alongside chunked framing
        // must never reach the upstream (request smuggling).
        headers.remove(header::CONTENT_LENGTH);
        // Identity keeps the recorded body readable without a decode step;
        // a server that compresses anyway is decoded for the cassette.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        // Kept for the one retry only where a retry can happen.
        let spare = parts.method.is_safe().then(|| headers.clone());
        let outgoing = |headers| {
            let mut outgoing = Request::new(Full::new(body.clone()));
            *outgoing.method_mut() = parts.method.clone();
            *outgoing.uri_mut() = uri.clone();
            *outgoing.headers_mut() = headers;
            outgoing
        };
        let retried = AtomicBool::new(false);
        let exchange = async {
            match (self.client.request(outgoing(headers)).await, spare) {
                // A safe method (GET, HEAD, OPTIONS, TRACE: RFC 9110 §9.2.1)
                // that met a stale kept-alive connection is sent once more, on
                // a new connection. Anything else may have changed the
                // upstream's state and is never sent twice.
                (Err(err), Some(headers)) if upstream::is_stale_connection(&err) => {
                    retried.store(true, Ordering::Relaxed);
                    self.fresh_client.request(outgoing(headers)).await
                }
                (answer, _) => answer,
            }
        };

        // Boxed: the client's future is large, and `Timeout` would move it.
        let response =
            tokio::time::timeout(limits.upstream_response_timeout, Box::pin(exchange)).await;
        report.retried = retried.load(Ordering::Relaxed);
        let response = match response {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "DATOVCR_UPSTREAM_TIMEOUT",
                    format!(
                        "{upstream_name} sent no response head within {:?} (--upstream-response-timeout)",
                        limits.upstream_response_timeout
                    ),
                ));
            }
            Ok(Err(err)) => return Err(upstream::classify(&err, upstream_name)),
            Ok(Ok(response)) => response,
        };
        let (mut response_parts, incoming) = response.into_parts();
        let bytes = body_reader::read_limited(
            incoming,
            limits.max_upstream_body,
            body_reader::BodyDeadlines {
                idle: limits.upstream_body_idle_timeout,
                total: limits.upstream_response_timeout,
            },
        )
        .await
        .map_err(|err| upstream_body_error(err, upstream_name))?;
        strip_hop_by_hop(&mut response_parts.headers);
        // `x-datovcr-*` is datovcr's own namespace: an upstream's must not
        // make its answer look like one of datovcr's (a miss, a violation).
        strip_own(&mut response_parts.headers);
        Ok((response_parts, bytes))
    }

    pub(super) fn upstream_uri(&self, path: &str, query: Option<&str>) -> Result<Uri, ApiError> {
        let base = &self.config.upstream;
        let base_path = base.path().trim_end_matches('/');
        let path_and_query = match query {
            Some(query) => format!("{base_path}{path}?{query}"),
            None => format!("{base_path}{path}"),
        };
        let mut builder = Uri::builder().path_and_query(path_and_query);
        if let Some(scheme) = base.scheme() {
            builder = builder.scheme(scheme.clone());
        }
        if let Some(authority) = base.authority() {
            builder = builder.authority(authority.clone());
        }
        builder.build().map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "DATOVCR_BAD_REQUEST",
                format!("cannot forward this URI: {err}"),
            )
        })
    }
}
