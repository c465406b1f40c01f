//! Which names and shapes mark a value as a secret.
//!
//! Secrets are recognised three ways (see `docs/guarantees.md`):
//! - by **name**: a JSON attribute, header, query or form parameter whose
//!   name contains one of [`SECRET_NAME_PARTS`], when its value is a string;
//! - by **shape**: a credential-like query parameter inside a URL-valued
//!   string ([`is_secret_url_param`]), or the userinfo of such a URL;
//! - by **repeat**: a value already known as a secret, wherever it appears.
//!
//! Values DatoCMS documents as public are exempt from the name rule; each
//! exemption is listed in [`PUBLIC_ATTRIBUTES`] with the reason.

/// Parts of a name that mark its value as a secret (compared lowercased).
pub const SECRET_NAME_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "api-key",
    "apikey",
    "authorization",
    "session",
    "cookie",
    "credential",
    "private_key",
    "private-key",
];

/// The length of the shortest [`SECRET_NAME_PARTS`] entry (a test keeps it so).
const SHORTEST_SECRET_NAME_PART: usize = 5;

/// Header names whose every value is a credential, whatever the name rule says.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// `(resource type, attribute)` pairs that the name rule would catch but
/// DatoCMS documents as public identifiers.
///
/// `api_key` is the public identifier of a model (`item_type`), a field and
/// a workflow (`"blog_post"`): clients choose it when they create one, and
/// put a model's or a field's in paths and filters, so a placeholder there
/// would wreck the cassette. An `X-Api-Key` header is still a secret: this
/// list covers JSON:API attributes only. Each entry must name an attribute
/// the generated contract has (docs/contract.md, "Secret attributes").
pub const PUBLIC_ATTRIBUTES: &[(&str, &str)] = &[
    ("item_type", "api_key"),
    ("field", "api_key"),
    ("workflow", "api_key"),
];

/// Attribute names the name rule would catch that are never credentials,
/// whatever resource holds them: `next_token` is the audit log's pagination
/// cursor (`audit_log_query`), which a replayed client sends back verbatim.
pub const PUBLIC_NAMES: &[&str] = &["next_token"];

/// Resource types whose attributes the name rule does not read: a record's
/// (`item`) attributes are named by the project's own models (`session_title`,
/// `secret_ingredient`), so their names say nothing about credentials. The
/// shape and repeat rules still apply, and `--redact-pointer` reaches a
/// field that does hold one.
pub const PUBLIC_TYPES: &[&str] = &["item"];

/// Resource types whose `id` is itself a credential: the account API's
/// `session` resource carries the session's bearer as its id.
pub const SECRET_ID_TYPES: &[&str] = &["session"];

/// True if an object of this `type` has a secret `id` ([`SECRET_ID_TYPES`]).
pub fn type_has_secret_id(resource_type: &str) -> bool {
    SECRET_ID_TYPES
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(resource_type))
}

/// Query parameter names (or parts of them) that carry credentials inside
/// URL-valued strings: presigned storage URLs (`X-Amz-Signature`,
/// `X-Amz-Credential`, `X-Amz-Security-Token`), `otpauth://…?secret=`,
/// `?key=` API keys.
const URL_PARAM_PARTS: &[&str] = &[
    "signature",
    "credential",
    "secret",
    "token",
    "password",
    "verifier",
];
/// Whole words (split on `-`, `_`, `[`, `]`, `.`) that mark a URL parameter.
const URL_PARAM_WORDS: &[&str] = &["key", "sig", "auth", "apikey", "code"];

/// True when `name` contains a [`SECRET_NAME_PARTS`] entry, ignoring case.
/// Every JSON key and header name of every exchange is asked, so the parts
/// are searched in one pass, without lowercasing a copy.
pub fn is_secret_name(name: &str) -> bool {
    // Most JSON:API names (`id`, `type`, `data`, `meta`) are too short to
    // hold any part: answered without the automaton.
    if name.len() < SHORTEST_SECRET_NAME_PART {
        return false;
    }
    static PARTS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SECRET_NAME_PARTS)
            .expect("literal patterns always build")
    });
    PARTS.is_match(name)
}

/// Words of a header name (split on `-` and `_`) that mark it as a
/// credential besides the name rule: `X-Auth`, `X-Access-Key`,
/// `X-Signature`, `X-Amz-Security-Token`.
pub(super) const HEADER_WORDS: &[&str] = &["auth", "key", "signature", "sig", "pass", "jwt"];

