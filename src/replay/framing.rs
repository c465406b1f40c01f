//! How a recorded response is framed for the request it answers.
//!
//! A recorded `Content-Length` described the bytes the upstream sent then;
//! what replay sends can differ (redaction changes a body's length, a
//! content coding was removed), so it is never sent as recorded. Instead,
//! per RFC 9110 §6.4.1 and §8.6 and RFC 9112 §6.3:
//!
//! | answer | content | `content-length` |
//! |---|---|---|
//! | 1xx, 204 (and 2xx to CONNECT) | never | never |
//! | 205 | never (§15.3.6) | `0` |
//! | 304, or any answer to HEAD | never | the representation's, when known |
//! | any other | the recorded body | its length |
//!
//! The representation's length is the recorded body's when one was recorded
//! (what a GET would be sent), else the recorded `Content-Length` when it is
//! a valid one (§8.6: one number, or a list of the same number). hyper
//! writes the header as set for a HEAD answer; for a 304 it needs the
//! server's help (`server::Outgoing`), as it drops a length it cannot check
//! against an empty body. Informational statuses never get here: a recorded
//! final answer cannot be one, and the library refuses them at load.

use http::{Method, StatusCode};

/// What an answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// The recorded body; hyper writes its length.
    Body,
    /// No content, and the representation's length when one is known.
    Described,
    /// No content and no length.
    Nothing,
    /// No content; hyper writes `content-length: 0` (none to HEAD).
    Empty,
}

/// What the answer to a `method` request with `status` carries.
pub fn content(status: StatusCode, method: &Method) -> Content {
    match status.as_u16() {
        100..=199 | 204 => Content::Nothing,
        // §9.3.6: a 2xx to CONNECT starts a tunnel; no framing at all.
        200..=299 if method == Method::CONNECT => Content::Nothing,
        205 => Content::Empty,
        304 => Content::Described,
        _ if method == Method::HEAD => Content::Described,
        _ => Content::Body,
    }
}

/// The length of the representation a recorded answer describes: the
/// recorded body's, else the recorded `Content-Length` (its values, as
/// field lines) when it is valid.
pub fn representation_length<'v>(
    body: &[u8],
    recorded: impl IntoIterator<Item = &'v str>,
) -> Option<u64> {
    if !body.is_empty() {
        return Some(body.len() as u64);
    }
    valid_length(recorded)
}

/// A `Content-Length` as RFC 9110 §8.6 allows it: `1*DIGIT`, possibly
/// repeated as a list or over field lines, every value the same. Anything
/// else (nothing, a sign, a second number, an overflow) is no length.
pub fn valid_length<'v>(values: impl IntoIterator<Item = &'v str>) -> Option<u64> {
    let mut length = None;
    for item in values.into_iter().flat_map(|value| value.split(',')) {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let parsed: u64 = item.parse().ok()?;
        match length {
            Some(seen) if seen != parsed => return None,
            _ => length = Some(parsed),
        }
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_follows_status_then_method() {
        let status = |code| StatusCode::from_u16(code).unwrap();
        for (code, method, expected) in [
            (100, Method::GET, Content::Nothing),
            (103, Method::HEAD, Content::Nothing),
            (204, Method::GET, Content::Nothing),
            (204, Method::HEAD, Content::Nothing),
            (200, Method::CONNECT, Content::Nothing),
            (407, Method::CONNECT, Content::Body),
            (205, Method::POST, Content::Empty),
            (205, Method::HEAD, Content::Empty),
            (304, Method::GET, Content::Described),
            (304, Method::HEAD, Content::Described),
            (200, Method::HEAD, Content::Described),
            (404, Method::HEAD, Content::Described),
            (599, Method::HEAD, Content::Described),
            (200, Method::GET, Content::Body),
            (201, Method::POST, Content::Body),
            (500, Method::DELETE, Content::Body),
            (799, Method::GET, Content::Body),
        ] {
            assert_eq!(content(status(code), &method), expected, "{code} {method}");
        }
    }

    #[test]
    fn only_valid_lengths_are_lengths() {
        for (values, expected) in [
            (&["1234"][..], Some(1234)),
            (&["0"], Some(0)),
            (&["7, 7"], Some(7)),
            (&["7", "7"], Some(7)),
            (&[" 7 ,\t7 "], Some(7)),
            (&["007"], Some(7)),
            (&["18446744073709551615"], Some(u64::MAX)),
            (&[], None),
            (&[""], None),
            (&["7, 8"], None),
            (&["7", "8"], None),
            (&["7,"], None),
            (&["+7"], None),
            (&["-1"], None),
            (&["12abc"], None),
            (&["1 2"], None),
            (&["18446744073709551616"], None),
        ] {
            assert_eq!(valid_length(values.iter().copied()), expected, "{values:?}");
        }
        assert_eq!(representation_length(b"abc", ["9999"]), Some(3));
        assert_eq!(representation_length(b"", ["9999"]), Some(9999));
        assert_eq!(representation_length(b"", ["x"]), None);
    }
}
