//! The scanner that walks a cassette between its interactions.
//!
//! It follows strings, escapes and nesting depth (no parsing) and finds
//! where each element of `interactions` starts. There it hands the rest of
//! the chunk to the element reader, which reads the element in place and
//! says where it ended; an element the reader does not finish there (one
//! running past the chunk, or one it refuses) is walked, cut out and handed
//! over whole. Everything outside the elements (the "skeleton") is kept and
//! checked at the end with the cassette's top-level rules.

use crate::cassette::FormatVersion;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// Which bytes an element reader is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// Exactly one element, cut out by the scanner.
    Whole,
    /// The rest of the chunk from an element's `{`: the element may end
    /// anywhere in it, or run past it.
    Leading,
}

/// Reads one element (see `ReadElement` in `stream.rs`): `Some(bytes
/// used)`, `None` to leave a [`Cut::Leading`] slice to the scanner, `Err(())`
/// to stop the scan.
pub(super) type Element<'r> = dyn FnMut(&[u8], Cut) -> Result<Option<usize>, ()> + 'r;

/// The top level of a cassette with every interaction replaced by `{}`.
#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct Skeleton {
    #[allow(dead_code)] // Checked by deserializing it.
    version: FormatVersion,
    #[allow(dead_code)] // Only the element count and shape are checked.
    interactions: Vec<Placeholder>,
}

// An object, as the whole reader reads a cassette.
crate::json_object::objects_only!(deserialize Skeleton);

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
pub(super) struct Splitter {
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
pub(super) type Stop = Result<(), ()>;

impl Splitter {
    /// Scans `chunk`, calling `element` for every interaction: first with
    /// the chunk from its `{` on ([`Cut::Leading`]), then, if that did not
    /// read it, with exactly its bytes once scanned ([`Cut::Whole`]).
    pub(super) fn feed(&mut self, chunk: &[u8], element: &mut Element<'_>) -> Stop {
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
    pub(super) fn finish(&mut self) -> Stop {
        if self.depth != 0 || self.in_string || self.in_element {
            return Err(());
        }
        serde_json::from_slice::<Skeleton>(&self.skeleton)
            .map(drop)
            .map_err(drop)
    }
}
