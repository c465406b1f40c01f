//! Finding a secret in every form an HTTP message can carry it.
//!
//! A secret is searched for raw, and through the escapes that messages
//! quote values with: percent-encoding (either hex case, `+` for space),
//! JSON string escapes (`\u0074`, `\"`), HTML character references
//! (`&#116;`, `&#x74;`, `&amp;`), and base64 (standard and URL-safe, at
//! every alignment inside a longer base64 run). Escapes may be mixed and
//! nested (`%255C` …): a string whose repeatedly decoded form still holds
//! a secret is replaced whole, because no span of it can be proven clean.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// How many rounds of unescaping the catch-all view goes through.
const NESTED_ROUNDS: usize = 4;

/// One secret prepared for searching.
#[derive(Debug, Clone)]
pub struct Needle {
    pub text: String,
    /// Base64 runs that occur inside any base64 encoding of a stream that
    /// holds the secret (three alignments, two alphabets).
    base64: Vec<String>,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        let mut base64 = Vec::new();
        for engine in [&STANDARD, &URL_SAFE] {
            for offset in 0..3usize {
                let mut padded = vec![0u8; offset];
                padded.extend_from_slice(text.as_bytes());
                let encoded = engine.encode(&padded);
                // Characters that depend on padding or on what follows are
                // not stable: keep whole 4-character groups made only of
                // secret bytes.
                let skip = if offset == 0 { 0 } else { 4 };
                let whole_groups = padded.len() / 3;
                let end = whole_groups * 4;
                if end > skip {
                    let core = &encoded[skip..end];
                    if core.len() >= 8 && !base64.iter().any(|known| known == core) {
                        base64.push(core.to_owned());
                    }
                }
            }
        }
        Needle {
            text: text.to_owned(),
            base64,
        }
    }
}

impl Needle {
    /// Every byte string whose presence shows the secret in a view: the
    /// secret, its base64 runs, and its UTF-16 encodings.
    pub fn forms(&self) -> Vec<Vec<u8>> {
        let mut forms = vec![self.text.as_bytes().to_vec()];
        forms.extend(self.base64.iter().map(|run| run.as_bytes().to_vec()));
        forms.push(
            self.text
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        );
        forms.push(
            self.text
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect(),
        );
        forms
    }
}

/// `haystack` and its unescaped views: each round of unescaping (up to
/// four), and all of them with `+` read as a space.
pub fn views(haystack: &[u8]) -> Vec<Cow<'_, [u8]>> {
    let mut views: Vec<Cow<'_, [u8]>> = vec![Cow::Borrowed(haystack)];
    for _ in 0..NESTED_ROUNDS {
        let last = views.last().expect("one view at least");
        match unescape_all(last) {
            Some(next) => views.push(Cow::Owned(next)),
            None => break,
        }
    }
    if haystack.contains(&b'+') {
        let spaced: Vec<u8> = views
            .iter()
            .flat_map(|view| {
                view.iter()
                    .map(|&b| if b == b'+' { b' ' } else { b })
                    .chain([0])
            })
            .collect();
        views.push(Cow::Owned(spaced));
    }
    views
}

/// Every span of `haystack` where one of `needles` occurs in any single
/// escape form, merged and sorted.
pub fn find_spans(haystack: &str, needles: &[Needle]) -> Vec<Range<usize>> {
    let bytes = haystack.as_bytes();
    let escaped = bytes
        .iter()
        .any(|b| matches!(b, b'%' | b'\\' | b'&' | b'+'));
    let mut spans = Vec::new();
    for needle in needles {
        let text = needle.text.as_bytes();
        let finder = memchr::memmem::Finder::new(text);
        spans.extend(finder.find_iter(bytes).map(|at| at..at + text.len()));
        if escaped {
            spans.extend(escaped_matches(bytes, text));
        }
        for run in &needle.base64 {
            let finder = memchr::memmem::Finder::new(run.as_bytes());
            spans.extend(
                finder
                    .find_iter(bytes)
                    .map(|at| widen_base64(bytes, at..at + run.len())),
            );
        }
    }
    merge(spans)
}

/// True when a needle occurs in `haystack` in any form, nested escapes
/// included.
pub fn contains_any(haystack: &str, needles: &[Needle]) -> bool {
    !find_spans(haystack, needles).is_empty() || nested_contains(haystack.as_bytes(), needles)
}

/// [`contains_any`] for bytes that may not be UTF-8 (binary bodies,
/// serialized lines), with UTF-16 forms of each secret searched too.
pub fn bytes_contain_any(haystack: &[u8], needles: &[Needle]) -> bool {
    !occurring(haystack, needles).is_empty()
}

