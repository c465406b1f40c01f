//! The static server: the proxy's fake upstream and replay's "bare hyper"
//! baseline. It reads each request body, looks the answer up by method and
//! path, and sends prepared bytes: about the least work an HTTP/1.1 server
//! on hyper can do, so the ratios show what datovcr adds on top.

use crate::workload::{CannedResponse, RequestTemplate};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A prepared answer.
struct Prepared {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

type Routes = HashMap<(String, String), Prepared>;

fn routes(mix: &[(RequestTemplate, CannedResponse)]) -> Routes {
    mix.iter()
        .map(|(request, response)| {
            let mut headers = HeaderMap::new();
            for (name, value) in &response.headers {
                headers.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).expect("a valid header value"),
                );
            }
            let prepared = Prepared {
                status: StatusCode::from_u16(response.status).expect("valid status"),
                headers,
                body: response.body_bytes(),
            };
            ((request.method.to_string(), request.path.clone()), prepared)
        })
        .collect()
}

/// Binds `127.0.0.1:0` and serves `mix` (over TLS with `tls`) until the
/// runtime it was started on stops. Call on the server runtime.
pub async fn start(
    mix: &[(RequestTemplate, CannedResponse)],
    tls: Option<TlsAcceptor>,
) -> SocketAddr {
    start_counting(mix, tls, Arc::default()).await
}

/// [`start`], counting accepted connections in `accepted`: a proxy that
/// reuses its upstream connections opens few.
pub async fn start_counting(
    mix: &[(RequestTemplate, CannedResponse)],
    tls: Option<TlsAcceptor>,
    accepted: Arc<AtomicUsize>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the static server");
    let addr = listener.local_addr().expect("a bound address");
    let routes = Arc::new(routes(mix));
    tokio::spawn(accept_loop(listener, routes, tls, accepted));
    addr
}

async fn accept_loop(
    listener: TcpListener,
    routes: Arc<Routes>,
    tls: Option<TlsAcceptor>,
    accepted: Arc<AtomicUsize>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let routes = routes.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(routes.clone(), request));
            let builder = http1::Builder::new();
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

async fn answer(
    routes: Arc<Routes>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    // Read the body as any real server would before answering.
    let _ = body.collect().await;
    let key = (parts.method.to_string(), parts.uri.path().to_owned());
    let Some(prepared) = routes.get(&key) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    };
    let mut response = Response::new(Full::new(prepared.body.clone()));
    *response.status_mut() = prepared.status;
    *response.headers_mut() = prepared.headers.clone();
    Ok(response)
}
