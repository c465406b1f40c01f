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
mod tests {
    use super::*;
    use crate::cassette::{Headers, Query};
    use proptest::prelude::*;
    use proptest::sample::select;

    /// A request owning what a [`RequestView`] borrows.
    #[derive(Debug, Clone)]
    struct Owned {
        method: String,
        path: String,
        query: Query,
        headers: Headers,
        body: Body,
    }

    impl Owned {
        fn view(&self) -> RequestView<'_> {
            RequestView {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    /// Small alphabets, so that equal and nearly equal parts are common.
    fn method() -> impl Strategy<Value = String> {
        select(vec!["GET", "get", "Get", "POST", "G\"ET", "GET\\"]).prop_map(String::from)
    }

    fn path() -> impl Strategy<Value = String> {
        select(vec![
            "/items",
            "/items/",
            "/items//",
            "/it%65ms",
            "/it%65ms/",
            "/%7Eme",
            "/~me",
            "/%7eme",
            "/a%2fb",
            "/a%2Fb",
            "/a/b",
            "/",
            "",
            "//",
            "/x%zz",
            "/x%",
            "/\"",
        ])
        .prop_map(String::from)
    }

    fn query() -> impl Strategy<Value = Query> {
        let name = select(vec!["a", "b", "a=b", "a&b", "", "\""]);
        let value = select(vec!["1", "2", "b=c", "", "\"", "\\"]);
        prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
            let raw = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            Query::parse(&raw)
        })
    }

    fn headers() -> impl Strategy<Value = Headers> {
        let value = select(vec!["a", "b", "a, b", " a ", "a,b", "", "\"\u{1}"]);
        let name = select(vec!["x-environment", "x-custom", "x-other"]);
        prop::collection::vec((name, value), 0..4)
            .prop_map(|pairs| pairs.into_iter().collect::<Headers>())
    }

    /// Numbers by value: each class holds spellings of one value.
    const NUMBERS: [&[&str]; 4] = [
        &["1", "1.0", "10e-1", "0.1E+1"],
        &["0", "-0", "0.0", "0e5"],
        &["1e400", "10e399", "0.1E401"],
        &["-2", "-2.00", "-20e-1"],
    ];

    /// JSON with `#N` where a number of class N goes, so one template
    /// rendered with two spellings gives two texts of one value.
    fn json_template() -> impl Strategy<Value = String> {
        let leaf = select(vec![
            "#0", "#1", "#2", "#3", "\"1\"", "\"a\"", "true", "null", "[]", "{}",
        ])
        .prop_map(String::from);
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((select(vec!["a", "b", "list"]), inner), 0..3).prop_map(
                    |members| {
                        let members: Vec<String> = members
                            .iter()
                            .map(|(name, value)| format!("\"{name}\":{value}"))
                            .collect();
                        format!("{{{}}}", members.join(","))
                    }
                ),
            ]
        })
    }

    fn render(template: &str, spellings: &[usize]) -> Body {
        let mut text = String::new();
        let mut choices = spellings.iter().cycle();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            match c {
                '#' => {
                    let class =
                        NUMBERS[chars.next().and_then(|d| d.to_digit(10)).unwrap() as usize];
                    text.push_str(class[choices.next().unwrap() % class.len()]);
                }
                c => text.push(c),
            }
        }
        Body::Json(serde_json::from_str(&text).unwrap())
    }

    /// A body, and for JSON the template it was rendered from.
    fn body() -> impl Strategy<Value = (Body, Option<String>)> {
        prop_oneof![
            Just((Body::Empty, None)),
            (json_template(), prop::collection::vec(0usize..4, 1..8))
                .prop_map(|(template, spellings)| (render(&template, &spellings), Some(template))),
            select(vec!["{\"a\":1}", "x", "\"q\\"])
                .prop_map(|text| (Body::Text(text.into()), None)),
            select(vec![vec![0xff, 0], vec![0xff]]).prop_map(|bytes| (Body::Binary(bytes), None)),
        ]
    }

    fn request() -> impl Strategy<Value = (Owned, Option<String>)> {
        (method(), path(), query(), headers(), body()).prop_map(
            |(method, path, query, headers, (body, template))| {
                let request = Owned {
                    method,
                    path,
                    query,
                    headers,
                    body,
                };
                (request, template)
            },
        )
    }

    /// `a` with each part replaced by `b`'s where `take` says so: pairs
    /// that differ in one or two parts, or in none. A part kept from `a` is
    /// spelled anew where it can be, per `spellings`: query pairs
    /// reordered, header field lines folded into one, JSON numbers spelled
    /// otherwise.
    fn mixed(
        (a, template): &(Owned, Option<String>),
        (b, _): &(Owned, Option<String>),
        take: [bool; 5],
        spellings: &[usize],
    ) -> Owned {
        let pick = |from_b: bool| if from_b { b } else { a };
        Owned {
            method: pick(take[0]).method.clone(),
            path: pick(take[1]).path.clone(),
            query: match take[2] {
                true => b.query.clone(),
                false => {
                    let mut pairs = a.query.pairs().to_vec();
                    let turn = spellings[0] % pairs.len().max(1);
                    pairs.rotate_left(turn);
                    let raw = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs)
                        .finish();
                    Query::parse(&raw)
                }
            },
            headers: match take[3] {
                true => b.headers.clone(),
                false if spellings[0] % 2 == 1 => a
                    .headers
                    .iter()
                    .map(|(name, _)| (name, a.headers.joined(name)))
                    .fold(Headers::new(), |mut headers, (name, value)| {
                        headers.append(name, value);
                        headers
                    }),
                false => a.headers.clone(),
            },
            body: match (take[4], template) {
                (false, Some(template)) => render(template, spellings),
                _ => pick(take[4]).body.clone(),
            },
        }
    }

    fn rules() -> impl Strategy<Value = MatchRules> {
        (
            any::<[bool; 4]>(),
            prop::sample::subsequence(vec!["x-environment", "x-custom"], 0..=2),
            prop::sample::subsequence(vec!["/a", "/list/0", "/b/a"], 0..=3),
        )
            .prop_map(|(parts, headers, pointers)| MatchRules {
                method: parts[0],
                path: parts[1],
                query: parts[2],
                body: parts[3],
                headers: headers.into_iter().map(String::from).collect(),
                ignore_body_pointers: pointers.into_iter().map(String::from).collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The explanation and the key agree: a miss (different keys) always
        /// names a difference, and a difference is only named where the
        /// keys differ.
        #[test]
        fn differences_are_empty_exactly_when_keys_are_equal(
            rules in rules(),
            a in request(),
            b in request(),
            take in any::<[bool; 5]>(),
            spellings in prop::collection::vec(0usize..4, 1..8),
        ) {
            let b = mixed(&a, &b, take, &spellings);
            let a = a.0;
            let equal = rules.key(&a.view()) == rules.key(&b.view());
            let found = differences(&rules, &a.view(), &b.view());
            prop_assert_eq!(found.is_empty(), equal, "{:?}\n{:?}\n{:?}", found, a, b);
            // And the other way round.
            prop_assert_eq!(differences(&rules, &b.view(), &a.view()).is_empty(), equal);
            // Nothing else is named: a part kept from `a`, however respelled,
            // never is.
            for difference in &found {
                let part = ["/method", "/path", "/query/", "/headers/", "/body"]
                    .iter()
                    .position(|prefix| difference.pointer.starts_with(prefix))
                    .unwrap();
                prop_assert!(take[part], "{:?} names a part kept from\n{:?}\n{:?}", difference, a, b);
            }
        }
    }
}
