//! A4: `--record all` in one process never deletes exchanges another
//! process acknowledged. While another writer holds the cassette the reset
//! is refused (409 `DATOVCR_CASSETTE_IN_USE`, nothing forwarded); once no
//! other writer holds it, the reset goes ahead, as `--record all` says.

use super::*;
use crate::support::proxy::client_for;
use crate::support::upstream::FakeDato;

async fn expect_in_use(client: &HttpsClient, url: &str) {
    let (status, headers, body) = get(client, url, None).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 409, "{body}");
    assert_eq!(datovcr_error(&headers), Some("DATOVCR_CASSETTE_IN_USE"));
    assert!(body.contains("shared.json.writers"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_all_is_refused_while_a_record_new_process_holds_the_cassette() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let cassette = work.path().join("cassettes/shared.json");
    let base = upstream.base_url();
    let keeper = start(
        work.path(),
        "new",
        &proxy_args(&base, &cassette, &["--record", "new"]),
    );
    for i in 0..3 {
        let (status, _, _) = get(
            &client,
            &keeper.url(&format!("/access_tokens/new-{i}")),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let resetter = start(
        work.path(),
        "all",
        &proxy_args(&base, &cassette, &["--record", "all"]),
    );
    let forwarded = upstream.request_count();
    // Before: this reset the cassette and deleted the three above.
    expect_in_use(&client, &resetter.url("/access_tokens/all-0")).await;
    assert_eq!(upstream.request_count(), forwarded, "not forwarded");
    for i in 3..5 {
        let (status, _, _) = get(
            &client,
            &keeper.url(&format!("/access_tokens/new-{i}")),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    expect_in_use(&client, &resetter.url("/access_tokens/all-1")).await;
    let acknowledged: Vec<String> = (0..5).map(|i| format!("/access_tokens/new-{i}")).collect();
    assert_eq!(recorded_paths(&cassette), acknowledged);

    let (code, stderr) = stop(keeper).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&cassette), acknowledged);
    // The other writer is gone: now --record all re-records, as it says.
    let (status, _, _) = get(&client, &resetter.url("/access_tokens/all-2"), None).await;
    assert_eq!(status, 200);
    let (code, stderr) = stop(resetter).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&cassette), ["/access_tokens/all-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_happens_once_and_later_writers_of_any_mode_keep_everything() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let cassette = work.path().join("cassettes/shared.json");
    write_cassette(&cassette, &["/access_tokens/yesterday"]);
    let base = upstream.base_url();
    // The first --record all resets (nobody else holds the cassette) ...
    let first = start(
        work.path(),
        "all-1",
        &proxy_args(&base, &cassette, &["--record", "all"]),
    );
    assert_eq!(
        get(&client, &first.url("/access_tokens/a"), None).await.0,
        200
    );
    // ... then a --record new writer, inline writes included, joins it ...
    let joined = start(
        work.path(),
        "new",
        &proxy_args(
            &base,
            &cassette,
            &["--record", "new", "--fsync", "periodic"],
        ),
    );
    for path in ["/access_tokens/b", "/access_tokens/c"] {
        assert_eq!(get(&client, &joined.url(path), None).await.0, 200);
    }
    assert_eq!(
        get(&client, &first.url("/access_tokens/d"), None).await.0,
        200
    );
    // ... and a second --record all is refused while either runs.
    let second = start(
        work.path(),
        "all-2",
        &proxy_args(&base, &cassette, &["--record", "all"]),
    );
    expect_in_use(&client, &second.url("/access_tokens/e")).await;
    let (code, stderr) = stop(first).await;
    assert_eq!(code, Some(0), "{stderr}");
    expect_in_use(&client, &second.url("/access_tokens/f")).await;
    let everything = [
        "/access_tokens/a",
        "/access_tokens/b",
        "/access_tokens/c",
        "/access_tokens/d",
    ];
    assert_eq!(recorded_paths(&cassette), everything);
    let (code, stderr) = stop(joined).await;
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = stop(second).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        recorded_paths(&cassette),
        everything,
        "never reset, nothing lost"
    );
}

/// Two recorders in one process, which is what `replay --on-miss record`
/// beside a proxy library instance amounts to: the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_all_is_refused_while_another_recorder_in_the_same_process_holds_the_cassette() {
    use datovcr::recorder::{RecordError, RecordMode, Recorder};
    use datovcr::redact::Redactor;
    let work = tempfile::tempdir().unwrap();
    let cassette = work.path().join("shared.json");
    let keeper = Recorder::new(RecordMode::New);
    keeper
        .append(
            &cassette,
            &Redactor::default().redact(recorded_get("/kept")),
        )
        .await
        .unwrap();
    let resetter = Recorder::new(RecordMode::All);
    assert!(matches!(
        resetter.prepare(&cassette).await,
        Err(RecordError::InUse { .. })
    ));
    let refused = resetter
        .append(
            &cassette,
            &Redactor::default().redact(recorded_get("/reset")),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("another datovcr writer"),
        "{refused}"
    );
    assert_eq!(recorded_paths(&cassette), ["/kept"]);
    keeper.close().await.unwrap();
    let ticket = resetter.prepare(&cassette).await.unwrap();
    resetter
        .append_prepared(
            &cassette,
            &Redactor::default().redact(recorded_get("/reset")),
            ticket,
        )
        .await
        .unwrap();
    resetter.close().await.unwrap();
    assert_eq!(recorded_paths(&cassette), ["/reset"]);
}
