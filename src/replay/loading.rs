//! Loading the cassettes at start-up: every one found, streamed into the
//! library; one found in a folder that cannot be read is skipped.

use super::ReplayConfig;
use super::ReplayError;
use super::library::{Library, LibraryBuilder};
use super::output::Voice;
use std::path::{Path, PathBuf};

/// A cassette skipped at start-up, and why.
pub(super) type Skipped = (PathBuf, String);

/// Loads every cassette once, at start-up. A cassette named on the command
/// line that cannot be read stops start-up with its file, line and column.
/// One found in a folder is skipped instead, with a warning naming it, and
/// the others are served: one unreadable cassette never stops replay of the
/// rest (the summary lists it, and `--strict` fails the run).
/// Also returns the loaded files, the skipped ones, and how many of the
/// interactions were still in journals.
pub(super) fn load_library(
    config: &ReplayConfig,
) -> Result<(Library, Vec<PathBuf>, Vec<Skipped>, usize), ReplayError> {
    let found = crate::check::find_cassettes(&config.cassettes).map_err(ReplayError)?;
    let searched = || {
        config
            .cassettes
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if found.is_empty() {
        return Err(ReplayError(crate::check::no_cassette_found(
            &config.cassettes,
        )));
    }
    let mut skipped: Vec<Skipped> = Vec::new();
    // A cassette that fails half-way has added part of itself: build again
    // without it. Bounded by the number of cassettes; failures are rare.
    loop {
        let mut builder = LibraryBuilder::new(config.rules.clone(), config.exhausted);
        let mut failed = None;
        let mut pending = 0;
        let usable = found
            .iter()
            .filter(|cassette| !skipped.iter().any(|(path, _)| *path == cassette.path));
        for cassette in usable {
            builder
                .cassette(cassette.path.clone())
                .map_err(ReplayError)?;
            match load_cassette(&cassette.path, &mut builder) {
                Ok(in_journals) => pending += in_journals,
                Err(err) if cassette.named => return Err(err),
                Err(err) => {
                    failed = Some((cassette.path.clone(), err.0));
                    break;
                }
            }
        }
        let Some((path, reason)) = failed else {
            let files = found
                .into_iter()
                .map(|cassette| cassette.path)
                .filter(|path| !skipped.iter().any(|(skipped, _)| skipped == path))
                .collect();
            return Ok((builder.finish(), files, skipped, pending));
        };
        Voice::general().say(&format!(
            "datovcr: warning: skipping cassette {}: {reason}. It is left as it is; \
             the other cassettes are served",
            path.display()
        ));
        skipped.push((path, reason));
        if skipped.len() == found.len() {
            return Err(ReplayError(format!(
                "no readable cassette in {}: every one found was skipped (see above)",
                searched()
            )));
        }
    }
}

/// Streams a cassette into the library, one interaction at a time, so the
/// whole file and all its parsed bodies are never in memory together. A
/// cassette with recorded exchanges still in its journal (or an interrupted
/// merge), or only a journal, is read whole through the recorder, which
/// knows how to combine them; any error is worded by the recorder's reader
/// too. Returns how many interactions came from outside the cassette file
/// (journal, merge file).
fn load_cassette(path: &Path, builder: &mut LibraryBuilder) -> Result<usize, ReplayError> {
    // The shared lock keeps a recorder from compacting meanwhile, as the
    // recorder's own reader does.
    let _shared = crate::recorder::lock_for_reading(path).ok().flatten();
    if crate::recorder::has_pending_entries(path) {
        return load_through_recorder(path, builder);
    }
    match crate::cassette::for_each_wire_interaction(path, &mut |interaction| {
        builder.add(interaction)
    }) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(problem)) => Err(ReplayError(problem)),
        Err(stream_error) => Err(ReplayError(
            crate::recorder::load_with_journal(path)
                .err()
                .map_or_else(|| stream_error.to_string(), |err| err.to_string()),
        )),
    }
}

fn load_through_recorder(path: &Path, builder: &mut LibraryBuilder) -> Result<usize, ReplayError> {
    let cassette =
        crate::recorder::load_with_journal(path).map_err(|err| ReplayError(err.to_string()))?;
    // Read under the same shared lock, so no compaction moved entries
    // between the two reads. A missing file (only a journal) holds none.
    let in_file = crate::cassette::count_interactions(path, crate::cassette::fs::Links::Follow)
        .unwrap_or_default();
    let total = cassette.interactions.len();
    for interaction in cassette.interactions {
        builder.add(interaction.into()).map_err(ReplayError)?;
    }
    Ok(total.saturating_sub(in_file))
}
