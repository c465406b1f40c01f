//! Response headers shared across prepared responses.
//!
//! Content types, rate limits and cache headers repeat in every recorded
//! response: [`Interner`] parses each distinct name and value once, and
//! every prepared response holding it shares its bytes (`HeaderName` and
//! `HeaderValue` clones are reference counted).

use super::FastHash;
use http::{HeaderName, HeaderValue};
use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// Header names and values seen so far.
#[derive(Default)]
pub(super) struct Interner {
    names: HashSet<Known<HeaderName>, FastHash>,
    values: HashSet<Known<HeaderValue>, FastHash>,
    /// The headers of the response prepared last, in order: the next one
    /// nearly always has the same names in the same places, and most of
    /// the same values, which are then taken without hashing.
    previous: Vec<(HeaderName, HeaderValue)>,
}

impl Interner {
    /// The header at `position` (from 0) of the response being prepared,
    /// parsed or shared; the error names what cannot be sent.
    pub(super) fn header(
        &mut self,
        position: usize,
        name: &str,
        value: &[u8],
    ) -> Result<(HeaderName, HeaderValue), String> {
        let cached = self
            .previous
            .get(position)
            .and_then(|(known, known_value)| {
                let same_value = known_value.as_bytes() == value;
                (known.as_str() == name)
                    .then(|| (known.clone(), same_value.then(|| known_value.clone())))
            });
        Ok(match cached {
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

    /// [`Interner::intern`] for a value alone; `name` words the error.
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
