//! Recorded JSON text to the compact bytes serde_json would write for it.
//!
//! A cassette holds JSON bodies pretty-printed by serde_json; replay serves
//! them compact (`serde_json::to_vec` of the parsed value). serde_json's
//! two writers differ only in the whitespace between tokens, so dropping
//! that whitespace gives the same bytes without building a `Value` (with
//! `preserve_order` and `arbitrary_precision`, most of the cost of loading
//! a cassette).
//!
//! That only holds for text serde_json could have written. Parsing and
//! writing again would change anything else, so for it [`compact_json`]
//! answers `None` and the caller takes the parsing path:
//! - an escape serde_json does not write (`\/`, `\u00e9`, surrogate
//!   pairs): a parsed string is written back with serde_json's own escapes;
//! - an exponent spelled `E` or without its sign: a parsed number is
//!   written with `e+` or `e-` (the rest of its spelling is kept);
//! - a key repeated in one object: a parsed object keeps the last value
//!   (in the first one's place);
//! - nesting deeper than [`MAX_DEPTH`], the cassette's limit for a `json`
//!   body: the parsing path refuses it with the reader's own message.

/// Deepest nesting handled here: the format's limit, so a body this
/// accepts is one every other reader accepts too.
const MAX_DEPTH: usize = super::MAX_JSON_DEPTH;

/// One open object or array.
struct Frame {
    object: bool,
    /// Where this object's keys start in the key stack.
    keys_from: usize,
}

/// Appends `text`, valid JSON, to `out` without whitespace between tokens;
/// `None` (with `out` in an unspecified state) when the result might differ
/// from serde_json's (see the module docs).
pub fn compact_json(text: &str, out: &mut Vec<u8>) -> Option<()> {
    let bytes = text.as_bytes();
    // Sized for typical API bodies, so they are allocated once, not grown.
    let mut frames: Vec<Frame> = Vec::with_capacity(16);
    // The keys of every open object, as byte ranges of `text` with quotes.
    let mut keys: Vec<(usize, usize)> = Vec::with_capacity(64);
    let mut expect_key = false;
    let mut copied = 0; // Bytes before this are in `out` or skipped.
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b' ' | b'\n' | b'\r' | b'\t' => {
                out.extend_from_slice(&bytes[copied..index]);
                index = whitespace_end(bytes, index);
                copied = index;
                continue;
            }
            b'"' => {
                let end = string_end(bytes, index + 1)?;
                if expect_key {
                    let key = &bytes[index..end];
                    let from = frames.last().map_or(0, |frame| frame.keys_from);
                    if keys[from..]
                        .iter()
                        .any(|&(start, stop)| &bytes[start..stop] == key)
                    {
                        return None;
                    }
                    keys.push((index, end));
                    expect_key = false;
                }
                index = end;
                continue;
            }
            open @ (b'{' | b'[') => {
                if frames.len() == MAX_DEPTH {
                    return None;
                }
                expect_key = open == b'{';
                frames.push(Frame {
                    object: expect_key,
                    keys_from: keys.len(),
                });
            }
            b'}' | b']' => {
                let frame = frames.pop()?;
                keys.truncate(frame.keys_from);
                expect_key = false;
            }
            b',' => expect_key = frames.last().is_some_and(|frame| frame.object),
            // Outside strings, `E` is only ever an exponent, and `e` is one
            // when a digit follows (in `true` and `false` none does).
            b'E' => return None,
            b'e' if bytes.get(index + 1).is_some_and(u8::is_ascii_digit) => return None,
            _ => {}
        }
        index += 1;
    }
    out.extend_from_slice(&bytes[copied..]);
    Some(())
}

/// The index of the first byte from `at` on that is not JSON whitespace.
pub(super) fn whitespace_end(bytes: &[u8], mut at: usize) -> usize {
    const SPACES: u64 = u64::from_le_bytes(*b"        ");
    loop {
        match bytes.get(at) {
            // Pretty-printed indentation: up to eight spaces at a time.
            Some(b' ') => match bytes.get(at..at + 8) {
                Some(word) => {
                    let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
                    // The first byte is a space: at least 8 zero bits.
                    let others = word ^ SPACES;
                    at += if others == 0 {
                        8
                    } else {
                        others.trailing_zeros() as usize / 8
                    };
                }
                None => at += 1,
            },
            Some(b'\n' | b'\r' | b'\t') => at += 1,
            _ => return at,
        }
    }
}

