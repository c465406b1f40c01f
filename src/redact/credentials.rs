//! Credential header values, parsed the way HTTP servers parse them.
//!
//! `Authorization` (RFC 9110 §11.4): `auth-scheme [ 1*SP ( token68 /
//! #auth-param ) ]`, where an auth-param value may be a quoted-string.
//! Servers are lenient, so this is too: any whitespace, a list of several
//! credentials, a quoted token68 (`Bearer "abc"`), a bare value without a
//! scheme. `Basic` credentials are base64-decoded to user and password.
//! Cookies (RFC 6265) are `name=value` pairs; every value is a secret.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// Every secret value in an `Authorization`-like header value: the whole
/// value, each credential, each auth-param value, and for `Basic` the
/// decoded `user:password`, the user and the password.
pub fn authorization_secrets(value: &str) -> Vec<String> {
    let mut secrets = vec![value.trim().to_owned()];
    for element in split_list(value) {
        let element = element.trim_matches(is_ows);
        if element.is_empty() {
            continue;
        }
        match element.split_once(is_ows) {
            // `name=value` with no scheme: an auth-param continuing the
            // previous credential's list.
            _ if is_auth_param(element) => {
                secrets.push(unquote(param_value(element)));
            }
            Some((scheme, rest)) => {
                let rest = rest.trim_matches(is_ows);
                if is_auth_param(rest) {
                    secrets.push(unquote(param_value(rest)));
                } else {
                    let credential = unquote(rest);
                    if scheme.eq_ignore_ascii_case("basic") {
                        secrets.extend(basic_secrets(&credential));
                    }
                    secrets.push(credential);
                }
                secrets.push(rest.to_owned());
            }
            // A bare value: a token sent without a scheme.
            None => secrets.push(unquote(element)),
        }
    }
    secrets.retain(|secret| !secret.is_empty());
    secrets
}

/// The values of a `Cookie` header (`a=1; b=2`), or of the first pair of a
/// `Set-Cookie` (its attributes, `Path=/` and the like, are not secrets).
pub fn cookie_secrets(value: &str, set_cookie: bool) -> Vec<String> {
    let mut secrets = vec![value.trim().to_owned()];
    let pairs: Vec<&str> = if set_cookie {
        value.split(';').take(1).collect()
    } else {
        value.split([';', ',']).collect()
    };
    for pair in pairs {
        match pair.split_once('=') {
            Some((_, cookie)) => secrets.push(unquote(cookie.trim())),
            None => secrets.push(pair.trim().to_owned()),
        }
    }
    secrets.retain(|secret| !secret.is_empty());
    secrets
}

/// Auth schemes whose presence marks any header value as a credential,
/// whatever the header's name (`X-Echo-Auth: Bearer …`).
const SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "negotiate",
    "aws4-hmac-sha256",
];

/// True for a value spelled like `Authorization`'s: a known auth scheme,
/// whitespace, then a credential; in a list (RFC 9110 §5.6.1), any of its
/// elements so spelled (`a, Bearer t`, the form a recipient may give two
/// field lines, §5.3).
pub fn looks_like_credential(value: &str) -> bool {
    if !value.contains(',') {
        return spelled_like_credential(value);
    }
    split_list(value).into_iter().any(spelled_like_credential)
}

fn spelled_like_credential(element: &str) -> bool {
    element
        .trim_matches(is_ows)
        .split_once(is_ows)
        .is_some_and(|(scheme, rest)| {
            SCHEMES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(scheme))
                && !rest.trim().is_empty()
        })
}

/// Auth schemes kept in front of `Authorization`'s and
/// `Proxy-Authorization`'s placeholder besides [`SCHEMES`]: the rest of
/// IANA's HTTP Authentication Scheme Registry (RFC 9110 §16.4), and schemes
/// in wide use outside it. Not markers: `Mutual` or `OAuth` in another
/// header's value says nothing.
const REGISTERED_SCHEMES: &[&str] = &[
    "concealed",
    "dpop",
    "gnap",
    "hoba",
    "mutual",
    "oauth",
    "privatetoken",
    "scram-sha-1",
    "scram-sha-256",
    "vapid",
    "hawk",
    "ntlm",
    "apikey",
];

