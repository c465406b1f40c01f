//! The loaded cassettes, indexed for replay.
//!
//! Every interaction's response is prepared once at start-up (headers
//! parsed, body serialized), so serving a hit is a hash lookup, an atomic
//! increment and a clone of shared bytes. Identical requests share a
//! [`Sequence`]: the n-th arrival gets the n-th recorded response, decided
//! by an atomic counter, so parallel clients never get one response twice
//! before the sequence is exhausted.
//!
//! Memory: the library keeps what it serves (the prepared response) and
//! what explains a miss (the recorded request, with only the headers that
//! matching looks at), never the parsed response JSON: with 10,000
//! interactions that is the difference between ~30 and ~120 MiB. `--check`
//! rebuilds a recorded response from the prepared one when it needs it
//! ([`PreparedResponse::recorded`]). Interactions can be added one at a time
//! ([`LibraryBuilder`]), so a cassette never has to be held whole.

use super::canonical;
use super::matching::{MatchRules, RequestView};
use super::response::BodyKind;
pub use super::response::PreparedResponse;
use super::summary::Unused;
use crate::cassette::{
    Body, Cassette, Headers, Query, WireBody, WireInteraction, WireRequest, WireResponse,
};
use http::{HeaderName, HeaderValue};
use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A recorded request as miss explanations need it: the headers cut down to
/// those [`MatchRules::headers`] names (nothing else is compared), the body
/// kept as its compact bytes and parsed again only when a miss is explained.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub method: String,
    pub path: String,
    pub query: Query,
    pub headers: Headers,
    body_kind: BodyKind,
    body: Box<[u8]>,
}

impl StoredRequest {
    /// `headers`: those of `request` that the rules name.
    fn new(request: WireRequest<'_>, headers: Headers) -> StoredRequest {
        StoredRequest {
            body_kind: BodyKind::of_wire(&request.body),
            body: request.body.bytes().into(),
            method: request.method,
            path: request.path,
            query: request.query,
            headers,
        }
    }

    /// The recorded body, as the cassette held it.
    pub fn body(&self) -> Body {
        self.body_kind.body(&self.body)
    }

    /// The request as matching sees it, with `body` from [`StoredRequest::body`].
    pub fn view<'a>(&'a self, body: &'a Body) -> RequestView<'a> {
        RequestView {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body,
        }
    }
}

/// One loaded cassette file.
#[derive(Debug)]
pub struct LoadedCassette {
    /// The file stem, which `x-datovcr-cassette: NAME` selects.
    pub name: String,
    pub path: PathBuf,
    /// The recorded requests, for explaining misses.
    pub requests: Vec<StoredRequest>,
    pub responses: Vec<PreparedResponse>,
    used: Vec<AtomicBool>,
}

/// Identical requests, with their recorded responses in order.
#[derive(Debug)]
pub struct Sequence {
    /// `(cassette index, interaction index)` in recording order.
    entries: Vec<(usize, usize)>,
    next: AtomicUsize,
}

/// What to do once a sequence has served all its responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Exhausted {
    /// Keep serving the last recorded response.
    #[default]
    Repeat,
    /// Treat further requests as misses.
    Fail,
}

/// The answer to a lookup.
pub enum Lookup<'l> {
    Hit {
        cassette: &'l LoadedCassette,
        index: usize,
    },
    /// The key is known but every response was served (`--exhausted fail`).
    Exhausted(Exhaustion),
    Miss,
}

/// A sequence that has served all its responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhaustion {
    /// Responses recorded for the request, all served.
    pub recorded: usize,
    /// Which arrival of the request this was, from 1.
    pub arrival: usize,
    /// `(cassette index, interaction index)` of the last recorded response.
    pub last: (usize, usize),
}

impl Sequence {
    fn new(entry: (usize, usize)) -> Sequence {
        Sequence {
            // Most sequences hold one entry: no room for more until needed.
            entries: vec![entry],
            next: AtomicUsize::new(0),
        }
    }

    fn push(&mut self, entry: (usize, usize)) {
        self.entries.push(entry);
    }
}

/// Everything recorded under one key: one sequence over all cassettes
/// (requests naming no cassette) and one per cassette holding the key.
#[derive(Debug)]
struct Recorded {
    all: Sequence,
    /// `(cassette index, its sequence)`, in loading order.
    by_cassette: Vec<(usize, Sequence)>,
}

