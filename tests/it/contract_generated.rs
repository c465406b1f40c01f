//! The generated CMA contract (`schemas/cma/`, made by tools/contract-gen):
//! it is what the generator makes from the committed inputs, every schema
//! compiles as the contract compiles schemas, every endpoint of the client's
//! 5.8.1 list is there once, and the draft-04 pitfalls stay out.
//!
//! The drift tests need `node` (20+) on PATH and
//! `npm ci --prefix tools/contract-gen`; a missing one fails the test with
//! the fix, it never skips.

use crate::support::repo_path;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BASE: &str = "https://datovcr.invalid/schemas/cma/";
const RESOURCES: &str = "tools/contract-gen/inputs/cma-client-resources.5.8.1.json";
/// The generator takes about 5 s on an idle machine; the CPU is shared.
const GENERATOR_TIMEOUT: Duration = Duration::from_secs(180);

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| read_json(&repo_path("schemas/cma/manifest.json")))
}

fn endpoints() -> &'static [Value] {
    manifest()["endpoints"].as_array().expect("endpoints")
}

/// Every schema document of the contract (hand-written and generated), by file.
fn documents() -> &'static BTreeMap<PathBuf, Value> {
    static DOCUMENTS: OnceLock<BTreeMap<PathBuf, Value>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let mut documents = BTreeMap::new();
        for dir in ["schemas", "schemas/cma"] {
            for path in json_files(&repo_path(dir)) {
                if path.file_name().is_some_and(|name| name == "manifest.json") {
                    continue;
                }
                let json = read_json(&path);
                documents.insert(path, json);
            }
        }
        documents
    })
}

fn generated() -> impl Iterator<Item = (&'static PathBuf, &'static Value)> {
    documents().iter().filter(|(path, _)| {
        path.parent()
            .is_some_and(|dir| dir.ends_with("schemas/cma"))
    })
}

/// One registry holding every document under its `$id`, offline, as
/// `contract::schema_set` builds it.
fn registry() -> &'static Registry<'static> {
    static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Registry::new()
            .extend(documents().values().map(|doc| {
                let id = doc["$id"].as_str().expect("every schema has an $id");
                (id.to_owned(), doc.clone())
            }))
            .and_then(|builder| builder.prepare())
            .expect("the schemas form a consistent set")
    })
}

fn compile(uri: &str) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(registry())
        .offline()
        .build(&json!({ "$ref": uri }))
        .map_err(|err| err.to_string())
}

/// A manifest reference (`item.json#/$defs/Item`, `../no-query.json`) as
/// an absolute URI, resolved against the manifest like a `$ref`.
fn absolute(reference: &str) -> String {
    match reference.strip_prefix("../") {
        Some(hand_written) => format!("https://datovcr.invalid/schemas/{hand_written}"),
        None => format!("{BASE}{reference}"),
    }
}

/// Every schema reference of an endpoint entry, with where it sits.
fn references(endpoint: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let request = &endpoint["request"];
    for key in ["body", "query"] {
        if let Some(reference) = request[key].as_str() {
            out.push((format!("request.{key}"), reference.to_owned()));
        }
    }
    for (status, reference) in endpoint["responses"].as_object().unwrap() {
        if let Some(reference) = reference.as_str() {
            out.push((format!("responses.{status}"), reference.to_owned()));
        }
    }
    if let Some(reference) = endpoint["job"].as_str() {
        out.push(("job".into(), reference.to_owned()));
    }
    out
}

/// `fooBar` -> `foo_bar`, as the issue defines endpoint ids.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `(id, method, path)` of every endpoint in the client's resources.json,
/// computed here independently of the generator.
fn expected_endpoints() -> Vec<(String, String, String)> {
    let resources = read_json(&repo_path(RESOURCES));
    let mut out = Vec::new();
    for resource in resources.as_array().unwrap() {
        let namespace = resource["namespace"].as_str().unwrap();
        for endpoint in resource["endpoints"].as_array().unwrap() {
            let name = match endpoint["name"].as_str() {
                Some(name) => name.to_owned(),
                None => {
                    let raw = endpoint["rawName"].as_str().unwrap();
                    let rest = raw.strip_prefix("raw").unwrap();
                    rest[..1].to_ascii_lowercase() + &rest[1..]
                }
            };
            let path = endpoint["urlTemplate"].as_str().unwrap().replace("${", "{");
            out.push((
                format!("{}.{}", snake_case(namespace), snake_case(&name)),
                endpoint["method"].as_str().unwrap().to_ascii_uppercase(),
                path,
            ));
        }
    }
    out
}

