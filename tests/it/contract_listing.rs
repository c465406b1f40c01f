//! What the contract lists: `schema-check --list-endpoints`, and the
//! secret attributes docs/contract.md names, kept in step with the schemas
//! and the redaction.

use crate::contract_cma::contract;
use crate::support::*;
use datovcr::cassette::Body;
use serde_json::{Value, json};

fn list_endpoints(extra: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
        .args(["schema-check", "--list-endpoints"])
        .args(extra)
        .output()
        .unwrap()
}

/// `schema-check --list-endpoints`: every endpoint once, with method, path,
/// body and success statuses, as text and as JSON.
#[test]
fn list_endpoints_prints_every_endpoint_with_its_body_and_statuses() {
    let out = list_endpoints(&[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "METHOD", "PATH", "BODY", "SUCCESS"]);
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(rows.iter().all(|row| row.len() == 5), "{text}");
    assert_eq!(rows.len(), contract().endpoints().len());
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(ids.len(), rows.len(), "each id once");
    let generated: Value =
        serde_json::from_slice(&std::fs::read(repo_path("schemas/cma/manifest.json")).unwrap())
            .unwrap();
    for entry in generated["endpoints"].as_array().unwrap() {
        assert!(
            ids.contains(entry["id"].as_str().unwrap()),
            "{}",
            entry["id"]
        );
    }
    for expected in [
        ["items.create", "POST", "/items", "yes", "200,201"],
        ["item_types.list", "GET", "/item-types", "no", "200"],
        [
            "fields.create",
            "POST",
            "/item-types/{itemTypeId}/fields",
            "yes",
            "200,201,202",
        ],
        [
            "build_triggers.trigger",
            "POST",
            "/build-triggers/{buildTriggerId}/trigger",
            "optional",
            "204",
        ],
        [
            "search_indexes.trigger",
            "POST",
            "/search-indexes/{searchIndexId}/trigger",
            "no",
            "204",
        ],
        [
            "items.publish",
            "PUT",
            "/items/{itemId}/publish",
            "optional",
            "200",
        ],
        [
            "access_tokens.create",
            "POST",
            "/access_tokens",
            "yes",
            "200,201",
        ],
        [
            "access_tokens.regenerate_token",
            "POST",
            "/access_tokens/{id}/regenerate_token",
            "no",
            "200,201",
        ],
        ["items.batch_destroy", "DELETE", "/items", "no", "202"],
    ] {
        assert!(rows.contains(&expected.to_vec()), "{expected:?} in\n{text}");
    }

    let out = list_endpoints(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), rows.len());
    let fork = list
        .iter()
        .find(|e| e["id"] == "environments.fork")
        .unwrap();
    assert_eq!(fork["method"], "POST");
    assert_eq!(fork["path"], "/environments/{environmentId}/fork");
    assert_eq!(fork["success_statuses"], json!([200, 202]));
    assert_eq!(fork["job"], true);
    assert_eq!(fork["manifest"], "cma/manifest.json");
    let batch = list
        .iter()
        .find(|e| e["id"] == "items.batch_publish")
        .unwrap();
    assert_eq!(batch["manifest"], "manifest.json");
    assert!(
        batch["deprecated"]
            .as_str()
            .unwrap()
            .contains("items.bulk_publish")
    );
}

