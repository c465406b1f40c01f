use super::*;
use crate::cassette::Cassette;
use std::path::Path;

fn docs() -> Cassette {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/access-tokens-docs.json");
    Cassette::load(&path).unwrap()
}

/// A library of `cassette` alone, as `docs.json`, with the default rules.
fn build(cassette: Cassette) -> Result<Library, String> {
    Library::build(
        vec![(PathBuf::from("docs.json"), cassette)],
        MatchRules::default(),
        Exhausted::default(),
    )
}

#[test]
fn equal_headers_share_their_bytes_and_names_are_lowercased() {
    let mut cassette = docs();
    for interaction in &mut cassette.interactions[..2] {
        let headers = &mut interaction.response.headers;
        *headers = Headers::new();
        headers.append("x-shared", "same value");
        headers.append("content-length", "3");
        headers.append("x-datovcr-error", "DATOVCR_NO_MATCH");
    }
    // Recorded by hand with a capital: still a valid name, sent lowercase.
    cassette.interactions[1].response.headers = serde_json::from_value(
        serde_json::json!({"X-Shared": ["same value"], "Content-Length": ["3"],
                           "X-Datovcr-Error": ["DATOVCR_NO_MATCH"]}),
    )
    .unwrap();
    let library = build(cassette).unwrap();
    let responses = &library.cassettes[0].responses;
    let [(first_name, first), (second_name, second)] =
        [&responses[0], &responses[1]].map(|response| {
            assert_eq!(
                response.headers.len(),
                1,
                "framing headers and datovcr's own are not sent"
            );
            response.headers[0].clone()
        });
    assert_eq!(
        (first_name.as_str(), second_name.as_str()),
        ("x-shared", "x-shared")
    );
    assert_eq!(first, "same value");
    assert_eq!(first.as_bytes().as_ptr(), second.as_bytes().as_ptr());
    // `--check` sees them, as recorded.
    for response in &responses[..2] {
        let recorded = response.recorded().headers;
        assert_eq!(recorded.get_all("content-length"), ["3"]);
        assert_eq!(recorded.get_all("x-datovcr-error"), ["DATOVCR_NO_MATCH"]);
    }
}

/// Each response gets exactly its own headers, however the one before
/// differed (a value, a name, the order, the count), and equal values
/// share one allocation wherever they stand.
#[test]
fn headers_taken_from_the_response_before_are_only_the_equal_ones() {
    let mut cassette = docs();
    let template = cassette.interactions[0].clone();
    let lists: [&[(&str, &str)]; 6] = [
        &[("a", "1"), ("b", "2"), ("c", "3")],
        &[("a", "1"), ("b", "2"), ("c", "3")],
        &[("a", "1"), ("b", "changed"), ("c", "3")],
        &[("a", "3"), ("c", "1")],
        &[("b", "2"), ("c", "3"), ("d", "1"), ("e", "2")],
        &[],
    ];
    cassette.interactions = lists
        .iter()
        .map(|list| {
            let mut interaction = template.clone();
            interaction.response.headers = Headers::new();
            for (name, value) in *list {
                interaction.response.headers.append(name, *value);
            }
            interaction
        })
        .collect();
    let library = build(cassette).unwrap();
    let responses = &library.cassettes[0].responses;
    let mut first_seen: HashMap<&[u8], *const u8> = HashMap::new();
    for (response, list) in responses.iter().zip(lists) {
        let sent: Vec<(&str, &[u8])> = response
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let recorded: Vec<(&str, &[u8])> = list
            .iter()
            .map(|(name, value)| (*name, value.as_bytes()))
            .collect();
        assert_eq!(sent, recorded);
        for (_, value) in response.headers.iter() {
            let at = *first_seen
                .entry(value.as_bytes())
                .or_insert(value.as_bytes().as_ptr());
            assert_eq!(at, value.as_bytes().as_ptr(), "{value:?} shared");
        }
    }
}

