//! Explaining a request that matched nothing: the nearest recorded
//! interaction and what differed, as JSON pointers into the request.
//!
//! What differs is found by comparing the two requests' [`MatchParts`],
//! the normal forms the lookup key is written from, so a miss always names
//! a difference and never one that matching ignores. Misses are rare and
//! meant to be read, so this scans the candidate interactions; hits never
//! come here.

use super::library::{Exhaustion, Library, LoadedCassette};
use super::matching::{BodyPart, MatchParts, MatchRules, RequestView, json_equal};
use super::output::scrub_json;
use crate::cassette::Body;
use crate::contract::pointer_token;
use crate::redact::Secrets;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

mod hidden;

/// At most this many differences are listed per miss.
const MAX_DIFFERENCES: usize = 20;
/// Values are cut to this many characters in explanations.
const MAX_VALUE_CHARS: usize = 120;

/// One way the request differs from a recorded one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// `/method`, `/path`, `/query/NAME`, `/headers/NAME` or `/body/POINTER`;
    /// `/sequence` for a request whose recorded responses were all served
    /// (`recorded`: how many, `received`: which arrival this was).
    pub pointer: String,
    pub recorded: Value,
    pub received: Value,
}

/// The nearest recorded interaction to a missed request.
#[derive(Debug, Clone, Serialize)]
pub struct Nearest {
    pub cassette: String,
    pub interaction: usize,
    pub method: String,
    pub path: String,
    pub differences: Vec<Difference>,
    /// What the request has where this interaction holds a placeholder
    /// ([`hidden`]): secrets by the recording's evidence, which everything
    /// said about the miss must be scrubbed of. Never shown.
    #[serde(skip)]
    pub hidden: Vec<String>,
}

/// The nearest interaction among `candidates` (cassette indexes). Every
/// value shown is scrubbed of `secrets` (the received request's) before it
/// is shortened, so a cut never leaves part of a secret behind.
pub fn nearest(
    library: &Library,
    candidates: &[usize],
    request: &RequestView<'_>,
    secrets: &Secrets,
) -> Option<Nearest> {
    let rules = &library.rules;
    let received = rules.parts(request);
    let mut best: Option<((bool, usize, usize), Nearest)> = None;
    for &cassette_index in candidates {
        let cassette: &LoadedCassette = &library.cassettes[cassette_index];
        for (index, recorded) in cassette.requests.iter().enumerate() {
            let body = recorded.body();
            let recorded_view = recorded.view(&body);
            let (differences, hidden) = scrubbed_differences(
                (&rules.parts(&recorded_view), &recorded_view),
                (&received, request),
                secrets,
            );
            // Ranked by method, then path similarity, then the rest: a
            // request is "near" one for the same endpoint.
            let differs = |pointer: &str| differences.iter().any(|d| d.pointer == pointer);
            let score = (
                differs("/method"),
                if differs("/path") {
                    path_distance(&recorded.path, request.path)
                } else {
                    0
                },
                differences.len(),
            );
            if best
                .as_ref()
                .is_none_or(|(best_score, _)| score < *best_score)
            {
                best = Some((
                    score,
                    Nearest {
                        cassette: cassette.path.display().to_string(),
                        interaction: index,
                        method: recorded.method.clone(),
                        path: recorded.path.clone(),
                        differences,
                        hidden,
                    },
                ));
            }
        }
    }
    best.map(|(_, nearest)| nearest)
}

/// A request whose recorded responses were all served (`--exhausted
/// fail`), explained by the last of them: `/sequence` says how many were
/// recorded (`recorded`) and which arrival this was (`received`).
pub fn exhausted(library: &Library, exhausted: &Exhaustion) -> Nearest {
    let (cassette_index, index) = exhausted.last;
    let cassette = &library.cassettes[cassette_index];
    let recorded = &cassette.requests[index];
    Nearest {
        cassette: cassette.path.display().to_string(),
        interaction: index,
        method: recorded.method.clone(),
        path: recorded.path.clone(),
        differences: vec![Difference {
            pointer: "/sequence".into(),
            recorded: json!(exhausted.recorded),
            received: json!(exhausted.arrival),
        }],
        hidden: Vec::new(),
    }
}