/// One map for every lookup, so loading hashes each key once.
/// foldhash rather than std's SipHash: hashing the 10,000 keys of a large
/// cassette was 6 % of loading it, and it is on every lookup too. The keys
/// come from the cassettes, and foldhash is still seeded per process.
type FastHash = foldhash::fast::RandomState;

type Index = HashMap<String, Recorded, FastHash>;

/// All cassettes, indexed by request key, and their names.
#[derive(Debug)]
pub struct Library {
    pub cassettes: Vec<LoadedCassette>,
    index: Index,
    /// Cassette names (file stems) to cassette indexes.
    by_name: HashMap<String, usize>,
    pub rules: MatchRules,
    exhausted: Exhausted,
}

impl Library {
    /// Builds a library from whole cassettes; see [`LibraryBuilder`] to add
    /// interactions one at a time.
    pub fn build(
        loaded: Vec<(PathBuf, Cassette)>,
        rules: MatchRules,
        exhausted: Exhausted,
    ) -> Result<Self, String> {
        let mut builder = LibraryBuilder::new(rules, exhausted);
        for (path, cassette) in loaded {
            builder.cassette(path)?;
            for interaction in cassette.interactions {
                builder.add(interaction.into())?;
            }
        }
        Ok(builder.finish())
    }

    /// The cassette index for a name from `x-datovcr-cassette`.
    pub fn cassette_named(&self, name: &str) -> Option<usize> {
        let stem = name.strip_suffix(".json").unwrap_or(name);
        self.by_name.get(stem).copied()
    }

    /// Finds the next response for `key`, in `cassette` or in all of them.
    pub fn lookup(&self, key: &str, cassette: Option<usize>) -> Lookup<'_> {
        let Some(recorded) = self.index.get(key) else {
            return Lookup::Miss;
        };
        let sequence = match cassette {
            None => &recorded.all,
            Some(selected) => match recorded
                .by_cassette
                .iter()
                .find(|(cassette, _)| *cassette == selected)
            {
                Some((_, sequence)) => sequence,
                None => return Lookup::Miss,
            },
        };
        let position = sequence.next.fetch_add(1, Ordering::Relaxed);
        let position = match (position < sequence.entries.len(), self.exhausted) {
            (true, _) => position,
            (false, Exhausted::Repeat) => sequence.entries.len() - 1,
            (false, Exhausted::Fail) => {
                return Lookup::Exhausted(Exhaustion {
                    recorded: sequence.entries.len(),
                    arrival: position.saturating_add(1),
                    last: sequence.entries[sequence.entries.len() - 1],
                });
            }
        };
        let (cassette_index, index) = sequence.entries[position];
        let cassette = &self.cassettes[cassette_index];
        cassette.used[index].store(true, Ordering::Relaxed);
        Lookup::Hit { cassette, index }
    }

    /// Per cassette, the interactions never served, in cassette order.
    pub fn unused(&self) -> Vec<(PathBuf, Vec<Unused>)> {
        self.cassettes
            .iter()
            .map(|cassette| {
                let unused = cassette
                    .used
                    .iter()
                    .enumerate()
                    .filter(|(_, used)| !used.load(Ordering::Relaxed))
                    .map(|(index, _)| Unused {
                        index,
                        method: cassette.requests[index].method.clone(),
                        path: cassette.requests[index].path.clone(),
                    })
                    .collect();
                (cassette.path.clone(), unused)
            })
            .collect()
    }
}

/// Builds a [`Library`] one cassette, then one interaction, at a time.
pub struct LibraryBuilder {
    cassettes: Vec<LoadedCassette>,
    index: Index,
    by_name: HashMap<String, usize>,
    rules: MatchRules,
    exhausted: Exhausted,
    /// Header names and values seen so far: equal ones share one allocation
    /// (`HeaderName` and `HeaderValue` clones share their bytes).
    names: HashSet<Known<HeaderName>, FastHash>,
    values: HashSet<Known<HeaderValue>, FastHash>,
    /// The headers of the response prepared last, in order: the next one
    /// nearly always has the same names in the same places, and most of
    /// the same values, which are then taken without hashing.
    previous: Vec<(HeaderName, HeaderValue)>,
}

