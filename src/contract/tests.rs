//! Loading the contract: the embedded file list, the overlay, and the
//! errors a broken schema folder gets.

use super::embedded::SCHEMA_FILES;
use super::schema_set::{MANIFEST, MetaCheck, SchemaFile, compile, read_dir};
use super::*;
use jsonschema::{Draft, Registry};
use std::path::Path;

fn files_with(edit: impl Fn(&str, &mut String)) -> Vec<SchemaFile> {
    SCHEMA_FILES
        .iter()
        .map(|(name, text)| {
            let mut text = (*text).to_owned();
            edit(name, &mut text);
            SchemaFile {
                name: (*name).into(),
                origin: format!("dir/{name}"),
                text,
            }
        })
        .collect()
}

#[test]
fn embedded_list_matches_the_schemas_folder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut on_disk: Vec<String> = read_dir(&dir)
        .expect("schemas/ is readable")
        .into_iter()
        .map(|file| file.name)
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = SCHEMA_FILES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    embedded.sort();
    assert_eq!(
        embedded, on_disk,
        "add new schema files to contract/embedded.rs"
    );
    assert!(on_disk.len() > 60, "the generated files are there too");
}

/// Every example in every hand-written schema is valid against that
/// schema: the documentation's examples are the contract's first test
/// cases. (The generated files keep theirs per definition, checked by
/// `every_example_validates_against_its_schema` in tests/it.)
#[test]
fn every_schema_example_validates() {
    let parse = |text: &str| -> Value { serde_json::from_str(text).expect("schema is JSON") };
    let schemas: Vec<(&str, Value)> = SCHEMA_FILES
        .iter()
        .filter(|(name, _)| !name.ends_with(MANIFEST))
        .map(|(name, text)| (*name, parse(text)))
        .collect();
    let hand_written: Vec<&Value> = schemas
        .iter()
        .filter(|(name, _)| !name.contains('/'))
        .map(|(_, schema)| schema)
        .collect();
    // The overlay's schemas may reference the generated ones.
    let registry = Registry::new()
        .extend(
            schemas
                .iter()
                .map(|(_, s)| (s["$id"].as_str().unwrap().to_owned(), s.clone())),
        )
        .and_then(|b| b.prepare())
        .unwrap();
    let mut checked = 0;
    for schema in &hand_written {
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&registry)
            .offline()
            .build(schema)
            .unwrap();
        let schema: &Value = schema;
        let examples = schema["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no examples", schema["$id"]));
        assert!(!examples.is_empty(), "{} has no examples", schema["$id"]);
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{}: example {example} fails: {errors:?}",
                schema["$id"]
            );
            checked += 1;
        }
    }
    assert!(checked >= hand_written.len());
}

#[test]
fn a_manifest_with_one_route_twice_is_refused() {
    let files = files_with(|name, text| {
        if name == MANIFEST {
            // destroy (the last entry) becomes find again, with
            // another parameter name.
            let at = text.rfind("\"/access_tokens/{id}\"").unwrap();
            text.replace_range(at..at + 21, "\"/access_tokens/{x}\"");
            *text = text.replace("\"method\": \"DELETE\"", "\"method\": \"get\"");
        }
    });
    let err = compile(files, MetaCheck::HandWritten)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "schema dir/manifest.json: endpoint access_tokens.destroy: get /access_tokens/{x} \
         is already endpoint access_tokens.find (/access_tokens/{id})"
    );
}

#[test]
fn a_malformed_schema_file_is_named_with_the_problem() {
    let mut files = files_with(|_, _| {});
    let broken = files
        .iter_mut()
        .find(|f| f.name == "access-token.json")
        .unwrap();
    broken.text = broken.text.replace(
        "\"type\": \"object\",\n  \"required\"",
        "\"type\": \"objekt\",\n  \"required\"",
    );
    let err = compile(files, MetaCheck::HandWritten)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("schema dir/access-token.json: not a valid JSON Schema"),
        "{err}"
    );
}

/// The overlay's six access-token entries replace the generated ones (their
/// hand-written schemas, their statuses); everything else is the generated
/// contract.
#[test]
fn the_overlay_replaces_generated_entries_and_the_rest_is_generated() {
    let contract = ContractSet::embedded().unwrap();
    let generated: Value =
        serde_json::from_str(include_str!("../../schemas/cma/manifest.json")).unwrap();
    let generated = generated["endpoints"].as_array().unwrap();
    assert!(contract.endpoints().len() >= generated.len());
    let overlay: Value = serde_json::from_str(include_str!("../../schemas/manifest.json")).unwrap();
    let overlay_ids: Vec<&str> = overlay["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    for entry in generated {
        let id = entry["id"].as_str().unwrap();
        let endpoint = contract.endpoint(id).unwrap_or_else(|| panic!("{id}"));
        let from_overlay = endpoint.manifest() == MANIFEST;
        assert_eq!(from_overlay, overlay_ids.contains(&id), "{id}");
        if !id.starts_with("access_tokens.") {
            // Amended or not, the route is the generated one.
            assert_eq!(endpoint.method, entry["method"].as_str().unwrap(), "{id}");
            assert_eq!(endpoint.path.as_str(), entry["path"].as_str().unwrap());
        }
    }
    // Amending changes what it names and keeps the rest.
    let promote = contract.endpoint("environments.promote").unwrap();
    assert!(promote.has_request_body() && promote.body_optional());
    assert_eq!(
        promote.schema_labels()[1],
        ("request.query".into(), "(built in) schemas/no-query.json")
    );
    let regenerate = contract.endpoint("access_tokens.regenerate_token").unwrap();
    assert_eq!(regenerate.success_statuses(), [200, 201]);
    assert_eq!(
        regenerate.path.as_str(),
        "/access_tokens/{id}/regenerate_token"
    );
    let labels = contract
        .endpoint("access_tokens.create")
        .unwrap()
        .schema_labels();
    assert!(
        labels.contains(&(
            "request.body".into(),
            "(built in) schemas/access-token-create-request.json"
        )),
        "{labels:?}"
    );
}

