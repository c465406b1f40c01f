//! The escapes HTTP messages quote values with, undone: percent-encoding,
//! JSON string escapes, HTML character references, quoted-printable, and
//! line breaks inside wrapped base64; and the JSON Pointer escapes (`~1`
//! for `/`, `~0` for `~`, RFC 6901) that reports name member names with. [`views`] gives every decoded form of
//! a text at once, for searches that only ask "is it there"; the matcher
//! finds a secret whose characters are escaped one by one, so the span can
//! be replaced in place.

use std::borrow::Cow;
use std::ops::Range;

/// How many rounds of unescaping the catch-all view goes through.
const NESTED_ROUNDS: usize = 4;

/// `haystack` and its unescaped views: each round of unescaping (up to
/// four), all of them with `+` read as a space, and with line breaks
/// removed (MIME base64 wraps at 76 columns; quoted-printable soft breaks).
pub fn views(haystack: &[u8]) -> Vec<Cow<'_, [u8]>> {
    views_with(haystack, true)
}

/// [`views`], with the `+`-as-space view only when `spaces`: a search
/// whose patterns hold no space byte finds nothing there that the other
/// views do not show (a `+` read as a space can only complete a pattern
/// with a space), except across the NUL between two views, which is no
/// occurrence in the message.
pub fn views_with(haystack: &[u8], spaces: bool) -> Vec<Cow<'_, [u8]>> {
    let mut views: Vec<Cow<'_, [u8]>> = vec![Cow::Borrowed(haystack)];
    if !may_be_escaped(haystack) {
        return views;
    }
    for _ in 0..NESTED_ROUNDS {
        let last = views.last().expect("one view at least");
        match unescape_all(last) {
            Some(next) => views.push(Cow::Owned(next)),
            None => break,
        }
    }
    if let Some(qp) = quoted_printable(haystack) {
        views.push(Cow::Owned(qp));
    }
    let rounds = views.len();
    let total: usize = views.iter().map(|view| view.len() + 1).sum();
    if spaces && memchr::memchr(b'+', haystack).is_some() {
        // Each view with `+` read as a space, NUL after each.
        let mut spaced = Vec::with_capacity(total);
        for view in &views[..rounds] {
            let from = spaced.len();
            spaced.extend_from_slice(view);
            spaced.push(0);
            for at in memchr::memchr_iter(b'+', &view[..]) {
                spaced[from + at] = b' ';
            }
        }
        views.push(Cow::Owned(spaced));
    }
    if memchr::memchr2(b'\n', b'\r', haystack).is_some()
        || memchr::memmem::find(haystack, b"\\n").is_some()
    {
        // Each view without line breaks (raw, or escaped as `\n`, `\r`),
        // NUL after each.
        let mut joined = Vec::with_capacity(total);
        for view in &views[..rounds] {
            let mut at = 0;
            for stop in memchr::memchr3_iter(b'\r', b'\n', b'\\', &view[..]) {
                if stop < at {
                    continue;
                }
                joined.extend_from_slice(&view[at..stop]);
                at = match view[stop] {
                    b'\\' if matches!(view.get(stop + 1), Some(b'n' | b'r')) => stop + 2,
                    b'\\' => {
                        joined.push(b'\\');
                        stop + 1
                    }
                    _ => stop + 1,
                };
            }
            joined.extend_from_slice(&view[at..]);
            joined.push(0);
        }
        views.push(Cow::Owned(joined));
    }
    views
}

/// True when `bytes` holds anything a view would decode: an escape
/// (`%`, `\\`, `&`, `=`, `~`), a `+` or a line break. Most strings hold
/// none, and are searched as they stand.
pub(super) fn may_be_escaped(bytes: &[u8]) -> bool {
    memchr::memchr3(b'%', b'\\', b'&', bytes).is_some()
        || memchr::memchr(b'~', bytes).is_some()
        || memchr::memchr2(b'=', b'+', bytes).is_some()
        || memchr::memchr2(b'\n', b'\r', bytes).is_some()
}

