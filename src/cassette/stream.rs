//! Reading a cassette one interaction at a time.
//!
//! [`Cassette::load`](super::Cassette::load) reads the whole file and builds
//! every interaction before anything uses them: for a 10,000-interaction
//! cassette that is the file (~20 MiB) plus every parsed body at once.
//! Replay only needs each interaction long enough to index it and prepare
//! its response, so [`for_each_interaction`] reads the file through a
//! buffer and hands over each interaction as soon as it is parsed.
//!
//! On any error the file is read again with
//! [`Cassette::load`](super::Cassette::load), so a broken cassette is
//! reported exactly as before (file, line, column, message).

use super::{Cassette, CassetteError, FormatVersion, Interaction};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::BufReader;
use std::path::Path;

/// Calls `each` with every interaction of the cassette at `path`, in order.
/// `each` may fail; its error is returned as is.
pub fn for_each_interaction<E>(
    path: &Path,
    each: &mut dyn FnMut(Interaction) -> Result<(), E>,
) -> Result<Result<(), E>, CassetteError> {
    let file = std::fs::File::open(path).map_err(|source| CassetteError::Io {
        path: path.to_owned(),
        source,
    })?;
    // 256 KiB keeps the number of read calls small without holding the file.
    let reader = BufReader::with_capacity(256 * 1024, file);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    let seed = CassetteSeed {
        each: &mut |interaction| match each(interaction) {
            Ok(()) => true,
            Err(err) => {
                failure = Some(err);
                false
            }
        },
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Some(err) = failure {
        return Ok(Err(err));
    }
    match parsed {
        Ok(()) => Ok(Ok(())),
        // Re-read the slow way for the exact error every other reader
        // gives. Interactions already handed over stay handed over; the
        // caller gets an error either way.
        Err(err) => Err(Cassette::load(path)
            .err()
            .unwrap_or_else(|| CassetteError::Invalid {
                path: path.to_owned(),
                line: err.line(),
                column: err.column(),
                message: err.to_string(),
            })),
    }
}

/// Visits the top-level object; interactions go to `each` (which says
/// whether to go on) instead of into a vector.
struct CassetteSeed<'f> {
    each: &'f mut dyn FnMut(Interaction) -> bool,
}

/// Stops the walk when `each` declined an interaction.
const STOPPED: &str = "datovcr: stopped by the caller";

impl<'de> DeserializeSeed<'de> for CassetteSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CassetteSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a cassette object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut version, mut interactions) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" if !version => {
                    map.next_value::<FormatVersion>()?;
                    version = true;
                }
                "interactions" if !interactions => {
                    map.next_value_seed(InteractionsSeed { each: self.each })?;
                    interactions = true;
                }
                // Unknown or repeated fields: the slow reader words the error.
                _ => return Err(de::Error::custom("not a plain cassette")),
            }
        }
        if version && interactions {
            Ok(())
        } else {
            Err(de::Error::custom("not a plain cassette"))
        }
    }
}

struct InteractionsSeed<'f> {
    each: &'f mut dyn FnMut(Interaction) -> bool,
}

impl<'de> DeserializeSeed<'de> for InteractionsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for InteractionsSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of interactions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(interaction) = seq.next_element::<Interaction>()? {
            if !(self.each)(interaction) {
                return Err(de::Error::custom(STOPPED));
            }
        }
        Ok(())
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

    #[test]
    fn streams_the_same_interactions_as_a_full_load() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/access-tokens-docs.json");
        let full = Cassette::load(&path).unwrap();
        assert_eq!(collect(&path).unwrap(), full.interactions);
    }

    #[test]
    fn errors_are_the_full_loaders_and_callback_errors_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.json");
        std::fs::write(
            &broken,
            b"{\n  \"version\": 7,\n  \"interactions\": []\n}\n",
        )
        .unwrap();
        let streamed = collect(&broken).unwrap_err().to_string();
        let full = Cassette::load(&broken).unwrap_err().to_string();
        assert_eq!(streamed, full);

        let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/access-tokens-docs.json");
        let mut calls = 0;
        let outcome = for_each_interaction(&good, &mut |_| {
            calls += 1;
            Err("enough")
        })
        .unwrap();
        assert_eq!((outcome, calls), (Err("enough"), 1));
    }
}
