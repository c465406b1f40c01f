//! Reading a cassette one interaction at a time.
//!
//! [`Cassette::load`](super::Cassette::load) reads the whole file and builds
//! every interaction before anything uses them: for a 10,000-interaction
//! cassette that is the file (~20 MiB) plus every parsed body at once.
//! Replay only needs each interaction long enough to index it and prepare
//! its response, so [`for_each_interaction`] reads the file in chunks and
//! parses each element of `interactions` alone, from a slice of the chunk
//! (serde_json's fast path), and hands it over. A small scanner (strings,
//! escapes and nesting depth; no parsing) walks the file between elements.
//! At an element's `{` serde_json reads the element where it lies and says
//! where it ended, so the scanner skips it; only an element serde_json does
//! not finish there (one running past the chunk, or one it refuses) is
//! walked by the scanner, cut out and parsed alone, as before. What is
//! left of the file once the elements are taken out (the "skeleton":
//! `version`, the brackets, `{}` per element) is parsed at the end with the
//! same rules as a cassette, so the top level is checked as strictly as
//! before.
//!
//! [`for_each_wire_interaction`] is the same walk for replay: each element
//! is read as a [`WireInteraction`] (response body compacted from its
//! text, no `Value`), or, when that reading declines, as an [`Interaction`]
//! converted to one.
//!
//! On any error the file is read again with
//! [`Cassette::load`](super::Cassette::load), so a broken cassette is
//! reported exactly as before (file, line, column, message).

use super::fs::Links;
use super::{Cassette, CassetteError, FormatVersion, Interaction, WireInteraction};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::io::Read;
use std::path::Path;

/// How much of the file is read at a time.
const CHUNK: usize = 256 * 1024;

/// Calls `each` with every interaction of the cassette at `path`, in order.
/// `each` may fail; its error is returned as is. After an error, the
/// interactions already handed over stay handed over.
///
/// Parsing stays on the calling thread: spreading it over threads was
/// measured at twice as slow on 2 cores (probably values allocated on one
/// thread and freed on another contending in the allocator).
pub fn for_each_interaction<E>(
    path: &Path,
    each: &mut dyn FnMut(Interaction) -> Result<(), E>,
) -> Result<Result<(), E>, CassetteError> {
    for_each_interaction_with(path, Links::Follow, each)
}

/// [`for_each_interaction`], following a link only if `links` says so.
fn for_each_interaction_with<E>(
    path: &Path,
    links: Links,
    each: &mut dyn FnMut(Interaction) -> Result<(), E>,
) -> Result<Result<(), E>, CassetteError> {
    let streamed = stream(path, links, &mut |bytes, cut| {
        let Some((interaction, used)) = read_one::<Interaction>(bytes, cut) else {
            return refused(cut);
        };
        each(interaction).map_err(Refusal::Failed)?;
        Ok(Some(used))
    })?;
    match streamed {
        Streamed::Done(outcome) => Ok(outcome),
        Streamed::FallBack { delivered } => fall_back(path, links, delivered, each),
    }
}

/// Checks the whole file at `path` as a cassette, as
/// [`Cassette::load_with`] would, without holding it in memory; returns
/// how many interactions it holds.
pub fn count_interactions(path: &Path, links: Links) -> Result<usize, CassetteError> {
    let mut count = 0usize;
    for_each_interaction_with::<std::convert::Infallible>(path, links, &mut |_| {
        count += 1;
        Ok(())
    })?
    .unwrap_or_else(|never| match never {});
    Ok(count)
}

/// [`for_each_interaction`] for replay: each interaction as a
/// [`WireInteraction`], its response body never parsed into a `Value`.
/// Errors, and what is accepted, are the same.
pub fn for_each_wire_interaction<E>(
    path: &Path,
    each: &mut dyn FnMut(WireInteraction<'_>) -> Result<(), E>,
) -> Result<Result<(), E>, CassetteError> {
    let streamed = stream(path, Links::Follow, &mut |bytes, cut| {
        let (interaction, used) = match (read_one::<WireInteraction>(bytes, cut), cut) {
            (Some(read), _) => read,
            // Not whole in this chunk, or refused: the scanner cuts it out.
            (None, Cut::Leading) => return Ok(None),
            // A body compacting cannot vouch for, or a broken element: the
            // full rules decide, and the parsed interaction is converted.
            (None, Cut::Whole) => {
                let interaction = serde_json::from_slice::<Interaction>(bytes)
                    .map_err(|_| Refusal::Unreadable)?;
                (interaction.into(), bytes.len())
            }
        };
        each(interaction).map_err(Refusal::Failed)?;
        Ok(Some(used))
    })?;
    match streamed {
        Streamed::Done(outcome) => Ok(outcome),
        Streamed::FallBack { delivered } => {
            fall_back(path, Links::Follow, delivered, &mut |interaction| {
                each(interaction.into())
            })
        }
    }
}

/// Why an element was not handed over.
enum Refusal<E> {
    /// Its bytes do not read as an interaction: the slow reader words why.
    Unreadable,
    /// The caller's `each` failed.
    Failed(E),
}

/// Which bytes an element reader is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Exactly one element, cut out by the scanner.
    Whole,
    /// The rest of the chunk from an element's `{`: the element may end
    /// anywhere in it, or run past it.
    Leading,
}

