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

mod splitter;

use super::fs::Links;
use super::{Cassette, CassetteError, Interaction, WireInteraction};
use serde::Deserialize;
use splitter::{Cut, Element, Splitter, Stop};
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

#[cfg(test)]
mod tests;