/// `/items/{itemId}/publish` -> `/items/{}/publish`: what routing sees.
fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_endpoint_of_the_client_list_is_in_the_manifest_once() {
    let expected = expected_endpoints();
    assert_eq!(
        expected.len(),
        202,
        "the pinned 5.8.1 list has 202 endpoints"
    );
    let actual: Vec<(String, String, String)> = endpoints()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actual, expected,
        "ids, methods and paths, in the list's order"
    );

    let ids: HashSet<&str> = actual.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 202, "ids are unique");
    let routes: HashSet<(String, String)> = actual
        .iter()
        .map(|(_, method, path)| (method.clone(), route_shape(path)))
        .collect();
    assert_eq!(routes.len(), 202, "(method, template) pairs are unique");
    for (id, _, path) in &actual {
        let (namespace, name) = id.split_once('.').unwrap();
        for part in [namespace, name] {
            assert!(
                !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{id} is not snake_case.snake_case"
            );
        }
        assert!(path.starts_with('/') && !path.contains('$'), "{id}: {path}");
    }
    // Dashes as the API spells them, and its two underscore resources.
    for (id, path) in [
        ("item_types.list", "/item-types"),
        ("items.bulk_move_to_stage", "/items/bulk/move-to-stage"),
        (
            "webhook_calls.resend_webhook",
            "/webhook_calls/{webhookCallId}/resend_webhook",
        ),
        (
            "item_types.reorder_fields_and_fieldsets",
            "/item-types/{itemTypeId}/reorder-fields-and-fieldsets",
        ),
        (
            "editing_sessions.update",
            "/editing-sessions/{editingSessionId}",
        ),
    ] {
        assert!(
            actual.iter().any(|(i, _, p)| i == id && p == path),
            "{id} at {path}"
        );
    }
}

#[test]
fn the_access_token_endpoints_keep_their_ids() {
    let current = read_json(&repo_path("schemas/manifest.json"));
    let access_tokens: Vec<&Value> = current["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["id"].as_str().unwrap().starts_with("access_tokens."))
        .collect();
    assert_eq!(access_tokens.len(), 6);
    for old in access_tokens {
        let id = old["id"].as_str().unwrap();
        let new = endpoints()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} is missing from the generated manifest"));
        assert_eq!(new["method"], old["method"], "{id}");
        assert_eq!(
            route_shape(new["path"].as_str().unwrap()),
            route_shape(old["path"].as_str().unwrap()),
            "{id}"
        );
        assert_eq!(
            new["request"]["body"].is_null(),
            old["request"]["body"].is_null(),
            "{id}: body or no body"
        );
    }
}

#[test]
fn every_schema_reference_of_every_endpoint_compiles() {
    let started = Instant::now();
    let mut compiled = BTreeSet::new();
    for endpoint in endpoints() {
        let id = endpoint["id"].as_str().unwrap();
        for (place, reference) in references(endpoint) {
            let uri = absolute(&reference);
            if compiled.insert(uri.clone()) {
                compile(&uri).unwrap_or_else(|err| panic!("{id} {place} `{reference}`: {err}"));
            }
        }
    }
    for reference in manifest()["headers"].as_object().unwrap().values() {
        compile(&absolute(reference.as_str().unwrap())).unwrap();
    }
    assert!(compiled.len() > 300, "{} distinct schemas", compiled.len());
    eprintln!(
        "compiled {} endpoint schemas in {:?}",
        compiled.len(),
        started.elapsed()
    );
}

#[test]
fn every_generated_definition_is_valid_2020_12_and_compiles() {
    let mut definitions = 0;
    for (path, document) in generated() {
        jsonschema::meta::validate(document)
            .unwrap_or_else(|err| panic!("{}: not JSON Schema 2020-12: {err}", path.display()));
        assert_eq!(
            document["$schema"],
            "https://json-schema.org/draft/2020-12/schema",
            "{}",
            path.display()
        );
        let id = document["$id"].as_str().unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(id, format!("{BASE}{file}"), "$id names the file");
        for name in document["$defs"].as_object().unwrap().keys() {
            compile(&format!("{id}#/$defs/{name}"))
                .unwrap_or_else(|err| panic!("{file} {name}: {err}"));
            definitions += 1;
        }
    }
    assert!(definitions >= 500, "{definitions} definitions");
}

