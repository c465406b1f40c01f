//! A1: one unreadable journal or cassette never stops the tool from
//! working on the other cassettes. It is named, left untouched, reported.

use super::*;
use crate::support::proxy::client_for;
use crate::support::upstream::FakeDato;

/// A journal line as datovcr 0.1 wrote it for a 126-level response body:
/// 129 levels with its envelope, more than serde_json reads.
fn unreadable_journal_line() -> String {
    format!(
        r#"{{"recorded_at":"2026-11-27T10:00:00Z","request":{{"method":"GET","path":"/deep"}},"response":{{"status":200,"body":{{"json":{}{}}}}}}}"#,
        "[".repeat(126),
        "]".repeat(126)
    ) + "\n"
}

/// A folder with one good cassette and one of each kind of unreadable one.
fn folder_with_unreadable_cassettes(folder: &Path) {
    write_cassette(&folder.join("good.json"), &["/echo/1"]);
    std::fs::write(
        folder.join("corrupt.json"),
        "{\n  \"version\": 1,\n  \"interactions\": [\n    {\"recorded_at\": 5}\n  ]\n}\n",
    )
    .unwrap();
    std::fs::write(folder.join("deep.json.journal"), unreadable_journal_line()).unwrap();
    std::fs::write(
        folder.join("package.json"),
        "{\"name\": \"app\", \"version\": \"1.0.0\"}\n",
    )
    .unwrap();
    // A cassette whose file is fine but whose journal is not.
    write_cassette(&folder.join("half.json"), &["/echo/2"]);
    std::fs::write(folder.join("half.json.journal"), "{\"oops\": true}\n").unwrap();
}

const UNREADABLE: [&str; 4] = ["corrupt", "deep", "package", "half"];

