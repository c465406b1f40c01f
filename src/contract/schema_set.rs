//! Loading schema files and compiling them into a [`ContractSet`].
//!
//! Every file is parsed, checked against the JSON Schema 2020-12
//! meta-schema and registered under its `$id`, so `$ref`s between files
//! resolve without any network access (retrieval is switched off).

use super::manifest::Manifest;
use super::{ContractError, ContractSet, Endpoint, PathTemplate, Router};
use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub const MANIFEST: &str = "manifest.json";

pub struct SchemaFile {
    /// The file name the manifest uses to refer to it.
    pub name: String,
    /// Where it came from, for error messages.
    pub origin: String,
    pub text: String,
}

/// Reads every `*.json` file directly inside `dir`.
pub fn read_dir(dir: &Path) -> Result<Vec<SchemaFile>, ContractError> {
    let io = |source| ContractError::Io {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|err| ContractError::Invalid {
                file: origin.clone(),
                message: format!("cannot read: {err}"),
            })?;
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(SchemaFile { name, origin, text });
        }
    }
    if !files.iter().any(|file| file.name == MANIFEST) {
        return Err(ContractError::Invalid {
            file: dir.join(MANIFEST).display().to_string(),
            message: "missing: a schema folder needs a manifest.json (copy the one in the datovcr repository's schemas/)".into(),
        });
    }
    Ok(files)
}

struct ParsedSchema {
    origin: String,
    id: String,
    json: Value,
}

pub fn compile(files: Vec<SchemaFile>) -> Result<ContractSet, ContractError> {
    let mut manifest = None;
    let mut schemas: HashMap<String, ParsedSchema> = HashMap::new();
    for file in files {
        let invalid = |message: String| ContractError::Invalid {
            file: file.origin.clone(),
            message,
        };
        let json: Value = serde_json::from_str(&file.text).map_err(|err| {
            invalid(format!(
                "not valid JSON at line {} column {}: {err}",
                err.line(),
                err.column()
            ))
        })?;
        if file.name == MANIFEST {
            let parsed: Manifest = serde_json::from_value(json)
                .map_err(|err| invalid(format!("not a valid manifest: {err}")))?;
            if parsed.version != 1 {
                return Err(invalid(format!(
                    "manifest version {} is not supported; this datovcr reads version 1",
                    parsed.version
                )));
            }
            manifest = Some((file.origin, parsed));
            continue;
        }
        if let Err(err) = jsonschema::meta::validate(&json) {
            return Err(invalid(format!(
                "not a valid JSON Schema: {err} (at {})",
                display_pointer(err.instance_path().as_str())
            )));
        }
        let id = json
            .get("$id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid("has no `$id`; every schema needs one so others can $ref it".into())
            })?
            .to_owned();
        schemas.insert(
            file.name,
            ParsedSchema {
                origin: file.origin,
                id,
                json,
            },
        );
    }
    let (manifest_origin, manifest) = manifest.ok_or_else(|| ContractError::Invalid {
        file: MANIFEST.into(),
        message: "missing".into(),
    })?;

    let registry = Registry::new()
        .extend(
            schemas
                .values()
                .map(|schema| (schema.id.clone(), schema.json.clone())),
        )
        .and_then(|builder| builder.prepare())
        .map_err(|err| ContractError::Invalid {
            file: manifest_origin.clone(),
            message: format!("the schemas do not form a consistent set: {err}"),
        })?;

    let mut compiled: HashMap<String, Arc<Validator>> = HashMap::new();
    let mut validator = |name: &str| -> Result<Arc<Validator>, ContractError> {
        if let Some(found) = compiled.get(name) {
            return Ok(found.clone());
        }
        let schema = schemas.get(name).ok_or_else(|| ContractError::Invalid {
            file: manifest_origin.clone(),
            message: format!("names `{name}`, which is not a schema file in the folder"),
        })?;
        let built = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&registry)
            .offline()
            .build(&schema.json)
            .map_err(|err| ContractError::Invalid {
                file: schema.origin.clone(),
                message: format!("cannot be compiled: {err}"),
            })?;
        let built = Arc::new(built);
        compiled.insert(name.to_owned(), built.clone());
        Ok(built)
    };

    let mut endpoints = Vec::with_capacity(manifest.endpoints.len());
    let mut router = Router::default();
    for spec in &manifest.endpoints {
        let invalid = |message: String| ContractError::Invalid {
            file: manifest_origin.clone(),
            message: format!("endpoint {}: {message}", spec.id),
        };
        let path = PathTemplate::parse(&spec.path).map_err(invalid)?;
        if let Err(earlier) = router.insert(&spec.method, &path, endpoints.len()) {
            let earlier: &Endpoint = &endpoints[earlier];
            return Err(invalid(format!(
                "{} {} is already endpoint {} ({})",
                spec.method,
                spec.path,
                earlier.id,
                earlier.path.as_str()
            )));
        }
        let mut path_params = Vec::new();
        for (param, pointer) in &spec.request.path_params {
            let index = path.param_index(param).ok_or_else(|| {
                invalid(format!(
                    "path_params names `{param}`, which is not in {}",
                    spec.path
                ))
            })?;
            path_params.push((index, pointer.clone()));
        }
        let mut responses: [Option<Arc<Validator>>; 6] = Default::default();
        for (class, schema) in &spec.responses {
            let digit = match class.as_bytes() {
                [digit @ b'1'..=b'5', b'x', b'x'] => usize::from(digit - b'0'),
                _ => {
                    return Err(invalid(format!(
                        "response class `{class}` must be one of 1xx … 5xx"
                    )));
                }
            };
            responses[digit] = Some(validator(schema)?);
        }
        endpoints.push(Endpoint {
            id: spec.id.clone(),
            method: spec.method.to_ascii_uppercase(),
            path,
            request_body: spec
                .request
                .body
                .as_deref()
                .map(&mut validator)
                .transpose()?,
            query: validator(&spec.request.query)?,
            path_params,
            responses,
            success_statuses: spec.success_statuses.clone(),
        });
    }
    Ok(ContractSet {
        request_headers: validator(&manifest.headers.request)?,
        request_headers_with_body: validator(&manifest.headers.request_with_body)?,
        response_headers: validator(&manifest.headers.response)?,
        endpoints,
        router,
    })
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