impl LibraryBuilder {
    pub fn new(rules: MatchRules, exhausted: Exhausted) -> Self {
        Self {
            cassettes: Vec::new(),
            index: Index::default(),
            by_name: HashMap::new(),
            rules,
            exhausted,
            names: HashSet::default(),
            values: HashSet::default(),
            previous: Vec::new(),
        }
    }

    /// Starts the next cassette; [`LibraryBuilder::add`] fills it.
    pub fn cassette(&mut self, path: PathBuf) -> Result<(), String> {
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.by_name.contains_key(&name) {
            return Err(format!(
                "two cassettes are named `{name}` ({}); names come from file names and must be unique for x-datovcr-cassette",
                path.display()
            ));
        }
        self.by_name.insert(name.clone(), self.cassettes.len());
        self.cassettes.push(LoadedCassette {
            name,
            path,
            requests: Vec::new(),
            responses: Vec::new(),
            used: Vec::new(),
        });
        Ok(())
    }

    /// Indexes an interaction of the current cassette and prepares its response.
    pub fn add(&mut self, interaction: WireInteraction<'_>) -> Result<(), String> {
        let cassette_index = self.cassettes.len() - 1;
        let index = self.cassettes[cassette_index].requests.len();
        let response = self.prepare(interaction.response).map_err(|problem| {
            format!(
                "cassette {} interaction #{index}: {problem}",
                self.cassettes[cassette_index].path.display()
            )
        })?;
        let request = interaction.request;
        // The key reads only these, so they are all it needs.
        let headers = request.headers_named(&self.rules.headers);
        let key = self.key(&request, &headers);
        let entry = (cassette_index, index);
        match self.index.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(Recorded {
                    all: Sequence::new(entry),
                    by_cassette: vec![(cassette_index, Sequence::new(entry))],
                });
            }
            Entry::Occupied(mut occupied) => {
                let recorded = occupied.get_mut();
                recorded.all.push(entry);
                // Cassettes are loaded one after the other: this one's
                // sequence, if any, is the last.
                match recorded.by_cassette.last_mut() {
                    Some((cassette, own)) if *cassette == cassette_index => own.push(entry),
                    _ => recorded
                        .by_cassette
                        .push((cassette_index, Sequence::new(entry))),
                }
            }
        }
        let request = StoredRequest::new(request, headers);
        let cassette = &mut self.cassettes[cassette_index];
        cassette.requests.push(request);
        cassette.responses.push(response);
        cassette.used.push(AtomicBool::new(false));
        Ok(())
    }

    pub fn finish(mut self) -> Library {
        // Drop the spare capacity of sequences that grew (most never do).
        for recorded in self.index.values_mut() {
            let own = recorded.by_cassette.iter_mut().map(|(_, own)| own);
            for sequence in std::iter::once(&mut recorded.all).chain(own) {
                if sequence.entries.len() < sequence.entries.capacity() {
                    sequence.entries.shrink_to_fit();
                }
            }
            if recorded.by_cassette.len() < recorded.by_cassette.capacity() {
                recorded.by_cassette.shrink_to_fit();
            }
        }
        Library {
            cassettes: self.cassettes,
            index: self.index,
            by_name: self.by_name,
            rules: self.rules,
            exhausted: self.exhausted,
        }
    }

    /// The lookup key of a recorded request, `headers` its matched ones. A
    /// JSON body's part is written straight from its compact bytes
    /// ([`canonical::screened_key`], as replay does for a request it
    /// receives), which gives the text the parsed tree would; a body that
    /// path declines (one it screens out, one nested deep), a body with
    /// ignored pointers and any other body are parsed back into the
    /// [`Body`] the rules read.
    fn key(&self, request: &WireRequest<'_>, headers: &Headers) -> String {
        let rules = &self.rules;
        let fast = match &request.body {
            WireBody::Json(bytes) if rules.body && rules.ignore_body_pointers.is_empty() => {
                canonical::screened_key(bytes)
            }
            _ => None,
        };
        let parsed;
        let body = if fast.is_some() || !rules.body {
            // Not read: the key's body part is written below, or left out.
            &Body::Empty
        } else {
            parsed = BodyKind::of_wire(&request.body).body(request.body.bytes());
            &parsed
        };
        let mut parts = rules.parts(&RequestView {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers,
            body,
        });
        let Some(body_key) = fast else {
            return parts.key();
        };
        // As the handler's fast path (`handler/screened.rs`) writes it.
        parts.body = None;
        let mut key = parts.key();
        key.push_str("BJ");
        key.push_str(&body_key);
        key
    }

    fn prepare(&mut self, recorded: WireResponse<'_>) -> Result<PreparedResponse, String> {
        let mut position = 0;
        PreparedResponse::prepare(recorded, |name, value| {
            let cached = self
                .previous
                .get(position)
                .and_then(|(known, known_value)| {
                    let same_value = known_value.as_bytes() == value;
                    (known.as_str() == name)
                        .then(|| (known.clone(), same_value.then(|| known_value.clone())))
                });
            let header = match cached {
                // The very header before: nothing to remember.
                Some((known, Some(known_value))) => (known, known_value),
                Some((known, None)) => {
                    let value = self.intern_value(name, value)?;
                    self.previous[position].1 = value.clone();
                    (known, value)
                }
                None => {
                    let header = self.intern(name, value)?;
                    self.previous.truncate(position);
                    self.previous.push(header.clone());
                    header
                }
            };
            position += 1;
            Ok(header)
        })
    }

    /// Parses a header; a name or value seen before is shared rather than
    /// stored again (content types, rate limits and cache headers repeat in
    /// every interaction).
    fn intern(&mut self, name: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), String> {
        // Looked up by their text first: most are known, and then nothing
        // is parsed or allocated.
        let header_name = match self.names.get(name.as_bytes()) {
            Some(Known(known)) => known.clone(),
            None => shared(
                &mut self.names,
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a valid header name"))?,
            ),
        };
        Ok((header_name, self.intern_value(name, value)?))
    }

    /// [`LibraryBuilder::intern`] for a value alone; `name` words the error.
    fn intern_value(&mut self, name: &str, value: &[u8]) -> Result<HeaderValue, String> {
        Ok(match self.values.get(value) {
            Some(Known(known)) => known.clone(),
            None => shared(
                &mut self.values,
                HeaderValue::from_bytes(value).map_err(|_| {
                    format!(
                        "header `{name}` has a value that cannot be sent: {:?}",
                        String::from_utf8_lossy(value)
                    )
                })?,
            ),
        })
    }
}