/// What a refused exchange names: the file that could not be read.
fn culprit(name: &str) -> &'static str {
    match name {
        "corrupt" => "corrupt.json:4:",
        "deep" => "deep.json.journal, line 1",
        "package" => "package.json:1:",
        "half" => "half.json.journal, line 1",
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_starts_and_records_beside_unreadable_cassettes_and_refuses_only_those() {
    let upstream = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    std::fs::create_dir_all(&folder).unwrap();
    folder_with_unreadable_cassettes(&folder);
    let unreadable_before: Vec<_> = snapshot(&folder)
        .into_iter()
        .filter(|(path, _)| !path.ends_with("good.json"))
        .collect();

    // Before: start-up recovery failed on deep.json.journal and the proxy
    // refused to start, whatever --cassette said.
    let proxy = start(
        work.path(),
        "proxy",
        &proxy_args(&upstream.base_url(), &folder.join("good.json"), &[]),
    );
    let startup = proxy.stderr();
    for name in ["deep.json.journal", "half.json.journal"] {
        assert!(startup.contains(name), "start-up names {name}: {startup}");
    }
    let url = proxy.url("/echo/1");
    assert_eq!(get(&client, &url, None).await.0, 200);
    assert_eq!(get(&client, &url, Some("fresh")).await.0, 200);
    for name in UNREADABLE {
        let (status, headers, body) = get(&client, &url, Some(name)).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 409, "{name}: {body}");
        assert_eq!(datovcr_error(&headers), Some("DATOVCR_CASSETTE_UNUSABLE"));
        assert!(body.contains(culprit(name)), "{name}: {body}");
    }
    assert_eq!(
        upstream.request_count(),
        2,
        "refused exchanges are not forwarded"
    );
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&folder.join("good.json")).len(), 2);
    assert_eq!(recorded_paths(&folder.join("fresh.json")).len(), 1);
    let unreadable_after: Vec<_> = snapshot(&folder)
        .into_iter()
        .filter(|(path, _)| unreadable_before.iter().any(|(before, _)| before == path))
        .collect();
    assert_eq!(unreadable_after, unreadable_before, "left untouched");

    // The cassette it must write to is the unreadable one: it still
    // starts, refuses exchanges for that cassette and serves the others.
    let proxy = start(
        work.path(),
        "proxy-corrupt",
        &proxy_args(&upstream.base_url(), &folder.join("corrupt.json"), &[]),
    );
    let url = proxy.url("/echo/1");
    let (status, headers, body) = get(&client, &url, None).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert_eq!(datovcr_error(&headers), Some("DATOVCR_CASSETTE_UNUSABLE"));
    assert!(String::from_utf8_lossy(&body).contains("corrupt.json:4:"));
    assert_eq!(get(&client, &url, Some("good")).await.0, 200);
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&folder.join("good.json")).len(), 3);

    // Repaired, it is recorded into again without a restart being needed.
    let proxy = start(
        work.path(),
        "proxy-repaired",
        &proxy_args(&upstream.base_url(), &folder.join("corrupt.json"), &[]),
    );
    let url = proxy.url("/echo/1");
    assert_eq!(get(&client, &url, None).await.0, 409);
    write_cassette(&folder.join("corrupt.json"), &["/echo/9"]);
    assert_eq!(get(&client, &url, None).await.0, 200);
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(recorded_paths(&folder.join("corrupt.json")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_on_a_folder_serves_the_readable_cassettes_and_names_the_others() {
    let upstream_for_ca = FakeDato::start(echo_upstream()).await;
    let client = client_for(&upstream_for_ca);
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    std::fs::create_dir_all(&folder).unwrap();
    folder_with_unreadable_cassettes(&folder);
    let before = snapshot(&folder);

    let replay = start(work.path(), "replay", &replay_args(&[&folder], &[]));
    let startup = replay.stderr();
    for name in UNREADABLE {
        assert!(
            startup.contains(&format!(
                "skipping cassette {}",
                folder.join(format!("{name}.json")).display()
            )),
            "{name}: {startup}"
        );
        assert!(startup.contains(culprit(name)), "{name}: {startup}");
    }
    let (status, _, body) = get(&client, &replay.url("/echo/1"), None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A request naming a skipped cassette is a miss that lists what loaded.
    let (status, _, body) = get(&client, &replay.url("/echo/1"), Some("corrupt")).await;
    assert_eq!(status.as_u16(), 599);
    assert!(String::from_utf8_lossy(&body).contains("names no loaded cassette"));
    let (code, stderr) = stop(replay).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("corrupt.json: skipped, could not be read"),
        "{stderr}"
    );

    // --strict fails a run that skipped a cassette.
    let replay = start(
        work.path(),
        "replay-strict",
        &replay_args(&[&folder], &["--strict"]),
    );
    assert_eq!(get(&client, &replay.url("/echo/1"), None).await.0, 200);
    let (code, stderr) = stop(replay).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("skipped cassette(s)"), "{stderr}");

    // Named on the command line, an unreadable cassette stops start-up.
    for name in UNREADABLE {
        let file = folder.join(format!("{name}.json"));
        let (code, _, stderr) = run(
            work.path(),
            &[
                "replay",
                "--listen",
                "127.0.0.1:0",
                "--cassette",
                &file.display().to_string(),
            ],
        );
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(culprit(name)), "{name}: {stderr}");
    }
    // Nothing but unreadable ones: nothing to serve is an error.
    let only_bad = work.path().join("only-bad");
    std::fs::create_dir_all(&only_bad).unwrap();
    std::fs::copy(folder.join("corrupt.json"), only_bad.join("corrupt.json")).unwrap();
    let (code, _, stderr) = run(
        work.path(),
        &[
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--cassette",
            "only-bad",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no readable cassette"), "{stderr}");
    assert_eq!(snapshot(&folder), before, "readers change nothing");
}

#[test]
fn schema_check_on_a_folder_checks_the_readable_cassettes_and_names_the_others() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cassettes");
    std::fs::create_dir_all(&folder).unwrap();
    folder_with_unreadable_cassettes(&folder);
    let before = snapshot(&folder);
    let (code, report) = schema_check(work.path(), &[&folder]);
    assert_eq!(code, Some(2), "{report}");
    let unreadable: Vec<String> = report["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(unreadable.len(), UNREADABLE.len(), "{unreadable:?}");
    for name in UNREADABLE {
        assert!(
            unreadable
                .iter()
                .any(|message| message.contains(culprit(name))),
            "{name}: {unreadable:?}"
        );
    }
    // good.json's one interaction was still checked.
    assert_eq!(report["summary"]["interactions"], 1, "{report}");
    assert_eq!(snapshot(&folder), before, "readers change nothing");
}