#[cfg(test)]
mod tests {
    use super::super::embedded::SCHEMA_FILES;
    use super::*;

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
    }

    /// Every example in every schema is valid against that schema: the
    /// documentation's examples are the contract's first test cases.
    #[test]
    fn every_schema_example_validates() {
        let schemas: Vec<Value> = SCHEMA_FILES
            .iter()
            .filter(|(name, _)| *name != MANIFEST)
            .map(|(_, text)| serde_json::from_str(text).expect("schema is JSON"))
            .collect();
        let registry = Registry::new()
            .extend(
                schemas
                    .iter()
                    .map(|s| (s["$id"].as_str().unwrap().to_owned(), s.clone())),
            )
            .and_then(|b| b.prepare())
            .unwrap();
        let mut checked = 0;
        for schema in &schemas {
            let validator = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .offline()
                .build(schema)
                .unwrap();
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
        assert!(checked >= schemas.len());
    }

    #[test]
    fn a_manifest_with_one_route_twice_is_refused() {
        let files: Vec<SchemaFile> = SCHEMA_FILES
            .iter()
            .map(|(name, text)| {
                let mut text = (*text).to_owned();
                if *name == MANIFEST {
                    // destroy (the last entry) becomes find again, with
                    // another parameter name.
                    let at = text.rfind("\"/access_tokens/{id}\"").unwrap();
                    text.replace_range(at..at + 21, "\"/access_tokens/{x}\"");
                    text = text.replace("\"method\": \"DELETE\"", "\"method\": \"get\"");
                }
                SchemaFile {
                    name: (*name).into(),
                    origin: format!("dir/{name}"),
                    text,
                }
            })
            .collect();
        let err = compile(files).unwrap_err().to_string();
        assert_eq!(
            err,
            "schema dir/manifest.json: endpoint access_tokens.destroy: get /access_tokens/{x} \
             is already endpoint access_tokens.find (/access_tokens/{id})"
        );
    }

    #[test]
    fn a_malformed_schema_file_is_named_with_the_problem() {
        let mut files: Vec<SchemaFile> = SCHEMA_FILES
            .iter()
            .map(|(name, text)| SchemaFile {
                name: (*name).into(),
                origin: format!("dir/{name}"),
                text: (*text).into(),
            })
            .collect();
        let broken = files
            .iter_mut()
            .find(|f| f.name == "access-token.json")
            .unwrap();
        broken.text = broken.text.replace(
            "\"type\": \"object\",\n  \"required\"",
            "\"type\": \"objekt\",\n  \"required\"",
        );
        let err = compile(files).unwrap_err().to_string();
        assert!(
            err.starts_with("schema dir/access-token.json: not a valid JSON Schema"),
            "{err}"
        );
    }
}