/// The copy of `item` already in `seen`, or `item` after remembering it.
fn shared<T>(seen: &mut HashSet<Known<T>, FastHash>, item: T) -> T
where
    T: Clone,
    Known<T>: Eq + Hash,
{
    let item = Known(item);
    match seen.get(&item) {
        Some(known) => known.0.clone(),
        None => {
            seen.insert(item.clone());
            item.0
        }
    }
}

/// A header name or value in an interning set, which can be found by its
/// bytes (hashed and compared as a byte slice) before one is built.
#[derive(Clone, PartialEq, Eq)]
struct Known<T>(T);

impl Hash for Known<HeaderName> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Known<HeaderName> {
    fn borrow(&self) -> &[u8] {
        self.0.as_str().as_bytes()
    }
}

impl Hash for Known<HeaderValue> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Known<HeaderValue> {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Shared handle type for the server.
pub type SharedLibrary = Arc<Library>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::Cassette;
    use std::path::Path;

    fn docs() -> Cassette {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/access-tokens-docs.json");
        Cassette::load(&path).unwrap()
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
        let library = Library::build(
            vec![(PathBuf::from("docs.json"), cassette)],
            MatchRules::default(),
            Exhausted::default(),
        )
        .unwrap();
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
        let library = Library::build(
            vec![(PathBuf::from("docs.json"), cassette)],
            MatchRules::default(),
            Exhausted::default(),
        )
        .unwrap();
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
        crate::cassette::for_each_wire_interaction(&path, &mut |interaction| {
            builder.add(interaction)
        })
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
                let request = &interaction.request;
                let key = rules.key(&RequestView {
                    method: &request.method,
                    path: &request.path,
                    query: &request.query,
                    headers: &request.headers,
                    body: &request.body,
                });
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
        let err = Library::build(
            vec![(PathBuf::from("docs.json"), cassette)],
            MatchRules::default(),
            Exhausted::default(),
        )
        .unwrap_err();
        assert!(err.contains("interaction #1"), "{err}");
        assert!(
            err.contains("header `x-bad` has a value that cannot be sent"),
            "{err}"
        );
    }
}