#[test]
fn every_endpoint_compiles_and_nothing_compiles_before_it_is_used() {
    let contract = ContractSet::embedded().unwrap();
    assert!(
        contract
            .endpoints()
            .iter()
            .all(|endpoint| endpoint.compiled.get().is_none()),
        "loading compiles no endpoint"
    );
    contract.compile_all().unwrap();
}

#[test]
fn broken_references_and_chains_are_named_at_load_time() {
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            MANIFEST,
            "\"id\": \"items.publish\",",
            "\"id\": \"items.publishh\",",
            "schema dir/manifest.json: endpoint items.publishh: amends an endpoint its base \
             does not have",
        ),
        (
            MANIFEST,
            "\"id\": \"items.publish\",",
            "\"id\": \"items.publish\", \"path\": \"/x\",",
            "schema dir/manifest.json: endpoint items.publish: an amendment has only `id`, \
             `amend` and `$comment`",
        ),
        (
            "cma/manifest.json",
            "\"body\": \"role.json#/$defs/RoleCreateSchema\"",
            "\"body\": \"role.json#/$defs/NoSuchSchema\"",
            "schema dir/cma/manifest.json: endpoint roles.create: names \
             `cma/role.json#/$defs/NoSuchSchema`, but dir/cma/role.json has nothing at \
             `#/$defs/NoSuchSchema`",
        ),
        (
            "cma/manifest.json",
            "\"body\": \"role.json#/$defs/RoleCreateSchema\"",
            "\"body\": \"rolle.json#/$defs/RoleCreateSchema\"",
            "schema dir/cma/manifest.json: endpoint roles.create: names \
             `cma/rolle.json#/$defs/RoleCreateSchema`, which is not a schema file in the folder",
        ),
        (
            MANIFEST,
            "\"base\": \"cma/manifest.json\"",
            "\"base\": \"cma/manifesto.json\"",
            "schema dir/manifest.json: names cma/manifesto.json as its base, which is not a \
             file in the folder",
        ),
        (
            "cma/manifest.json",
            "\"version\": 2,",
            "\"version\": 2, \"base\": \"../manifest.json\",",
            "schema dir/cma/manifest.json: names manifest.json as its base, which is already \
             in the chain",
        ),
        (
            "cma/manifest.json",
            "\"2xx\": \"role.json#/$defs/RoleCreateTargetSchema\"",
            "\"2xx\": \"role.json#/$defs/RoleCreateTargetSchema\", \"20x\": null",
            "schema dir/cma/manifest.json: endpoint roles.create: response key `20x` must be \
             a status (`202`) or a status class (`1xx` … `5xx`)",
        ),
    ];
    for (file, from, to, expected) in cases {
        let files = files_with(|name, text| {
            if name == file {
                assert!(text.contains(from), "{from}");
                *text = text.replacen(from, to, 1);
            }
        });
        let err = compile(files, MetaCheck::HandWritten)
            .unwrap_err()
            .to_string();
        assert_eq!(err, expected);
    }
}

/// A schema that loads but cannot be compiled is a `contract` finding of
/// the endpoint that uses it, when that endpoint is first checked.
#[test]
fn a_schema_that_cannot_be_compiled_is_a_finding_not_a_crash() {
    let files = files_with(|name, text| {
        if name == "cma/role.json" {
            let from = "\"$ref\": \"#/$defs/RoleIdentity\"";
            assert!(text.contains(from));
            *text = text.replacen(from, "\"$ref\": \"#/$defs/NoSuchDefinition\"", 1);
        }
    });
    let contract = compile(files, MetaCheck::Every).expect("it loads");
    let endpoint = contract.endpoint("roles.create").unwrap();
    let findings = contract.check_request_body(endpoint, &serde_json::json!({}));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].rule, "contract");
    assert!(findings[0].is_error());
    assert!(
        findings[0]
            .message
            .starts_with("the contract for roles.create cannot be used: dir/cma/role.json#/$defs/"),
        "{}",
        findings[0].message
    );
    // Other endpoints are unaffected.
    let list = contract.endpoint("access_tokens.list").unwrap();
    assert!(
        contract
            .check_response_body(list, 200, &serde_json::json!({"data": []}))
            .is_empty()
    );
}
