//! What replay reports about a run: what it loaded, at start-up, and what
//! it served, missed, never used and wrote, at shutdown.

use crate::recorder::CassetteSummary;
use crate::server::Drained;
use std::fmt::Write as _;
use std::path::PathBuf;

/// How many unused interactions the shutdown report names per cassette;
/// the rest are counted.
pub const UNUSED_SHOWN: usize = 20;

/// What replay loaded at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Cassettes served.
    pub cassettes: usize,
    /// Interactions in them.
    pub interactions: usize,
    /// Of those, the ones read from journals (or unfinished merges):
    /// recorded, but not yet compacted into their cassette file.
    pub pending: usize,
    /// Cassettes found in a folder that could not be read, and were skipped.
    pub skipped: usize,
}

impl Loaded {
    /// The start-up line, e.g. `loaded 7 interaction(s) from 1 cassette(s),
    /// 0 of them pending in journals (not yet compacted)`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "datovcr: loaded {} interaction(s) from {} cassette(s), {} of them pending in \
             journals (not yet compacted)",
            self.interactions, self.cassettes, self.pending
        );
        if self.skipped > 0 {
            let _ = write!(line, "; skipped {} unreadable cassette(s)", self.skipped);
        }
        line
    }
}

/// A recorded interaction that no request was served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// Its place in the cassette, from 0.
    pub index: usize,
    pub method: String,
    pub path: String,
}

/// What a replay run did, returned (and with the CLI, printed) at shutdown.
#[derive(Debug, Clone)]
pub struct ReplaySummary {
    pub served: u64,
    pub misses: u64,
    pub forwarded: u64,
    pub violations: u64,
    /// Per cassette: interactions never served, in cassette order.
    pub unused: Vec<(PathBuf, Vec<Unused>)>,
    /// Cassettes found in a folder that could not be read, with the
    /// reader's error: skipped at start-up, the others served.
    pub skipped: Vec<(PathBuf, String)>,
    /// Cassettes `--on-miss record` appended new episodes to, as they
    /// stand after compaction.
    pub written: Vec<CassetteSummary>,
    /// Why compacting the new episodes failed at shutdown (they are kept in
    /// the journal).
    pub record_error: Option<String>,
    pub drained: Drained,
}

impl ReplaySummary {
    pub fn unused_count(&self) -> usize {
        self.unused.iter().map(|(_, unused)| unused.len()).sum()
    }

    /// `--strict` fails a run with misses, unused interactions, skipped
    /// cassettes, or (with `--check`) contract violations: error findings
    /// on served exchanges, not drift warnings.
    pub fn is_clean(&self) -> bool {
        self.misses == 0
            && self.unused_count() == 0
            && self.skipped.is_empty()
            && self.violations == 0
    }

    /// The shutdown report, one line per entry: the counts, each skipped
    /// cassette, each cassette written, and each cassette's unused
    /// interactions as `#INDEX METHOD PATH` (the first [`UNUSED_SHOWN`],
    /// then how many more).
    pub fn report(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "datovcr: replay summary: {} served, {} miss(es), {} forwarded, {} violation(s)",
            self.served, self.misses, self.forwarded, self.violations
        )];
        for (path, reason) in &self.skipped {
            lines.push(format!(
                "datovcr: {}: skipped, could not be read: {reason}",
                path.display()
            ));
        }
        for written in &self.written {
            lines.push(format!(
                "datovcr: wrote {}: {} interaction(s), {} new",
                written.path.display(),
                written.interactions,
                written.appended
            ));
        }
        for (path, unused) in &self.unused {
            if unused.is_empty() {
                continue;
            }
            let mut shown: Vec<String> = unused
                .iter()
                .take(UNUSED_SHOWN)
                .map(|unused| {
                    format!(
                        "#{} {} {}",
                        unused.index,
                        printable(&unused.method),
                        printable(&unused.path)
                    )
                })
                .collect();
            if unused.len() > UNUSED_SHOWN {
                shown.push(format!("… and {} more", unused.len() - UNUSED_SHOWN));
            }
            lines.push(format!(
                "datovcr: {}: {} interaction(s) never used: {}",
                path.display(),
                unused.len(),
                shown.join(", ")
            ));
        }
        lines
    }
}

/// A recorded method or path as one line of text: a cassette edited by
/// hand may hold control characters, which are shown escaped.
fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_owned()
    }
}