/// Header name prefixes the name rule would catch that never carry a
/// credential: CORS response headers describe which credentials a browser
/// may send (`access-control-allow-credentials: true`), and hold none.
pub const PUBLIC_HEADER_PREFIXES: &[&str] = &["access-control-"];

/// True for a header whose values are credentials: the built-in list, and
/// every name the name rule catches (`x-api-key`, `x-session-id`,
/// `x-csrf-token` …) except [`PUBLIC_HEADER_PREFIXES`].
pub fn is_secret_header(name: &str) -> bool {
    // Asked for every header of every exchange: compared without case, in
    // place, rather than on a lowercased copy.
    let word = || {
        name.split(['-', '_'])
            .any(|part| HEADER_WORDS.iter().any(|w| w.eq_ignore_ascii_case(part)))
    };
    let public = || {
        PUBLIC_HEADER_PREFIXES.iter().any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
    };
    CREDENTIAL_HEADERS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(name))
        || ((is_secret_name(name) || word()) && !public())
}

/// True for a query parameter that carries a credential, in the request's
/// own query or inside a URL-valued string.
pub fn is_secret_url_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if is_secret_name(&lower) || URL_PARAM_PARTS.iter().any(|part| lower.contains(part)) {
        return true;
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| URL_PARAM_WORDS.contains(&word))
}

/// True when the attribute `name` of a resource typed `resource_type` is
/// public despite the name rule.
pub fn is_public_attribute(resource_type: Option<&str>, name: &str) -> bool {
    PUBLIC_NAMES.contains(&name)
        || resource_type.is_some_and(|kind| {
            PUBLIC_ATTRIBUTES
                .iter()
                .any(|(public_type, attribute)| *public_type == kind && *attribute == name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_rule_catches_credential_names_in_any_case() {
        for name in [
            "token",
            "readwrite_token",
            "google_maps_api_token",
            "webhook_token",
            "password",
            "client_secret",
            "X-Api-Key",
            "x-session-id",
            "Authorization",
            "totp_secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["name", "id", "type", "url", "role", "hint", "author"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn api_key_is_public_on_models_fields_and_workflows_only() {
        for kind in ["item_type", "field", "workflow"] {
            assert!(is_public_attribute(Some(kind), "api_key"), "{kind}");
        }
        assert!(!is_public_attribute(Some("plugin"), "api_key"));
        assert!(!is_public_attribute(Some("fieldset"), "api_key"));
        assert!(!is_public_attribute(None, "api_key"));
        assert!(!is_public_attribute(Some("item_type"), "token"));
        assert!(is_secret_header("X-Api-Key"));
    }

    #[test]
    fn cors_headers_are_public() {
        assert!(!is_secret_header("Access-Control-Allow-Credentials"));
        assert!(!is_secret_header("access-control-allow-headers"));
        assert!(is_secret_header("x-csrf-token"));
        for name in [
            "X-Auth",
            "X-Access-Key",
            "X-Signature",
            "x-echo-auth",
            "X-JWT",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in [
            "x-api-version",
            "x-environment",
            "keep-alive",
            "x-request-id",
        ] {
            assert!(!is_secret_header(name), "{name}");
        }
    }

    #[test]
    fn the_audit_log_cursor_is_public_everywhere() {
        assert!(is_public_attribute(Some("audit_log_query"), "next_token"));
        assert!(is_public_attribute(None, "next_token"));
        assert!(!is_public_attribute(None, "webhook_token"));
    }

    #[test]
    fn url_parameters_are_caught_by_credential_words() {
        for name in [
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "secret",
            "key",
            "api_key",
            "sig",
            "access_token",
        ] {
            assert!(is_secret_url_param(name), "{name}");
        }
        for name in [
            "X-Amz-Date",
            "X-Amz-Expires",
            "issuer",
            "page[limit]",
            "monkey",
        ] {
            assert!(!is_secret_url_param(name), "{name}");
        }
    }

    #[test]
    fn the_shortcut_length_is_the_shortest_part() {
        let shortest = SECRET_NAME_PARTS.iter().map(|part| part.len()).min();
        assert_eq!(shortest, Some(SHORTEST_SECRET_NAME_PART));
        assert!(is_secret_name("token") && is_secret_name("TOKEN"));
        assert!(!is_secret_name("toke") && !is_secret_name("type"));
    }
}