/// Reads one element from the start of `bytes`, and how many bytes it
/// took; `None` when serde_json refuses it or (for [`Cut::Leading`]) it is
/// not whole in `bytes`.
fn read_one<'de, T: Deserialize<'de>>(bytes: &'de [u8], cut: Cut) -> Option<(T, usize)> {
    match cut {
        Cut::Whole => serde_json::from_slice(bytes)
            .ok()
            .map(|value| (value, bytes.len())),
        Cut::Leading => {
            // The stream reader stops right after the element's `}` and
            // says where that was; any error (the chunk ending inside the
            // element among them) leaves it to the scanner.
            let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
            let value = stream.next()?.ok()?;
            Some((value, stream.byte_offset()))
        }
    }
}

/// A [`read_one`] that found nothing: for a leading slice, the scanner takes
/// over; for a whole element, the slow reader words the error.
fn refused<E>(cut: Cut) -> Result<Option<usize>, Refusal<E>> {
    match cut {
        Cut::Leading => Ok(None),
        Cut::Whole => Err(Refusal::Unreadable),
    }
}

/// Reads one element and hands the interaction over: `Some(bytes used)`,
/// or `None` when a [`Cut::Leading`] slice is left to the scanner.
type ReadElement<'r, E> = dyn FnMut(&[u8], Cut) -> Result<Option<usize>, Refusal<E>> + 'r;

/// The scanner's view of [`ReadElement`]: `Err(())` stops the scan.
type Element<'r> = dyn FnMut(&[u8], Cut) -> Result<Option<usize>, ()> + 'r;

enum Streamed<E> {
    /// Every element was read (and the caller's outcome is this).
    Done(Result<(), E>),
    /// The scanner or an element gave up after `delivered` interactions.
    FallBack { delivered: usize },
}

/// Scans the file at `path`, calling `read` with each element's bytes.
fn stream<E>(
    path: &Path,
    links: Links,
    read: &mut ReadElement<'_, E>,
) -> Result<Streamed<E>, CassetteError> {
    let file = super::fs::open_regular(path, links).map_err(|source| CassetteError::Io {
        path: path.to_owned(),
        source,
    })?;
    // The whole-file reader's size limit, so both accept the same files.
    let size = file.metadata().map_err(|source| CassetteError::Io {
        path: path.to_owned(),
        source,
    })?;
    super::check_size(path, size.len())?;
    let mut delivered = 0usize;
    let mut failure = None;
    let scanned = scan(file, &mut |element, cut| match read(element, cut) {
        Ok(None) => Ok(None),
        Ok(Some(used)) => {
            delivered += 1;
            Ok(Some(used))
        }
        Err(Refusal::Unreadable) => Err(()),
        Err(Refusal::Failed(err)) => {
            failure = Some(err);
            Err(())
        }
    });
    if let Some(err) = failure {
        return Ok(Streamed::Done(Err(err)));
    }
    match scanned {
        Ok(Ok(())) => Ok(Streamed::Done(Ok(()))),
        Ok(Err(())) => Ok(Streamed::FallBack { delivered }),
        Err(source) => Err(CassetteError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads `file` chunk by chunk and calls `element` with each interaction's
/// bytes; `Ok(Err(()))` when the scanner or `element` gave up.
fn scan(mut file: std::fs::File, element: &mut Element<'_>) -> std::io::Result<Stop> {
    let mut splitter = Splitter::default();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let read = file.read(&mut chunk)?;
        if read == 0 {
            return Ok(splitter.finish());
        }
        if splitter.feed(&chunk[..read], element).is_err() {
            return Ok(Err(()));
        }
    }
}

/// The scanner gave up: the slow reader words the error. A file it accepts
/// (one the scanner does not recognise, such as an escaped key) is served
/// from it, unless interactions were already handed over.
fn fall_back<E>(
    path: &Path,
    links: Links,
    delivered: usize,
    each: &mut dyn FnMut(Interaction) -> Result<(), E>,
) -> Result<Result<(), E>, CassetteError> {
    let cassette = Cassette::load_with(path, links)?;
    if delivered > 0 {
        return Err(CassetteError::Invalid {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: "the cassette could not be read in one pass; reading it whole succeeded, \
                      but part of it was already used"
                .into(),
        });
    }
    for interaction in cassette.interactions {
        if let Err(err) = each(interaction) {
            return Ok(Err(err));
        }
    }
    Ok(Ok(()))
}

/// The top level of a cassette with every interaction replaced by `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Skeleton {
    #[allow(dead_code)] // Checked by deserializing it.
    version: FormatVersion,
    #[allow(dead_code)] // Only the element count and shape are checked.
    interactions: Vec<Placeholder>,
}

/// An interaction in the skeleton: an empty object and nothing else (not
/// an array, which a derived struct would also accept).
struct Placeholder;

impl<'de> Deserialize<'de> for Placeholder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PlaceholderVisitor)
    }
}

struct PlaceholderVisitor;