/// True when `word`, the first of a value of credential header `name`,
/// is an auth scheme, public and kept: a known scheme ([`SCHEMES`], and
/// under `Authorization` and `Proxy-Authorization`, whose values are
/// `scheme credentials` (RFC 9110 §11.6.2), a registered one too). Any
/// other first word may be the secret itself (`X-Api-Key: sk_live_… extra`,
/// `Authorization: sk_live_… extra`): it is not kept.
pub fn keeps_scheme(name: &str, word: &str) -> bool {
    let known = |list: &[&str]| list.iter().any(|known| known.eq_ignore_ascii_case(word));
    !word.is_empty()
        && word.bytes().all(is_tchar)
        && (known(SCHEMES)
            || ((name.eq_ignore_ascii_case("authorization")
                || name.eq_ignore_ascii_case("proxy-authorization"))
                && known(REGISTERED_SCHEMES)))
}

/// The scheme a credential value of header `name` keeps, if any: its first
/// word when [`keeps_scheme`] says so and a credential follows.
fn kept_scheme<'v>(name: &str, value: &'v str) -> Option<&'v str> {
    match value.trim_matches(is_ows).split_once(is_ows) {
        Some((scheme, rest)) if !rest.trim().is_empty() && keeps_scheme(name, scheme) => {
            Some(scheme)
        }
        _ => None,
    }
}

/// The placeholder for a credential value of header `name`: `Scheme
/// [REDACTED]` when it starts with a scheme [`keeps_scheme`] keeps (so
/// `Bearer <non-empty>` still holds), else the bare placeholder.
pub fn header_placeholder(name: &str, value: &str, placeholder: &str) -> String {
    match kept_scheme(name, value) {
        Some(scheme) => format!("{scheme} {placeholder}"),
        None => placeholder.to_owned(),
    }
}

/// The first word of a credential value that [`header_placeholder`] does
/// not keep (`sk_live_…` of `sk_live_… extra`): a secret of its own, so
/// its other occurrences are scrubbed too. `None` for one-word values and
/// kept schemes.
pub fn dropped_first_word(name: &str, value: &str) -> Option<String> {
    if kept_scheme(name, value).is_some() {
        return None;
    }
    let (word, rest) = value.trim_matches(is_ows).split_once(is_ows)?;
    (!word.is_empty() && !rest.trim().is_empty()).then(|| word.to_owned())
}

/// True when `value` is a placeholder written by [`header_placeholder`]
/// for some header: the bare placeholder, or `token [REDACTED]`. Where the
/// header is known, [`is_header_value_placeholder`] is the stricter test.
pub fn is_header_placeholder(value: &str, placeholder: &str) -> bool {
    value == placeholder
        || placeholder_scheme(value, placeholder)
            .is_some_and(|scheme| !scheme.is_empty() && scheme.bytes().all(is_tchar))
}

/// The word before the placeholder of `word [REDACTED]`.
fn placeholder_scheme<'v>(value: &'v str, placeholder: &str) -> Option<&'v str> {
    value
        .split_once(' ')
        .and_then(|(scheme, rest)| (rest == placeholder).then_some(scheme))
}

/// True when `value` is what [`header_placeholder`] writes for header
/// `name`: `sk_live_… [REDACTED]` under `X-Api-Key` is not (its first word
/// would not have been kept), so it is read as a live credential.
pub fn is_header_value_placeholder(name: &str, value: &str, placeholder: &str) -> bool {
    value == placeholder
        || placeholder_scheme(value, placeholder).is_some_and(|scheme| keeps_scheme(name, scheme))
}

fn basic_secrets(credential: &str) -> Vec<String> {
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let decoded = [
        GeneralPurpose::new(&base64::alphabet::STANDARD, lenient),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient),
    ]
    .iter()
    .find_map(|engine| engine.decode(credential.trim()).ok())
    .or_else(|| general_purpose::STANDARD.decode(credential.trim()).ok());
    let Some(decoded) = decoded else {
        return Vec::new();
    };
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let mut secrets = Vec::new();
    if let Some((user, password)) = decoded.split_once(':') {
        secrets.push(user.to_owned());
        secrets.push(password.to_owned());
    }
    secrets.push(decoded);
    secrets
}

/// Splits a header list on commas outside quoted strings.
fn split_list(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, ch) in value.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&value[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
}

/// `name = value` (token, then `=`, then anything): an auth-param. A token68
/// may end in `=` padding, which is not followed by a value.
fn is_auth_param(text: &str) -> bool {
    match text.split_once('=') {
        Some((name, value)) => {
            let name = name.trim_matches(is_ows);
            !name.is_empty()
                && name.bytes().all(is_tchar)
                && !value.trim_start_matches('=').trim().is_empty()
                && !value.starts_with('=')
        }
        None => false,
    }
}

