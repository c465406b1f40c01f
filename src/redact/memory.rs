//! The secrets of earlier exchanges, indexed for one-pass search.
//!
//! A token issued by one exchange can turn up in a later one where nothing
//! marks it as a secret (an error message quoting it, say). The proxy
//! remembers the last [`REMEMBERED_SECRETS`] secrets and searches every
//! exchange for all of them, in every form [`forms`] knows. Searching for
//! each in turn would cost a pass over the exchange per secret; instead
//! every form of every secret is indexed by its first eight bytes, and each
//! view of the exchange is scanned once, whatever the number of secrets.

use super::forms;
use std::collections::{HashMap, HashSet, VecDeque};

/// How many earlier secrets a redactor remembers.
pub const REMEMBERED_SECRETS: usize = 16 * 1024;

/// Every form is at least this long (secrets are searched from 8 bytes).
const KEY_LEN: usize = 8;

/// A secret's id and one of its forms.
type Form = (u64, Box<[u8]>);

pub(super) struct Memory {
    /// Oldest first, with the id their index entries carry and the keys
    /// they are indexed under (so forgetting one touches only those).
    order: VecDeque<(u64, String, Vec<u64>)>,
    next_id: u64,
    /// First eight bytes of a form → (secret id, the whole form).
    index: HashMap<u64, Vec<Form>, foldhash::fast::RandomState>,
    known: HashSet<String, foldhash::fast::RandomState>,
    /// How many indexed forms start with each pair of bytes: a scan skips
    /// a position whose first two bytes start none, without hashing.
    pairs: Box<[u32; 1 << 16]>,
    /// How many indexed forms hold a space byte (see [`Memory::spaces`]).
    spaced_forms: usize,
}

/// Never prints the secrets.
impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memory({} hidden)", self.order.len())
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            order: VecDeque::new(),
            next_id: 0,
            index: HashMap::default(),
            known: HashSet::default(),
            // Allocated zeroed, not written: the table's pages cost no
            // memory until a secret is remembered (replay never does).
            pairs: vec![0; 1 << 16]
                .into_boxed_slice()
                .try_into()
                .expect("the table's length"),
            spaced_forms: 0,
        }
    }
}

fn pair(bytes: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
}

impl Memory {
    pub(super) fn contains(&self, secret: &str) -> bool {
        self.known.contains(secret)
    }

    /// Remembers `secret` (at least 8 bytes), forgetting the oldest past
    /// [`REMEMBERED_SECRETS`].
    pub(super) fn remember(&mut self, secret: &str) {
        if secret.len() < KEY_LEN || self.contains(secret) {
            return;
        }
        if self.order.len() == REMEMBERED_SECRETS
            && let Some((old, forgotten, keys)) = self.order.pop_front()
        {
            self.known.remove(&forgotten);
            for key in keys {
                if let Some(forms) = self.index.get_mut(&key) {
                    forms.retain(|(id, form)| {
                        let keep = *id != old;
                        if !keep {
                            self.pairs[pair(form)] -= 1;
                            self.spaced_forms -= usize::from(form.contains(&b' '));
                        }
                        keep
                    });
                    if forms.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut all = forms::forms(secret);
        // Raw and hex forms also lowercased: the scan reads lowercased views
        // too, so an echo that changed the case is found.
        all.push(secret.to_ascii_lowercase().into_bytes());
        let mut keys = Vec::new();
        for form in all {
            if form.len() >= KEY_LEN {
                let key = key(&form);
                keys.push(key);
                self.pairs[pair(&form)] += 1;
                self.spaced_forms += usize::from(form.contains(&b' '));
                self.index
                    .entry(key)
                    .or_default()
                    .push((id, form.into_boxed_slice()));
            }
        }
        self.known.insert(secret.to_owned());
        self.order.push_back((id, secret.to_owned(), keys));
    }

    /// The remembered secrets that occur in `haystack`, in any form.
    pub(super) fn found_in(&self, haystack: &[u8]) -> Vec<String> {
        self.found_in_views(&super::escapes::views_with(haystack, self.spaces()))
    }

    /// True when a remembered form holds a space byte: only then must the
    /// `+`-as-space view be searched (`escapes::views_with`).
    pub(super) fn spaces(&self) -> bool {
        self.spaced_forms > 0
    }

    /// [`Memory::found_in`] over the views `escapes::views` made of one
    /// haystack (the haystack itself first).
    pub(super) fn found_in_views<V: AsRef<[u8]>>(&self, views: &[V]) -> Vec<String> {
        if self.index.is_empty() || views.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<u64> = Vec::new();
        // One lowercased view finds an echo that changed the case.
        let lowered = views[0].as_ref().to_ascii_lowercase();
        for view in views.iter().map(AsRef::as_ref).chain([lowered.as_slice()]) {
            let Some(last) = view.len().checked_sub(KEY_LEN) else {
                continue;
            };
            // Every position a form could start at, as its first two bytes:
            // most are skipped on one table read.
            let starts = view[..=last].iter().zip(&view[1..=last + 1]);
            for (at, (&first, &second)) in starts.enumerate() {
                if self.pairs[usize::from(u16::from_be_bytes([first, second]))] == 0 {
                    continue;
                }
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
            .filter(|(id, _, _)| ids.contains(id))
            .map(|(_, secret, _)| secret.clone())
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
