//! Explaining a request that matched nothing: the nearest recorded
//! interaction and what differed, as JSON pointers into the request.
//!
//! Misses are rare and meant to be read, so this scans the candidate
//! interactions; hits never come here.

use super::library::{Library, LoadedCassette};
use super::matching::{MatchRules, RequestView};
use super::output::scrub_json;
use crate::cassette::Body;
use crate::contract::pointer_token;
use crate::redact::Secrets;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// At most this many differences are listed per miss.
const MAX_DIFFERENCES: usize = 20;
/// Values are cut to this many characters in explanations.
const MAX_VALUE_CHARS: usize = 120;

/// One way the request differs from a recorded one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// `/method`, `/path`, `/query/NAME`, `/headers/NAME` or `/body/POINTER`.
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
    let mut best: Option<(usize, Nearest)> = None;
    for &cassette_index in candidates {
        let cassette: &LoadedCassette = &library.cassettes[cassette_index];
        for (index, recorded) in cassette.requests.iter().enumerate() {
            let body = recorded.body();
            let recorded_view = RequestView {
                method: &recorded.method,
                path: &recorded.path,
                query: &recorded.query,
                headers: &recorded.headers,
                body: &body,
            };
            let differences =
                scrubbed_differences(&library.rules, &recorded_view, request, secrets);
            // Method and path weigh most: a request is "near" one for the same endpoint.
            let score = differences
                .iter()
                .map(|d| match d.pointer.as_str() {
                    "/method" => 1000,
                    "/path" => 100 + path_distance(&recorded.path, request.path),
                    _ => 1,
                })
                .sum::<usize>();
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
                    },
                ));
            }
        }
    }
    best.map(|(_, nearest)| nearest)
}

/// How far apart two paths are: differing segments, and more for a
/// different depth, so `/access_tokens/999` is nearer `/access_tokens/312`
/// than `/access_tokens`.
fn path_distance(a: &str, b: &str) -> usize {
    let a: Vec<&str> = a.trim_matches('/').split('/').collect();
    let b: Vec<&str> = b.trim_matches('/').split('/').collect();
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    differing * 10 + a.len().abs_diff(b.len()) * 30
}

/// What differs between a recorded request and a received one, limited to
/// the parts the rules match on.
pub fn differences(
    rules: &MatchRules,
    recorded: &RequestView<'_>,
    received: &RequestView<'_>,
) -> Vec<Difference> {
    scrubbed_differences(rules, recorded, received, &Secrets::default())
}

/// [`differences`], each value scrubbed of `secrets` before it is shortened.
fn scrubbed_differences(
    rules: &MatchRules,
    recorded: &RequestView<'_>,
    received: &RequestView<'_>,
    secrets: &Secrets,
) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut differ = |pointer: String, recorded: Value, received: Value| {
        if found.len() < MAX_DIFFERENCES {
            found.push(Difference {
                pointer,
                recorded: shorten(recorded, secrets),
                received: shorten(received, secrets),
            });
        }
    };
    if rules.method && !recorded.method.eq_ignore_ascii_case(received.method) {
        differ(
            "/method".into(),
            json!(recorded.method),
            json!(received.method),
        );
    }
    if rules.path && recorded.path.trim_end_matches('/') != received.path.trim_end_matches('/') {
        differ("/path".into(), json!(recorded.path), json!(received.path));
    }
    if rules.query {
        let recorded_query = recorded.query.to_json();
        let received_query = received.query.to_json();
        let names: BTreeSet<&String> = recorded_query
            .as_object()
            .into_iter()
            .chain(received_query.as_object())
            .flat_map(|object| object.keys())
            .collect();
        for name in names {
            let (a, b) = (&recorded_query[name], &received_query[name]);
            if a != b {
                differ(
                    format!("/query/{}", pointer_token(name)),
                    a.clone(),
                    b.clone(),
                );
            }
        }
    }
    for name in &rules.headers {
        let (a, b) = (recorded.headers.joined(name), received.headers.joined(name));
        if a.trim() != b.trim() {
            differ(format!("/headers/{name}"), optional(a), optional(b));
        }
    }
    if rules.body {
        match (recorded.body, received.body) {
            (Body::Json(a), Body::Json(b)) => {
                let (a, b) = (rules.without_ignored(a), rules.without_ignored(b));
                json_differences(&a, &b, &mut String::from("/body"), &mut differ);
            }
            (a, b) if a != b => differ("/body".into(), describe_body(a), describe_body(b)),
            _ => {}
        }
    }
    found
}

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
        (a, b) if a != b => differ(pointer.clone(), a.clone(), b.clone()),
        _ => {}
    }
}

fn optional(text: String) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    }
}

fn describe_body(body: &Body) -> Value {
    match body {
        Body::Empty => Value::Null,
        Body::Json(value) => value.clone(),
        Body::Text(text) => Value::String(text.clone()),
        Body::Binary(bytes) => Value::String(format!("<{} binary bytes>", bytes.len())),
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
    Value::String(format!(
        "{}…",
        text.chars().take(MAX_VALUE_CHARS).collect::<String>()
    ))
}
