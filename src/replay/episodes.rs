//! New episodes (VCR's `record: :new_episodes`): what `--on-miss record`
//! appended to a cassette during this run, served from then on like the
//! interactions loaded at start-up, by the same server.
//!
//! The [`Library`] is built once and never changes, so a hit stays one
//! lock-free hash probe. New episodes go into a small overlay instead,
//! behind a lock, which is consulted only after the library missed; a run
//! that has recorded nothing never takes the lock.
//!
//! [`RecordTargets`] decides which cassette a miss is recorded into: the
//! one it would have been served from.

use super::library::{Exhausted, Library, PreparedResponse};
use super::matching::{MatchRules, RequestView};
use crate::cassette::{self, Interaction};
use http::{HeaderName, HeaderValue};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The cassette a miss naming none is recorded into when several are
/// loaded and `--record-into` is not given, in the first `--cassette` folder.
pub const DEFAULT_RECORDING: &str = "recording.json";

/// Where `--on-miss record` appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTargets {
    /// For a miss that names no cassette: `--record-into`; else the one
    /// loaded cassette; else [`DEFAULT_RECORDING`] in the first
    /// `--cassette` folder. A loaded cassette is spelled as it was loaded.
    pub default: PathBuf,
    /// Where `x-datovcr-cassette: NAME` creates `NAME.json` when no loaded
    /// cassette has that name: the folder of `default`.
    pub folder: PathBuf,
}

impl RecordTargets {
    /// `searched`: the `--cassette` arguments, in order.
    pub fn resolve(
        record_into: Option<&Path>,
        searched: &[PathBuf],
        library: &Library,
    ) -> RecordTargets {
        let default = match (record_into, library.cassettes.as_slice()) {
            (Some(file), _) => file.to_owned(),
            (None, [only]) => only.path.clone(),
            (None, _) => {
                let first = searched.first().map_or(Path::new("."), PathBuf::as_path);
                let folder = if first.is_dir() {
                    first
                } else {
                    first.parent().unwrap_or(Path::new("."))
                };
                folder.join(DEFAULT_RECORDING)
            }
        };
        // The loaded cassette's own spelling, so that a request naming it
        // and one naming none share their new episodes.
        let default = library
            .cassettes
            .iter()
            .find(|loaded| same_file(&loaded.path, &default))
            .map_or(default, |loaded| loaded.path.clone());
        let folder = match default.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        RecordTargets { default, folder }
    }

    /// The cassette `x-datovcr-cassette: NAME` creates when none loaded has
    /// that name; the error says why NAME cannot name a cassette.
    pub fn named(&self, name: &str) -> Result<PathBuf, String> {
        cassette::cassette_in(&self.folder, name)
    }
}

/// Whether two paths name one file (both exist), or are spelled alike.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Which recorded interactions a request may be served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// It named no cassette: every one.
    All,
    /// It named this cassette (by `x-datovcr-cassette`).
    Cassette(PathBuf),
}

/// One new episode, ready to be served.
#[derive(Debug)]
pub struct Episode {
    /// The cassette it was appended to.
    pub cassette: PathBuf,
    /// 1 for the first episode this run appended to that cassette, and so on.
    pub number: usize,
    pub response: PreparedResponse,
}

/// Identical requests' new episodes, in recording order, and the next one
/// to serve: the library's sequence rules, under the overlay's lock.
#[derive(Default)]
struct Sequence {
    entries: Vec<Arc<Episode>>,
    next: usize,
}

/// As the library keeps them per key: one sequence for requests naming no
/// cassette, one per cassette.
#[derive(Default)]
struct Recorded {
    all: Sequence,
    by_cassette: Vec<(PathBuf, Sequence)>,
}

impl Recorded {
    fn sequence(&mut self, scope: &Scope) -> Option<&mut Sequence> {
        match scope {
            Scope::All => Some(&mut self.all),
            Scope::Cassette(path) => self
                .by_cassette
                .iter_mut()
                .find(|(cassette, _)| cassette == path)
                .map(|(_, sequence)| sequence),
        }
    }
}

#[derive(Default)]
struct Overlay {
    index: HashMap<String, Recorded>,
    /// Episodes per cassette, for numbering them.
    appended: HashMap<PathBuf, usize>,
}

/// The new episodes of a run.
pub struct Episodes {
    /// How many are held: zero keeps every lookup off the lock.
    held: AtomicUsize,
    overlay: Mutex<Overlay>,
    exhausted: Exhausted,
}

impl Episodes {
    pub fn new(exhausted: Exhausted) -> Episodes {
        Episodes {
            held: AtomicUsize::new(0),
            overlay: Mutex::new(Overlay::default()),
            exhausted,
        }
    }

    /// The next new episode recorded for `key` in `scope`, as the library
    /// serves a sequence: in recording order, then the last one again, or
    /// with `--exhausted fail` none (the request is then recorded anew).
    pub fn lookup(&self, key: &str, scope: &Scope) -> Option<Arc<Episode>> {
        if self.held.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut overlay = self.lock();
        let sequence = overlay.index.get_mut(key)?.sequence(scope)?;
        let position = match (sequence.next < sequence.entries.len(), self.exhausted) {
            (true, _) => sequence.next,
            (false, Exhausted::Repeat) => sequence.entries.len() - 1,
            (false, Exhausted::Fail) => return None,
        };
        sequence.next = sequence.next.saturating_add(1);
        Some(Arc::clone(&sequence.entries[position]))
    }

    /// Adds `recorded`, the exchange just appended to `cassette` (redacted,
    /// as written) for a request that arrived through `scope`. It is keyed
    /// by its recorded request, as the library keys what it loads, so the
    /// next run matches it the same way; the arrival that recorded it
    /// counts as served by it. The error says why its response cannot be
    /// served (the next run would refuse the cassette for the same reason).
    pub fn add(
        &self,
        rules: &MatchRules,
        recorded: Interaction,
        cassette: &Path,
        scope: &Scope,
    ) -> Result<(), String> {
        let key = rules.key(&RequestView::from(&recorded.request));
        let response = PreparedResponse::prepare(recorded.response.into(), parse_header)?;
        let mut overlay = self.lock();
        let number = {
            let count = overlay.appended.entry(cassette.to_owned()).or_default();
            *count += 1;
            *count
        };
        let episode = Arc::new(Episode {
            cassette: cassette.to_owned(),
            number,
            response,
        });
        let recorded = overlay.index.entry(key).or_default();
        recorded.all.entries.push(Arc::clone(&episode));
        match recorded.sequence(&Scope::Cassette(cassette.to_owned())) {
            Some(own) => own.entries.push(episode),
            None => recorded.by_cassette.push((
                cassette.to_owned(),
                Sequence {
                    entries: vec![episode],
                    next: 0,
                },
            )),
        }
        if let Some(arrived) = recorded.sequence(scope) {
            arrived.next = arrived.next.saturating_add(1);
        }
        self.held.fetch_add(1, Ordering::Release);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        // Every update leaves the overlay consistent, even if a holder
        // panicked.
        self.overlay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A recorded header, parsed as the library parses one (without sharing:
/// episodes are few).
fn parse_header(name: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), String> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let header_value = HeaderValue::from_bytes(value)
        .map_err(|_| format!("header `{name}` has a value that cannot be sent"))?;
    Ok((header_name, header_value))
}