/// The indexes of the needles that occur in `haystack` in any form. The
/// unescaped views are built once for all needles, so a search for the
/// thousand secrets a proxy remembers costs a few passes, not a thousand.
pub fn occurring(haystack: &[u8], needles: &[Needle]) -> Vec<usize> {
    if needles.is_empty() {
        return Vec::new();
    }
    let views = views(haystack);
    needles
        .iter()
        .enumerate()
        .filter(|(_, needle)| {
            needle.forms().iter().any(|form| {
                views
                    .iter()
                    .any(|view| memchr::memmem::find(view, form).is_some())
            })
        })
        .map(|(index, _)| index)
        .collect()
}

/// `text` with every form of every needle replaced by `placeholder`;
/// `url_placeholder` where the match was percent-encoded, so URLs stay
/// valid. When a nested escape hides a needle that no single span shows,
/// the whole string becomes `placeholder`.
pub fn scrub<'t>(
    text: &'t str,
    needles: &[Needle],
    placeholder: &str,
    url_placeholder: &str,
) -> Cow<'t, str> {
    if needles.is_empty() {
        return Cow::Borrowed(text);
    }
    let spans = find_spans(text, needles);
    let result: Cow<'t, str> = if spans.is_empty() {
        Cow::Borrowed(text)
    } else {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for span in spans {
            out.push_str(&text[last..span.start]);
            let matched = &text[span.clone()];
            // Inside a URL, or percent-encoded: the placeholder a URL can hold.
            out.push_str(
                if matched.contains('%') || text[..span.start].contains("://") {
                    url_placeholder
                } else {
                    placeholder
                },
            );
            last = span.end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    };
    if nested_contains(result.as_bytes(), needles) {
        return Cow::Owned(placeholder.to_owned());
    }
    result
}

/// The decoded unit at `at`: the bytes it stands for and how many bytes of
/// the haystack it spans. Raw bytes stand for themselves.
fn unit_at(bytes: &[u8], at: usize) -> (Unit, usize) {
    let rest = &bytes[at..];
    match rest[0] {
        b'%' if rest.len() >= 3 => {
            if let (Some(hi), Some(lo)) = (hex(rest[1]), hex(rest[2])) {
                return (Unit::one(hi << 4 | lo), 3);
            }
        }
        b'\\' if rest.len() >= 2 => {
            let simple = match rest[1] {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'\'' => Some(b'\''),
                _ => None,
            };
            if let Some(byte) = simple {
                return (Unit::one(byte), 2);
            }
            if rest[1] == b'u'
                && let Some((ch, len)) = json_unicode(rest)
            {
                return (Unit::char(ch), len);
            }
            if rest[1] == b'x'
                && rest.len() >= 4
                && let (Some(hi), Some(lo)) = (hex(rest[2]), hex(rest[3]))
            {
                return (Unit::one(hi << 4 | lo), 4);
            }
        }
        b'&' => {
            if let Some((ch, len)) = html_reference(rest) {
                return (Unit::char(ch), len);
            }
        }
        _ => {}
    }
    (Unit::one(rest[0]), 1)
}

/// Up to four UTF-8 bytes.
#[derive(Clone, Copy)]
struct Unit {
    bytes: [u8; 4],
    len: usize,
}

impl Unit {
    fn one(byte: u8) -> Unit {
        Unit {
            bytes: [byte, 0, 0, 0],
            len: 1,
        }
    }

    fn char(ch: char) -> Unit {
        let mut bytes = [0; 4];
        let len = ch.encode_utf8(&mut bytes).len();
        Unit { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`.
fn json_unicode(rest: &[u8]) -> Option<(char, usize)> {
    let code = |at: usize| -> Option<u32> {
        let digits = rest.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let first = code(2)?;
    if (0xD800..0xDC00).contains(&first) && rest.get(6..8) == Some(b"\\u") {
        let second = code(8)?;
        let combined = 0x10000 + ((first - 0xD800) << 10) + (second.checked_sub(0xDC00)?);
        return char::from_u32(combined).map(|ch| (ch, 12));
    }
    char::from_u32(first).map(|ch| (ch, 6))
}

/// `&#116;`, `&#x74;` and the five XML named references.
fn html_reference(rest: &[u8]) -> Option<(char, usize)> {
    let end = rest.iter().take(12).position(|&b| b == b';')?;
    let body = std::str::from_utf8(&rest[1..end]).ok()?;
    let ch = if let Some(number) = body.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code)?
    } else {
        match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => return None,
        }
    };
    Some((ch, end + 1))
}

/// Spans where `needle` occurs with any of its characters escaped.
fn escaped_matches(bytes: &[u8], needle: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let first = bytes[start];
        if (first == needle[0] || matches!(first, b'%' | b'\\' | b'&' | b'+'))
            && let Some(end) = match_at(bytes, start, needle)
        {
            found.push(start..end);
            start = end;
            continue;
        }
        start += 1;
    }
    found
}

