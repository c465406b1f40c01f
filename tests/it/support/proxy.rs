//! Starting an in-process proxy in front of a [`FakeDato`].

use super::client::{HttpsClient, https_client};
use super::upstream::FakeDato;
use datovcr::contract::ContractSet;
use datovcr::proxy::{ProxyConfig, ProxyHandle};
use std::path::Path;
use std::sync::Arc;

/// The headers the official client sends, with a bearer of our choosing.
pub fn api_headers(bearer: &str, with_body: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("authorization", format!("Bearer {bearer}")),
        ("accept", "application/json".to_owned()),
        ("x-api-version", "3".to_owned()),
        ("user-agent", "@datocms/cma-client v5.8.1".to_owned()),
    ];
    if with_body {
        headers.push(("content-type", "application/json".to_owned()));
    }
    headers
}

/// `(name, value)` borrowed, as `send` takes them.
pub fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// A proxy to `upstream` recording into `dir/cassette.json`, configured by `tweak`.
pub async fn start_proxy(
    upstream: &FakeDato,
    dir: &Path,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> ProxyHandle {
    let contract = ContractSet::embedded().expect("built-in contract");
    start_proxy_with(upstream, dir, contract, tweak).await
}

/// [`start_proxy`] with another contract.
pub async fn start_proxy_with(
    upstream: &FakeDato,
    dir: &Path,
    contract: ContractSet,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> ProxyHandle {
    let upstream_uri = upstream.base_url().parse().expect("the fake's URL parses");
    let mut config = ProxyConfig::new(upstream_uri, dir.join("cassette.json"));
    config.ca_files = vec![upstream.ca_file().to_owned()];
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    datovcr::proxy::start(config, Arc::new(contract), listener)
        .await
        .expect("the proxy starts")
}

/// A plain-HTTP client for talking to the proxy (it trusts the fake's CA too).
pub fn client_for(upstream: &FakeDato) -> HttpsClient {
    https_client(upstream.ca_file())
}

/// The real binary, `datovcr proxy` to `upstream` (its test CA trusted),
/// recording into `cassette` (relative to `dir`), with `extra` flags; its
/// stderr goes to `dir/proxy.stderr`.
pub fn proxy_binary(
    dir: &Path,
    upstream: &FakeDato,
    cassette: &str,
    extra: &[&str],
) -> super::process::ServerProcess {
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.base_url(),
        "--ca-file",
        upstream.ca_file().to_str().expect("a UTF-8 path"),
        "--cassette",
        cassette,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    super::process::ServerProcess::start(dir, &args, &dir.join("proxy.stderr"))
}
