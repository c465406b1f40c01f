//! The pooled TLS client that talks to DatoCMS, and what its failures mean.
//!
//! Certificate verification is always on: the trusted roots are Mozilla's
//! (webpki-roots) plus any `--ca-file`. There is deliberately no way to
//! turn verification off, because the traffic carries live API tokens.
//!
//! Every connection is watched ([`reuse`]) so that a request that failed
//! because a kept-alive connection went stale can be told apart from one
//! the upstream may have acted on.

use super::reuse::{self, Counted};
use crate::api_error::ApiError;
use http::{StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub type UpstreamBody = http_body_util::Full<bytes::Bytes>;
pub type UpstreamConnector = TimeoutConnector<HttpsConnector<HttpConnector>>;
pub type UpstreamClient = Client<UpstreamConnector, UpstreamBody>;

/// Builds the pooled client. Fails when a CA file cannot be used, naming it.
pub fn build_client(
    ca_files: &[PathBuf],
    connect_timeout: Duration,
) -> Result<UpstreamClient, String> {
    Ok(pooled(build_connector(ca_files, connect_timeout)?))
}

/// A client over `connector` that keeps connections alive for reuse.
pub fn pooled(connector: UpstreamConnector) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// A client over `connector` that opens a new connection for every request
/// and keeps none: for the one retry of a request that met a stale one.
pub fn fresh(connector: UpstreamConnector) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// The TLS connector both clients share. Fails when a CA file cannot be
/// used, naming it.
pub fn build_connector(
    ca_files: &[PathBuf],
    connect_timeout: Duration,
) -> Result<UpstreamConnector, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in ca_files {
        add_ca_file(&mut roots, file)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(TimeoutConnector {
        inner: https,
        timeout: connect_timeout,
    })
}

fn add_ca_file(roots: &mut RootCertStore, file: &Path) -> Result<(), String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .map_err(|err| format!("--ca-file {}: cannot read it: {err}", file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|err| {
            format!(
                "--ca-file {}: not a PEM certificate file: {err}",
                file.display()
            )
        })?;
    if certificates.is_empty() {
        return Err(format!(
            "--ca-file {}: holds no `BEGIN CERTIFICATE` block; pass the PEM of the CA that signed the upstream's certificate",
            file.display()
        ));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|err| format!("--ca-file {}: certificate rejected: {err}", file.display()))?;
    }
    Ok(())
}

/// Bounds the whole connect, TCP and TLS handshake together; the
/// HttpConnector's own timeout covers TCP only. Each connection comes back
/// [`Counted`].
#[derive(Clone)]
pub struct TimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> tower_service::Service<Uri> for TimeoutConnector<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Counted<C::Response>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map(reuse::count).map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut(timeout)) as _),
            }
        })
    }
}

/// What to do about a TLS failure, when the user can do something.
fn tls_fix(error: &rustls::Error) -> &'static str {
    use rustls::CertificateError as Cert;
    match error {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => {
            "; the upstream's certificate is not signed by a trusted CA: if it uses a private \
             CA, trust it with --ca-file CA.pem"
        }
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => "; the certificate is for another host name: check the host in --upstream",
        rustls::Error::InvalidCertificate(
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. },
        ) => {
            "; the certificate is outside its validity period: check the upstream's certificate and this machine's clock"
        }
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
#[error("connecting took longer than {0:?}")]
pub struct ConnectTimedOut(Duration);

/// Whether `err` is a kept-alive connection that went stale: it had
/// already carried a response, and it broke (closed, reset) after this
/// request was written and before any byte of its response arrived. Such
/// a request never reached the upstream's application, as far as HTTP can
/// tell (RFC 9110 §9.2.2); nginx and Envoy retry it when it is idempotent.
/// Timeouts, TLS and protocol errors, and failures on fresh connections,
/// are not staleness.
pub fn is_stale_connection(err: &hyper_util::client::legacy::Error) -> bool {
    if err.is_connect() {
        return false;
    }
    let Some(usage) = err.connect_info().and_then(reuse::usage_of) else {
        return false;
    };
    if !usage.failed_before_response_on_reused() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(hyper_err) = current.downcast_ref::<hyper::Error>()
            && (hyper_err.is_incomplete_message() || hyper_err.is_canceled())
        {
            return true;
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = next_cause(current);
    }
    false
}

/// Turns a failed upstream request into the error the client sees. The
/// cause is found by walking the error chain by type, never by message.
pub fn classify(err: &hyper_util::client::legacy::Error, upstream: &str) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(timeout) = current.downcast_ref::<ConnectTimedOut>() {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_UPSTREAM_CONNECT_TIMEOUT",
                format!("could not connect to {upstream}: {timeout}"),
            );
        }
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_UPSTREAM_TLS",
                format!("TLS with {upstream} failed: {tls}{}", tls_fix(tls)),
            )
            .with_detail("tls_reason", tls.to_string());
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_UPSTREAM_UNREACHABLE",
                format!("{upstream} refused the connection"),
            );
        }
        if let Some(hyper_err) = current.downcast_ref::<hyper::Error>()
            && hyper_err.is_parse()
        {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "DATOVCR_UPSTREAM_PROTOCOL",
                format!("{upstream} answered with something that is not HTTP: {hyper_err}"),
            );
        }
        source = next_cause(current);
    }
    let (code, what) = if err.is_connect() {
        ("DATOVCR_UPSTREAM_UNREACHABLE", "could not connect to")
    } else {
        ("DATOVCR_UPSTREAM_RESET", "lost the connection to")
    };
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        code,
        format!("{what} {upstream}: {}", error_chain(err)),
    )
}

/// The next error in a chain. `io::Error::source()` skips the error it
/// wraps (tokio-rustls nests a `rustls::Error` two `io::Error`s deep), so
/// look inside it first.
fn next_cause<'e>(
    current: &'e (dyn std::error::Error + 'static),
) -> Option<&'e (dyn std::error::Error + 'static)> {
    current
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|inner| inner as &(dyn std::error::Error + 'static))
        .or_else(|| current.source())
}

/// `a: b: c` for an error and its sources.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        let next = current.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = current.source();
    }
    text
}
