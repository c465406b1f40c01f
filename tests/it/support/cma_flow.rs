//! The broad CMA flow's fixtures (`official_client_cma`): the secrets one
//! run plants, the cassette put back as it would read unscrubbed, and
//! `schema-check`'s reports read back.

use super::upstream::random_token;
use assert_cmd::Command as BinCommand;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The secrets of one run: the client's bearer, the webhook's secret custom
/// headers and basic password; the build trigger's token comes from the
/// fake ([`super::upstream::FakeDato::issued_tokens`]).
pub struct Secrets {
    pub bearer: String,
    /// (header name, its secret, the header's value): each header secret by
    /// another of the rules a header is read by, each with its own canary
    /// (a shared one would be scrubbed everywhere once one rule caught it).
    pub webhook_headers: Vec<(&'static str, String, String)>,
    pub webhook_password: String,
}

impl Secrets {
    pub fn new() -> Secrets {
        let canary = |what: &str| format!("canarycma{what}{}", random_token());
        let header = |name: &'static str, scheme: &str| {
            let secret = canary(&name.to_ascii_lowercase().replace('-', ""));
            (name, secret.clone(), format!("{scheme}{secret}"))
        };
        Secrets {
            bearer: canary("bearer"),
            webhook_headers: vec![
                // A credential header by name.
                header("Authorization", "Bearer "),
                // A name the name rule catches.
                header("X-Webhook-Secret", ""),
                // A word of a header name that marks credentials (`key`).
                header("X-Access-Key", ""),
                // A name that says nothing, a value spelled like a credential.
                header("X-Forward-To", "Token "),
            ],
            webhook_password: canary("pass"),
        }
    }

    pub fn header_map(&self) -> Value {
        self.webhook_headers
            .iter()
            .map(|(name, _, value)| (name.to_string(), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn env(&self, base_url: String) -> Vec<(&'static str, String)> {
        vec![
            ("DATOVCR_BASE_URL", base_url),
            ("DATOVCR_API_TOKEN", self.bearer.clone()),
            ("DATOVCR_WEBHOOK_HEADERS", self.header_map().to_string()),
            ("DATOVCR_WEBHOOK_PASSWORD", self.webhook_password.clone()),
        ]
    }

    /// Every secret the run sends (the trigger's token aside).
    pub fn sent(&self) -> Vec<String> {
        let mut sent = vec![self.bearer.clone(), self.webhook_password.clone()];
        sent.extend(
            self.webhook_headers
                .iter()
                .map(|(_, secret, _)| secret.clone()),
        );
        sent
    }
}

pub fn step_names(document: &Value) -> Vec<&str> {
    document["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .map(|step| step["step"].as_str().expect("a step name"))
        .collect()
}

pub fn step<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == name)
        .map(|step| &step["result"])
        .unwrap_or_else(|| panic!("no step {name:?} in {document:#}"))
}

/// `datovcr schema-check --format FORMAT <files>` in `dir`: exit code and stdout.
pub fn schema_check(dir: &Path, format: &str, files: &[&str]) -> (i32, String) {
    let output = BinCommand::cargo_bin("datovcr")
        .unwrap()
        .current_dir(dir)
        .args(["schema-check", "--format", format])
        .args(files)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The endpoint id of every interaction, as schema-check's JUnit report
/// names its test cases: `#N METHOD PATH (endpoint)`.
pub fn routed_endpoints(junit: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(junit).expect("schema-check writes XML");
    document
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .map(|case| {
            let name = case.attribute("name").expect("a test case name");
            name.rsplit_once(" (")
                .and_then(|(_, id)| id.strip_suffix(')'))
                .unwrap_or_else(|| panic!("not under contract: {name}"))
                .to_owned()
        })
        .collect()
}

/// The `job_result` payload of interaction `index` of a cassette document.
pub fn job_payload(cassette: &mut Value, index: usize) -> &mut Value {
    &mut cassette["interactions"][index]["response"]["body"]["json"]["data"]["attributes"]["payload"]
}

/// The errors of a schema-check JSON report: (interaction, pointer, message).
pub fn errors(report: &Value) -> Vec<(u64, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|finding| finding["severity"] == "error")
        .map(|finding| {
            (
                finding["interaction"]
                    .as_u64()
                    .expect("an interaction index"),
                finding["pointer"].as_str().unwrap_or_default().to_owned(),
                finding["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The cassette as it would read had datovcr not scrubbed it: every
/// placeholder put back to the secret that was there, by where it is. Fails
/// on a placeholder no secret of the flow explains (an over-eager redaction)
/// and returns how many were put back.
pub fn unscrubbed(value: &mut Value, key: &str, secrets: &Secrets, trigger_token: &str) -> usize {
    match value {
        Value::String(text) if text.contains("REDACTED") => {
            let header = secrets
                .webhook_headers
                .iter()
                .find(|(name, ..)| *name == key);
            let secret = match (key, header) {
                ("authorization", _) => secrets.bearer.clone(),
                (_, Some((_, _, value))) => value.clone(),
                ("http_basic_password", _) => secrets.webhook_password.clone(),
                ("webhook_token" | "webhook_url", _) => trigger_token.to_owned(),
                _ => panic!("{key}: {text:?} is redacted, but holds none of the flow's secrets"),
            };
            let restored = text
                .replace("%5BREDACTED%5D", &secret)
                .replace("[REDACTED]", &secret);
            *text = restored;
            1
        }
        Value::Object(map) => map
            .iter_mut()
            .map(|(name, child)| unscrubbed(child, name, secrets, trigger_token))
            .sum(),
        // Header values are arrays under the header's name.
        Value::Array(items) => items
            .iter_mut()
            .map(|item| unscrubbed(item, key, secrets, trigger_token))
            .sum(),
        _ => 0,
    }
}
