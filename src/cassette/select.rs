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
            name.escape_debug()
        ));
    }
    Ok(dir.join(format!("{stem}.json")))
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
}
