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
                let class = NUMBERS[chars.next().and_then(|d| d.to_digit(10)).unwrap() as usize];
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
        select(vec!["{\"a\":1}", "x", "\"q\\"]).prop_map(|text| (Body::Text(text.into()), None)),
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
