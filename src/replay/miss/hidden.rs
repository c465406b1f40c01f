//! What a miss report shows of a received value where the recorded
//! request holds a placeholder.
//!
//! A cassette recorded with `--redact-query`, `--redact-header` or
//! `--redact-pointer` (or by rules this replay does not share) holds
//! `[REDACTED]` where replay's own rules see nothing secret. A request
//! carrying the live value there misses, and its report quoted the value
//! beside the placeholder. The placeholder is the recording's evidence that
//! the place holds a secret: what the request has there is hidden, and
//! scrubbed wherever else the report would quote it (the caller adds it to
//! the request's secrets).

use crate::redact::places::percent_decode;
use crate::redact::{PLACEHOLDER, URL_PLACEHOLDER, is_placeholder};
use serde_json::Value;

/// `received` as a report may show it beside `recorded`: each part of it
/// that stands where `recorded` holds a placeholder replaced by that
/// placeholder, the part added to `found`. Parts of a string are told by
/// the text around the placeholders (`https://h/f?sig=%5BREDACTED%5D&v=1`
/// hides only the received `sig`); when the text around them differs too,
/// the whole received value is hidden.
pub(super) fn hide(recorded: &Value, received: Value, found: &mut Vec<String>) -> Value {
    if !holds_placeholder(recorded) {
        return received;
    }
    match (recorded, received) {
        (_, Value::Null) => Value::Null,
        (Value::String(pattern), Value::String(text)) => {
            Value::String(hide_in_text(pattern, &text, found))
        }
        (Value::Array(recorded), Value::Array(received)) if recorded.len() == received.len() => {
            Value::Array(
                recorded
                    .iter()
                    .zip(received)
                    .map(|(recorded, received)| hide(recorded, received, found))
                    .collect(),
            )
        }
        (Value::Object(recorded), Value::Object(received)) => Value::Object(
            received
                .into_iter()
                .map(|(name, value)| {
                    let shown = match recorded.get(&name) {
                        Some(recorded) => hide(recorded, value, found),
                        None => value,
                    };
                    (name, shown)
                })
                .collect(),
        ),
        (_, other) => {
            leaves(&other, found);
            Value::String(PLACEHOLDER.to_owned())
        }
    }
}

/// True when a string in `value` holds a placeholder.
fn holds_placeholder(value: &Value) -> bool {
    match value {
        Value::String(text) => !marks(text).is_empty(),
        Value::Array(items) => items.iter().any(holds_placeholder),
        Value::Object(members) => members.values().any(holds_placeholder),
        _ => false,
    }
}

/// Where the placeholders stand in `text`, in order.
fn marks(text: &str) -> Vec<std::ops::Range<usize>> {
    // ASCII lower-casing keeps every byte where it was.
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut at = 0;
    let spellings = [
        PLACEHOLDER.to_ascii_lowercase(),
        URL_PLACEHOLDER.to_ascii_lowercase(),
    ];
    loop {
        let next = spellings
            .iter()
            .filter_map(|mark| {
                lower[at..]
                    .find(mark.as_str())
                    .map(|i| (at + i, mark.len()))
            })
            .min();
        let Some((start, len)) = next else {
            return found;
        };
        found.push(start..start + len);
        at = start + len;
    }
}

/// [`hide`] for two strings.
fn hide_in_text(pattern: &str, text: &str, found: &mut Vec<String>) -> String {
    let marks = marks(pattern);
    let mut literals = Vec::with_capacity(marks.len() + 1);
    let mut at = 0;
    for mark in &marks {
        literals.push(&pattern[at..mark.start]);
        at = mark.end;
    }
    literals.push(&pattern[at..]);
    let whole = |found: &mut Vec<String>| {
        add(found, text);
        PLACEHOLDER.to_owned()
    };
    if !text.starts_with(literals[0]) {
        return whole(found);
    }
    let mut cursor = literals[0].len();
    let mut shown = literals[0].to_owned();
    for (index, mark) in marks.iter().enumerate() {
        let next = literals[index + 1];
        let end = if index + 1 == marks.len() {
            if !text.ends_with(next) || text.len() - next.len() < cursor {
                return whole(found);
            }
            text.len() - next.len()
        } else if next.is_empty() {
            // Two placeholders side by side: where one ends is unknown.
            return whole(found);
        } else {
            match text[cursor..].find(next) {
                Some(offset) => cursor + offset,
                None => return whole(found),
            }
        };
        let gap = &text[cursor..end];
        if gap.is_empty() || is_placeholder(gap) {
            shown.push_str(gap);
        } else {
            add(found, gap);
            shown.push_str(&pattern[mark.clone()]);
        }
        shown.push_str(next);
        cursor = end + next.len();
    }
    shown
}