/// Keywords a generated schema may use: JSON Schema 2020-12 only. The
/// hyper-schema's `example`, `enumDescription`, `hideFromDocs`, `private`,
/// string `deprecated`, nested `$schema` and `id` must not get through.
const KEYWORDS: &[&str] = &[
    "$ref",
    "$comment",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "anyOf",
    "enum",
    "const",
    "description",
    "examples",
    "format",
    "default",
    "deprecated",
];

/// Calls `visit(pointer, schema)` for every subschema below `schema`.
fn walk(schema: &Value, pointer: &str, visit: &mut dyn FnMut(&str, &Value)) {
    let Some(object) = schema.as_object() else {
        return;
    };
    visit(pointer, schema);
    for (key, value) in object {
        match key.as_str() {
            "properties" | "patternProperties" => {
                for (name, sub) in value.as_object().unwrap() {
                    walk(sub, &format!("{pointer}/{key}/{name}"), visit);
                }
            }
            "anyOf" | "prefixItems" => {
                for (i, sub) in value.as_array().unwrap().iter().enumerate() {
                    walk(sub, &format!("{pointer}/{key}/{i}"), visit);
                }
            }
            "items" | "additionalProperties" => walk(value, &format!("{pointer}/{key}"), visit),
            _ => {}
        }
    }
}

fn every_generated_subschema(visit: &mut dyn FnMut(&str, &str, &Value)) {
    for (path, document) in generated() {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        for (name, schema) in document["$defs"].as_object().unwrap() {
            walk(schema, &format!("#/$defs/{name}"), &mut |pointer, sub| {
                visit(&file, pointer, sub)
            });
        }
    }
}