impl<'de> Visitor<'de> for PlaceholderVisitor {
    type Value = Placeholder;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an interaction")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Placeholder, A::Error> {
        match map.next_key::<IgnoredAny>()? {
            None => Ok(Placeholder),
            Some(_) => Err(de::Error::custom("the scanner left an interaction behind")),
        }
    }
}

/// The first byte from `index` on that the scanner acts on outside strings
/// (a quote or a bracket), or the end of `chunk`.
fn next_structural(chunk: &[u8], index: usize) -> usize {
    let is_structural = |byte: u8| byte == b'"' || matches!(byte | 0x20, b'{' | b'}');
    // A pretty-printed cassette is mostly indentation between those: test
    // 16 bytes at a time, a check the compiler turns into vector code.
    let mut index = index;
    for block in chunk[index..].chunks_exact(16) {
        if block
            .iter()
            .fold(false, |found, &byte| found | is_structural(byte))
        {
            break;
        }
        index += 16;
    }
    chunk[index..]
        .iter()
        .position(|&byte| is_structural(byte))
        .map_or(chunk.len(), |offset| index + offset)
}

/// Splits the bytes of a cassette into interaction elements and the
/// skeleton, across chunk boundaries.
#[derive(Default)]
struct Splitter {
    depth: usize,
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// The last string seen at the top level, while it is short.
    top_string: Vec<u8>,
    /// Between the `[` and `]` of the top-level `interactions` array.
    in_interactions: bool,
    /// Inside one element of that array.
    in_element: bool,
    element: Vec<u8>,
    skeleton: Vec<u8>,
}

/// An element was malformed or refused; stop scanning.
type Stop = Result<(), ()>;

impl Splitter {
    /// Scans `chunk`, calling `element` for every interaction: first with
    /// the chunk from its `{` on ([`Cut::Leading`]), then, if that did not
    /// read it, with exactly its bytes once scanned ([`Cut::Whole`]).
    fn feed(&mut self, chunk: &[u8], element: &mut Element<'_>) -> Stop {
        let mut start = 0; // Start of the bytes not yet copied out.
        let mut index = 0;
        while index < chunk.len() {
            if self.in_string {
                index = self.skip_string(chunk, index);
                continue;
            }
            index = next_structural(chunk, index);
            let Some(&byte) = chunk.get(index) else {
                break;
            };
            match byte {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 {
                        self.top_string.clear();
                    }
                }
                b'{' if self.in_interactions && self.depth == 2 => {
                    self.copy_out(&chunk[start..index]);
                    self.skeleton.extend_from_slice(b"{}");
                    if let Some(used) = element(&chunk[index..], Cut::Leading)? {
                        // Read in place: go on after its `}`, still at depth 2.
                        index += used;
                        start = index;
                        continue;
                    }
                    start = index;
                    self.in_element = true;
                    self.depth += 1;
                }
                b'{' => self.depth += 1,
                b'[' => {
                    if self.depth == 1 && self.top_string == b"interactions" {
                        self.in_interactions = true;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or(())?;
                    if self.in_element && self.depth == 2 {
                        self.element.extend_from_slice(&chunk[start..=index]);
                        start = index + 1;
                        self.in_element = false;
                        let complete = std::mem::take(&mut self.element);
                        element(&complete, Cut::Whole)?;
                        self.element = complete;
                        self.element.clear();
                    } else if self.in_interactions && self.depth == 1 {
                        self.in_interactions = false;
                    }
                }
                _ => {}
            }
            index += 1;
        }
        self.copy_out(&chunk[start..]);
        Ok(())
    }

    /// Moves through a string from `index`; returns where scanning goes on.
    fn skip_string(&mut self, chunk: &[u8], index: usize) -> usize {
        let mut index = index;
        if self.escaped {
            self.escaped = false;
            self.note_top_string(&chunk[index..index + 1]);
            index += 1;
            if index >= chunk.len() {
                return index;
            }
        }
        match memchr::memchr2(b'"', b'\\', &chunk[index..]) {
            None => {
                self.note_top_string(&chunk[index..]);
                chunk.len()
            }
            Some(offset) => {
                let at = index + offset;
                self.note_top_string(&chunk[index..at]);
                if chunk[at] == b'\\' {
                    self.escaped = true;
                    self.note_top_string(b"\\");
                } else {
                    self.in_string = false;
                }
                at + 1
            }
        }
    }

    /// Keeps the text of top-level strings (keys), as long as they are short.
    fn note_top_string(&mut self, bytes: &[u8]) {
        if self.depth == 1 && self.top_string.len() + bytes.len() <= 64 {
            self.top_string.extend_from_slice(bytes);
        }
    }

    fn copy_out(&mut self, bytes: &[u8]) {
        if self.in_element {
            self.element.extend_from_slice(bytes);
        } else {
            self.skeleton.extend_from_slice(bytes);
        }
    }

    /// Checks the skeleton once the whole file was fed.
    fn finish(&mut self) -> Stop {
        if self.depth != 0 || self.in_string || self.in_element {
            return Err(());
        }
        serde_json::from_slice::<Skeleton>(&self.skeleton)
            .map(drop)
            .map_err(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