/// Requests varied in every part a key reads, as recorded by hand too.
fn varied_requests() -> Cassette {
    let mut cassette = docs();
    let template = cassette.interactions[0].clone();
    let requests = [
        r#"{"method": "get", "path": "/items/", "query": {"b": "2", "a": ["1", "0"]},
            "headers": {"X-Environment": ["sandbox"], "x-custom": ["a", " b "]}}"#,
        r#"{"method": "GET", "path": "/items", "query": {"a": ["0", "1"], "b": "2"},
            "headers": {"x-environment": ["sandbox"], "authorization": ["Bearer x"]}}"#,
        r#"{"method": "POST", "path": "/items", "headers": {"x-environment": ["main", "sandbox"]},
            "body": {"json": {"data": {"type": "item", "attributes": {"name": "a\u00e9\"",
            "n": 1.10}, "id": "1"}, "meta": [1E5, {"z": null, "a": []}]}}}"#,
        r#"{"method": "POST", "path": "/items",
            "body": {"json": {"meta": [1E5, {"a": [], "z": null}], "data": {"id": "1",
            "type": "item", "attributes": {"n": 1.10, "name": "other"}}}}}"#,
        r#"{"method": "PUT", "path": "/items/1", "body": {"text": "plain é"}}"#,
        r#"{"method": "PUT", "path": "/items/1", "body": {"base64": "/wD+"}}"#,
        r#"{"method": "DELETE", "path": "/"}"#,
        // Bodies the one-pass key declines: a member the redaction
        // could replace, nesting past the format's limit less one.
        r#"{"method": "POST", "path": "/session", "body": {"json": {"password": "[REDACTED]",
            "n": [1.0, -0, 1e+400]}}}"#,
        r#"{"method": "POST", "path": "/items", "body": {"json": {"data": {"attributes":
            {"token": "[REDACTED]", "url": "https://user:pw@example.com/"}}}}}"#,
        r#"{"method": "POST", "path": "/items", "body": {"json": "a \"string\" \\ é\n"}}"#,
        r#"{"method": "POST", "path": "/items", "body": {"json": [null, true, {}, []]}}"#,
    ];
    // Nested as deep as a cassette allows, and one level less.
    let deep = [
        crate::cassette::MAX_JSON_DEPTH,
        crate::cassette::MAX_JSON_DEPTH - 1,
    ]
    .map(|depth| {
        format!(
            r#"{{"method": "POST", "path": "/deep", "body": {{"json": {}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    });
    cassette.interactions = requests
        .into_iter()
        .chain(deep.iter().map(String::as_str))
        .map(|request| {
            let mut interaction = template.clone();
            interaction.request = serde_json::from_str(request).unwrap();
            interaction
        })
        .collect();
    cassette
}

/// The library replay builds from the cassette file: streamed, each
/// interaction read in wire form.
fn streamed(cassette: &Cassette, rules: &MatchRules) -> Library {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("varied.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    let mut builder = LibraryBuilder::new(rules.clone(), Exhausted::default());
    builder.cassette(path.clone()).unwrap();
    crate::cassette::for_each_wire_interaction(&path, &mut |interaction| builder.add(interaction))
        .unwrap()
        .unwrap();
    builder.finish()
}

#[test]
fn index_keys_are_the_keys_of_the_recorded_requests() {
    let cassette = varied_requests();
    let mut ignoring = MatchRules::default();
    ignoring.headers.push("X-Custom".into());
    ignoring.ignore_body_pointers = vec!["/data/attributes/name".into(), "/meta/0".into()];
    for rules in [
        MatchRules::default(),
        ignoring,
        MatchRules::parse("method,path").unwrap(),
        MatchRules::parse("body,header:x-custom").unwrap(),
    ] {
        // The key as computed from the whole recorded request.
        let mut expected: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (index, interaction) in cassette.interactions.iter().enumerate() {
            let key = rules.key(&RequestView::from(&interaction.request));
            expected.entry(key).or_default().push((0, index));
        }
        let built = Library::build(
            vec![(PathBuf::from("varied.json"), cassette.clone())],
            rules.clone(),
            Exhausted::default(),
        )
        .unwrap();
        for library in [built, streamed(&cassette, &rules)] {
            let indexed: HashMap<String, Vec<(usize, usize)>> = library
                .index
                .iter()
                .map(|(key, recorded)| (key.clone(), recorded.all.entries.clone()))
                .collect();
            assert_eq!(indexed, expected, "{rules:?}");
            for (index, stored) in library.cassettes[0].requests.iter().enumerate() {
                let recorded = &cassette.interactions[index].request;
                assert_eq!(stored.body(), recorded.body);
                for name in &rules.headers {
                    assert_eq!(stored.headers.get_all(name), recorded.headers.get_all(name));
                }
            }
        }
    }
}

#[test]
fn a_header_value_that_cannot_be_sent_names_the_interaction() {
    let mut cassette = docs();
    cassette.interactions[1]
        .response
        .headers
        .append("x-bad", "line\nbreak");
    let err = build(cassette).unwrap_err();
    assert!(err.contains("interaction #1"), "{err}");
    assert!(
        err.contains("header `x-bad` has a value that cannot be sent"),
        "{err}"
    );
}
