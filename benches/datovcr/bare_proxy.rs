//! The least a forwarding proxy on hyper can do: accept a request, read its
//! body, send it upstream with the same pooled client datovcr uses, read the
//! answer and send it back. No checks, no recording, no log line. It is the
//! floor under datovcr's proxy rows: what is left between the two is the
//! cost of datovcr's own pipeline.

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

use datovcr::proxy::upstream::{UpstreamClient, build_client};

struct Forwarder {
    client: UpstreamClient,
    upstream: SocketAddr,
}

/// Binds `127.0.0.1:0` and forwards to the plain-HTTP `upstream` until the
/// runtime it was started on stops. Call on the server runtime.
pub async fn start(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the bare proxy");
    let addr = listener.local_addr().expect("a bound address");
    let forwarder = Arc::new(Forwarder {
        client: build_client(&[], Duration::from_secs(5)).expect("a client"),
        upstream,
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let forwarder = forwarder.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| forward(forwarder.clone(), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn forward(
    forwarder: Arc<Forwarder>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let body = read_body(body).await;
    let path_and_query = path_and_query(&parts);
    aim_at(&mut parts, forwarder.upstream, path_and_query);
    let outgoing = Request::from_parts(parts, Full::new(body));
    let Ok(response) = forwarder.client.request(outgoing).await else {
        return Ok(bad_gateway());
    };
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        Full::new(read_body(body).await),
    ))
}

/// The whole body; empty if it failed.
pub async fn read_body(body: Incoming) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// The request's path and query, `/` when it has none.
pub fn path_and_query(parts: &http::request::Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned()
}

/// Points a received request at the plain-HTTP `upstream`.
pub fn aim_at(parts: &mut http::request::Parts, upstream: SocketAddr, path_and_query: String) {
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(upstream.to_string())
        .path_and_query(path_and_query)
        .build()
        .expect("a URI");
    parts.headers.remove(header::HOST);
}

/// What the proxy answers when the upstream did not.
pub fn bad_gateway() -> Response<Full<Bytes>> {
    let mut failed = Response::new(Full::new(Bytes::new()));
    *failed.status_mut() = StatusCode::BAD_GATEWAY;
    failed
}