/// A hidden value, and its percent-decoded spelling when that differs (a
/// query value, a URL parameter), as the report may quote either.
fn add(found: &mut Vec<String>, value: &str) {
    if is_placeholder(value) {
        return;
    }
    found.push(value.to_owned());
    let decoded = percent_decode(value);
    if decoded != value {
        found.push(decoded);
    }
}

/// Every string and number in `value`.
fn leaves(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => add(found, text),
        Value::Number(number) => found.push(number.to_string()),
        Value::Array(items) => items.iter().for_each(|item| leaves(item, found)),
        Value::Object(members) => members.values().for_each(|item| leaves(item, found)),
        Value::Bool(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hidden(recorded: Value, received: Value) -> (Value, Vec<String>) {
        let mut found = Vec::new();
        let shown = hide(&recorded, received, &mut found);
        (shown, found)
    }

    #[test]
    fn a_value_where_the_recording_holds_a_placeholder_is_hidden() {
        let cases = [
            // A whole value.
            (
                json!("[REDACTED]"),
                json!("live-1"),
                json!("[REDACTED]"),
                vec!["live-1"],
            ),
            // A credential parameter in a URL: only its value.
            (
                json!("https://h/f?sig=%5BREDACTED%5D&v=1"),
                json!("https://h/f?sig=a%2Fb&v=1"),
                json!("https://h/f?sig=%5BREDACTED%5D&v=1"),
                vec!["a%2Fb", "a/b"],
            ),
            // A scheme kept before the placeholder.
            (
                json!("Bearer [REDACTED]"),
                json!("Bearer live-3"),
                json!("Bearer [REDACTED]"),
                vec!["live-3"],
            ),
            // Two places in one path.
            (
                json!("/a/[REDACTED]/b/[REDACTED]"),
                json!("/a/live-4/b/live-5"),
                json!("/a/[REDACTED]/b/[REDACTED]"),
                vec!["live-4", "live-5"],
            ),
            // The text around the placeholder differs: all of it.
            (
                json!("/a/[REDACTED]"),
                json!("/z/live-6"),
                json!("[REDACTED]"),
                vec!["/z/live-6"],
            ),
            // Another type than the recorded string.
            (
                json!("[REDACTED]"),
                json!(12345678),
                json!("[REDACTED]"),
                vec!["12345678"],
            ),
            (
                json!({"pin": "[REDACTED]", "n": 1}),
                json!({"pin": ["live-7"], "n": 2}),
                json!({"pin": "[REDACTED]", "n": 2}),
                vec!["live-7"],
            ),
            // Lists of query values, element by element.
            (
                json!(["a", "[REDACTED]"]),
                json!(["a", "live-8"]),
                json!(["a", "[REDACTED]"]),
                vec!["live-8"],
            ),
            // Nothing recorded as a placeholder: shown as received.
            (json!("plain"), json!("other"), json!("other"), vec![]),
            // Nothing received there.
            (json!("[REDACTED]"), Value::Null, Value::Null, vec![]),
        ];
        for (recorded, received, shown, secrets) in cases {
            let (got, found) = hidden(recorded.clone(), received.clone());
            assert_eq!(got, shown, "{recorded} / {received}");
            assert_eq!(found, secrets, "{recorded} / {received}");
        }
    }

    /// Whatever the two texts, the shown one never holds what was hidden,
    /// and slicing never splits a character.
    #[test]
    fn odd_texts_never_panic_and_never_show_what_they_hide() {
        let patterns = [
            "[REDACTED]",
            "é[REDACTED]é",
            "[REDACTED][REDACTED]",
            "x%5bredacted%5dy",
            "ab[REDACTED]ba",
        ];
        let texts = ["", "é", "éé", "abba", "ab", "xéy", "abcba", "[REDACTED]"];
        for pattern in patterns {
            for text in texts {
                let (shown, found) = hidden(json!(pattern), json!(text));
                for secret in found.iter().filter(|s| !s.is_empty()) {
                    assert!(
                        !shown.as_str().unwrap().contains(secret.as_str())
                            || pattern.contains(secret.as_str()),
                        "{pattern} / {text}: {shown} shows {secret}"
                    );
                }
            }
        }
    }
}
