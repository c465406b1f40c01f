//! A3: no record mode ever replaces or resets a file that is not a datovcr
//! cassette. A datovcr cassette is a regular file (not a link) that reads
//! as a version-1 cassette; anything else at a cassette's path is left as
//! it is and exchanges meant for it are refused before they are forwarded.

use super::*;
use crate::support::proxy::{client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions};
use datovcr::recorder::RecordMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_all_never_replaces_package_json() {
    let upstream = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let client = client_for(&upstream);
    let work = tempfile::tempdir().unwrap();
    let package = work.path().join("package.json");
    let manifest = "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\"\n}\n";
    std::fs::write(&package, manifest).unwrap();
    let before = snapshot(work.path());
    let proxy = start(
        work.path(),
        "proxy",
        &proxy_args(
            &upstream.base_url(),
            &work.path().join("cassette.json"),
            &["--record", "all"],
        ),
    );
    let (status, headers, body) = get(&client, &proxy.url("/access_tokens"), Some("package")).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 409, "{body}");
    assert_eq!(datovcr_error(&headers), Some("DATOVCR_CASSETTE_UNUSABLE"));
    assert!(body.contains("package.json:"), "{body}");
    assert_eq!(upstream.request_count(), 0, "not forwarded");
    let (code, stderr) = stop(proxy).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(&package).unwrap(), manifest);
    let after: Vec<_> = snapshot(work.path())
        .into_iter()
        .filter(|(path, _)| path.extension().is_none_or(|ext| ext != "stderr"))
        .collect();
    assert_eq!(after, before, "no journal, lock or temp file beside it");
}

/// Every kind of thing that is not a datovcr cassette, at a cassette path.
fn plant_non_cassettes(folder: &Path, elsewhere: &Path) -> Vec<&'static str> {
    let write = |name: &str, text: &str| std::fs::write(folder.join(name), text).unwrap();
    std::fs::create_dir_all(folder.join("folder.json")).unwrap();
    std::fs::write(folder.join("folder.json/inside"), "kept").unwrap();
    mkfifo(&folder.join("fifo.json"));
    write_cassette(&elsewhere.join("real.json"), &["/access_tokens/7"]);
    std::os::unix::fs::symlink(elsewhere.join("real.json"), folder.join("link.json")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("nothing.json"), folder.join("dangling.json"))
        .unwrap();
    write("empty.json", "");
    write("blank.json", "  \n");
    write("array.json", "[]\n");
    write("no-interactions.json", "{\"version\": 1}\n");
    write(
        "other-version.json",
        "{\"version\": 2, \"interactions\": []}\n",
    );
    write(
        "string-version.json",
        "{\"version\": \"1\", \"interactions\": []}\n",
    );
    write("settings.json", "{\"editor.tabSize\": 2}\n");
    write("lines.json", "{\"a\": 1}\n{\"a\": 2}\n");
    write("binary.json", "\u{0}\u{1}\u{2}");
    let mut cut = Cassette::new();
    cut.interactions.push(recorded_get("/access_tokens/1"));
    let bytes = cut.to_bytes();
    std::fs::write(folder.join("truncated.json"), &bytes[..bytes.len() / 2]).unwrap();
    vec![
        "folder",
        "fifo",
        "link",
        "dangling",
        "empty",
        "blank",
        "array",
        "no-interactions",
        "other-version",
        "string-version",
        "settings",
        "lines",
        "binary",
        "truncated",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_mode_replaces_resets_or_appends_to_anything_but_a_cassette() {
    let upstream = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&upstream);
    for mode in [RecordMode::All, RecordMode::New] {
        let work = tempfile::tempdir().unwrap();
        let folder = work.path().join("cassettes");
        let elsewhere = work.path().join("elsewhere");
        std::fs::create_dir_all(&folder).unwrap();
        let names = plant_non_cassettes(&folder, &elsewhere);
        // A real cassette beside them is recorded as the mode says.
        write_cassette(&folder.join("real.json"), &["/access_tokens/old"]);
        let before: Vec<_> = snapshot(&folder)
            .into_iter()
            .filter(|(path, _)| !path.ends_with("real.json"))
            .collect();
        let elsewhere_before = snapshot(&elsewhere);
        let forwarded = upstream.request_count();
        let proxy = start_proxy(&upstream, &folder, |config| config.record_mode = mode).await;
        let url = format!("{}/access_tokens", proxy.uri());
        for name in &names {
            let (status, headers, body) = get(&client, &url, Some(name)).await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 409, "{mode:?} {name}: {body}");
            assert_eq!(
                datovcr_error(&headers),
                Some("DATOVCR_CASSETTE_UNUSABLE"),
                "{mode:?} {name}"
            );
            assert!(
                body.contains(&format!("{name}.json")),
                "{mode:?} {name}: {body}"
            );
        }
        assert_eq!(
            upstream.request_count(),
            forwarded,
            "{mode:?}: nothing forwarded"
        );
        let (status, _, _) = get(&client, &url, Some("real")).await;
        assert_eq!(status, 200);
        let summary = proxy.shutdown().await;
        assert!(summary.record_error.is_none(), "{:?}", summary.record_error);
        let after: Vec<_> = snapshot(&folder)
            .into_iter()
            .filter(|(path, _)| !path.ends_with("real.json"))
            .filter(|(path, _)| !path.to_string_lossy().contains("real.json."))
            .collect();
        assert_eq!(after, before, "{mode:?}: every non-cassette as it was");
        assert_eq!(
            snapshot(&elsewhere),
            elsewhere_before,
            "{mode:?}: link targets"
        );
        let expected: &[&str] = match mode {
            RecordMode::All => &["/access_tokens"],
            _ => &["/access_tokens/old", "/access_tokens"],
        };
        assert_eq!(
            recorded_paths(&folder.join("real.json")),
            expected,
            "{mode:?}"
        );
    }
}