/// How far apart two paths are: an edit distance over their segments. A
/// segment added or dropped costs 2; one replaced by another costs 1 when
/// both are ids (`/access_tokens/999` is nearest `/access_tokens/312`),
/// else 3, more than adding one, so `/prefix/access_tokens` is nearest
/// `/access_tokens`, not `/access_tokens/400`.
fn path_distance(a: &str, b: &str) -> usize {
    const ADD_OR_DROP: usize = 2;
    let segments = |path: &str| -> Vec<String> {
        path.trim_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect()
    };
    let (a, b) = (segments(a), segments(b));
    let is_id = |segment: &str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            && segment.bytes().any(|byte| byte.is_ascii_digit())
    };
    // Wagner-Fischer, one row at a time.
    let mut row: Vec<usize> = (0..=b.len()).map(|j| j * ADD_OR_DROP).collect();
    for (i, x) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = (i + 1) * ADD_OR_DROP;
        for (j, y) in b.iter().enumerate() {
            let replace = match (x == y, is_id(x) && is_id(y)) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 3,
            };
            let best = (previous + replace)
                .min(row[j] + ADD_OR_DROP)
                .min(row[j + 1] + ADD_OR_DROP);
            previous = row[j + 1];
            row[j + 1] = best;
        }
    }
    row[b.len()]
}

/// The prefix to pass as `--path-prefix` when `recorded` is what is left
/// of `received` without one: `Some("/proxy-prefix")` for `/access_tokens`
/// and `/proxy-prefix/access_tokens`.
pub fn prefix_hint(recorded: &str, received: &str) -> Option<String> {
    let prefix = received.strip_suffix(recorded)?;
    let prefix = prefix.trim_end_matches('/');
    (prefix.starts_with('/') && prefix.len() > 1 && recorded.starts_with('/'))
        .then(|| prefix.to_owned())
}

/// What differs between a recorded request and a received one, limited to
/// the parts the rules match on, found by comparing their [`MatchParts`]:
/// empty exactly when the two have one lookup key.
pub fn differences(
    rules: &MatchRules,
    recorded: &RequestView<'_>,
    received: &RequestView<'_>,
) -> Vec<Difference> {
    scrubbed_differences(
        (&rules.parts(recorded), recorded),
        (&rules.parts(received), received),
        &Secrets::default(),
    )
    .0
}

/// [`differences`], each value scrubbed of `secrets` before it is
/// shortened, and what the received request has where the recorded one
/// holds a placeholder, which is hidden and scrubbed too ([`hidden`]). The
/// parts decide what differs; the views give the values as the requests
/// spelled them.
fn scrubbed_differences(
    (recorded, recorded_view): (&MatchParts<'_>, &RequestView<'_>),
    (received, received_view): (&MatchParts<'_>, &RequestView<'_>),
    secrets: &Secrets,
) -> (Vec<Difference>, Vec<String>) {
    let mut raw: Vec<(String, Value, Value)> = Vec::new();
    let mut hidden = Vec::new();
    let mut differ = |pointer: String, recorded: Value, received: Value| {
        // Past the listed ones too: a value hidden there may be quoted
        // elsewhere (the path).
        let received = hidden::hide(&recorded, received, &mut hidden);
        if raw.len() < MAX_DIFFERENCES {
            raw.push((pointer, recorded, received));
        }
    };
    if recorded.method != received.method {
        differ(
            "/method".into(),
            json!(recorded_view.method),
            json!(received_view.method),
        );
    }
    if recorded.path != received.path {
        differ(
            "/path".into(),
            json!(recorded_view.path),
            json!(received_view.path),
        );
    }
    if let (Some(a), Some(b)) = (&recorded.query, &received.query)
        && a != b
    {
        let (a_json, b_json) = (recorded_view.query.to_json(), received_view.query.to_json());
        let names: BTreeSet<&str> = a.iter().chain(b).map(|(name, _)| *name).collect();
        for name in names {
            if !values_of(a, name).eq(values_of(b, name)) {
                differ(
                    format!("/query/{}", pointer_token(name)),
                    a_json[name].clone(),
                    b_json[name].clone(),
                );
            }
        }
    }
    for ((name, a), (_, b)) in recorded.headers.iter().zip(&received.headers) {
        if a != b {
            differ(
                format!("/headers/{}", pointer_token(name)),
                optional(a),
                optional(b),
            );
        }
    }
    match (&recorded.body, &received.body) {
        (Some(BodyPart::Json(a)), Some(BodyPart::Json(b))) => {
            json_differences(a, b, &mut String::from("/body"), &mut differ);
        }
        (Some(a), Some(b)) if !a.same_as(b) => differ(
            "/body".into(),
            describe_body(recorded_view.body),
            describe_body(received_view.body),
        ),
        _ => {}
    }
    let more;
    let secrets = if hidden.is_empty() {
        secrets
    } else {
        let mut all = secrets.clone();
        hidden.iter().for_each(|value| all.add(value.clone()));
        more = all;
        &more
    };
    let found = raw
        .into_iter()
        .map(|(pointer, recorded, received)| Difference {
            pointer,
            recorded: shorten(recorded, secrets),
            received: shorten(received, secrets),
        })
        .collect();
    (found, hidden)
}