fn param_value(text: &str) -> &str {
    text.split_once('=')
        .map(|(_, value)| value.trim_matches(is_ows))
        .unwrap_or_default()
}

/// A quoted-string's content with its backslash escapes removed; other
/// text as it is.
fn unquote(text: &str) -> String {
    let text = text.trim_matches(is_ows);
    let Some(inner) = text
        .strip_prefix('"')
        .map(|rest| rest.strip_suffix('"').unwrap_or(rest))
    else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn is_ows(ch: char) -> bool {
    ch == ' ' || ch == '\t'
}

/// RFC 9110 `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn has(secrets: &[String], wanted: &str) -> bool {
        secrets.iter().any(|secret| secret == wanted)
    }

    #[test]
    fn bearer_in_every_spelling_yields_the_bare_token() {
        for value in [
            "Bearer abc123def456",
            "bearer   abc123def456",
            "Bearer\tabc123def456",
            "Bearer \"abc123def456\"",
            "  BEARER abc123def456  ",
            "abc123def456",
            "Bearer abc123def456, Basic Zm9vOmJhcg==",
        ] {
            let secrets = authorization_secrets(value);
            assert!(has(&secrets, "abc123def456"), "{value}: {secrets:?}");
        }
    }

    #[test]
    fn basic_is_decoded_to_user_and_password() {
        for encoded in [
            STANDARD.encode("someone:pa ss\"w0rd:with:colons"),
            STANDARD
                .encode("someone:pa ss\"w0rd:with:colons")
                .trim_end_matches('=')
                .to_owned(),
        ] {
            let secrets = authorization_secrets(&format!("Basic {encoded}"));
            assert!(has(&secrets, "someone"), "{secrets:?}");
            assert!(has(&secrets, "pa ss\"w0rd:with:colons"), "{secrets:?}");
            assert!(has(&secrets, &encoded), "{secrets:?}");
        }
    }

    #[test]
    fn auth_params_and_quoted_strings_are_unescaped() {
        let secrets = authorization_secrets(
            r#"Digest username="Mufasa", response="6629fae4\"9393a0", nonce=dcd98b7102dd"#,
        );
        for wanted in ["Mufasa", "6629fae4\"9393a0", "dcd98b7102dd"] {
            assert!(has(&secrets, wanted), "{wanted}: {secrets:?}");
        }
        let secrets = authorization_secrets("Token token=\"s3cr3t-value\", realm=x");
        assert!(has(&secrets, "s3cr3t-value"), "{secrets:?}");
    }

    #[test]
    fn cookies_yield_each_value_and_set_cookie_only_its_own() {
        let secrets = cookie_secrets("theme=dark; session=\"sess-value-1\", sid=two", false);
        assert!(has(&secrets, "sess-value-1") && has(&secrets, "two"));
        let secrets = cookie_secrets("sid=abc-123-def; Path=/; Domain=example.com", true);
        assert!(has(&secrets, "abc-123-def"));
        assert!(!has(&secrets, "example.com"));
    }

    #[test]
    fn a_scheme_marks_any_header_value_as_a_credential() {
        assert!(looks_like_credential("Bearer abc"));
        assert!(looks_like_credential("  basic Zm9v"));
        assert!(!looks_like_credential("Bearer"));
        assert!(!looks_like_credential("max-age=0, private"));
        // Any element of a list, not only the first.
        assert!(looks_like_credential("a-1, Bearer abc"));
        assert!(looks_like_credential("x,token abc, y"));
        assert!(!looks_like_credential("\"a, Bearer abc\""), "quoted");
        assert!(!looks_like_credential("Accept, Authorization"));
    }

    #[test]
    fn placeholders_keep_the_scheme() {
        assert_eq!(
            header_placeholder("authorization", "Bearer x", "[R]"),
            "Bearer [R]"
        );
        assert_eq!(
            header_placeholder("Authorization", "Basic Zm9v", "[R]"),
            "Basic [R]"
        );
        assert_eq!(
            header_placeholder("authorization", "rawtoken", "[R]"),
            "[R]"
        );
        assert_eq!(header_placeholder("authorization", "a=b c", "[R]"), "[R]");
        assert!(is_header_placeholder("Bearer [R]", "[R]"));
        assert!(!is_header_placeholder("Bearer [R] x", "[R]"));
    }
}
