//! What the redactor hands the recorder: an interaction whose secrets were
//! replaced, and its journal line, checked once more for every secret seen.

use super::escapes;
use super::secrets::{LeakError, Secrets};
use crate::cassette::{Body, Interaction};

/// An interaction whose secrets were replaced, with the secrets remembered
/// so the serialized bytes can be checked once more before writing.
#[derive(Debug)]
pub struct RedactedInteraction {
    pub(super) interaction: Interaction,
    pub(super) secrets: Secrets,
    /// The interaction serialized and its views (`escapes::views`), made
    /// for the search of remembered secrets when that search found none,
    /// so nothing changed afterwards: the first
    /// [`RedactedInteraction::to_journal_line`] checks these bytes rather
    /// than serializing and unescaping again, and takes them, so they are
    /// not held (several times a large body's size) while the line waits
    /// for its fsync.
    pub(super) serialized: std::sync::Mutex<Option<Serialized>>,
}

/// A clone serializes afresh when asked for its line.
impl Clone for RedactedInteraction {
    fn clone(&self) -> Self {
        RedactedInteraction {
            interaction: self.interaction.clone(),
            secrets: self.secrets.clone(),
            serialized: std::sync::Mutex::new(None),
        }
    }
}

/// A serialized interaction and its unescaped views past the first (the
/// bytes themselves).
pub(super) struct Serialized {
    bytes: Vec<u8>,
    more_views: Vec<Vec<u8>>,
}

/// Never prints the bytes: they are checked for secrets only when written.
impl std::fmt::Debug for Serialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Serialized({} bytes)", self.bytes.len())
    }
}

impl Serialized {
    /// `bytes` and their views, the `+`-as-space one when `spaces`.
    pub(super) fn new(bytes: Vec<u8>, spaces: bool) -> Serialized {
        let more_views = escapes::views_with(&bytes, spaces)
            .into_iter()
            .skip(1)
            .map(std::borrow::Cow::into_owned)
            .collect();
        Serialized { bytes, more_views }
    }

    pub(super) fn views(&self) -> Vec<&[u8]> {
        std::iter::once(self.bytes.as_slice())
            .chain(self.more_views.iter().map(Vec::as_slice))
            .collect()
    }
}

impl RedactedInteraction {
    pub fn interaction(&self) -> &Interaction {
        &self.interaction
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The interaction as one compact JSON line (with `\n`), checked for
    /// every secret seen in the exchange, in every encoded form. Binary
    /// bodies are checked before they are base64-encoded, and through any
    /// compression they hold.
    pub fn to_journal_line(&self) -> Result<Vec<u8>, LeakError> {
        for (side, body) in [
            ("request", &self.interaction.request.body),
            ("response", &self.interaction.response.body),
        ] {
            if let Body::Binary(bytes) = body {
                self.secrets
                    .check_binary(bytes, &format!("binary {side} body"))?;
            }
        }
        const WHAT: &str = "serialized interaction";
        let made = self
            .serialized
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut line = match made {
            Some(serialized) => {
                self.secrets
                    .check_absent_in_views(&serialized.bytes, &serialized.views(), WHAT)?;
                serialized.bytes
            }
            None => {
                let line =
                    serde_json::to_vec(&self.interaction).expect("cassette types always serialize");
                self.secrets.check_absent(&line, WHAT)?;
                line
            }
        };
        line.push(b'\n');
        Ok(line)
    }
}