#[test]
fn list_endpoints_lists_a_schemas_folder_and_refuses_other_work() {
    let dir = tempfile::tempdir().unwrap();
    copy_schemas(dir.path());
    let manifest = dir.path().join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            "\"success_statuses\": [200, 201]",
            "\"success_statuses\": [201]",
            1,
        ),
    )
    .unwrap();
    let out = list_endpoints(&["--schemas", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let create = text
        .lines()
        .find(|l| l.starts_with("access_tokens.create "))
        .unwrap();
    assert!(create.ends_with(" 201"), "{create}");

    for conflicting in [
        vec!["cassettes"],
        vec!["--endpoint", "items.create", "--request", "x.json"],
    ] {
        let out = list_endpoints(&conflicting);
        assert_eq!(out.status.code(), Some(2), "{conflicting:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    }
    // The lone-payload check names the list instead of printing 200 ids.
    let out = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("datovcr"))
        .args([
            "schema-check",
            "--endpoint",
            "items.crate",
            "--request",
            "-",
        ])
        .write_stdin("{}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "unknown endpoint `items.crate`; `datovcr schema-check --list-endpoints` lists all"
        ),
        "{stderr}"
    );
}

/// Every generated schema file, by file name.
fn generated_documents() -> std::collections::BTreeMap<String, Value> {
    std::fs::read_dir(repo_path("schemas/cma"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| !path.ends_with("manifest.json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            )
        })
        .collect()
}

/// `$ref` (`#/$defs/X` or `file.json#/$defs/X`) made in `file`: the target and its file.
fn follow<'d>(
    documents: &'d std::collections::BTreeMap<String, Value>,
    file: &str,
    reference: &str,
) -> (&'d Value, String) {
    let (target, pointer) = reference.split_once('#').unwrap();
    let target = if target.is_empty() { file } else { target };
    (
        documents[target].pointer(pointer).unwrap(),
        target.to_owned(),
    )
}

/// `(resource type, attribute, admits a string)` for every attribute, at
/// any depth, of every resource the generated contract defines.
fn resource_attributes() -> Vec<(String, String, bool)> {
    let documents = generated_documents();
    let mut out = Vec::new();
    for (file, document) in &documents {
        for definition in document["$defs"].as_object().unwrap().values() {
            let properties = &definition["properties"];
            let (Some(kind), Some(attributes)) =
                (properties.get("type"), properties.get("attributes"))
            else {
                continue;
            };
            if properties.get("id").is_none() {
                continue;
            }
            let kind = match kind.get("$ref").and_then(Value::as_str) {
                Some(reference) => follow(&documents, file, reference).0,
                None => kind,
            };
            let Some(kind) = kind["const"].as_str() else {
                continue;
            };
            let mut stack = vec![(attributes, file.clone(), String::new(), 0)];
            while let Some((schema, file, path, depth)) = stack.pop() {
                if depth > 8 {
                    continue;
                }
                if let Some(reference) = schema["$ref"].as_str() {
                    let (target, file) = follow(&documents, &file, reference);
                    stack.push((target, file, path.clone(), depth + 1));
                }
                for keyword in ["anyOf", "oneOf", "allOf"] {
                    for branch in schema[keyword].as_array().into_iter().flatten() {
                        stack.push((branch, file.clone(), path.clone(), depth + 1));
                    }
                }
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    let path = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    let admits_string = admits_string(&documents, &file, property);
                    out.push((kind.to_owned(), path.clone(), admits_string));
                    stack.push((property, file.clone(), path, depth + 1));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn admits_string(
    documents: &std::collections::BTreeMap<String, Value>,
    file: &str,
    schema: &Value,
) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let (target, file) = follow(documents, file, reference);
        return admits_string(documents, &file, target);
    }
    let typed = match &schema["type"] {
        Value::String(name) => name == "string",
        Value::Array(names) => names.iter().any(|name| name == "string"),
        _ => false,
    };
    typed
        || ["anyOf", "oneOf"].iter().any(|keyword| {
            schema[*keyword]
                .as_array()
                .into_iter()
                .flatten()
                .any(|branch| admits_string(documents, file, branch))
        })
}

/// The rows of docs/contract.md's "Secret attributes" table:
/// `(resource type, attribute, verdict)`.
fn documented_secret_attributes() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo_path("docs/contract.md")).unwrap();
    let section = text
        .split("### Secret attributes")
        .nth(1)
        .expect("docs/contract.md has a Secret attributes section");
    let section = section.split("\n#").next().unwrap();
    let mut rows: Vec<(String, String, String)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let unquote = |cell: &str| cell.trim_matches('`').to_owned();
            (unquote(cells[1]), unquote(cells[2]), cells[3].to_owned())
        })
        .collect();
    rows.sort();
    rows
}