/// True at an `=XX` escape of quoted-printable (upper-case hex).
fn qp_escape_at(bytes: &[u8], at: usize) -> bool {
    matches!(
        (bytes.get(at + 1), bytes.get(at + 2)),
        (Some(&hi), Some(&lo)) if hex_digit(hi).is_some()
            && hex_digit(lo).is_some()
            && (hi.is_ascii_uppercase() || hi.is_ascii_digit())
    )
}

/// Quoted-printable (`=3D`, soft line breaks `=\r\n`) decoded; `None`
/// when there is no `=XX` escape.
fn quoted_printable(bytes: &[u8]) -> Option<Vec<u8>> {
    if !memchr::memchr_iter(b'=', bytes).any(|at| qp_escape_at(bytes, at)) {
        return None;
    }
    decode_quoted_printable(bytes)
}

/// The decoding [`quoted_printable`] does once it has seen an `=XX`.
fn decode_quoted_printable(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut at, mut changed) = (0, false);
    while at < bytes.len() {
        if bytes[at] == b'=' {
            if let (Some(&hi), Some(&lo)) = (bytes.get(at + 1), bytes.get(at + 2))
                && let (Some(hi), Some(lo)) = (hex_digit(hi), hex_digit(lo))
                && (bytes[at + 1].is_ascii_uppercase() || bytes[at + 1].is_ascii_digit())
            {
                out.push(hi << 4 | lo);
                at += 3;
                changed = true;
                continue;
            }
            if bytes.get(at + 1) == Some(&b'\n') {
                at += 2;
                continue;
            }
            if bytes.get(at + 1..at + 3) == Some(b"\r\n") {
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    changed.then_some(out)
}

/// The decoded unit at `at`: the bytes it stands for and how many bytes of
/// the haystack it spans. Raw bytes stand for themselves.
fn unit_at(bytes: &[u8], at: usize) -> (Unit, usize) {
    let rest = &bytes[at..];
    match rest[0] {
        b'%' if rest.len() >= 3 => {
            if let (Some(hi), Some(lo)) = (hex_digit(rest[1]), hex_digit(rest[2])) {
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
                && let (Some(hi), Some(lo)) = (hex_digit(rest[2]), hex_digit(rest[3]))
            {
                return (Unit::one(hi << 4 | lo), 4);
            }
        }
        b'&' => {
            if let Some((ch, len)) = html_reference(rest) {
                return (Unit::char(ch), len);
            }
        }
        // A JSON Pointer's reference token: a member name in a report.
        b'~' if rest.len() >= 2 && matches!(rest[1], b'0' | b'1') => {
            return (Unit::one(if rest[1] == b'0' { b'~' } else { b'/' }), 2);
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

fn hex_digit(byte: u8) -> Option<u8> {
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
pub(super) fn escaped_matches(bytes: &[u8], needle: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    // A match starts with the needle's first byte (either case) or with an
    // escape: only those positions are tried, found by memchr, in order.
    let first = needle[0];
    let mut starts: Vec<usize> = memchr::memchr3_iter(b'%', b'\\', b'&', bytes)
        .chain(memchr::memchr2_iter(b'+', b'~', bytes))
        .chain(memchr::memchr2_iter(
            first.to_ascii_lowercase(),
            first.to_ascii_uppercase(),
            bytes,
        ))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut next = 0;
    for start in starts {
        if start < next {
            continue;
        }
        if let Some(end) = match_at(bytes, start, needle) {
            found.push(start..end);
            next = end;
        }
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
        // `needle` is lowercased: an echo may change the case of a token.
        let unit = unit.as_slice().to_ascii_lowercase();
        if !needle[matched..].starts_with(&unit) {
            return None;
        }
        matched += unit.len();
        at += len;
    }
    Some(at)
}

/// Every escape decoded once; `None` when there was none.
fn unescape_all(bytes: &[u8]) -> Option<Vec<u8>> {
    if memchr::memchr3(b'%', b'\\', b'&', bytes).is_none() && memchr::memchr(b'~', bytes).is_none()
    {
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

/// The searches above were once plain byte loops; these tests keep those
/// loops as the reference and check, on random input rich in escape
/// characters, that the memchr-driven versions give the same bytes.
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference_views(haystack: &[u8]) -> Vec<Vec<u8>> {
        let mut views: Vec<Vec<u8>> = vec![haystack.to_vec()];
        if !haystack
            .iter()
            .any(|b| matches!(b, b'%' | b'\\' | b'&' | b'=' | b'+' | b'~' | b'\n' | b'\r'))
        {
            return views;
        }
        for _ in 0..NESTED_ROUNDS {
            match unescape_all(views.last().expect("one")) {
                Some(next) => views.push(next),
                None => break,
            }
        }
        if let Some(qp) = reference_quoted_printable(haystack) {
            views.push(qp);
        }
        let rounds = views.len();
        if haystack.contains(&b'+') {
            let spaced = views[..rounds]
                .iter()
                .flat_map(|view| {
                    view.iter()
                        .map(|&b| if b == b'+' { b' ' } else { b })
                        .chain([0])
                })
                .collect();
            views.push(spaced);
        }
        if haystack.iter().any(|b| matches!(b, b'\n' | b'\r'))
            || memchr::memmem::find(haystack, b"\\n").is_some()
        {
            let joined = views[..rounds]
                .iter()
                .flat_map(|view| {
                    let mut out = Vec::new();
                    let mut at = 0;
                    while at < view.len() {
                        match view[at] {
                            b'\r' | b'\n' => at += 1,
                            b'\\' if matches!(view.get(at + 1), Some(b'n' | b'r')) => at += 2,
                            byte => {
                                out.push(byte);
                                at += 1;
                            }
                        }
                    }
                    out.push(0);
                    out
                })
                .collect();
            views.push(joined);
        }
        views
    }

    /// The decoding with no look for an `=XX` first: it tells by itself
    /// whether anything changed.
    fn reference_quoted_printable(bytes: &[u8]) -> Option<Vec<u8>> {
        decode_quoted_printable(bytes)
    }

    fn reference_escaped_matches(bytes: &[u8], needle: &[u8]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        let mut start = 0;
        while start < bytes.len() {
            let first = bytes[start];
            if (first.to_ascii_lowercase() == needle[0]
                || matches!(first, b'%' | b'\\' | b'&' | b'+' | b'~'))
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

    /// Bytes that escapes are made of, a few letters, NUL and non-ASCII.
    fn escape_rich() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"%"[..],
            b"\\",
            b"&",
            b"=",
            b"+",
            b"\n",
            b"\r",
            b"\\n",
            b"\\r",
            b"%2B",
            b"%2b",
            b"%5C",
            b"%25",
            b"=3D",
            b"=3d",
            b"=\r\n",
            b"=\n",
            b"\\u0041",
            b"\\u00e9",
            b"&#65;",
            b"&#x41;",
            b"&amp;",
            b"&lt;",
            b"~",
            b"~0",
            b"~1",
            b"/",
            b";",
            b"#",
            b"a",
            b"A",
            b"b",
            b"B",
            b"n",
            b"r",
            b"u",
            b"x",
            b"4",
            b"1",
            b"0",
            b"F",
            b"\0",
            "é".as_bytes(),
            b"\xff",
            b" ",
            b"sec",
            b"SEC",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn views_are_the_byte_loops_views(haystack in escape_rich()) {
            let views: Vec<Vec<u8>> = views(&haystack).into_iter().map(Cow::into_owned).collect();
            prop_assert_eq!(views, reference_views(&haystack));
        }

        #[test]
        fn escaped_matches_are_the_byte_loops_matches(
            haystack in escape_rich(),
            needle in prop::sample::select(vec!["sec", "a", "ab", "a+b", "a b", "\\", "%", "é", "\u{0}a", "&a", "a/b", "~a"]),
        ) {
            let needle = needle.as_bytes();
            prop_assert_eq!(
                escaped_matches(&haystack, needle),
                reference_escaped_matches(&haystack, needle)
            );
        }
    }
}
