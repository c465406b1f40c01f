//! The official client's broad flow over the whole CMA
//! (tests/clients/node/cma-flow.mjs) against the real `datovcr` binary: a
//! model and two fields, records created, updated, published and paged
//! through, an environment fork polled to completion, a webhook with secret
//! custom headers, a build trigger. Recorded through `proxy` in front of
//! [`FakeDato`] with its CMA, replayed offline with byte-identical output;
//! the cassette passes `schema-check` with every exchange under contract,
//! the job results checked against the calls that started them, and no
//! secret anywhere datovcr wrote.
//!
//! Needs `node` (20+) on PATH and `npm ci --prefix tests/clients/node`; a
//! missing one fails the test with the fix, it never skips.

use crate::support::canary::LeakSearch;
use crate::support::cma_flow::{
    Secrets, errors, job_payload, routed_endpoints, schema_check, step, step_names, unscrubbed,
};
use crate::support::node;
use crate::support::process::ServerProcess;
use crate::support::repo_path;
use crate::support::upstream::{FakeDato, FakeDatoOptions, random_token};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// One run of the flow: about thirty loopback requests, and the client's
/// own waits while it polls jobs (1 s before each field's result, 1 s + 2 s
/// for the fork's).
const NODE_TIMEOUT: Duration = Duration::from_secs(90);
const CASSETTE: &str = "cassettes/cma-flow.json";
/// The model's api_key (the script's default `DATOVCR_FLOW_NAME`).
const MODEL_API_KEY: &str = "datovcr_flow";

/// The steps `cma-flow.mjs` prints, in order.
const FLOW_STEPS: [&str; 20] = [
    "create model",
    "create field title",
    "create field body",
    "find model",
    "create record 1",
    "create record 2",
    "create record 3",
    "create record 4",
    "create record 5",
    "update record 1",
    "publish record 1",
    "list records",
    "fork environment",
    "create webhook",
    "delete webhook",
    "list webhooks",
    "create build trigger",
    "trigger build",
    "list build triggers",
    "delete build trigger",
];

