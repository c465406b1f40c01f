//! Finding a secret in every form an HTTP message can carry it.
//!
//! A secret is searched for raw, and through the escapes that messages
//! quote values with: percent-encoding (either hex case, `+` for space),
//! JSON string escapes (`\u0074`, `\"`), HTML character references
//! (`&#116;`, `&#x74;`, `&amp;`), and base64 (standard and URL-safe, at
//! every alignment inside a longer base64 run). Escapes may be mixed and
//! nested (`%255C` …): a string whose repeatedly decoded form still holds
//! a secret is replaced whole, because no span of it can be proven clean.

use super::escapes::{escaped_matches, may_be_escaped, views_with};
use super::prefilter::Prefilter;
use std::borrow::Cow;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// The base64 runs that occur inside any base64 encoding of a stream that
/// holds `text` (three alignments, two alphabets): whole 4-character groups
/// made only of the secret's bytes, at least 8 characters long.
pub fn base64_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    push_base64_runs(text.as_bytes(), &mut runs);
    runs
}

/// The base64 runs of `text` ([`base64_runs`]) and of its UTF-16
/// encodings (either byte order): a UTF-16 text carried as base64 (a
/// binary body in a cassette or a miss report, a data: URL) shows the
/// secret only in these.
fn base64_forms(text: &str) -> Vec<String> {
    let mut runs = base64_runs(text);
    for le in [true, false] {
        let utf16: Vec<u8> = text
            .encode_utf16()
            .flat_map(|unit| {
                if le {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                }
            })
            .collect();
        push_base64_runs(&utf16, &mut runs);
    }
    runs
}

fn push_base64_runs(bytes: &[u8], runs: &mut Vec<String>) {
    for engine in [&STANDARD, &URL_SAFE] {
        for offset in 0..3usize {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            // Characters that depend on padding or on what follows are not
            // stable: skip the group the padding is in and the last one.
            let skip = if offset == 0 { 0 } else { 4 };
            let end = padded.len() / 3 * 4;
            if end > skip {
                let core = &encoded[skip..end];
                if core.len() >= 8 && !runs.iter().any(|known| known == core) {
                    runs.push(core.to_owned());
                }
            }
        }
    }
}

