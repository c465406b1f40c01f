use super::splitter::Splitter;
use super::*;
use serde::de::IgnoredAny;

fn collect(path: &Path) -> Result<Vec<Interaction>, CassetteError> {
    let mut seen = Vec::new();
    for_each_interaction::<()>(path, &mut |interaction| {
        seen.push(interaction);
        Ok(())
    })?
    .expect("the callback never fails");
    Ok(seen)
}

fn collect_wire(path: &Path) -> Result<Vec<WireInteraction<'static>>, CassetteError> {
    let mut seen = Vec::new();
    for_each_wire_interaction::<()>(path, &mut |interaction| {
        seen.push(interaction.into_owned());
        Ok(())
    })?
    .expect("the callback never fails");
    Ok(seen)
}

/// What replay got before [`WireInteraction`]: every interaction parsed
/// whole, its response body serialized from the parsed value.
fn wire_from_full_load(path: &Path) -> Vec<WireInteraction<'static>> {
    let cassette = Cassette::load(path).unwrap();
    cassette.interactions.into_iter().map(Into::into).collect()
}

/// The docs cassette with bodies of every kind and awkward content;
/// each `"HAND-n"` is then replaced with text as someone might type it.
fn varied_cassette() -> String {
    use crate::cassette::{Body, Headers};
    use serde_json::{Value, json};
    let big: Value = serde_json::from_str(
        "[123456789012345678901234567890, -0, 1.10, 6.02e+23, 1e-7, -12.5e+400]",
    )
    .unwrap();
    let bodies = [
        Body::Json(json!({
            "escapes": "quote\" backslash\\ slash/ \n\r\t\u{8}\u{c} \u{0}\u{1f}\u{7f}",
            "unicode": "é 漢字 🎉 \u{2028}\u{fffd}",
            "numbers": big,
            "nested": [[[]], [{}], [1, [2, [3, {"a": [true, false, null]}]]]],
            "": {"": ""},
        })),
        Body::Json(json!("a bare string")),
        Body::Json(json!(null)),
        Body::Json(json!([])),
        Body::Text("plain \"text\" \\ é\n".into()),
        Body::Binary(vec![0xff, 0, 0xfe, b'{']),
        Body::Empty,
        Body::Json(json!("HAND-1")),
        Body::Json(json!({"keep": "HAND-2"})),
        Body::Json(json!("HAND-3")),
    ];
    let mut cassette = Cassette::load(&docs()).unwrap();
    let template = cassette.interactions[0].clone();
    cassette.interactions = bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let mut interaction = template.clone();
            interaction.request.path = format!("/items/{index}");
            let mut headers = Headers::new();
            headers.append("content-length", "12");
            headers.append("set-cookie", "a=1");
            headers.append("set-cookie", "b=\"2\"");
            headers.append("x-unicode-escaped", "caf\u{e9}");
            interaction.response.headers = headers;
            interaction.response.body = body;
            interaction
        })
        .collect();
    String::from_utf8(cassette.to_bytes())
        .unwrap()
        .replace(
            "\"HAND-1\"",
            "{\"a\": \"\\u00e9\\/\\ud83c\\udf89\", \"n\": [1E5, 2e5, 3e+5], \"a\": 2}",
        )
        .replace("\"HAND-2\"", "[1, {\"b\": 1, \"b\": 2}]")
        .replace("\"HAND-3\"", "\"\\u0041\\u000a\\u001F\"")
}

#[test]
fn wire_interactions_are_what_the_full_reader_gave_replay() {
    let dir = tempfile::tempdir().unwrap();
    let varied = dir.path().join("varied.json");
    std::fs::write(&varied, varied_cassette()).unwrap();
    for path in [docs(), varied] {
        let expected = wire_from_full_load(&path);
        assert!(expected.len() >= 3, "{}", path.display());
        assert_eq!(collect_wire(&path).unwrap(), expected, "{}", path.display());
    }
}

fn docs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/access-tokens-docs.json")
}

#[test]
fn streams_the_same_interactions_as_a_full_load() {
    let full = Cassette::load(&docs()).unwrap();
    assert_eq!(collect(&docs()).unwrap(), full.interactions);
}

/// Every element's bytes, as the splitter hands them over from `pieces`:
/// read in place where `in_place` lets serde_json find its end, else
/// cut out by the scanner.
fn split<'p>(pieces: impl Iterator<Item = &'p [u8]>, in_place: bool) -> Vec<Vec<u8>> {
    let mut splitter = Splitter::default();
    let mut found = Vec::new();
    for piece in pieces {
        splitter
            .feed(piece, &mut |bytes, cut| match cut {
                Cut::Whole => {
                    found.push(bytes.to_vec());
                    Ok(Some(bytes.len()))
                }
                Cut::Leading if !in_place => Ok(None),
                Cut::Leading => Ok(read_one::<IgnoredAny>(bytes, cut).map(|(_, used)| {
                    found.push(bytes[..used].to_vec());
                    used
                })),
            })
            .unwrap();
    }
    splitter.finish().unwrap();
    found
}