/// The exchanges of one run, in order, by endpoint id: the field creates'
/// and the fork are jobs (the fork's result is 404 once, then ready), the
/// records are listed two per page.
const FLOW_ENDPOINTS: [&str; 26] = [
    "item_types.create",
    "fields.create",
    "job_results.find",
    "fields.create",
    "job_results.find",
    "item_types.find",
    "items.create",
    "items.create",
    "items.create",
    "items.create",
    "items.create",
    "items.update",
    "items.publish",
    "items.list",
    "items.list",
    "items.list",
    "environments.fork",
    "job_results.find",
    "job_results.find",
    "webhooks.create",
    "webhooks.destroy",
    "webhooks.list",
    "build_triggers.create",
    "build_triggers.trigger",
    "build_triggers.list",
    "build_triggers.destroy",
];
/// Interactions holding job results: of the two field creates, then the fork's
/// (404 while it runs, then its result).
const FIELD_JOB_RESULTS: [usize; 2] = [2, 4];
const FORK_RUNNING: usize = 17;
const FORK_RESULT: usize = 18;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn terminate(server: ServerProcess, what: &str) -> String {
    let (status, stderr) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(
        status.success(),
        "{what} exited with {status}; stderr:\n{stderr}"
    );
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broad_cma_flow_records_through_the_proxy_and_replays_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let secrets = Secrets::new();
    let fake = FakeDato::start(
        FakeDatoOptions::default()
            .with_cma()
            .token_generator(|n| format!("canarycmatoken{n:04}x{}", random_token())),
    )
    .await;

    // Recording: node -> datovcr proxy -> FakeDato over TLS.
    let proxy = ServerProcess::start(
        work.path(),
        &args(&[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &fake.base_url(),
            "--ca-file",
            &fake.ca_file().display().to_string(),
            "--cassette",
            CASSETTE,
        ]),
        &work.path().join("proxy.stderr"),
    );
    let recording = node::run_async("cma-flow.mjs", secrets.env(proxy.url("")), NODE_TIMEOUT).await;
    let recorded = recording.document("recording through the proxy");
    let proxy_stderr = terminate(proxy, "the proxy").await;
    assert_eq!(step_names(&recorded), FLOW_STEPS, "{recorded:#}");
    assert_eq!(
        recorded["client_version"],
        node::pinned_version("@datocms/cma-client-node").as_str(),
        "node_modules holds another client version; run `npm ci --prefix tests/clients/node`"
    );
    // The client's endpoint code is the version the contract was generated from.
    let contract: Value =
        serde_json::from_slice(&std::fs::read(repo_path("schemas/cma/manifest.json")).unwrap())
            .unwrap();
    let contract_version = contract["sources"]["@datocms/cma-client"]
        .as_str()
        .expect("the manifest names the client it was generated from");
    assert_eq!(recorded["core_version"], contract_version, "{recorded:#}");
    assert_eq!(
        node::pinned_version("@datocms/cma-client"),
        contract_version
    );
    let calls = FLOW_ENDPOINTS.len();
    assert!(
        proxy_stderr.contains(&format!(
            "{calls} exchange(s), 0 contract violation(s), 0 error(s)"
        )),
        "{proxy_stderr}"
    );
    assert_eq!(
        proxy_stderr.matches(" violations=0 ").count(),
        calls,
        "{proxy_stderr}"
    );
    assert!(
        proxy_stderr.contains(&format!("wrote {CASSETTE}: {calls} interaction(s)")),
        "{proxy_stderr}"
    );

    // The fake saw the official client's own requests, unchanged: the
    // paged list's queries, the job polls, the webhook's secrets as sent.
    let model = step(&recorded, "create model")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = step(&recorded, "create record 1")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = step(&recorded, "create webhook")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trigger = step(&recorded, "create build trigger")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let received = fake.requests();
    let job = |index: usize| {
        received[index]
            .path()
            .trim_start_matches("/job-results/")
            .to_owned()
    };
    let page = |offset: usize| {
        format!(
            "/items?filter%5Btype%5D={MODEL_API_KEY}&page%5Blimit%5D=2&page%5Boffset%5D={offset}"
        )
    };
    let expected: Vec<(&str, String)> = vec![
        ("POST", "/item-types".into()),
        ("POST", format!("/item-types/{model}/fields")),
        ("GET", format!("/job-results/{}", job(2))),
        ("POST", format!("/item-types/{model}/fields")),
        ("GET", format!("/job-results/{}", job(4))),
        ("GET", format!("/item-types/{model}")),
        ("POST", "/items".into()),
        ("POST", "/items".into()),
        ("POST", "/items".into()),
        ("POST", "/items".into()),
        ("POST", "/items".into()),
        ("PUT", format!("/items/{record}")),
        ("PUT", format!("/items/{record}/publish")),
        ("GET", page(0)),
        ("GET", page(2)),
        ("GET", page(4)),
        ("POST", "/environments/main/fork".into()),
        ("GET", format!("/job-results/{}", job(FORK_RUNNING))),
        ("GET", format!("/job-results/{}", job(FORK_RUNNING))),
        ("POST", "/webhooks".into()),
        ("DELETE", format!("/webhooks/{webhook}")),
        ("GET", "/webhooks".into()),
        ("POST", "/build-triggers".into()),
        ("POST", format!("/build-triggers/{trigger}/trigger")),
        ("GET", "/build-triggers".into()),
        ("DELETE", format!("/build-triggers/{trigger}")),
    ];
    let seen: Vec<(&str, String)> = received
        .iter()
        .map(|r| (r.method.as_str(), r.path_and_query.clone()))
        .collect();
    assert_eq!(seen, expected);
    let jobs: BTreeSet<String> = [2, 4, FORK_RUNNING].into_iter().map(job).collect();
    assert_eq!(jobs.len(), 3, "each job has its own id: {jobs:?}");
    for request in &received {
        assert_eq!(request.bearer.as_deref(), Some(secrets.bearer.as_str()));
        assert_eq!(
            request.header("user-agent"),
            Some(format!("@datocms/cma-client v{contract_version}").as_str())
        );
    }
    let sent = received[19].json();
    let mut headers = secrets.header_map();
    headers["X-Source"] = json!("datovcr cma-flow");
    assert_eq!(sent["data"]["attributes"]["headers"], headers);
    assert_eq!(
        sent["data"]["attributes"]["http_basic_password"],
        secrets.webhook_password.as_str()
    );
    let listed = step(&recorded, "list records").as_array().unwrap();
    assert_eq!(listed.len(), 5, "three pages of two, two, one: {listed:#?}");
    assert_eq!(
        step(&recorded, "fork environment")["meta"]["forked_from"],
        "main"
    );
    let issued = fake.issued_tokens();
    assert_eq!(
        issued.len(),
        2,
        "the seed token and the build trigger's: {issued:?}"
    );
    let trigger_token = issued[1].clone();
    fake.shutdown().await;

    // Replaying, the upstream gone: the same bytes on stdout.
    let replay = ServerProcess::start(
        work.path(),
        &args(&[
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--strict",
            "--check",
            "--cassette",
            CASSETTE,
        ]),
        &work.path().join("replay.stderr"),
    );
    let replaying =
        node::run_async("cma-flow.mjs", secrets.env(replay.url("")), NODE_TIMEOUT).await;
    replaying.document("replaying the cassette");
    let replay_stderr = terminate(replay, "replay --strict --check").await;
    assert!(
        replay_stderr.contains(&format!("replay summary: {calls} served, 0 miss(es)")),
        "{replay_stderr}"
    );
    assert!(!replay_stderr.contains("violation:"), "{replay_stderr}");
    assert_eq!(
        replaying.stdout, recording.stdout,
        "replay must print, byte for byte, what the recording printed"
    );

    // schema-check: every exchange under contract, routed as expected, clean.
    let (code, report) = schema_check(work.path(), "json", &[CASSETTE]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["not_under_contract"], json!([]), "{report:#}");
    assert_eq!(report["summary"]["interactions"], calls);
    let (code, junit) = schema_check(work.path(), "junit", &[CASSETTE]);
    assert_eq!(code, 0, "{junit}");
    assert_eq!(routed_endpoints(&junit), FLOW_ENDPOINTS);
    let (code, human) = schema_check(work.path(), "human", &[CASSETTE]);
    assert_eq!(code, 0, "{human}");

    // The job results were checked against the calls that started them: with
    // the fork's and a field's results swapped, each fails its own call's
    // job schema, and a fork result with a wrongly typed attribute fails too.
    let mut cassette: Value =
        serde_json::from_slice(&std::fs::read(work.path().join(CASSETTE)).unwrap()).unwrap();
    let mut swapped = cassette.clone();
    let field_result = job_payload(&mut swapped, FIELD_JOB_RESULTS[0]).take();
    let fork_result = job_payload(&mut swapped, FORK_RESULT).take();
    *job_payload(&mut swapped, FIELD_JOB_RESULTS[0]) = fork_result;
    *job_payload(&mut swapped, FORK_RESULT) = field_result;
    let mut mistyped = cassette.clone();
    job_payload(&mut mistyped, FORK_RESULT)["data"]["meta"]["forked_from"] = json!(7);
    let broken = tempfile::tempdir().unwrap();
    for (name, document) in [("swapped.json", &swapped), ("mistyped.json", &mistyped)] {
        std::fs::write(broken.path().join(name), document.to_string()).unwrap();
    }
    let (code, report) = schema_check(broken.path(), "json", &["swapped.json"]);
    assert_eq!(code, 1, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let field_job = job(FIELD_JOB_RESULTS[0]);
    let fork_job = job(FORK_RUNNING);
    assert_eq!(
        errors(&report),
        [
            (
                FIELD_JOB_RESULTS[0] as u64,
                "/data/attributes/payload/data/type".to_owned(),
                format!(
                    "\"field\" was expected (the result of job {field_job}, which fields.create started)"
                )
            ),
            (
                FORK_RESULT as u64,
                "/data/attributes/payload/data/type".to_owned(),
                format!(
                    "\"environment\" was expected (the result of job {fork_job}, which environments.fork started)"
                )
            ),
        ]
    );
    let (code, report) = schema_check(broken.path(), "json", &["mistyped.json"]);
    assert_eq!(code, 1, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let found = errors(&report);
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (
            FORK_RESULT as u64,
            "/data/attributes/payload/data/meta/forked_from"
        )
    );
    assert!(
        found[0].2.ends_with("which environments.fork started)"),
        "{found:?}"
    );

    // No secret anywhere datovcr or the script wrote, in any encoding.
    let mut canaries = secrets.sent();
    canaries.extend(issued);
    let mut search = LeakSearch::new(canaries.clone());
    search.add_dir(work.path());
    for (label, run) in [("recording", &recording), ("replaying", &replaying)] {
        search.add_text(&format!("node stdout, {label}"), run.stdout.as_bytes());
        search.add_text(&format!("node stderr, {label}"), run.stderr.as_bytes());
    }
    search.add_text("schema-check junit", junit.as_bytes());
    search.add_text("schema-check human", human.as_bytes());
    search.assert_no_leaks("the broad CMA flow");

    // The control: the same search over the cassette with its placeholders
    // put back finds every secret, so had datovcr not scrubbed them, the
    // search above would have failed.
    let placeholders = cassette.to_string().matches("REDACTED").count();
    let restored = unscrubbed(&mut cassette, "", &secrets, &trigger_token);
    assert_eq!(
        restored, placeholders,
        "every placeholder is one secret put back"
    );
    let mut control = LeakSearch::new(canaries);
    control.add_text("the cassette, unscrubbed", cassette.to_string().as_bytes());
    let found: BTreeSet<String> = control
        .leaks()
        .into_iter()
        .map(|leak| leak.canary)
        .collect();
    let mut expected: BTreeSet<String> = secrets.sent().into_iter().collect();
    expected.insert(trigger_token);
    assert_eq!(found, expected);

    // schema-check agrees: in the unscrubbed cassette it reports each of the
    // webhook's secret headers, sent and echoed, without quoting one.
    std::fs::write(broken.path().join("unscrubbed.json"), cassette.to_string()).unwrap();
    let (code, report) = schema_check(broken.path(), "json", &["unscrubbed.json"]);
    assert_eq!(code, 1, "{report}");
    let mut quoted = LeakSearch::new(expected);
    quoted.add_text(
        "schema-check's report on the unscrubbed cassette",
        report.as_bytes(),
    );
    quoted.assert_no_leaks("schema-check quoting a secret");
    let report: Value = serde_json::from_str(&report).unwrap();
    let leaks: BTreeSet<(u64, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["category"] == "leaked_secret")
        .map(|finding| {
            (
                finding["interaction"].as_u64().unwrap(),
                finding["side"].as_str().unwrap().to_owned(),
                finding["pointer"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (name, ..) in &secrets.webhook_headers {
        let pointer = format!("/data/attributes/headers/{name}");
        for (interaction, side) in [(19, "request"), (19, "response"), (20, "response")] {
            assert!(
                leaks.contains(&(interaction, side.to_owned(), pointer.clone())),
                "no leak reported at #{interaction} {side} {pointer}: {leaks:#?}"
            );
        }
    }
    assert!(
        !leaks
            .iter()
            .any(|(_, _, pointer)| pointer.ends_with("X-Source")),
        "{leaks:#?}"
    );
}