fn match_at(bytes: &[u8], start: usize, needle: &[u8]) -> Option<usize> {
    let (mut at, mut matched) = (start, 0);
    while matched < needle.len() {
        if at >= bytes.len() {
            return None;
        }
        // `+` is a space in form encoding and a plus everywhere else.
        if bytes[at] == b'+' && matches!(needle[matched], b' ' | b'+') {
            at += 1;
            matched += 1;
            continue;
        }
        let (unit, len) = unit_at(bytes, at);
        if !needle[matched..].starts_with(unit.as_slice()) {
            return None;
        }
        matched += unit.len;
        at += len;
    }
    Some(at)
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

/// The catch-all: unescape everything, up to [`NESTED_ROUNDS`] times, and
/// look for each needle (raw or base64) in every round's result.
fn nested_contains(bytes: &[u8], needles: &[Needle]) -> bool {
    let mut current: Cow<'_, [u8]> = Cow::Borrowed(bytes);
    for _ in 0..NESTED_ROUNDS {
        let Some(decoded) = unescape_all(&current) else {
            return false;
        };
        let view = String::from_utf8_lossy(&decoded);
        if needles.iter().any(|needle| {
            view.contains(needle.text.as_str())
                || view.replace('+', " ").contains(needle.text.as_str())
                || needle.base64.iter().any(|run| view.contains(run.as_str()))
        }) {
            return true;
        }
        current = Cow::Owned(decoded);
    }
    false
}

/// Every escape decoded once; `None` when there was none.
fn unescape_all(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.iter().any(|b| matches!(b, b'%' | b'\\' | b'&')) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    let mut changed = false;
    while at < bytes.len() {
        let (unit, len) = unit_at(bytes, at);
        changed |= len > 1;
        out.extend_from_slice(unit.as_slice());
        at += len;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "tok3n-Secret.value";

    fn scrubbed(text: &str) -> String {
        scrub(text, &[Needle::new(SECRET)], "[R]", "%5BR%5D").into_owned()
    }

    fn percent_all(text: &str, upper: bool) -> String {
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

    #[test]
    fn every_single_escape_form_is_found_and_replaced_in_place() {
        let json_escaped: String = SECRET
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let html: String = SECRET.chars().map(|c| format!("&#{};", c as u32)).collect();
        let html_hex: String = SECRET
            .chars()
            .map(|c| format!("&#x{:x};", c as u32))
            .collect();
        for (form, expected_placeholder) in [
            (SECRET.to_owned(), "[R]"),
            (percent_all(SECRET, true), "%5BR%5D"),
            (percent_all(SECRET, false), "%5BR%5D"),
            ("tok3n%2DSecret.value".to_owned(), "%5BR%5D"),
            (json_escaped, "[R]"),
            (html, "[R]"),
            (html_hex, "[R]"),
        ] {
            let text = format!("before {form} after");
            assert_eq!(
                scrubbed(&text),
                format!("before {expected_placeholder} after"),
                "{form}"
            );
        }
    }

    #[test]
    fn plus_is_found_as_space_and_as_plus() {
        let needles = [Needle::new("pass word+more")];
        assert_eq!(
            scrub("p=pass+word%2Bmore&x=1", &needles, "[R]", "%5BR%5D"),
            "p=%5BR%5D&x=1"
        );
    }

    #[test]
    fn base64_at_every_alignment_and_alphabet_is_found() {
        for prefix in ["", "u", "us", "user:"] {
            let plain = format!("{prefix}{SECRET}?>?>");
            for engine in [&STANDARD, &URL_SAFE] {
                let encoded = engine.encode(plain.as_bytes());
                let text = format!("Basic {encoded} end");
                assert_eq!(scrubbed(&text), "Basic [R] end", "{text}");
            }
        }
    }

    #[test]
    fn nested_escapes_replace_the_whole_string() {
        let double = percent_all(&percent_all(SECRET, true), false);
        assert_eq!(scrubbed(&format!("x {double} y")), "[R]");
        let percent_of_json: String = SECRET
            .chars()
            .map(|c| format!("%5Cu{:04x}", c as u32))
            .collect();
        assert_eq!(scrubbed(&percent_of_json), "[R]");
    }

    #[test]
    fn clean_text_is_borrowed_untouched() {
        let text = "100% \\ &amp; + tok3n-Secret but not whole";
        assert!(matches!(
            scrub(text, &[Needle::new(SECRET)], "[R]", "%5BR%5D"),
            Cow::Borrowed(_)
        ));
        assert!(!contains_any(text, &[Needle::new(SECRET)]));
    }

    #[test]
    fn utf16_and_binary_forms_are_found_in_bytes() {
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(SECRET.encode_utf16().flat_map(u16::to_le_bytes));
        assert!(bytes_contain_any(&bytes, &[Needle::new(SECRET)]));
        let mut bytes = vec![0x00, 0x9f];
        bytes.extend_from_slice(SECRET.as_bytes());
        assert!(bytes_contain_any(&bytes, &[Needle::new(SECRET)]));
        assert!(!bytes_contain_any(
            &[0u8, 1, 2, 255],
            &[Needle::new(SECRET)]
        ));
    }
}