/// The index just past the closing quote of the string whose contents start
/// at `index`; `None` for an escape serde_json would not have written.
fn string_end(bytes: &[u8], mut index: usize) -> Option<usize> {
    loop {
        index += memchr::memchr2(b'"', b'\\', &bytes[index..])?;
        if bytes[index] == b'"' {
            return Some(index + 1);
        }
        match bytes.get(index + 1)? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => index += 2,
            b'u' if written_as_unicode_escape(bytes.get(index + 2..index + 6)?) => index += 6,
            _ => return None,
        }
    }
}

/// serde_json writes `\u00XX` (lowercase hex) for control characters that
/// have no short escape, and for nothing else.
fn written_as_unicode_escape(hex: &[u8]) -> bool {
    let [b'0', b'0', high @ (b'0' | b'1'), low] = *hex else {
        return false;
    };
    let low = match low {
        b'0'..=b'9' => low - b'0',
        b'a'..=b'f' => low - b'a' + 10,
        _ => return false,
    };
    let code = (high - b'0') << 4 | low;
    !matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What the parsing path serves for `text`.
    fn parsed(text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    fn compacted(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        compact_json(text, &mut out).map(|()| out)
    }

    #[test]
    fn pretty_text_compacts_to_what_serde_json_writes() {
        for text in [
            "{}",
            "[ ]",
            "null",
            "\"a b\"",
            "-0",
            " 1.10 ",
            "1e+400",
            "-2.5e-7",
            "[true, false, true]",
            "123456789012345678901234567890.5e-7",
            "{\n  \"a\" : [1, 2.5e+10, {\"b\": \"x\\\"y\\\\z\\n\\u001f\\u0000\"}],\n\t\"c\": {}\r\n}",
            "[[[[]]], [[], {}], \"é漢字🎉 \", true, false]",
            "{\"a\": {\"a\": {\"a\": 1}}, \"b\": [{\"a\": 1}, {\"a\": 2}]}",
        ] {
            assert_eq!(compacted(text), Some(parsed(text)), "{text}");
        }
    }

    #[test]
    fn text_serde_json_would_write_otherwise_is_left_to_the_parser() {
        for text in [
            "\"a\\/b\"",
            "\"\\u00e9\"",
            "\"\\u0041\"",
            "\"\\u000a\"",
            "\"\\u001F\"",
            "\"\\ud83c\\udf89\"",
            "1E+400",
            "1e400",
            "[2.5e7]",
            "{\"a\": 1, \"b\": 2, \"a\": 3}",
        ] {
            assert_eq!(compacted(text), None, "{text}");
            // The parsed form is spelled differently, which is why.
            assert_ne!(parsed(text), text.replace(' ', "").into_bytes(), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(compacted(&deep), Some(deep.clone().into_bytes()));
        let deeper = format!("[{deep}]");
        assert_eq!(compacted(&deeper), None);
    }

    #[test]
    fn whitespace_ends_at_the_first_other_byte() {
        for text in [
            "",
            "a",
            " ",
            "\n",
            "        ",
            "         x",
            " \t\r\n  \n            \"",
            "   \u{a0}",
        ] {
            for start in 0..=text.len() {
                let expected = text.as_bytes()[start..]
                    .iter()
                    .position(|byte| !matches!(byte, b' ' | b'\n' | b'\r' | b'\t'))
                    .map_or(text.len(), |offset| start + offset);
                assert_eq!(
                    whitespace_end(text.as_bytes(), start),
                    expected,
                    "{text:?} from {start}"
                );
            }
        }
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        let text = "{\"a\": {\"b\": 1, \"c\": 2}, \"b\": [{\"b\": 1}, {\"b\": 2}], \"c\": 3}";
        assert_eq!(compacted(text), Some(parsed(text)));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Big numbers, spelled as recorded (arbitrary_precision).
            "-?[1-9][0-9]{0,30}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?"
                .prop_map(|number| serde_json::from_str(&number).unwrap()),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\/ é🎉a-z]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-c\"\\\\\\x01é]{0,3}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn compacting_pretty_output_equals_writing_the_value(value in json_value()) {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(compacted(&pretty), Some(serde_json::to_vec(&value).unwrap()));
        }
    }
}