/// The values of `name` among sorted pairs, so in sorted order.
fn values_of<'p>(
    pairs: &'p [(&str, std::borrow::Cow<'p, str>)],
    name: &'p str,
) -> impl Iterator<Item = &'p str> {
    pairs
        .iter()
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value.as_ref())
}

/// Where two JSON values differ, as [`json_equal`] compares them: numbers
/// by value.
fn json_differences(
    recorded: &Value,
    received: &Value,
    pointer: &mut String,
    differ: &mut impl FnMut(String, Value, Value),
) {
    match (recorded, received) {
        (Value::Object(a), Value::Object(b)) => {
            let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for name in names {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&pointer_token(name));
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => json_differences(x, y, pointer, differ),
                    (x, y) => differ(
                        pointer.clone(),
                        x.cloned().unwrap_or(Value::Null),
                        y.cloned().unwrap_or(Value::Null),
                    ),
                }
                pointer.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&index.to_string());
                json_differences(x, y, pointer, differ);
                pointer.truncate(len);
            }
        }
        (a, b) if !json_equal(a, b) => differ(pointer.clone(), a.clone(), b.clone()),
        _ => {}
    }
}

fn optional(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// A whole body as the cassette writes it (`{"json": …}`, `{"text": …}`,
/// `{"base64": …}`, and `{}` for none), so two bodies that differ never
/// read the same: no body is not `null`, and bytes show as bytes.
fn describe_body(body: &Body) -> Value {
    use base64::Engine as _;
    match body {
        Body::Empty => json!({}),
        Body::Json(value) => json!({ "json": value }),
        Body::Text(text) => json!({ "text": text }),
        Body::Binary(bytes) => {
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}

fn shorten(mut value: Value, secrets: &Secrets) -> Value {
    scrub_json(secrets, &mut value);
    let text = match &value {
        Value::String(text) => text.clone(),
        Value::Null | Value::Bool(_) | Value::Number(_) => return value,
        other => other.to_string(),
    };
    if text.chars().count() <= MAX_VALUE_CHARS {
        return value;
    }
    // Two long values alike up to the cut must still read differently: the
    // length and a digest of the (scrubbed) whole say which is which.
    Value::String(format!(
        "{}… ({} chars, digest {:08x})",
        text.chars().take(MAX_VALUE_CHARS).collect::<String>(),
        text.chars().count(),
        fnv1a(text.as_bytes())
    ))
}

/// 32-bit FNV-1a: a short, stable tag for a shortened value, not a
/// security measure (the value was scrubbed of secrets first).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests;
