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
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(forwarder.upstream.to_string())
        .path_and_query(path_and_query)
        .build()
        .expect("a URI");
    parts.headers.remove(header::HOST);
    let outgoing = Request::from_parts(parts, Full::new(body));
    let Ok(response) = forwarder.client.request(outgoing).await else {
        let mut failed = Response::new(Full::new(Bytes::new()));
        *failed.status_mut() = StatusCode::BAD_GATEWAY;
        return Ok(failed);
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Response::from_parts(parts, Full::new(body)))
}
