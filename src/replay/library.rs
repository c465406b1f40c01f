//! The loaded cassettes, indexed for replay.
//!
//! Every interaction's response is prepared once at start-up (headers
//! parsed, body serialized), so serving a hit is a hash lookup, an atomic
//! increment and a clone of shared bytes. Identical requests share a
//! [`Sequence`]: the n-th arrival gets the n-th recorded response, decided
//! by an atomic counter, so parallel clients never get one response twice
//! before the sequence is exhausted.

use super::matching::{MatchRules, RequestView};
use crate::cassette::{Cassette, Interaction};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A response ready to be sent.
#[derive(Debug, Clone)]
pub struct PreparedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One loaded cassette file.
#[derive(Debug)]
pub struct LoadedCassette {
    /// The file stem, which `x-datovcr-cassette: NAME` selects.
    pub name: String,
    pub path: PathBuf,
    pub interactions: Vec<Interaction>,
    pub responses: Vec<PreparedResponse>,
    used: Vec<AtomicBool>,
}

/// Identical requests, with their recorded responses in order.
#[derive(Debug, Default)]
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
    Exhausted {
        served: usize,
    },
    Miss,
}

type Index = HashMap<String, Sequence>;

/// All cassettes, an index over all of them (requests naming no cassette)
/// and one per cassette name.
#[derive(Debug)]
pub struct Library {
    pub cassettes: Vec<LoadedCassette>,
    all: Index,
    by_name: HashMap<String, (usize, Index)>,
    pub rules: MatchRules,
    exhausted: Exhausted,
}

impl Library {
    pub fn build(
        loaded: Vec<(PathBuf, Cassette)>,
        rules: MatchRules,
        exhausted: Exhausted,
    ) -> Result<Self, String> {
        let mut cassettes = Vec::with_capacity(loaded.len());
        for (path, cassette) in loaded {
            cassettes.push(prepare(path, cassette)?);
        }
        let mut all = Index::new();
        let mut by_name: HashMap<String, (usize, Index)> = HashMap::new();
        for (cassette_index, cassette) in cassettes.iter().enumerate() {
            let mut own = Index::new();
            for (index, interaction) in cassette.interactions.iter().enumerate() {
                let request = &interaction.request;
                let key = rules.key(&RequestView {
                    method: &request.method,
                    path: &request.path,
                    query: &request.query,
                    headers: &request.headers,
                    body: &request.body,
                });
                own.entry(key.clone())
                    .or_default()
                    .entries
                    .push((cassette_index, index));
                all.entry(key)
                    .or_default()
                    .entries
                    .push((cassette_index, index));
            }
            if by_name
                .insert(cassette.name.clone(), (cassette_index, own))
                .is_some()
            {
                return Err(format!(
                    "two cassettes are named `{}` ({}); names come from file names and must be unique for x-datovcr-cassette",
                    cassette.name,
                    cassette.path.display()
                ));
            }
        }
        Ok(Self {
            cassettes,
            all,
            by_name,
            rules,
            exhausted,
        })
    }

    /// The cassette index for a name from `x-datovcr-cassette`.
    pub fn cassette_named(&self, name: &str) -> Option<usize> {
        let stem = name.strip_suffix(".json").unwrap_or(name);
        self.by_name.get(stem).map(|(index, _)| *index)
    }

    /// Finds the next response for `key`, in `cassette` or in all of them.
    pub fn lookup(&self, key: &str, cassette: Option<usize>) -> Lookup<'_> {
        let index = match cassette {
            Some(selected) => &self.by_name[&self.cassettes[selected].name].1,
            None => &self.all,
        };
        let Some(sequence) = index.get(key) else {
            return Lookup::Miss;
        };
        let position = sequence.next.fetch_add(1, Ordering::Relaxed);
        let position = match (position < sequence.entries.len(), self.exhausted) {
            (true, _) => position,
            (false, Exhausted::Repeat) => sequence.entries.len() - 1,
            (false, Exhausted::Fail) => {
                return Lookup::Exhausted {
                    served: sequence.entries.len(),
                };
            }
        };
        let (cassette_index, index) = sequence.entries[position];
        let cassette = &self.cassettes[cassette_index];
        cassette.used[index].store(true, Ordering::Relaxed);
        Lookup::Hit { cassette, index }
    }

    /// `(cassette path, indexes of interactions never served)`.
    pub fn unused(&self) -> Vec<(&Path, Vec<usize>)> {
        self.cassettes
            .iter()
            .map(|cassette| {
                let unused = cassette
                    .used
                    .iter()
                    .enumerate()
                    .filter(|(_, used)| !used.load(Ordering::Relaxed))
                    .map(|(index, _)| index)
                    .collect();
                (cassette.path.as_path(), unused)
            })
            .collect()
    }
}

fn prepare(path: PathBuf, cassette: Cassette) -> Result<LoadedCassette, String> {
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut responses = Vec::with_capacity(cassette.interactions.len());
    for (index, interaction) in cassette.interactions.iter().enumerate() {
        responses.push(prepare_response(interaction).map_err(|problem| {
            format!(
                "cassette {} interaction #{index}: {problem}",
                path.display()
            )
        })?);
    }
    let used = (0..cassette.interactions.len())
        .map(|_| AtomicBool::new(false))
        .collect();
    Ok(LoadedCassette {
        name,
        path,
        interactions: cassette.interactions,
        responses,
        used,
    })
}

/// Headers exactly as recorded, minus those that describe framing: hyper
/// computes `Content-Length` from the body it is given.
fn prepare_response(interaction: &Interaction) -> Result<PreparedResponse, String> {
    let recorded = &interaction.response;
    let status = StatusCode::from_u16(recorded.status)
        .map_err(|_| format!("status {} is not an HTTP status", recorded.status))?;
    let mut headers = HeaderMap::new();
    for (name, values) in recorded.headers.iter() {
        if matches!(
            name,
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        ) {
            continue;
        }
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        for value in values {
            let header_value = HeaderValue::from_str(value).map_err(|_| {
                format!("header `{name}` has a value that cannot be sent: {value:?}")
            })?;
            headers.append(header_name.clone(), header_value);
        }
    }
    Ok(PreparedResponse {
        status,
        headers,
        body: Bytes::from(recorded.body.to_bytes().into_owned()),
    })
}

/// Shared handle type for the server.
pub type SharedLibrary = Arc<Library>;