/// Every byte string whose presence shows `text` in a view: the secret and
/// its hex spelling (both compared ignoring ASCII case), its base64 runs
/// and those of its UTF-16 encodings, and its UTF-16 encodings.
pub fn forms(text: &str) -> Vec<Vec<u8>> {
    let mut forms = vec![text.as_bytes().to_vec(), hex(text).into_bytes()];
    forms.extend(base64_forms(text).into_iter().map(String::into_bytes));
    forms.push(text.encode_utf16().flat_map(u16::to_le_bytes).collect());
    forms.push(text.encode_utf16().flat_map(u16::to_be_bytes).collect());
    forms
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Past this many secrets, spans escaped character by character are not
/// searched one secret at a time (that would cost a pass per secret); the
/// unescaped views still find them, and the string is replaced whole.
const PER_SECRET_ESCAPE_SEARCH: usize = 64;

/// Haystacks up to this long, with this few patterns, are searched pattern
/// by pattern: building an automaton costs tens of microseconds, more than
/// a log line or a header value takes to search without one.
const SMALL_HAYSTACK: usize = 4096;
const FEW_PATTERNS: usize = 48;

/// An exchange's secrets, prepared once for the many strings searched: the
/// raw and hex forms (ASCII case ignored: an echo may upper-case a hex
/// token), the base64 runs and the UTF-16 forms (case matters), each set
/// searched pattern by pattern in small haystacks and by an Aho-Corasick
/// automaton, built on first need, in large ones.
#[derive(Clone)]
pub struct Needles {
    texts: Vec<String>,
    /// Lowercased texts, for the escaped-span search.
    lowered: Vec<Vec<u8>>,
    /// Plain (lowercased), base64 and UTF-16 patterns, each with the index
    /// of the secret it shows.
    sets: [Vec<(memchr::memmem::Finder<'static>, usize)>; 3],
    automata: std::sync::Arc<std::sync::OnceLock<[Option<AhoCorasick>; 3]>>,
    /// Every pattern of every set in one pass: clears the views that hold
    /// none, which on a redacted line is nearly all of them.
    prefilter: Prefilter,
    /// True when a pattern holds a space byte: only then is the `+`-as-space
    /// view searched ([`views_with`]).
    spaces: bool,
}

const PLAIN: usize = 0;
const BASE64: usize = 1;
const UTF16: usize = 2;

/// Never prints the secrets.
impl std::fmt::Debug for Needles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Needles({} hidden)", self.texts.len())
    }
}

impl Needles {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Needles {
        let texts: Vec<String> = secrets.iter().map(|s| s.as_ref().to_owned()).collect();
        let mut sets: [Vec<(memchr::memmem::Finder<'static>, usize)>; 3] = Default::default();
        let finder = |pattern: Vec<u8>| memchr::memmem::Finder::new(&pattern).into_owned();
        for (owner, text) in texts.iter().enumerate() {
            for form in [
                text.to_ascii_lowercase().into_bytes(),
                hex(text).into_bytes(),
            ] {
                sets[PLAIN].push((finder(form), owner));
            }
            for run in base64_forms(text) {
                sets[BASE64].push((finder(run.into_bytes()), owner));
            }
            for form in [
                text.encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
                text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            ] {
                sets[UTF16].push((finder(form), owner));
            }
        }
        let spaces = sets
            .iter()
            .flatten()
            .any(|(pattern, _)| pattern.needle().contains(&b' '));
        let prefilter = Prefilter::new(sets.iter().flatten().map(|(pattern, _)| pattern.needle()));
        Needles {
            spaces,
            prefilter,
            lowered: texts
                .iter()
                .map(|t| t.to_ascii_lowercase().into_bytes())
                .collect(),
            sets,
            automata: Default::default(),
            texts,
        }
    }

    fn automata(&self) -> &[Option<AhoCorasick>; 3] {
        self.automata.get_or_init(|| {
            let build = |set: &[(memchr::memmem::Finder<'static>, usize)], ignore_case: bool| {
                (!set.is_empty()).then(|| {
                    // A non-contiguous NFA builds fastest; these are built
                    // per exchange.
                    AhoCorasick::builder()
                        .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                        .ascii_case_insensitive(ignore_case)
                        .match_kind(MatchKind::Standard)
                        .build(set.iter().map(|(pattern, _)| pattern.needle()))
                        .expect("literal patterns always build")
                })
            };
            [
                build(&self.sets[PLAIN], true),
                build(&self.sets[BASE64], false),
                build(&self.sets[UTF16], false),
            ]
        })
    }

    /// Every occurrence of a pattern of `set` in `haystack`, overlapping
    /// ones included, with the index of its secret.
    fn hits(&self, set: usize, haystack: &[u8]) -> Vec<(Range<usize>, usize)> {
        let patterns = &self.sets[set];
        if patterns.is_empty() {
            return Vec::new();
        }
        if haystack.len() > SMALL_HAYSTACK || patterns.len() > FEW_PATTERNS {
            let Some(automaton) = &self.automata()[set] else {
                return Vec::new();
            };
            return automaton
                .find_overlapping_iter(haystack)
                .map(|hit| (hit.range(), patterns[hit.pattern().as_usize()].1))
                .collect();
        }
        let lowered;
        let haystack = if set == PLAIN {
            lowered = haystack.to_ascii_lowercase();
            &lowered[..]
        } else {
            haystack
        };
        patterns
            .iter()
            .flat_map(|(pattern, owner)| {
                pattern
                    .find_iter(haystack)
                    .map(move |at| (at..at + pattern.needle().len(), *owner))
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Every span of `haystack` where a secret occurs in any single escape
    /// form, merged and sorted.
    pub fn find_spans(&self, haystack: &str) -> Vec<Range<usize>> {
        let bytes = haystack.as_bytes();
        // Overlapping: a secret inside another is replaced whole too.
        let mut spans: Vec<Range<usize>> = self
            .hits(PLAIN, bytes)
            .into_iter()
            .map(|(range, _)| range)
            .collect();
        spans.extend(
            self.hits(BASE64, bytes)
                .into_iter()
                .map(|(range, _)| widen_base64(bytes, range)),
        );
        spans.extend(self.escaped_spans(bytes));
        merge(spans)
    }

    /// The spans where a secret occurs with its characters escaped one by
    /// one (not merged).
    fn escaped_spans(&self, bytes: &[u8]) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        let escaped = memchr::memchr3(b'%', b'\\', b'&', bytes).is_some()
            || memchr::memchr2(b'+', b'~', bytes).is_some();
        if escaped && self.texts.len() <= PER_SECRET_ESCAPE_SEARCH {
            for needle in &self.lowered {
                spans.extend(escaped_matches(bytes, needle));
            }
        }
        spans
    }

    /// True when a secret occurs in `haystack` in any form, nested escapes
    /// included: [`Needles::find_spans`] or [`Needles::occurring`] finds
    /// one. (`find_spans`' raw and base64 hits are hits of `occurring` in
    /// its first view, the haystack itself, so only its escaped spans are
    /// searched for apart.)
    pub fn contains_any(&self, haystack: &str) -> bool {
        !self.escaped_spans(haystack.as_bytes()).is_empty()
            || !self.occurring(haystack.as_bytes()).is_empty()
    }

    /// [`Needles::contains_any`] for bytes that may not be UTF-8.
    pub fn bytes_contain_any(&self, haystack: &[u8]) -> bool {
        !self.occurring(haystack).is_empty()
    }

    /// The indexes of the secrets that occur in `haystack` in any form:
    /// each view (raw, unescaped, `+` as space, line breaks removed) is
    /// scanned once for all of them.
    pub fn occurring(&self, haystack: &[u8]) -> Vec<usize> {
        self.occurring_in_views(&views_with(haystack, self.spaces))
    }

    /// True when a pattern holds a space byte (see [`views_with`]).
    pub(super) fn spaces(&self) -> bool {
        self.spaces
    }

    /// [`Needles::occurring`] over views already made (`escapes::views` of
    /// one haystack), for a caller that searches them for more than this.
    pub(super) fn occurring_in_views<V: AsRef<[u8]>>(&self, views: &[V]) -> Vec<usize> {
        let mut found = vec![false; self.texts.len()];
        for view in views {
            let view = view.as_ref();
            if !self.prefilter.may_occur(view) {
                continue;
            }
            // UTF-16 in every view too: a text body holding UTF-16 is
            // stored with its NULs JSON-escaped (`\u0000`).
            for set in [PLAIN, BASE64, UTF16] {
                for (_, owner) in self.hits(set, view) {
                    found[owner] = true;
                }
            }
        }
        found
            .iter()
            .enumerate()
            .filter(|(_, hit)| **hit)
            .map(|(index, _)| index)
            .collect()
    }
}

/// `text` with every form of every secret replaced by `placeholder`;
/// `url_placeholder` where the match was percent-encoded or inside a URL,
/// so URLs stay valid. When a nested escape hides a secret that no single
/// span shows, the whole string becomes `placeholder`.
pub fn scrub<'t>(
    text: &'t str,
    needles: &Needles,
    placeholder: &str,
    url_placeholder: &str,
) -> Cow<'t, str> {
    if needles.is_empty() {
        return Cow::Borrowed(text);
    }
    let spans = needles.find_spans(text);
    let result: Cow<'t, str> = if spans.is_empty() {
        Cow::Borrowed(text)
    } else {
        let first_url = text.find("://");
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for span in spans {
            out.push_str(&text[last..span.start]);
            let in_url = first_url.is_some_and(|at| at < span.start);
            out.push_str(if in_url || text[span.clone()].contains('%') {
                url_placeholder
            } else {
                placeholder
            });
            last = span.end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    };
    if may_be_escaped(result.as_bytes()) && !needles.occurring(result.as_bytes()).is_empty() {
        return Cow::Owned(placeholder.to_owned());
    }
    result
}

/// A base64 match widened to the whole run of base64 characters around it,
/// so no partial group of the secret is left behind.
fn widen_base64(bytes: &[u8], span: Range<usize>) -> Range<usize> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let mut start = span.start;
    while start > 0 && is_b64(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = span.end;
    while end < bytes.len() && is_b64(bytes[end]) {
        end += 1;
    }
    while end < bytes.len() && bytes[end] == b'=' {
        end += 1;
    }
    start..end
}

fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|span| span.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "prefilter_tests.rs"]
mod prefilter_tests;
