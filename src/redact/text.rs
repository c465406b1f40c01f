//! Secrets in text that is not JSON: bodies labelled or shaped as
//! anything else, header values, and JSON that does not parse. Found by
//! the same name rule as JSON attributes, in the spellings free text uses.

use super::places::{percent_decode, url_secrets};
use super::rules::is_secret_name;
use super::{PLACEHOLDER, URL_PLACEHOLDER, is_placeholder};
use std::ops::Range;

/// Secrets in free text that is neither JSON nor a form: URLs with
/// credentials, and `name: value` / `name=value` / `"name": "value"` where
/// the name rule catches the name.
pub fn text_secrets(text: &str) -> Vec<(Range<usize>, String)> {
    let mut spans = multipart_secrets(text);
    spans.extend(url_secrets_in_text(text));
    spans.extend(named_secrets(text));
    spans.sort_by_key(|(range, _)| range.start);
    spans
}

/// The credentials of URLs quoted in free text (the shape rule alone):
/// each URL from its scheme's `://` back to the scheme's start, forward to
/// whitespace or a delimiter.
pub fn url_secrets_in_text(text: &str) -> Vec<(Range<usize>, String)> {
    let mut spans = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let sep = search + found;
        // Past the character before the scheme, which may be wider than
        // one byte (`éhttps://`).
        let start = text[..sep]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(at, c)| at + c.len_utf8());
        let end = text[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(text.len(), |at| sep + at);
        if let Some(found) = url_secrets(&text[start..end]) {
            spans.extend(
                found
                    .into_iter()
                    .map(|(range, value)| (range.start + start..range.end + start, value)),
            );
        }
        search = end.max(sep + 3);
    }
    spans
}