/// Every attribute of the contract whose name the redaction's name rule
/// matches, with what the redaction really does to it (asked of the
/// redactor, on a response carrying it), is the list docs/contract.md gives.
#[test]
fn the_secret_attribute_list_is_what_the_schemas_and_the_redaction_say() {
    let mut found = Vec::new();
    for (kind, path, admits_string) in resource_attributes() {
        let name = path.rsplit('.').next().unwrap();
        if !datovcr::redact::rules::is_secret_name(name) {
            continue;
        }
        let value = if admits_string {
            json!("blog_post")
        } else {
            json!(true)
        };
        // `a.b` as `{"a": {"b": value}}`.
        let attributes = path
            .rsplit('.')
            .fold(value.clone(), |inner, part| json!({ part: inner }));
        let exchange = interaction(
            request("GET", "/x", None),
            200,
            json!({"data": {"type": kind, "id": "1", "attributes": attributes}}),
        );
        // A redactor of its own: one remembers the secrets it has seen.
        let redacted = datovcr::redact::Redactor::default().redact(exchange);
        let Body::Json(body) = &redacted.interaction().response.body else {
            panic!("a JSON body stays JSON");
        };
        let pointer = format!("/data/attributes/{}", path.replace('.', "/"));
        let kept = body.pointer(&pointer) == Some(&value);
        let verdict = match (kept, admits_string) {
            (false, _) => "secret",
            (true, true) => "public",
            (true, false) => "public (never a string)",
        };
        found.push((kind, path, verdict.to_owned()));
    }
    found.sort();
    assert!(found.len() >= 8, "{found:?}");
    assert_eq!(
        documented_secret_attributes(),
        found,
        "docs/contract.md, Secret attributes: one row per attribute, as the redaction treats it"
    );
}

/// Every exemption of the redaction's name rule names something the
/// generated contract still has: a `(type, attribute)` of
/// `PUBLIC_ATTRIBUTES` an attribute of that resource, a `PUBLIC_NAMES`
/// entry a property somewhere, a `PUBLIC_TYPES` entry a resource type. An
/// exemption the schemas no longer back (5.8.1's fieldset has no
/// `api_key`) would exempt whatever the API puts under that name next.
#[test]
fn every_exemption_of_the_name_rule_names_what_the_schemas_have() {
    use datovcr::redact::rules::{PUBLIC_ATTRIBUTES, PUBLIC_NAMES, PUBLIC_TYPES};
    let attributes = resource_attributes();
    let stale: Vec<String> = PUBLIC_ATTRIBUTES
        .iter()
        .filter(|(kind, name)| {
            !attributes
                .iter()
                .any(|(k, path, _)| k == kind && path == name)
        })
        .map(|(kind, name)| format!("{kind}.{name}"))
        .collect();
    // Property names anywhere, and every `const` (resource types are).
    let mut properties = std::collections::BTreeSet::new();
    let mut consts = std::collections::BTreeSet::new();
    for document in generated_documents().values() {
        let mut stack = vec![document];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(object) => {
                    if let Some(Value::Object(named)) = object.get("properties") {
                        properties.extend(named.keys().cloned());
                    }
                    if let Some(Value::String(constant)) = object.get("const") {
                        consts.insert(constant.clone());
                    }
                    stack.extend(object.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }
    let stale_names: Vec<&&str> = PUBLIC_NAMES
        .iter()
        .filter(|name| !properties.contains(**name))
        .chain(PUBLIC_TYPES.iter().filter(|kind| !consts.contains(**kind)))
        .collect();
    assert_eq!(
        (stale, stale_names),
        (Vec::<String>::new(), Vec::<&&str>::new()),
        "exemptions of the name rule that no generated schema backs (src/redact/rules.rs)"
    );
    // The check sees what it must: the live exemptions are found.
    assert!(
        attributes
            .iter()
            .any(|(k, path, _)| k == "item_type" && path == "api_key")
    );
    assert!(properties.contains("next_token") && consts.contains("item"));
}
