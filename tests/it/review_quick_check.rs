//! Review of `proxy --record none`'s quick contract check: the same exchange
//! sent through the proxy not recording (the quick check, the cassette form
//! built only when something is said) and through the proxy recording (the
//! full check over the cassette form), then the recorded cassette checked
//! again as `schema-check` checks it. Each break found is a test here.

use crate::support::client::send;
use crate::support::proxy::{api_headers, borrowed, client_for, start_proxy};
use crate::support::upstream::{FakeDato, FakeDatoOptions, ScriptedReply};
use datovcr::cassette::Cassette;
use datovcr::contract::ContractSet;
use datovcr::recorder::RecordMode;
use http::Method;
use std::sync::{Arc, Mutex};

/// One exchange: what the client sends and what the upstream answers.
struct Exchange {
    method: Method,
    path: &'static str,
    request_body: String,
    status: u16,
    response_body: String,
}

/// What a proxy said about an exchange: its status and violation header.
#[derive(Debug, PartialEq, Eq)]
struct Said {
    status: u16,
    violations: Option<String>,
}

/// Sends `exchange` through a proxy in `mode` in front of an upstream
/// scripted to answer it; returns what the client got, and the cassette
/// the proxy wrote, if any.
async fn through_proxy(exchange: &Exchange, mode: RecordMode) -> (Said, Option<Cassette>) {
    let reply = Arc::new(Mutex::new(ScriptedReply {
        status: exchange.status,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: exchange.response_body.clone().into_bytes(),
    }));
    let scripted = Arc::clone(&reply);
    let upstream = FakeDato::start(
        FakeDatoOptions::default()
            .plain_http()
            .respond_with(move |_| Some(scripted.lock().unwrap().clone())),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&upstream, dir.path(), |config| {
        config.record_mode = mode;
        config.quiet = true;
    })
    .await;
    let client = client_for(&upstream);
    let headers = api_headers("quick-check-bearer-4f1e", !exchange.request_body.is_empty());
    let (status, headers, _) = send(
        &client,
        exchange.method.clone(),
        &format!("{}{}", proxy.uri(), exchange.path),
        &borrowed(&headers),
        exchange.request_body.clone(),
    )
    .await;
    proxy.shutdown().await;
    upstream.shutdown().await;
    let cassette = dir.path().join("cassette.json");
    let cassette = cassette
        .exists()
        .then(|| Cassette::load(&cassette).expect("the recorded cassette loads"));
    let said = Said {
        status: status.as_u16(),
        violations: headers
            .get("x-datovcr-violations")
            .map(|value| value.to_str().unwrap().to_owned()),
    };
    (said, cassette)
}

/// The exchange through both proxies: the proxy not recording says what
/// the recording proxy says, which is a violation of `side` ("request
/// body", "response body" …), and `schema-check`'s check of the recorded
/// exchange finds one too. What differs, in words.
async fn both_say_it_violates(exchange: Exchange, side: &str) -> Result<(), String> {
    let (quick, none_written) = through_proxy(&exchange, RecordMode::None).await;
    let (full, recorded) = through_proxy(&exchange, RecordMode::All).await;
    assert!(none_written.is_none(), "--record none wrote a cassette");
    let label = format!(
        "{} {} {} -> {} {}",
        exchange.method,
        exchange.path,
        exchange.request_body,
        exchange.status,
        exchange.response_body
    );
    assert!(
        full.violations
            .as_deref()
            .is_some_and(|said| said.contains(side)),
        "the recording proxy found no {side} violation in {label}: {full:?}"
    );
    let recorded = recorded.expect("the recording proxy wrote a cassette");
    let contract = ContractSet::embedded().unwrap();
    let (_, findings) = contract
        .check_interaction(&recorded.interactions[0])
        .expect("under contract");
    assert!(
        findings.iter().any(|finding| finding.is_error()),
        "schema-check finds nothing in {label}"
    );
    if quick == full {
        Ok(())
    } else {
        Err(format!(
            "{label}\n  --record none: {quick:?}\n  recording:     {full:?}"
        ))
    }
}