/// `name` [quote] ws (`:` | `=`) ws [quote] value, where the name rule
/// catches `name`.
fn named_secrets(text: &str) -> Vec<(Range<usize>, String)> {
    let mut spans = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if !is_word(bytes[at]) || (at > 0 && is_word(bytes[at - 1])) {
            at += 1;
            continue;
        }
        let name_end = at + bytes[at..].iter().take_while(|b| is_word(**b)).count();
        let name = &text[at..name_end];
        if !is_secret_name(name) {
            at = name_end;
            continue;
        }
        let mut cursor = name_end;
        cursor += bytes[cursor..]
            .iter()
            .take_while(|b| matches!(b, b'"' | b'\''))
            .count();
        cursor += bytes[cursor..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if cursor >= bytes.len() || !matches!(bytes[cursor], b':' | b'=') {
            at = name_end;
            continue;
        }
        cursor += 1;
        cursor += bytes[cursor..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let rest = &text[cursor..];
        if let Some(placeholder) = [PLACEHOLDER, URL_PLACEHOLDER]
            .into_iter()
            .find(|placeholder| rest.starts_with(placeholder))
        {
            at = cursor + placeholder.len();
            continue;
        }
        let (value_start, value_end) = match bytes.get(cursor) {
            Some(quote @ (b'"' | b'\'')) => {
                let start = cursor + 1;
                let end = quoted_end(bytes, start, *quote);
                (start, end)
            }
            _ => {
                let mut end = cursor
                    + bytes[cursor..]
                        .iter()
                        .take_while(|b| !is_value_end(**b))
                        .count();
                // `Authorization: Bearer abc`: a scheme and its credential.
                if bytes.get(end) == Some(&b' ')
                    && text[cursor..end].bytes().all(|b| b.is_ascii_alphabetic())
                {
                    let rest = end + 1;
                    end = rest
                        + bytes[rest..]
                            .iter()
                            .take_while(|b| !is_value_end(**b))
                            .count();
                }
                (cursor, end)
            }
        };
        let value = &text[value_start..value_end];
        if !value.is_empty() && !is_placeholder(value) {
            spans.push((value_start..value_end, percent_decode(value)));
        }
        at = value_end.max(name_end);
    }
    spans
}

/// The values of `multipart/form-data` parts whose name the name rule
/// catches (`Content-Disposition: form-data; name="password"`, a blank
/// line, the value up to the next boundary line).
fn multipart_secrets(text: &str) -> Vec<(Range<usize>, String)> {
    let mut spans = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("name=\"") {
        let name_start = search + found + "name=\"".len();
        let Some(name_len) = text[name_start..].find('"') else {
            break;
        };
        let name = &text[name_start..name_start + name_len];
        search = name_start + name_len;
        if !is_secret_name(name) {
            continue;
        }
        let Some(blank) = text[search..]
            .find("\r\n\r\n")
            .map(|at| at + 4)
            .or_else(|| text[search..].find("\n\n").map(|at| at + 2))
        else {
            break;
        };
        let value_start = search + blank;
        let value_end = text[value_start..]
            .find("\r\n--")
            .or_else(|| text[value_start..].find("\n--"))
            .map_or(text.len(), |at| value_start + at);
        let value = &text[value_start..value_end];
        if !value.is_empty() && !is_placeholder(value) {
            spans.push((value_start..value_end, value.to_owned()));
        }
        search = value_end;
    }
    spans
}

fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut at = start;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b if b == quote => return at,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_value_end(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || matches!(byte, b'&' | b';' | b',' | b'}' | b']' | b'<' | b'"' | b'\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields_are_named_values() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nme@x\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\np4ss word\r\n--b--\r\n";
        let values: Vec<String> = text_secrets(body).into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["p4ss word"]);
    }

    #[test]
    fn free_text_yields_named_values_and_url_credentials() {
        let text = "error: token: abc123 is bad; password=\"p@ss w\" and Authorization: Bearer xyz789 \
                    see https://maps.example/api?key=AIzaKey&x=1 {\"api_key\": \"k\\\"q\"}";
        let values: Vec<String> = text_secrets(text).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            ["abc123", "p@ss w", "Bearer xyz789", "AIzaKey", "k\\\"q"]
        );
    }
    /// A scheme right after a character of more than one byte: the URL is
    /// read from the scheme on, never from inside that character (slicing
    /// there panicked, and the panic message quoted the text, secrets and
    /// all, to the log).
    #[test]
    fn a_scheme_after_a_multibyte_character_is_read_from_the_scheme() {
        for (before, url, value) in [
            ("\u{e9}", "https://u1:pw1@h.example/x", "u1:pw1"),
            ("\u{20ac}", "ftp://u2@h.example", "u2"),
            ("\u{1f600}", "http://h.example/?key=k3", "k3"),
            ("x \u{130}", "otpauth://totp/a?secret=s4", "s4"),
            ("\u{e9}\u{e9}", "h+t-t.p://h/?sig=s5", "s5"),
        ] {
            let text = format!("{before}{url} tail");
            let found = text_secrets(&text);
            let values: Vec<&str> = found.iter().map(|(_, v)| v.as_str()).collect();
            assert!(values.contains(&value), "{text}: {values:?}");
            for (range, _) in &found {
                assert!(text.get(range.clone()).is_some(), "{text}: {range:?}");
            }
        }
    }

    /// The same through the redactor: a header value and a text body whose
    /// URL follows a non-ASCII character are recorded with their
    /// credentials replaced.
    #[test]
    fn a_url_after_a_multibyte_character_is_redacted_in_headers_and_text_bodies() {
        use crate::cassette::{Body, Interaction, RecordedRequest, RecordedResponse};
        let secret = "pw-9f2c61e0b7";
        let url = format!("\u{e9}https://me:{secret}@h.example/x");
        let interaction = Interaction {
            recorded_at: "2026-11-27T10:00:00Z".into(),
            request: RecordedRequest {
                method: "GET".into(),
                path: "/access_tokens".into(),
                query: Default::default(),
                headers: [("x-origin", url.as_str())].into_iter().collect(),
                body: Body::Empty,
            },
            response: RecordedResponse {
                status: 200,
                headers: Default::default(),
                body: Body::Text(format!("see {url}")),
            },
        };
        let line = crate::redact::Redactor::default()
            .redact(interaction)
            .to_journal_line()
            .expect("a journal line");
        let line = String::from_utf8(line).expect("UTF-8");
        assert!(!line.contains(secret), "{line}");
        assert!(line.contains("h.example"), "{line}");
    }
}
