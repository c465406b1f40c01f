//! An HTTP(S) client for talking to [`FakeDato`](super::upstream::FakeDato)
//! (or to the proxy) from tests, trusting only the test CA.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::error::Error;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The client [`https_client`] builds; speaks `http://` too.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Any error from [`try_send`].
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How long [`send`] and [`try_send`] wait for a whole response. Long
/// enough for a loaded CI machine, short enough that a hang fails the test.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A hyper-util client whose only trust anchors are the certificates in
/// `ca_file` (PEM), with the ring provider chosen explicitly, HTTP/1.1 only.
pub fn https_client(ca_file: &Path) -> HttpsClient {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("open the CA file") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable trust anchor");
    }
    assert!(!roots.is_empty(), "no certificate in {}", ca_file.display());
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Sends one request and reads the whole response; panics on any error or
/// after [`SEND_TIMEOUT`].
pub async fn send(
    client: &HttpsClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    match try_send(client, method.clone(), url, headers, body).await {
        Ok(response) => response,
        Err(error) => panic!("{method} {url} failed: {}", error_chain(&*error)),
    }
}

/// [`send`] that returns connection, TLS and body errors instead of
/// panicking (it still panics after [`SEND_TIMEOUT`]).
pub async fn try_send(
    client: &HttpsClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<(StatusCode, HeaderMap, Bytes), BoxError> {
    let mut request = Request::builder().method(method.clone()).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body.into()))
        .expect("a valid request");
    let exchange = async {
        let response = client.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok::<_, BoxError>((parts.status, parts.headers, body))
    };
    tokio::time::timeout(SEND_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {url}: no complete response in {SEND_TIMEOUT:?}"))
}

/// The body with its `content-encoding` (gzip, br or none) undone.
pub fn decoded_body(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match headers
        .get(http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().expect("ASCII content-encoding"))
    {
        None | Some("identity") => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("valid brotli");
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

/// The first `T` in an error's cause chain. Also looks inside `io::Error`,
/// whose `source()` skips the error it wraps (rustls' errors reach hyper
/// wrapped that way).
pub fn find_cause<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(found) = find_cause::<T>(inner)
        {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// `outer: cause: cause…`, for failure messages.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        current = cause.source();
    }
    text
}
