//! `LeakSearch`: looks for canary secrets everywhere a leak can hide.
//!
//! A canary test plants unique strings where secrets go, runs datovcr, and
//! asserts that none of them turns up in anything datovcr wrote: cassettes,
//! journals, lock files, stdout, stderr, reports. A plain substring search
//! would miss a secret that was written encoded, so every input is searched
//! in many *views*, each derived from another:
//!
//! | view | derived from |
//! |---|---|
//! | raw | the bytes as they are (also searched for the canary in UTF-16LE/BE) |
//! | json | every string value and object key of a JSON document (or of each line of a JSON-lines file), so `\u0074`-style escapes are undone |
//! | base64 body | the `base64` field of a cassette body, decoded |
//! | gzip, zlib, zstd | bytes starting with that format's magic, decompressed (partial output of a truncated stream counts) |
//! | brotli, deflate | tried on every input and every base64-decoded view (neither has a magic number) |
//! | percent | `%XX` (either case) and `%uXXXX` decoded, `+` kept and `+` as space, repeatedly (each round is a view) |
//! | html | `&#NN;`, `&#xNN;` and the common named entities decoded |
//! | escapes | backslash escapes (`\uXXXX`, `\xNN`, `\n` …) decoded, for JSON or debug output that did not parse as JSON |
//! | base64 | every run of at least 12 base64 or base64url characters, decoded at each of the 4 alignments (0 to 3 leading characters dropped) |
//! | utf-16le, utf-16be | bytes that are at least a fifth NULs, decoded as UTF-16 |
//!
//! Views are derived from views up to [`MAX_DEPTH`] steps, so a
//! percent-encoded JSON string inside a compressed base64 body is found.
//! Identical views are searched once. The tests at the bottom hide a canary in
//! each form and check that it is found, and that clean input finds nothing:
//! that is what makes a canary test fail when scrubbing is switched off.

use memchr::memmem;
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::Path;

/// How many decoding steps a view may be away from its input.
pub const MAX_DEPTH: usize = 5;
/// Shorter runs of base64 characters are not decoded.
const MIN_BASE64_RUN: usize = 12;
/// Decompression stops after this many bytes (a bomb or garbage).
const MAX_DECOMPRESSED: u64 = 16 << 20;
/// Rounds of percent-decoding per `+` convention.
const PERCENT_ROUNDS: usize = 4;

/// One canary found somewhere it must not be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub canary: String,
    /// The input's label, then the chain of views that led to the canary.
    pub where_: String,
    /// The last decoding needed to see it (`raw` when none was).
    pub form: &'static str,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) in {}", self.canary, self.form, self.where_)
    }
}

/// The canaries, and the inputs to search for them.
pub struct LeakSearch {
    canaries: Vec<String>,
    inputs: Vec<(String, Vec<u8>)>,
}

impl LeakSearch {
    /// Canaries must be at least 8 bytes, so that finding one by chance in
    /// decoded garbage is out of the question.
    pub fn new<S: Into<String>>(canaries: impl IntoIterator<Item = S>) -> LeakSearch {
        let canaries: Vec<String> = canaries.into_iter().map(Into::into).collect();
        for canary in &canaries {
            assert!(canary.len() >= 8, "canary {canary:?} is too short");
        }
        LeakSearch {
            canaries,
            inputs: Vec::new(),
        }
    }

    /// Every file under `dir`, recursively, whatever its name or content.
    /// Read now: the directory may be gone by the time [`Self::leaks`] runs.
    pub fn add_dir(&mut self, dir: &Path) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let kind = std::fs::symlink_metadata(&path)
                .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
                .file_type();
            if kind.is_dir() {
                self.add_dir(&path);
            } else {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                self.inputs.push((path.display().to_string(), bytes));
            }
        }
    }

    /// Output that is not a file: stdout, stderr, a report.
    pub fn add_text(&mut self, label: &str, text: &[u8]) {
        self.inputs.push((label.to_owned(), text.to_vec()));
    }

    /// How many inputs were added (files and texts).
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// Every (canary, input) pair where the canary was found, each with the
    /// shortest chain of views that shows it. Empty means no leak.
    pub fn leaks(&self) -> Vec<Leak> {
        let needles = Needles::new(&self.canaries);
        let mut leaks = Vec::new();
        for (label, bytes) in &self.inputs {
            let mut walk = Walk {
                needles: &needles,
                seen: HashMap::new(),
                found: HashMap::new(),
            };
            walk.visit(bytes, &mut Vec::new(), true);
            let mut found: Vec<_> = walk.found.into_iter().collect();
            found.sort_by_key(|(canary, _)| *canary);
            for (canary, (_, chain, form)) in found {
                leaks.push(Leak {
                    canary: self.canaries[canary].clone(),
                    where_: format!("{label}: {chain}"),
                    form,
                });
            }
        }
        leaks
    }

    /// Panics listing the leaks (the first 30) if there is any.
    pub fn assert_no_leaks(&self, context: &str) {
        let leaks = self.leaks();
        if !leaks.is_empty() {
            let listed: Vec<String> = leaks.iter().take(30).map(Leak::to_string).collect();
            panic!(
                "{context}: {} canary leak(s) in {} input(s):\n  {}",
                leaks.len(),
                self.inputs.len(),
                listed.join("\n  ")
            );
        }
    }
}