/// Every difference `outcomes` hold, none expected.
fn assert_no_difference(outcomes: Vec<Result<(), String>>) {
    let differences: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
    assert!(
        differences.is_empty(),
        "{} exchange(s) told apart:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// A record create with its model, `attributes` standing as given.
fn item_create(attributes: &str) -> String {
    format!(
        r#"{{"data":{{"type":"item","attributes":{attributes},"relationships":{{"item_type":{{"data":{{"type":"item_type","id":"1869284"}}}}}}}}}}"#
    )
}

const ITEM_CREATED: &str = r#"{"data":{"type":"item","id":"112935570","attributes":{"title":"x"},"relationships":{"item_type":{"data":{"type":"item_type","id":"1869284"}},"creator":{"data":{"type":"account","id":"1"}}},"meta":{"created_at":"2022-03-01T10:00:00.000Z","updated_at":"2022-03-01T10:00:00.000Z","published_at":null,"publication_scheduled_at":null,"unpublishing_scheduled_at":null,"first_published_at":null,"is_valid":true,"is_current_version_valid":true,"is_published_version_valid":true,"status":"draft","current_version":"1","stage":null,"has_children":false}}}"#;

/// A 404 error envelope whose `details` stand as given.
fn not_found(details: &str) -> String {
    format!(
        r#"{{"data":[{{"id":"302048","type":"api_error","attributes":{{"code":"NOT_FOUND","details":{details}}}}}]}}"#
    )
}

/// serde_json (with `raw_value`) reads an object whose first member is
/// `$serde_json::private::RawValue` as the document that member's string
/// holds: `{"$serde_json::private::RawValue":"5"}` is `5`, and a string
/// that is no JSON makes the whole body text. The quick check's light tree
/// read it as an object with one member, so where the schema takes any
/// object (record attributes, error details) `--record none` said nothing
/// of a body the full check finds is no object, or is not JSON at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serde_json_raw_value_objects_are_left_to_the_full_check() {
    let raw = |inner: &str| {
        format!(
            r#"{{"$serde_json::private::RawValue":{}}}"#,
            serde_json::to_string(inner).unwrap()
        )
    };
    let too_deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    let mut outcomes = Vec::new();
    // In a request: the record's attributes, or one attribute inside them.
    for attributes in [
        raw("5"),
        raw("nope"),
        raw("[1,2]"),
        raw(&too_deep),
        format!(r#"{{"title":{}}}"#, raw("{\"a\":")),
        format!(r#"{{"title":"x","seo":{}}}"#, raw("")),
    ] {
        let outcome = both_say_it_violates(
            Exchange {
                method: Method::POST,
                path: "/items",
                request_body: item_create(&attributes),
                status: 201,
                response_body: ITEM_CREATED.to_owned(),
            },
            "request body",
        )
        .await;
        outcomes.push(outcome);
    }
    // In a response: an error envelope's details.
    for details in [raw("5"), raw("nope"), raw("\"text\""), raw(&too_deep)] {
        let outcome = both_say_it_violates(
            Exchange {
                method: Method::GET,
                path: "/access_tokens/312",
                request_body: String::new(),
                status: 404,
                response_body: not_found(&details),
            },
            "response body",
        )
        .await;
        outcomes.push(outcome);
    }
    assert_no_difference(outcomes);
}

/// An object of `width` members, `"m0":0,"m1":1,…`.
fn wide_object(width: usize) -> String {
    let members: Vec<String> = (0..width).map(|at| format!(r#""m{at}":{at}"#)).collect();
    format!("{{{}}}", members.join(","))
}

/// The light tree looked for a repeated member name by scanning the
/// members read so far, so an object of n members cost n²/2 comparisons:
/// 40,000 members (430 KB) took 2.6 s of CPU in a release build against
/// the full check's 17 ms, and a 10 MiB request (the default
/// `--max-request-body`) held a worker for many minutes. Where the schema
/// takes any object (record attributes, error details) such a body is
/// clean, so the quick check read it all. Each exchange here must be
/// answered within the client's 10 s, and a violation beside the wide
/// object is still told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_object_costs_the_quick_check_no_more_than_its_width() {
    let wide = wide_object(100_000);
    let created = || ITEM_CREATED.to_owned();
    let exchanges = [
        (item_create(&wide), 201, created(), None),
        (
            item_create(&wide).replacen(r#""type":"item""#, r#""type":"items""#, 1),
            201,
            created(),
            Some("1; request body /data/type [const]"),
        ),
        (String::new(), 404, not_found(&wide), None),
        (
            String::new(),
            404,
            not_found(&wide).replacen(r#""code":"NOT_FOUND","#, "", 1),
            Some("1; response body /data/0/attributes/code [required]"),
        ),
    ];
    for (request_body, status, response_body, violations) in exchanges {
        let get = request_body.is_empty();
        let exchange = Exchange {
            method: if get { Method::GET } else { Method::POST },
            path: if get { "/access_tokens/312" } else { "/items" },
            request_body,
            status,
            response_body,
        };
        let (said, _) = through_proxy(&exchange, RecordMode::None).await;
        assert_eq!(
            said,
            Said {
                status,
                violations: violations.map(str::to_owned),
            }
        );
    }
}