#[test]
fn chunk_boundaries_anywhere_give_the_same_elements() {
    let dir = tempfile::tempdir().unwrap();
    let varied = dir.path().join("varied.json");
    std::fs::write(&varied, varied_cassette()).unwrap();
    for path in [docs(), varied] {
        let bytes = std::fs::read(&path).unwrap();
        let expected = split(std::iter::once(&bytes[..]), false);
        assert_eq!(
            expected.len(),
            Cassette::load(&path).unwrap().interactions.len()
        );
        for size in [1, 2, 3, 7, 64, 1000, 4096, bytes.len()] {
            for in_place in [false, true] {
                assert_eq!(
                    split(bytes.chunks(size), in_place),
                    expected,
                    "chunks of {size}, in place: {in_place}"
                );
            }
        }
    }
}

#[test]
fn strings_with_brackets_quotes_and_escapes_do_not_confuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette = Cassette::load(&docs()).unwrap();
    cassette.interactions[0].request.path = "/a\"{[}]\\\\\"/b".into();
    cassette.interactions[0].recorded_at = "2026-11-27T10:00:00Z".into();
    let path = dir.path().join("odd.json");
    std::fs::write(&path, cassette.to_bytes()).unwrap();
    assert_eq!(collect(&path).unwrap(), cassette.interactions);
    // An escaped key is valid JSON the scanner does not recognise: the
    // full reader serves it.
    let escaped = String::from_utf8(cassette.to_bytes()).unwrap().replacen(
        "\"interactions\"",
        "\"inter\\u0061ctions\"",
        1,
    );
    std::fs::write(&path, escaped).unwrap();
    assert_eq!(collect(&path).unwrap(), cassette.interactions);
}

#[test]
fn errors_are_the_full_loaders_and_callback_errors_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    for text in [
        "{\n  \"version\": 7,\n  \"interactions\": []\n}\n",
        "{\"version\": 1, \"interactions\": [{\"recorded_at\": 3}]}",
        "{\"version\": 1, \"interactions\": [], \"extra\": 1}",
        "{\"version\": 1, \"interactions\": [1]}",
        "{\"version\": 1, \"interactions\": [[]]}",
        "{\"version\": 1, \"inter",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(
        [
            r#""status": 200, "body": {"json": "\ud800"}"#,
            r#""status": 200, "body": {"json": [1, 2,]}"#,
            r#""status": 200, "body": {"json": 1, "text": "a"}"#,
            r#""status": 200, "body": {"base64": "%%"}"#,
            r#""status": 200, "headers": {"a": "b"}"#,
            r#""status": 70000"#,
            r#""status": 200, "extra": 1"#,
        ]
        .map(|response| {
            format!(
                r#"{{"version": 1, "interactions": [{{"recorded_at": "2026-11-27T10:00:00Z",
                "request": {{"method": "GET", "path": "/"}}, "response": {{{response}}}}}]}}"#
            )
        }),
    )
    .chain([
        r#"{"version": 1, "interactions": [{"recorded_at": "yesterday",
        "request": {"method": "GET", "path": "/"}, "response": {"status": 200}}]}"#
            .to_owned(),
        format!(
            r#"{{"version": 1, "interactions": [{{"recorded_at": "2026-11-27T10:00:00Z",
            "request": {{"method": "GET", "path": "/"}},
            "response": {{"status": 200, "body": {{"json": {}{}}}}}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ),
    ]) {
        std::fs::write(&broken, &text).unwrap();
        let streamed = collect(&broken).unwrap_err().to_string();
        let full = Cassette::load(&broken).unwrap_err().to_string();
        assert_eq!(streamed, full, "{text}");
        let wire = collect_wire(&broken).unwrap_err().to_string();
        assert_eq!(wire, full, "{text}");
    }

    // Over the size limit: refused by both before reading (sparse file).
    let huge = dir.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(crate::cassette::MAX_CASSETTE_BYTES + 1)
        .unwrap();
    let full = Cassette::load(&huge).unwrap_err().to_string();
    assert!(full.contains("over the"), "{full}");
    assert_eq!(collect(&huge).unwrap_err().to_string(), full);
    assert_eq!(collect_wire(&huge).unwrap_err().to_string(), full);

    let mut calls = 0;
    let outcome = for_each_interaction(&docs(), &mut |_| {
        calls += 1;
        Err("enough")
    })
    .unwrap();
    assert_eq!((outcome, calls), (Err("enough"), 1));
}