/// Every canary in every encoding it is searched in, grouped by their first
/// four bytes so that one `memmem` pass finds candidates for a whole group
/// (test canaries usually share a prefix).
struct Needles {
    groups: Vec<Group>,
}

/// (needle, canary index, encoding)
type Needle = (Vec<u8>, usize, &'static str);

struct Group {
    finder: memmem::Finder<'static>,
    members: Vec<Needle>,
}

impl Needles {
    fn new(canaries: &[String]) -> Needles {
        let mut by_prefix: HashMap<Vec<u8>, Vec<Needle>> = HashMap::new();
        for (index, canary) in canaries.iter().enumerate() {
            let utf16le: Vec<u8> = canary.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let utf16be: Vec<u8> = canary.encode_utf16().flat_map(u16::to_be_bytes).collect();
            for (needle, encoding) in [
                (canary.as_bytes().to_vec(), "utf-8"),
                (utf16le, "utf-16le"),
                (utf16be, "utf-16be"),
            ] {
                by_prefix
                    .entry(needle[..4].to_vec())
                    .or_default()
                    .push((needle, index, encoding));
            }
        }
        let mut groups: Vec<Group> = by_prefix
            .into_iter()
            .map(|(prefix, members)| Group {
                finder: memmem::Finder::new(&prefix).into_owned(),
                members,
            })
            .collect();
        groups.sort_by(|a, b| a.finder.needle().cmp(b.finder.needle()));
        Needles { groups }
    }

    /// (canary index, encoding) of every needle in `haystack`.
    fn find(&self, haystack: &[u8], mut hit: impl FnMut(usize, &'static str)) {
        for group in &self.groups {
            for position in group.finder.find_iter(haystack) {
                for (needle, canary, encoding) in &group.members {
                    if haystack[position..].starts_with(needle) {
                        hit(*canary, encoding);
                    }
                }
            }
        }
    }
}

/// One step of a chain of views.
struct Step {
    form: &'static str,
    detail: String,
}

/// The search of one input.
struct Walk<'n> {
    needles: &'n Needles,
    /// Hash of every view searched, with the shallowest depth it was searched
    /// at (a view reached again deeper has nothing new to show).
    seen: HashMap<u64, usize>,
    /// Per canary: depth, chain and form of the shallowest sighting.
    found: HashMap<usize, (usize, String, &'static str)>,
}

impl Walk<'_> {
    /// Searches `bytes`, then derives views from it. `compressed_maybe` says
    /// whether brotli and raw deflate (no magic numbers) are worth a try.
    fn visit(&mut self, bytes: &[u8], chain: &mut Vec<Step>, compressed_maybe: bool) {
        let depth = chain.len();
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        match self.seen.entry(hasher.finish()) {
            Entry::Occupied(mut entry) => {
                if *entry.get() <= depth {
                    return;
                }
                entry.insert(depth);
            }
            Entry::Vacant(entry) => {
                entry.insert(depth);
            }
        }
        let mut hits = Vec::new();
        self.needles
            .find(bytes, |canary, encoding| hits.push((canary, encoding)));
        for (canary, encoding) in hits {
            let form = match (encoding, chain.last()) {
                ("utf-8", Some(step)) => step.form,
                ("utf-8", None) => "raw",
                (other, _) => other,
            };
            let better = self
                .found
                .get(&canary)
                .is_none_or(|(found_depth, _, _)| depth < *found_depth);
            if better {
                self.found.insert(canary, (depth, describe(chain), form));
            }
        }
        if depth >= MAX_DEPTH {
            return;
        }

        // Compressed bytes: by magic, or by trying the formats without one.
        if let Some((form, decoded)) = decompress_by_magic(bytes) {
            // Codings stack (`br` inside `zstd`): what comes out may be
            // brotli, which has no magic.
            self.child(chain, form, String::new(), &decoded, true);
        } else if compressed_maybe {
            for (form, decoded) in [
                ("brotli", decompress(brotli::Decompressor::new(bytes, 4096))),
                (
                    "deflate",
                    decompress(flate2::read::DeflateDecoder::new(bytes)),
                ),
            ] {
                if let Some(decoded) = decoded {
                    self.child(chain, form, String::new(), &decoded, false);
                }
            }
        }

        // JSON: its strings. Everything else in a JSON document is syntax,
        // numbers and literals, where no canary fits.
        let (documents, other_lines) = json_documents(bytes);
        if !documents.is_empty() {
            for (line, text) in other_lines {
                self.child(chain, "line", format!("{line} (not JSON)"), text, false);
            }
            for (line, document) in documents {
                let mut strings = Vec::new();
                json_strings(&document, &mut String::new(), &mut strings);
                for (pointer, key, text) in strings {
                    let detail = match line {
                        Some(line) => format!("line {line} {pointer}"),
                        None => pointer.clone(),
                    };
                    if key == Some("base64")
                        && let Some(decoded) = base64_decode(text.as_bytes())
                    {
                        self.child(chain, "base64 body", detail.clone(), &decoded, true);
                    }
                    self.child(chain, "json", detail, text.as_bytes(), false);
                }
            }
            return;
        }

        // Text encodings.
        if bytes.contains(&b'%') || bytes.contains(&b'+') {
            for plus_is_space in [false, true] {
                let mut current = bytes.to_vec();
                for round in 1..=PERCENT_ROUNDS {
                    let decoded = percent_decode(&current, plus_is_space);
                    if decoded == current {
                        break;
                    }
                    let detail = format!(
                        "round {round}{}",
                        if plus_is_space { ", + as space" } else { "" }
                    );
                    self.child(chain, "percent", detail, &decoded, false);
                    current = decoded;
                }
            }
        }
        if bytes.contains(&b'&') {
            let decoded = html_decode(bytes);
            if decoded != bytes {
                self.child(chain, "html", String::new(), &decoded, false);
            }
        }
        if bytes.contains(&b'\\') {
            let decoded = unescape(bytes);
            if decoded != bytes {
                self.child(chain, "escapes", String::new(), &decoded, false);
            }
        }
        for (start, run) in base64_runs(bytes) {
            for skip in 0..4 {
                if run.len() - skip < MIN_BASE64_RUN {
                    break;
                }
                if let Some(decoded) = base64_decode(&run[skip..]) {
                    let detail = format!("at byte {}", start + skip);
                    self.child(chain, "base64", detail, &decoded, true);
                }
            }
        }
        let nuls = bytes.iter().filter(|&&b| b == 0).count();
        if bytes.len() >= 4 && nuls * 5 >= bytes.len() {
            for (form, little) in [("utf-16le", true), ("utf-16be", false)] {
                let decoded = utf16_decode(bytes, little);
                self.child(chain, form, String::new(), decoded.as_bytes(), false);
            }
        }
    }

    fn child(
        &mut self,
        chain: &mut Vec<Step>,
        form: &'static str,
        detail: String,
        bytes: &[u8],
        compressed_maybe: bool,
    ) {
        if bytes.is_empty() {
            return;
        }
        chain.push(Step { form, detail });
        self.visit(bytes, chain, compressed_maybe);
        chain.pop();
    }
}

fn describe(chain: &[Step]) -> String {
    if chain.is_empty() {
        return "raw".to_owned();
    }
    chain
        .iter()
        .map(|step| {
            if step.detail.is_empty() {
                step.form.to_owned()
            } else {
                format!("{} {}", step.form, step.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

/// Everything a decoder yields up to [`MAX_DECOMPRESSED`], including what
/// came out before an error (a truncated stream still leaks); `None` if
/// nothing did.
fn decompress(mut reader: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let _ = (&mut reader).take(MAX_DECOMPRESSED).read_to_end(&mut out);
    (!out.is_empty()).then_some(out)
}

fn decompress_by_magic(bytes: &[u8]) -> Option<(&'static str, Vec<u8>)> {
    match bytes {
        [0x1f, 0x8b, ..] => {
            decompress(flate2::read::MultiGzDecoder::new(bytes)).map(|out| ("gzip", out))
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => zstd::stream::read::Decoder::new(bytes)
            .ok()
            .and_then(decompress)
            .map(|out| ("zstd", out)),
        [first, second, ..]
            if first & 0x0f == 8 && ((u16::from(*first) << 8) | u16::from(*second)) % 31 == 0 =>
        {
            decompress(flate2::read::ZlibDecoder::new(bytes)).map(|out| ("zlib", out))
        }
        _ => None,
    }
}

/// A JSON document, with its line number in a JSON-lines file.
type Document = (Option<usize>, Value);

/// The JSON in `bytes`: one document (line `None`), or else every line that
/// is one (JSON lines, as in journals), plus the other non-blank lines (a
/// torn last line, say) to search as text. Nothing if no JSON was found.
fn json_documents(bytes: &[u8]) -> (Vec<Document>, Vec<(usize, &[u8])>) {
    let looks_like_json = |b: &[u8]| {
        b.iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|c| matches!(c, b'{' | b'[' | b'"'))
    };
    if !looks_like_json(bytes) {
        return (Vec::new(), Vec::new());
    }
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return (vec![(None, value)], Vec::new());
    }
    let mut documents = Vec::new();
    let mut others = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        match serde_json::from_slice::<Value>(line) {
            Ok(value) if looks_like_json(line) => documents.push((Some(index + 1), value)),
            _ if line.iter().all(u8::is_ascii_whitespace) => {}
            _ => others.push((index + 1, line)),
        }
    }
    (documents, others)
}

/// (pointer, key it is the value of, text) for every string and object key.
fn json_strings<'v>(
    value: &'v Value,
    pointer: &mut String,
    out: &mut Vec<(String, Option<&'v str>, &'v str)>,
) {
    let len = pointer.len();
    match value {
        Value::String(text) => out.push((pointer.clone(), None, text)),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&index.to_string());
                json_strings(item, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                out.push((format!("{pointer} (key)"), None, key));
                if let Value::String(text) = item {
                    out.push((pointer.clone(), Some(key.as_str()), text));
                } else {
                    json_strings(item, pointer, out);
                }
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn hex_number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        hex_value(d).map(|v| acc.wrapping_mul(16) + u32::from(v))
    })
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// `%XX` in either case and `%uXXXX`; `+` becomes a space if asked.
fn percent_decode(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex_at = |at: usize| bytes.get(at).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hex_at(i + 1), hex_at(i + 2)) {
                    out.push((hi << 4) | lo);
                    i += 3;
                    continue;
                }
                if matches!(bytes.get(i + 1), Some(b'u' | b'U'))
                    && let Some(code) = bytes.get(i + 2..i + 6).and_then(hex_number)
                {
                    push_char(&mut out, code);
                    i += 6;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// `&#NN;`, `&#xNN;` (the `;` optional) and common named entities.
fn html_decode(bytes: &[u8]) -> Vec<u8> {
    const NAMED: &[(&str, &str)] = &[
        ("amp", "&"),
        ("lt", "<"),
        ("gt", ">"),
        ("quot", "\""),
        ("apos", "'"),
        ("nbsp", "\u{a0}"),
        ("sol", "/"),
        ("colon", ":"),
        ("equals", "="),
        ("percnt", "%"),
        ("plus", "+"),
        ("num", "#"),
        ("quest", "?"),
        ("period", "."),
        ("lowbar", "_"),
        ("hyphen", "-"),
        ("comma", ","),
        ("semi", ";"),
    ];
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'&' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let rest = &bytes[i + 1..];
        if let Some(numeric) = rest.strip_prefix(b"#") {
            let (hex, digits_start) = match numeric.first() {
                Some(b'x' | b'X') => (true, 1),
                _ => (false, 0),
            };
            let digits: Vec<u8> = numeric[digits_start..]
                .iter()
                .copied()
                .take_while(|b| {
                    if hex {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
                .take(8)
                .collect();
            if !digits.is_empty() {
                let code = if hex {
                    hex_number(&digits)
                } else {
                    std::str::from_utf8(&digits)
                        .ok()
                        .and_then(|d| d.parse().ok())
                };
                push_char(&mut out, code.unwrap_or(0xfffd));
                i += 2 + digits_start + digits.len();
                if bytes.get(i) == Some(&b';') {
                    i += 1;
                }
                continue;
            }
        }
        if let Some((name, text)) = NAMED
            .iter()
            .find(|(name, _)| rest.starts_with(name.as_bytes()))
        {
            out.extend_from_slice(text.as_bytes());
            i += 1 + name.len();
            if bytes.get(i) == Some(&b';') {
                i += 1;
            }
            continue;
        }
        out.push(b'&');
        i += 1;
    }
    out
}

/// Backslash escapes: `\uXXXX` (surrogate pairs joined), `\u{X…}`, `\xNN`,
/// `\n`, `\r`, `\t`, `\0`, `\"`, `\'`, `\\`, `\/`.
fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let next = bytes[i + 1];
        match next {
            b'u' if bytes.get(i + 2) == Some(&b'{') => {
                let end = bytes[i + 3..].iter().take(7).position(|&b| b == b'}');
                match end.and_then(|end| hex_number(&bytes[i + 3..i + 3 + end]).map(|c| (end, c))) {
                    Some((end, code)) => {
                        push_char(&mut out, code);
                        i += 4 + end;
                    }
                    None => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            b'u' => match bytes.get(i + 2..i + 6).and_then(hex_number) {
                Some(high @ 0xd800..=0xdbff) => {
                    let low = bytes
                        .get(i + 6..i + 8)
                        .filter(|p| *p == b"\\u")
                        .and_then(|_| bytes.get(i + 8..i + 12))
                        .and_then(hex_number)
                        .filter(|low| (0xdc00..=0xdfff).contains(low));
                    match low {
                        Some(low) => {
                            push_char(&mut out, 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00));
                            i += 12;
                        }
                        None => {
                            push_char(&mut out, 0xfffd);
                            i += 6;
                        }
                    }
                }
                Some(code) => {
                    push_char(&mut out, code);
                    i += 6;
                }
                None => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            b'x' => match bytes.get(i + 2..i + 4).and_then(hex_number) {
                Some(code) => {
                    out.push(code as u8);
                    i += 4;
                }
                None => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            _ => {
                let decoded = match next {
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'0' => Some(0),
                    b'"' | b'\'' | b'\\' | b'/' => Some(next),
                    _ => None,
                };
                match decoded {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
        }
    }
    out
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// (offset, run) for every run of at least [`MIN_BASE64_RUN`] characters of
/// the base64 and base64url alphabets together.
fn base64_runs(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        match (base64_value(b).is_some(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= MIN_BASE64_RUN {
                    runs.push((s, &bytes[s..i]));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Lenient base64 of either alphabet: padding and anything after it
/// ignored, trailing bits dropped. `None` if nothing decodes.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in text {
        if b == b'=' {
            break;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        let value = base64_value(b)?;
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn utf16_decode(bytes: &[u8], little: bool) -> String {
    let units = bytes.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Every byte of `text` percent-encoded, in upper- or lower-case hex: the
/// way tests disguise a secret in a URL.
pub fn percent_all(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// Where a `schema-check --format json` report finds leaked secrets:
/// `(interaction, pointer)` of each `leaked_secret` finding, sorted.
pub fn leaked_places(report: &Value) -> Vec<(u64, String)> {
    let mut places: Vec<(u64, String)> = report["findings"]
        .as_array()
        .expect("a report's findings")
        .iter()
        .filter(|finding| finding["category"] == "leaked_secret")
        .map(|finding| {
            (
                finding["interaction"]
                    .as_u64()
                    .expect("an interaction index"),
                finding["pointer"].as_str().expect("a pointer").to_owned(),
            )
        })
        .collect();
    places.sort();
    places
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::json;
    use std::io::Write as _;

    const CANARY: &str = "canaryQ7f3a9c2e1b";

    fn found_in(label: &str, input: &[u8]) -> Vec<Leak> {
        let mut search = LeakSearch::new([CANARY]);
        search.add_text(label, input);
        search.leaks()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn brotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            encoder.write_all(bytes).unwrap();
        }
        out
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 3).unwrap()
    }

    /// A cassette holding `body` as a base64 response body.
    fn cassette_with_base64(body: &[u8], encoding: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&json!({
            "version": 1,
            "interactions": [{
                "recorded_at": "2026-01-01T00:00:00Z",
                "request": {"method": "GET", "path": "/x", "headers": {}},
                "response": {
                    "status": 200,
                    "headers": {"content-encoding": [encoding]},
                    "body": {"base64": STANDARD.encode(body)}
                }
            }]
        }))
        .unwrap()
    }

    /// Every disguise, with its name.
    fn disguises(canary: &str) -> Vec<(String, Vec<u8>)> {
        let secret_json = format!(r#"{{"data":{{"attributes":{{"token":"{canary}"}}}}}}"#);
        let escaped: String = canary
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            (
                "raw".into(),
                format!("log: token={canary} done").into_bytes(),
            ),
            (
                "json \\u escapes".into(),
                format!(r#"{{"a":{{"b":["x","{escaped}"]}}}}"#).into_bytes(),
            ),
            (
                "json \\u escapes in a JSON-lines journal".into(),
                format!("{{\"n\":1}}\n{{\"t\":\"{escaped}\"}}\n{{broken").into_bytes(),
            ),
            (
                "backslash escapes in a log line".into(),
                format!("debug: \"{escaped}\" (not JSON)").into_bytes(),
            ),
            (
                "percent upper hex".into(),
                format!("https://x.test/?sig={}&a=1", percent_all(canary, true)).into_bytes(),
            ),
            (
                "percent lower hex".into(),
                format!("https://x.test/?sig={}&a=1", percent_all(canary, false)).into_bytes(),
            ),
            (
                "%u escapes".into(),
                canary
                    .chars()
                    .map(|c| format!("%u{:04X}", c as u32))
                    .collect::<String>()
                    .into_bytes(),
            ),
            (
                "form encoding with +".into(),
                format!("q=hello+world+{}+end", percent_all(canary, true)).into_bytes(),
            ),
            (
                "double percent-encoding".into(),
                percent_all(&percent_all(canary, true), false).into_bytes(),
            ),
            (
                "percent-encoded base64 holding literal + signs".into(),
                format!(
                    "v={}",
                    // 0xfb 0xef 0xbe is `++++` in base64; `/` and `=` escaped.
                    STANDARD
                        .encode([&[0xfb, 0xef, 0xbe], canary.as_bytes(), b"?>?>"].concat())
                        .replace('/', "%2F")
                        .replace('=', "%3D")
                )
                .into_bytes(),
            ),
            (
                "html decimal and hex entities".into(),
                canary
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            format!("&#{};", c as u32)
                        } else {
                            format!("&#x{:x}", c as u32)
                        }
                    })
                    .collect::<String>()
                    .into_bytes(),
            ),
            (
                "html named and numeric entities mixed".into(),
                format!(
                    "&lt;b&gt;&#x{:x};{}&lt;/b&gt;",
                    canary.as_bytes()[0],
                    &canary[1..]
                )
                .into_bytes(),
            ),
            (
                "utf-16le with BOM".into(),
                [0xff, 0xfe]
                    .into_iter()
                    .chain(
                        format!("note: {canary}")
                            .encode_utf16()
                            .flat_map(u16::to_le_bytes),
                    )
                    .collect(),
            ),
            (
                "utf-16be".into(),
                format!("note: {canary}")
                    .encode_utf16()
                    .flat_map(u16::to_be_bytes)
                    .collect(),
            ),
            (
                "base64 inside utf-16le".into(),
                STANDARD
                    .encode(canary)
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect(),
            ),
            (
                "percent-encoded JSON string inside a base64 body".into(),
                cassette_with_base64(
                    percent_all(&format!(r#"{{"token":"{escaped}"}}"#), false).as_bytes(),
                    "identity",
                ),
            ),
            ("gzip file".into(), gzip(secret_json.as_bytes())),
            ("zlib file".into(), zlib(secret_json.as_bytes())),
            ("zstd file".into(), zstd(secret_json.as_bytes())),
            ("brotli file".into(), brotli(secret_json.as_bytes())),
            ("raw deflate file".into(), deflate(secret_json.as_bytes())),
            ("truncated gzip".into(), {
                let filler: String = (0..3000u32)
                    .map(|i| format!("{:x}", i * 7919 % 65521))
                    .collect();
                let compressed = gzip(format!("{canary}{filler}").as_bytes());
                compressed[..compressed.len() / 2].to_vec()
            }),
        ];
        for (name, compressed) in [
            ("gzip", gzip(secret_json.as_bytes())),
            ("br", brotli(secret_json.as_bytes())),
            ("zstd", zstd(secret_json.as_bytes())),
            ("deflate", deflate(secret_json.as_bytes())),
            ("zlib", zlib(secret_json.as_bytes())),
        ] {
            cases.push((
                format!("{name}-compressed base64 body in a cassette"),
                cassette_with_base64(&compressed, name),
            ));
        }
        for offset in 0..3 {
            let plain = format!("{}{canary} and then some more text", "#".repeat(offset));
            let std_b64 = STANDARD.encode(&plain);
            let url_b64 = URL_SAFE_NO_PAD.encode(&plain);
            for (alphabet, encoded) in [("std", &std_b64), ("url-safe", &url_b64)] {
                // Preceded by a separator, and glued to 0 to 3 base64 letters.
                for glued in ["", "a", "ab", "abc"] {
                    cases.push((
                        format!("base64 {alphabet}, canary at byte {offset}, glued to {glued:?}"),
                        format!("{{not json}} value: {glued}{encoded}; end").into_bytes(),
                    ));
                }
            }
            cases.push((
                format!("base64 of the canary at byte {offset} inside a JSON string"),
                serde_json::to_vec(&json!({"headers": {"x-debug": [format!("v1.{std_b64}.sig")]}}))
                    .unwrap(),
            ));
        }
        cases
    }

    #[test]
    fn a_canary_is_found_in_every_disguise() {
        let mut missed = Vec::new();
        for (name, input) in disguises(CANARY) {
            let leaks = found_in(&name, &input);
            if leaks.is_empty() {
                missed.push(name);
            } else {
                assert!(leaks.iter().all(|l| l.canary == CANARY), "{leaks:?}");
            }
        }
        assert!(missed.is_empty(), "not found: {missed:#?}");
    }

    #[test]
    fn a_canary_is_reported_with_the_decoding_that_shows_it() {
        let leaks = found_in("f", percent_all(CANARY, true).as_bytes());
        assert_eq!(leaks.len(), 1, "{leaks:?}");
        assert_eq!(leaks[0].form, "percent");
        assert_eq!(leaks[0].where_, "f: percent round 1");
        let leaks = found_in("g", &gzip(CANARY.as_bytes()));
        assert_eq!(leaks[0].form, "gzip");
        let leaks = found_in("raw", CANARY.as_bytes());
        assert_eq!(leaks[0].form, "raw");
        assert_eq!(leaks[0].to_string(), format!("{CANARY} (raw) in raw: raw"));
    }

    #[test]
    fn clean_input_has_no_leak() {
        // The same disguises around another secret, plus real traffic.
        let mut search = LeakSearch::new([CANARY, "canaryOtherOne12345"]);
        for (name, input) in disguises("canaryZZZZZZZZZZZ") {
            search.add_text(&name, &input);
        }
        search.add_dir(&crate::support::repo_path("cassettes"));
        assert!(search.input_count() > 5, "{}", search.input_count());
        search.assert_no_leaks("clean input");
        assert!(search.leaks().is_empty());
    }

    #[test]
    fn add_dir_reads_every_file_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cassettes/deeper");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.path().join("cassettes/a.json.lock"), b"").unwrap();
        std::fs::write(
            nested.join("b.json.journal"),
            format!("{{\"ok\":1}}\n{{\"body\":{{\"base64\":\"{}\"}}}}\n", {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(gzip(CANARY.as_bytes()))
            }),
        )
        .unwrap();
        let mut search = LeakSearch::new([CANARY, "canaryNeverWritten"]);
        search.add_dir(dir.path());
        assert_eq!(search.input_count(), 2);
        let leaks = search.leaks();
        assert_eq!(leaks.len(), 1, "{leaks:?}");
        assert_eq!(leaks[0].canary, CANARY);
        assert!(
            leaks[0]
                .where_
                .ends_with("b.json.journal: base64 body line 2 /body/base64 > gzip"),
            "{}",
            leaks[0].where_
        );
        assert_eq!(leaks[0].form, "gzip");
        let result = std::panic::catch_unwind(|| search.assert_no_leaks("dir"));
        assert!(result.is_err());
    }
}
