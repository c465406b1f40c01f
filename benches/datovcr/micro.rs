//! Micro-benchmarks of the per-exchange hot paths, on the create exchange
//! (the largest request and response of the mix): contract validation (the
//! goal), and, to explain the end-to-end rows, request parsing, the replay
//! match key, redaction and the journal line.

use crate::measure::Settings;
use crate::report::{Report, Row, median};
use crate::workload::{self, BEARER};
use datovcr::cassette::{Body, Interaction};
use datovcr::contract::{ContractSet, RequestParts, ResponseParts};
use datovcr::redact::Redactor;
use datovcr::replay::MatchRules;
use datovcr::replay::matching::RequestView;
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

/// The create exchange as the proxy holds it before redaction.
fn create_exchange() -> (Interaction, bytes::Bytes) {
    let (request, response) = workload::standard_mix().swap_remove(0);
    let mut interaction = workload::interaction(&request, &response);
    interaction
        .request
        .headers
        .set("authorization", vec![BEARER.to_owned()]);
    (interaction, request.body)
}

/// Median over repetitions of the mean time per call, in microseconds.
fn time_per_call(settings: &Settings, mut call: impl FnMut()) -> (f64, Vec<f64>) {
    for _ in 0..settings.micro_iterations / 10 {
        call();
    }
    let per_rep: Vec<f64> = (0..settings.reps)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..settings.micro_iterations {
                call();
            }
            started.elapsed().as_secs_f64() * 1e6 / settings.micro_iterations as f64
        })
        .collect();
    (median(&per_rep), per_rep)
}

fn micro_row(
    id: &'static str,
    what: &str,
    goal: (&'static str, Option<f64>),
    timing: (f64, Vec<f64>),
) -> Row {
    let (us, per_rep) = timing;
    Row {
        id: id.to_owned(),
        what: what.to_owned(),
        baseline: "-".into(),
        measured: format!("{us:.2} us"),
        figure: format!("{us:.2} us"),
        goal: goal.0,
        holds: goal.1.map(|max| us <= max),
        details: json!({"us_per_call": us, "per_repetition": per_rep}),
    }
}

pub fn rows(settings: &Settings, report: &mut Report) {
    let contract = ContractSet::embedded().expect("the contract compiles");
    let (exchange, raw_body) = create_exchange();
    let request = &exchange.request;
    let response = &exchange.response;

    let validate = time_per_call(settings, || {
        let endpoint = contract
            .route(&request.method, &request.path)
            .expect("create is under contract");
        let mut findings = contract.check_request(
            endpoint,
            RequestParts {
                method: &request.method,
                path: &request.path,
                query: &request.query,
                headers: &request.headers,
                body: &request.body,
            },
        );
        findings.extend(contract.check_response(
            endpoint,
            ResponseParts {
                status: response.status,
                headers: &response.headers,
                body: &response.body,
            },
        ));
        assert!(
            findings.is_empty(),
            "the create exchange is valid: {findings:?}"
        );
    });
    report.add(micro_row(
        "contract_validation_create",
        "contract validation per exchange (create req+resp)",
        ("<= 20 us", Some(20.0)),
        validate,
    ));

    // Routing: one request path per endpoint (its template with every
    // parameter filled in), looked up over all the templates in turn.
    let paths: Vec<(String, String)> = contract
        .endpoints()
        .iter()
        .map(|endpoint| {
            let path = endpoint
                .path
                .as_str()
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "4a9Xf0"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            (endpoint.method.clone(), path)
        })
        .collect();
    for (method, path) in &paths {
        assert!(
            contract.route(method, path).is_some(),
            "{method} {path} routes"
        );
    }
    let mut next = 0;
    let (per_call, per_rep) = time_per_call(settings, || {
        let (method, path) = &paths[next % paths.len()];
        next += 1;
        black_box(contract.route(black_box(method), black_box(path)));
    });
    report.add(micro_row(
        "route_over_all_templates",
        &format!(
            "route one request over all {} endpoint templates",
            paths.len()
        ),
        ("<= 1 us", Some(1.0)),
        (per_call, per_rep),
    ));

    let parse = time_per_call(settings, || {
        black_box(Body::from_bytes(
            black_box(&raw_body),
            Some("application/json"),
        ));
    });
    report.add(micro_row(
        "parse_create_body",
        "parse the create request body (info)",
        ("info", None),
        parse,
    ));

    let rules = MatchRules::default();
    let key = time_per_call(settings, || {
        black_box(rules.key(&RequestView {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
        }));
    });
    report.add(micro_row(
        "replay_match_key_create",
        "replay match key for create (info)",
        ("info", None),
        key,
    ));

    let redactor = Redactor::default();
    let redact = time_per_call(settings, || {
        let redacted = redactor.redact(exchange.clone());
        black_box(redacted.to_journal_line().expect("no leak"));
    });
    report.add(micro_row(
        "redact_and_serialize_create",
        "redact + journal line for create (info)",
        ("info", None),
        redact,
    ));
}
