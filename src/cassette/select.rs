//! Choosing a cassette per request with the `x-datovcr-cassette` header, so
//! one proxy or replay server can serve a whole test suite.

use std::path::{Path, PathBuf};

/// The request header that names a cassette. It is never forwarded.
pub const CASSETTE_HEADER: &str = "x-datovcr-cassette";

const MAX_NAME_LEN: usize = 128;

/// `dir/NAME.json` for a cassette name from the header. Names that could
/// leave `dir` (separators, `..`, absolute paths, hidden files) are refused
/// with a reason fit for a 400 answer.
pub fn cassette_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    let valid_chars = stem
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if stem.is_empty()
        || stem.len() > MAX_NAME_LEN
        || !valid_chars
        || stem.starts_with('.')
        || stem.contains("..")
    {
        return Err(format!(
            "{CASSETTE_HEADER}: `{}` is not a cassette name; use 1 to {MAX_NAME_LEN} letters, digits, `-`, `_` or `.` \
             (no path separators, no `..`, not starting with `.`)",
            shown_name(name)
        ));
    }
    Ok(dir.join(format!("{stem}.json")))
}

/// A name a request sent, as a message quotes it: with JSON's string
/// escapes for what cannot be shown. Messages are scrubbed of the request's
/// secrets after they are written, and the scrubber reads JSON escapes;
/// Rust's `escape_debug` spells a soft hyphen or a zero-width space
/// `\u{ad}`, which no search reads, so a name holding a credential of its
/// request reached the answer and the log in that spelling.
pub fn shown_name(name: &str) -> String {
    let quoted = serde_json::to_string(name).expect("a string always serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_folder() {
        let dir = Path::new("cassettes");
        assert_eq!(
            cassette_in(dir, "suite-1").unwrap(),
            dir.join("suite-1.json")
        );
        assert_eq!(
            cassette_in(dir, "suite.v2.json").unwrap(),
            dir.join("suite.v2.json")
        );
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            "/etc/passwd",
            "..",
            ".hidden",
            "a..b",
            "a b",
            "é",
        ] {
            assert!(cassette_in(dir, bad).is_err(), "{bad:?} accepted");
        }
    }

    /// A refused name is quoted so that the scrubber finds a credential in
    /// it: a character Rust's debug escape spells `\u{…}` (soft hyphen,
    /// zero-width space, C1 control, byte order mark, line separator) or
    /// one JSON escapes (tab, quote, backslash) inside the secret.
    #[test]
    fn a_refused_name_is_quoted_in_a_spelling_the_scrubber_reads() {
        for odd in [
            "\u{ad}", "\u{200b}", "\u{85}", "\u{feff}", "\u{2028}", "\t", "\"", "\\",
        ] {
            let secret = format!("abcdefg{odd}hijklmn/");
            let mut secrets = crate::redact::Secrets::default();
            secrets.add(secret.clone());
            let reason = cassette_in(Path::new("cassettes"), &secret).unwrap_err();
            let said = secrets.scrub(&reason);
            assert!(
                !said.contains("abcdefg") && !said.contains("hijklmn"),
                "{odd:?}: {said}"
            );
            assert!(said.contains("is not a cassette name"), "{said}");
        }
    }
}
