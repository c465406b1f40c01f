use crate::support::client::send;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use datovcr::cassette::Cassette;
use datovcr::recorder::RecordMode;
use http::Method;
use std::sync::Arc;

#[tokio::test]
async fn the_cassette_header_picks_a_cassette_and_unsafe_names_get_400() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = client_for(&upstream);
    let url = format!("{}/access_tokens", proxy.uri());
    for name in ["suite-a", "suite-b", "suite-a"] {
        let mut headers = api_headers("bearer-abcdefgh", false);
        headers.push(("x-datovcr-cassette", name.into()));
        let (status, _, _) = send(&client, Method::GET, &url, &borrowed(&headers), "").await;
        assert_eq!(status, 200);
    }
    for bad in ["../escape", "a/b", "/etc/passwd", "..", ".hidden"] {
        let mut headers = api_headers("bearer-abcdefgh", false);
        headers.push(("x-datovcr-cassette", bad.into()));
        let (status, _, body) = send(&client, Method::GET, &url, &borrowed(&headers), "").await;
        assert_eq!(status, 400, "{bad}");
        assert!(String::from_utf8_lossy(&body).contains("DATOVCR_BAD_CASSETTE_NAME"));
    }
    assert_eq!(
        upstream.request_count(),
        3,
        "refused requests are not forwarded"
    );
    proxy.shutdown().await;
    assert_eq!(
        Cassette::load(&dir.path().join("suite-a.json"))
            .unwrap()
            .interactions
            .len(),
        2
    );
    assert_eq!(
        Cassette::load(&dir.path().join("suite-b.json"))
            .unwrap()
            .interactions
            .len(),
        1
    );
    assert!(!dir.path().join("cassette.json").exists());
    assert!(!dir.path().parent().unwrap().join("escape.json").exists());
}

#[tokio::test]
async fn record_modes_new_all_and_none() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cassette_path = dir.path().join("cassette.json");
    let client = client_for(&upstream);
    let headers = api_headers("bearer-abcdefgh", false);
    let mut counts = Vec::new();
    for (mode, requests) in [
        (RecordMode::New, 2),
        (RecordMode::New, 1),
        (RecordMode::All, 1),
        (RecordMode::None, 3),
    ] {
        let proxy = start_proxy(&upstream, dir.path(), |config| config.record_mode = mode).await;
        for _ in 0..requests {
            let (status, _, _) = send(
                &client,
                Method::GET,
                &format!("{}/access_tokens", proxy.uri()),
                &borrowed(&headers),
                "",
            )
            .await;
            assert_eq!(status, 200);
        }
        proxy.shutdown().await;
        counts.push(Cassette::load(&cassette_path).unwrap().interactions.len());
    }
    assert_eq!(
        counts,
        vec![2, 3, 1, 1],
        "new appends, all starts afresh, none writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_exchanges_into_one_cassette_are_all_recorded() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |_| {}).await;
    let client = Arc::new(client_for(&upstream));
    let headers = Arc::new(api_headers("bearer-abcdefgh", false));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, headers) = (client.clone(), headers.clone());
        let url = format!("{}/access_tokens/{}", proxy.uri(), 1000 + i);
        tasks.spawn(async move {
            let (status, _, _) = send(&client, Method::GET, &url, &borrowed(&headers), "").await;
            assert_eq!(status, 404, "unknown ids are 404 at the fake");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("no request failed");
    }
    let summary = proxy.shutdown().await;
    assert_eq!(summary.exchanges, 200);
    let cassette = Cassette::load(&dir.path().join("cassette.json")).unwrap();
    assert_eq!(cassette.interactions.len(), 200);
    let mut paths: Vec<&str> = cassette
        .interactions
        .iter()
        .map(|i| i.request.path.as_str())
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 200, "every exchange recorded exactly once");
}
