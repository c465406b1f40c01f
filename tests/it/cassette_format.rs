use crate::support::*;
use datovcr::cassette::{Body, Cassette, Headers, RecordedResponse};
use serde_json::json;
use std::path::Path;

#[test]
fn shipped_cassettes_load_and_save_to_the_same_bytes() {
    let dir = repo_path("cassettes");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let cassette = Cassette::from_slice(&bytes, &path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&cassette.to_bytes()),
            String::from_utf8_lossy(&bytes),
            "{} is not in canonical form",
            path.display()
        );
        count += 1;
    }
    assert!(count > 0);
}

#[test]
fn every_body_kind_survives_a_round_trip_byte_for_byte() {
    let mut cassette = Cassette::new();
    let mut binary = interaction(request("GET", "/files/1", None), 200, json!(null));
    binary.response = RecordedResponse {
        status: 200,
        headers: [("content-type", "application/octet-stream")]
            .into_iter()
            .collect(),
        body: Body::from_bytes(
            &[0x89, b'P', b'N', b'G', 0xff, 0x00, 0xc3],
            Some("application/octet-stream"),
        ),
    };
    assert!(matches!(binary.response.body, Body::Binary(_)));
    cassette.interactions.push(binary);

    let mut text = interaction(request("GET", "/robots.txt", None), 200, json!(null));
    text.response.headers = [("content-type", "text/plain")].into_iter().collect();
    text.response.body = Body::from_bytes("héllo\n\"quoted\"".as_bytes(), Some("text/plain"));
    cassette.interactions.push(text);

    let precise = br#"{"big":123456789012345678901234567890,"float":1.50,"z":1,"a":2}"#;
    let mut numbers = interaction(request("GET", "/n", None), 200, json!(null));
    numbers.response.body = Body::from_bytes(precise, Some("application/json"));
    cassette.interactions.push(numbers);

    let first = cassette.to_bytes();
    let loaded = Cassette::from_slice(&first, Path::new("mem.json")).unwrap();
    assert_eq!(loaded, cassette);
    assert_eq!(loaded.to_bytes(), first);
    assert_eq!(
        loaded.interactions[0].response.body.to_bytes().as_ref(),
        &[0x89, b'P', b'N', b'G', 0xff, 0x00, 0xc3]
    );
    assert_eq!(
        loaded.interactions[2].response.body.to_bytes().as_ref(),
        precise
    );
}

#[test]
fn saved_file_is_pretty_sorted_and_ends_with_a_newline() {
    let mut cassette = Cassette::new();
    let mut exchange = interaction(
        request("POST", "/access_tokens", Some(create_body())),
        201,
        json!({"data": {"z": 1, "a": 2}}),
    );
    exchange.response.headers = Headers::new();
    exchange.response.headers.append("X-Request-Id", "r1");
    exchange
        .response
        .headers
        .append("Content-Type", "application/json");
    cassette.interactions.push(exchange);
    let text = String::from_utf8(cassette.to_bytes()).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.starts_with("{\n  \"version\": 1,\n  \"interactions\": [\n"));
    let content_type = text.find("\"content-type\"").unwrap();
    let request_id = text.find("\"x-request-id\"").unwrap();
    assert!(content_type < request_id, "header names are sorted");
    assert!(
        text.find("\"z\": 1").unwrap() < text.find("\"a\": 2").unwrap(),
        "body key order kept"
    );
    assert!(
        text.contains("\"json\": {"),
        "JSON bodies are values, not escaped strings"
    );
}

#[test]
fn cassette_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "version.json",
            "{\n  \"version\": 2,\n  \"interactions\": []\n}\n",
            ":2:",
            "unsupported cassette format version 2",
        ),
        (
            "truncated.json",
            "{\n  \"version\": 1,\n  \"interactions\": [\n",
            ":4:",
            "not valid JSON",
        ),
        ("text.json", "hello", ":1:", "not valid JSON"),
        (
            "status.json",
            "{\"version\":1,\"interactions\":[{\"recorded_at\":\"2026-11-27T10:00:00Z\",\"request\":{\"method\":\"GET\",\"path\":\"/\"},\"response\":{\"status\":\"ok\"}}]}",
            ":1:",
            "invalid type",
        ),
        (
            "date.json",
            "{\"version\":1,\"interactions\":[{\"recorded_at\":\"yesterday\",\"request\":{\"method\":\"GET\",\"path\":\"/\"},\"response\":{\"status\":200}}]}",
            ":1:",
            "RFC 3339",
        ),
    ];
    for (name, content, position, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = Cassette::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}{position}", path.display())),
            "{name}: {err}"
        );
        assert!(err.contains(message), "{name}: {err}");
    }
    let invalid_utf8 = dir.path().join("bytes.json");
    std::fs::write(&invalid_utf8, b"{\"version\":1,\"interactions\":[\xff]}").unwrap();
    assert!(
        Cassette::load(&invalid_utf8)
            .unwrap_err()
            .to_string()
            .contains("bytes.json:1:")
    );
}

#[test]
fn hostile_cassettes_get_errors_with_positions_and_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let valid = String::from_utf8(
        Cassette::load(&repo_path("cassettes/access-tokens-docs.json"))
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    // Every prefix of a valid cassette is an error, never a panic.
    for cut in (0..valid.len()).step_by(97) {
        let path = dir.path().join("cut.json");
        std::fs::write(&path, &valid[..cut]).unwrap();
        let err = Cassette::load(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:", path.display())), "{err}");
    }
    let cases: [(&str, &[u8], &str); 6] = [
        ("interactions as object", br#"{"version":1,"interactions":{}}"#, "invalid type"),
        ("status too big", br#"{"version":1,"interactions":[{"recorded_at":"2026-11-27T10:00:00Z","request":{"method":"GET","path":"/"},"response":{"status":70000}}]}"#, "invalid value"),
        ("bad base64", br#"{"version":1,"interactions":[{"recorded_at":"2026-11-27T10:00:00Z","request":{"method":"GET","path":"/"},"response":{"status":200,"body":{"base64":"***"}}}]}"#, "body.base64"),
        ("two body kinds", br#"{"version":1,"interactions":[{"recorded_at":"2026-11-27T10:00:00Z","request":{"method":"GET","path":"/"},"response":{"status":200,"body":{"json":1,"text":"x"}}}]}"#, ":1:"),
        ("unknown field", br#"{"version":1,"interactions":[],"extra":true}"#, "unknown field"),
        ("invalid UTF-8 in a string", b"{\"version\":1,\"interactions\":[{\"recorded_at\":\"\xff\"}]}", ":1:"),
    ];
    for (name, bytes, message) in cases {
        let path = dir.path().join("case.json");
        std::fs::write(&path, bytes).unwrap();
        let err = Cassette::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}:1:", path.display())),
            "{name}: {err}"
        );
        assert!(err.contains(message), "{name}: {err}");
    }
    // A huge file is refused from its size alone (a sparse file: nothing is written).
    let huge = dir.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(datovcr::cassette::MAX_CASSETTE_BYTES + 1)
        .unwrap();
    let err = Cassette::load(&huge).unwrap_err().to_string();
    assert!(
        err.contains("over the") && err.contains("split it"),
        "{err}"
    );
}
