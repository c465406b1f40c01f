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
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;

mod interning;

use interning::Interner;
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
pub(super) type FastHash = foldhash::fast::RandomState;

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
    /// Response headers seen so far, so that equal ones share their bytes.
    headers: Interner,
}

impl LibraryBuilder {
    pub fn new(rules: MatchRules, exhausted: Exhausted) -> Self {
        Self {
            cassettes: Vec::new(),
            index: Index::default(),
            by_name: HashMap::new(),
            rules,
            exhausted,
            headers: Interner::default(),
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
            let header = self.headers.header(position, name, value);
            position += 1;
            header
        })
    }
}

/// Shared handle type for the server.
pub type SharedLibrary = Arc<Library>;

#[cfg(test)]
mod tests;
