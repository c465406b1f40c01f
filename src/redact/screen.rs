//! A quick test of whether the redaction could find anything in a JSON
//! body, made while the body is read, before any tree exists.
//!
//! Every secret [`super::places::json_places`] finds comes from one of two
//! places: a member whose name marks it (the name rule, a map of HTTP
//! headers, the `id` of a resource type whose ids are secrets), or a string
//! that is a URL with credentials in it or text holding one or a named value. The screen asks only those
//! questions and ignores what makes a named member public again (a
//! project's own field names, a JSON:API linkage), so it may send a clean
//! body down the slow path, never a body with secrets down the fast one.

use super::header_values::is_header_map;
use super::places::{string_text_secrets, url_secrets};
use super::rules::is_secret_name;
pub use super::rules::type_has_secret_id;

/// True if a member named `name` could hold a secret, or its value could.
pub fn name_may_mark_secret(name: &str) -> bool {
    is_secret_name(name) || is_header_map(name)
}

/// True if a string value could hold a secret wherever it stands.
pub fn text_may_hold_secret(text: &str) -> bool {
    url_secrets(text).is_some() || string_text_secrets(text, false).is_some()
}
