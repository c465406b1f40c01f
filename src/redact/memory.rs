//! The secrets of earlier exchanges, indexed for one-pass search.
//!
//! A token issued by one exchange can turn up in a later one where nothing
//! marks it as a secret (an error message quoting it, say). The proxy
//! remembers the last [`REMEMBERED_SECRETS`] secrets and searches every
//! exchange for all of them, in every form [`forms`] knows. Searching for
//! each in turn would cost a pass over the exchange per secret; instead
//! every form of every secret is indexed by its first eight bytes, and each
//! view of the exchange is scanned once, whatever the number of secrets.

use super::forms::{self, Needle};
use std::collections::{HashMap, VecDeque};

/// How many earlier secrets a redactor remembers.
pub const REMEMBERED_SECRETS: usize = 1024;

/// Every form is at least this long (secrets are searched from 8 bytes).
const KEY_LEN: usize = 8;

/// A secret's id and one of its forms.
type Form = (u64, Box<[u8]>);

#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Oldest first, with the id their index entries carry.
    order: VecDeque<(u64, String)>,
    next_id: u64,
    /// First eight bytes of a form → (secret id, the whole form).
    index: HashMap<u64, Vec<Form>, foldhash::fast::RandomState>,
}

impl Memory {
    pub(super) fn contains(&self, secret: &str) -> bool {
        self.order.iter().any(|(_, known)| known == secret)
    }

    /// Remembers `secret` (at least 8 bytes), forgetting the oldest past
    /// [`REMEMBERED_SECRETS`].
    pub(super) fn remember(&mut self, secret: &str) {
        if secret.len() < KEY_LEN || self.contains(secret) {
            return;
        }
        if self.order.len() == REMEMBERED_SECRETS
            && let Some((old, _)) = self.order.pop_front()
        {
            self.index.retain(|_, forms| {
                forms.retain(|(id, _)| *id != old);
                !forms.is_empty()
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        for form in Needle::new(secret).forms() {
            if form.len() >= KEY_LEN {
                self.index
                    .entry(key(&form))
                    .or_default()
                    .push((id, form.into_boxed_slice()));
            }
        }
        self.order.push_back((id, secret.to_owned()));
    }

    /// The remembered secrets that occur in `haystack`, in any form.
    pub(super) fn found_in(&self, haystack: &[u8]) -> Vec<String> {
        if self.index.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<u64> = Vec::new();
        for view in forms::views(haystack) {
            for at in 0..view.len().saturating_sub(KEY_LEN - 1) {
                if let Some(forms) = self.index.get(&key(&view[at..])) {
                    for (id, form) in forms {
                        if view[at..].starts_with(form) && !ids.contains(id) {
                            ids.push(*id);
                        }
                    }
                }
            }
        }
        self.order
            .iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, secret)| secret.clone())
            .collect()
    }
}

fn key(bytes: &[u8]) -> u64 {
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&bytes[..KEY_LEN]);
    u64::from_le_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn a_remembered_secret_is_found_in_any_form_and_forgotten_in_turn() {
        let mut memory = Memory::default();
        for n in 0..REMEMBERED_SECRETS + 1 {
            memory.remember(&format!("secret-{n:06}-value"));
        }
        let first = "secret-000000-value";
        let last = format!("secret-{REMEMBERED_SECRETS:06}-value");
        assert!(memory.found_in(first.as_bytes()).is_empty(), "evicted");
        let percent: String = last.bytes().map(|b| format!("%{b:02x}")).collect();
        let base64 = base64::engine::general_purpose::STANDARD.encode(format!("x:{last}"));
        for haystack in [
            format!("quoted {last} here"),
            format!("/path/{percent}"),
            format!("Basic {base64}"),
        ] {
            assert_eq!(
                memory.found_in(haystack.as_bytes()),
                std::slice::from_ref(&last),
                "{haystack}"
            );
        }
        assert!(memory.found_in(b"nothing to see").is_empty());
    }
}