#[test]
fn generated_schemas_use_only_2020_12_keywords() {
    let mut problems = Vec::new();
    let mut nodes = 0;
    every_generated_subschema(&mut |file, pointer, schema| {
        nodes += 1;
        for key in schema.as_object().unwrap().keys() {
            if !KEYWORDS.contains(&key.as_str()) {
                problems.push(format!("{file}{pointer}: `{key}`"));
            }
        }
        if let Some(deprecated) = schema.get("deprecated")
            && !deprecated.is_boolean()
        {
            problems.push(format!("{file}{pointer}: deprecated {deprecated}"));
        }
    });
    assert!(nodes > 3000, "{nodes} subschemas");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn nullable_enums_list_null() {
    let mut nullable = 0;
    let mut problems = Vec::new();
    every_generated_subschema(&mut |file, pointer, schema| {
        let types = schema["type"].as_array();
        if let (Some(types), Some(values)) = (types, schema["enum"].as_array())
            && types.contains(&json!("null"))
        {
            nullable += 1;
            if !values.contains(&Value::Null) {
                problems.push(format!("{file}{pointer}"));
            }
        }
    });
    assert!(
        nullable > 0,
        "the contract has nullable enums (item meta status)"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn objects_stay_closed_and_record_attributes_stay_open() {
    let mut closed = 0;
    every_generated_subschema(&mut |_, _, schema| {
        if schema["additionalProperties"] == json!(false) {
            closed += 1;
        }
    });
    // The 2022 file closes 623 objects; 5.8.1 has more shapes, closed the same way.
    let hyper = std::fs::read_to_string(repo_path(
        "tools/contract-gen/inputs/site-api-hyperschema.js-datocms-client.3ea77f3.json",
    ))
    .unwrap();
    let closed_2022 = hyper.matches("\"additionalProperties\": false").count();
    assert_eq!(closed_2022, 623);
    assert!(closed > closed_2022, "{closed} closed objects");
    let item = read_json(&repo_path("schemas/cma/item.json"));
    let attributes = &item["$defs"]["ToItemAttributes"];
    assert_eq!(attributes["type"], "object");
    assert!(attributes.get("additionalProperties").is_none());
    assert_eq!(
        item["$defs"]["Item"]["properties"]["attributes"]["$ref"],
        "#/$defs/ToItemAttributes"
    );
    let records = compile(&format!("{BASE}item.json#/$defs/Item")).unwrap();
    let record = json!({
        "type": "item", "id": "A1", "attributes": { "title": "Hi", "body": { "en": [1, 2] } },
        "relationships": { "item_type": { "data": { "type": "item_type", "id": "T1" } } },
        "meta": {
            "created_at": "2020-04-17T16:34:31.981+01:00", "updated_at": "2020-04-17T16:34:31.981+01:00",
            "published_at": null, "first_published_at": null, "publication_scheduled_at": null,
            "unpublishing_scheduled_at": null, "status": "draft", "is_valid": true,
            "is_current_version_valid": null, "is_published_version_valid": null,
            "current_version": "8045084", "stage": null, "has_children": null
        }
    });
    let errors: Vec<String> = records
        .iter_errors(&record)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut extra = record.clone();
    extra["meta"]["surprise"] = json!(1);
    assert!(!records.is_valid(&extra), "meta is closed");
}

#[test]
fn every_example_validates_against_its_schema() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, document) in generated() {
        let id = document["$id"].as_str().unwrap().to_owned();
        for (name, schema) in document["$defs"].as_object().unwrap() {
            walk(schema, "", &mut |pointer, sub| {
                let Some(examples) = sub["examples"].as_array() else {
                    return;
                };
                let validator = compile(&format!("{id}#/$defs/{name}{pointer}"))
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                for example in examples {
                    checked += 1;
                    if !validator.is_valid(example) {
                        failures.push(format!("{name}{pointer}: {example}"));
                    }
                }
            });
        }
    }
    assert!(checked > 500, "{checked} examples");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn job_endpoints_answer_202_with_a_job_and_name_the_payload_schema() {
    let mut jobs = 0;
    let job = compile(&absolute("job.json#/$defs/Job")).unwrap();
    for endpoint in endpoints() {
        let id = endpoint["id"].as_str().unwrap();
        let statuses: Vec<u64> = endpoint["success_statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        let accepted = endpoint["responses"].get("202");
        assert_eq!(endpoint["job"].is_string(), accepted.is_some(), "{id}");
        assert_eq!(statuses.contains(&202), accepted.is_some(), "{id}");
        assert_eq!(
            endpoint["responses"]["4xx"], "../error-response.json",
            "{id}"
        );
        assert_eq!(
            endpoint["responses"]["5xx"], "../error-response.json",
            "{id}"
        );
        if let Some(accepted) = accepted {
            jobs += 1;
            let schema = compile(&absolute(accepted.as_str().unwrap())).unwrap();
            let body = json!({ "data": { "type": "job", "id": "f04bdddc6e390c4d8a2d11e2" } });
            assert!(schema.is_valid(&body), "{id}: 202 with a bare job");
            assert!(job.is_valid(&body["data"]));
        }
    }
    assert_eq!(jobs, 29, "29 endpoints of 5.8.1 have a job schema");
}

fn definition(file: &str, name: &str) -> Value {
    read_json(&repo_path(&format!("schemas/cma/{file}")))["$defs"][name].clone()
}

/// The 2022 file adds formats, integers, examples and deprecations to the
/// 5.8.1 shapes, and only where they agree; where they differ, 5.8.1 stands.
#[test]
fn hyper_schema_detail_is_added_only_where_the_sources_agree() {
    let meta = definition("item.json", "ItemMeta");
    assert_eq!(meta["properties"]["created_at"]["format"], "date-time");
    let page = &definition("item.json", "ItemInstancesHrefSchema")["properties"]["page"];
    assert_eq!(
        page["properties"]["limit"]["type"], "integer",
        "number in 5.8.1, integer in 2022"
    );
    let listed = definition("item.json", "ItemInstancesTargetSchema");
    assert_eq!(
        listed["properties"]["meta"]["properties"]["total_count"]["type"],
        "integer"
    );

    let appearance =
        &definition("item_type.json", "ItemTypeAttributes")["properties"]["collection_appeareance"];
    assert_eq!(
        appearance["deprecated"], true,
        "the 2022 message string became a boolean"
    );
    assert!(
        appearance["description"]
            .as_str()
            .unwrap()
            .contains("Deprecated: This field contains a typo")
    );

    let token = &definition("access_token.json", "AccessTokenAttributes")["properties"];
    assert_eq!(token["name"]["examples"], json!(["Read-only API token"]));
    // 2022 had no last_cma_access: the attribute is 5.8.1's, without 2022 detail.
    assert!(token["last_cma_access"].get("examples").is_none());
    assert_eq!(
        token["token"]["type"],
        json!(["null", "string"]),
        "5.8.1's nullable, not 2022's string"
    );

    // 2022's webhook `events` example has keys 5.8.1 closes out: not kept.
    let events = &definition("webhook.json", "WebhookAttributes")["properties"]["events"];
    assert!(events.get("examples").is_none(), "{events}");
    // 2022 says `nested` is a string, 5.8.1 a boolean: 5.8.1 stands.
    let query = definition("item.json", "ItemInstancesHrefSchema");
    assert_eq!(query["properties"]["nested"]["type"], "boolean");

    let comparison = read_json(&repo_path("tools/contract-gen/comparison.json"));
    assert_eq!(comparison["endpoints_5_8_1"], 202);
    assert_eq!(comparison["links_2022"], 156);
    assert_eq!(comparison["links_2022_private"], 13);
    assert_eq!(comparison["same_method_and_path"], 148);
    assert_eq!(comparison["moved"].as_array().unwrap().len(), 3);
    assert_eq!(
        comparison["missing_from_2022"].as_array().unwrap().len(),
        51
    );
    assert_eq!(comparison["only_in_2022"].as_array().unwrap().len(), 5);
    assert_eq!(
        comparison["shape_differences"]["counts"],
        json!({"added": 139, "removed": 14, "type": 7, "enum": 8})
    );
    let rejected = comparison["examples_2022"]["rejected"].as_array().unwrap();
    assert!(rejected.iter().any(|r| {
        r.as_str()
            .unwrap()
            .starts_with("WebhookAttributes/properties/events")
    }));
}

// --- Drift: the committed files are the generator's output -------------

fn generator_dir() -> PathBuf {
    repo_path("tools/contract-gen")
}

/// Runs `node tools/contract-gen/generate.mjs ARGS`, bounded in time.
fn run_generator(args: &[&str]) -> Output {
    let installed = generator_dir().join("node_modules/@datocms/cma-client/package.json");
    assert!(
        installed.exists(),
        "{} is missing: install the generator's pinned tools once with \
         `npm ci --prefix tools/contract-gen` (bash .ci/run does it)",
        installed.display()
    );
    let child = Command::new("node")
        .arg(generator_dir().join("generate.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start `node` (Node.js 20+ must be on PATH): {err}"));
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(GENERATOR_TIMEOUT) {
        Ok(output) => output.expect("collect the generator's output"),
        Err(_) => {
            let _ = crate::support::process::kill(pid, libc::SIGKILL);
            panic!("generate.mjs {args:?} did not finish within {GENERATOR_TIMEOUT:?}");
        }
    }
}

#[test]
fn committed_schemas_are_what_the_generator_makes_from_the_committed_inputs() {
    let output = run_generator(&["--check"]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("up to date (202 endpoints"), "{stdout}");
}

#[test]
fn the_drift_check_names_a_changed_and_a_stray_file() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("schemas/cma");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(root.path().join("tools/contract-gen")).unwrap();
    for path in json_files(&repo_path("schemas/cma")) {
        std::fs::copy(&path, out.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        repo_path("tools/contract-gen/comparison.json"),
        root.path().join("tools/contract-gen/comparison.json"),
    )
    .unwrap();
    // A hand edit: one attribute made optional.
    let edited = out.join("access_token.json");
    let text = std::fs::read_to_string(&edited).unwrap();
    let changed = text.replacen("\"last_cma_access\",\n", "", 1);
    assert_ne!(changed, text);
    std::fs::write(&edited, changed).unwrap();
    std::fs::write(out.join("hand-written.json"), "{}\n").unwrap();

    let output = run_generator(&["--check", "--root", root.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("differs: schemas/cma/access_token.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not generated (remove it): schemas/cma/hand-written.json"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("differs: schemas/cma/item.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("node tools/contract-gen/generate.mjs"),
        "{stderr}"
    );
}
