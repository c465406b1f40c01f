//! Loading a schema folder into a [`ContractSet`].
//!
//! Every file is parsed, checked against the JSON Schema 2020-12
//! meta-schema and registered under its `$id`, so `$ref`s between files
//! resolve without any network access (retrieval is switched off). The
//! manifests are read and merged (see [`super::manifest`]), every reference
//! they make is checked to exist, and only the header rules are compiled
//! here: endpoints compile on first use ([`Compiler`]).

use super::endpoint::{Compiled, Endpoint, Rules, SchemaRef};
use super::headers::HeaderRules;
use super::light::LightJson;
use super::manifest::{self, EndpointSpec, Manifest, Merged, StatusKey};
use super::query::QueryShape;
use super::validate::Generated;
use super::{ContractError, ContractSet, PathTemplate, Router};
use jsonschema::json::Json;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

pub const MANIFEST: &str = "manifest.json";
/// `$ref` hops followed to collect header sentences.
const MAX_HOPS: usize = 4;
/// Subfolders of a schema folder searched for files (`cma/`).
const MAX_FOLDER_DEPTH: usize = 4;

pub struct SchemaFile {
    /// The path relative to the schema folder, `/`-separated
    /// (`cma/item.json`): what manifests name it by.
    pub name: String,
    /// Where it came from, for error messages.
    pub origin: String,
    pub text: String,
}

/// Whether each schema file is checked against the 2020-12 meta-schema at
/// load time. The built-in contract is checked by the test suite instead
/// (`every_generated_definition_is_valid_2020_12_and_compiles`), which
/// saves every start-up the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCheck {
    Every,
    HandWritten,
}

/// Reads every `*.json` file inside `dir` and its subfolders.
pub fn read_dir(dir: &Path) -> Result<Vec<SchemaFile>, ContractError> {
    let mut files = Vec::new();
    read_folder(dir, "", 0, &mut files)?;
    if !files.iter().any(|file| file.name == MANIFEST) {
        return Err(ContractError::Invalid {
            file: dir.join(MANIFEST).display().to_string(),
            message: "missing: a schema folder needs a manifest.json (copy the one in the datovcr repository's schemas/)".into(),
        });
    }
    Ok(files)
}

fn read_folder(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut Vec<SchemaFile>,
) -> Result<(), ContractError> {
    let io = |source| ContractError::Io {
        dir: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{prefix}{file_name}");
        if path.is_dir() {
            if depth < MAX_FOLDER_DEPTH && !file_name.starts_with('.') {
                read_folder(&path, &format!("{name}/"), depth + 1, files)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|err| ContractError::Invalid {
                file: origin.clone(),
                message: format!("cannot read: {err}"),
            })?;
            files.push(SchemaFile { name, origin, text });
        }
    }
    Ok(())
}

struct ParsedSchema {
    origin: String,
    id: String,
    json: Value,
}

fn is_manifest(name: &str) -> bool {
    name == MANIFEST || name.ends_with("/manifest.json")
}

pub fn compile(files: Vec<SchemaFile>, meta: MetaCheck) -> Result<ContractSet, ContractError> {
    let mut manifests: HashMap<String, (String, Manifest)> = HashMap::new();
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
        if is_manifest(&file.name) {
            let parsed: Manifest = serde_json::from_value(json)
                .map_err(|err| invalid(format!("not a valid manifest: {err}")))?;
            if !manifest::VERSIONS.contains(&parsed.version) {
                return Err(invalid(format!(
                    "manifest version {} is not supported; this datovcr reads versions 1 and 2",
                    parsed.version
                )));
            }
            manifests.insert(file.name, (file.origin, parsed));
            continue;
        }
        let check = meta == MetaCheck::Every || !file.name.contains('/');
        if check && let Err(err) = jsonschema::meta::validate(&json) {
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

    let chain = manifest::chain(manifests, MANIFEST)?;
    let root = chain.last().expect("the chain holds the root manifest");
    let (header_manifest, header_names) = chain
        .iter()
        .rev()
        .find_map(|named| named.manifest.headers.clone().map(|h| (named, h)))
        .ok_or_else(|| ContractError::Invalid {
            file: root.origin.clone(),
            message: "names no `headers` schemas, and neither does its base".into(),
        })?;
    // The documents of the generated contract: those in the folders of the
    // base manifests (`cma/`).
    let generated: Generated = chain[..chain.len() - 1]
        .iter()
        .filter_map(|named| {
            named
                .name
                .rsplit_once('/')
                .map(|(folder, _)| format!("{folder}/"))
        })
        .flat_map(|folder| {
            schemas
                .iter()
                .filter(move |(name, _)| name.starts_with(&folder))
                .map(|(_, schema)| schema.id.trim_end_matches('#').to_owned())
        })
        .collect();
    let entries = manifest::merge(&chain)?;

    let resolve = |reference: &str| resolve_reference(&schemas, reference);
    let mut endpoints: Vec<Endpoint> = Vec::with_capacity(entries.len());
    let mut router = Router::default();
    for Merged { spec, named } in &entries {
        let invalid = |message: String| ContractError::Invalid {
            file: named.origin.clone(),
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
        let rules = rules(spec, &named.name, &path, &resolve).map_err(invalid)?;
        endpoints.push(Endpoint {
            id: spec.id.clone(),
            method: spec.method.to_ascii_uppercase(),
            path,
            rules,
            compiled: OnceLock::new(),
        });
    }

    let header_refs = [
        &header_names.request,
        &header_names.request_with_body,
        &header_names.response,
    ]
    .map(|reference| {
        manifest::folder_reference(&header_manifest.name, reference)
            .and_then(|reference| resolve(&reference))
            .map_err(|message| ContractError::Invalid {
                file: header_manifest.origin.clone(),
                message: format!("headers: {message}"),
            })
    });
    let [request, request_with_body, response] = header_refs;
    let (request, request_with_body, response) = (request?, request_with_body?, response?);

    let registry = Registry::new()
        .extend(schemas.into_values().map(|schema| (schema.id, schema.json)))
        .and_then(|builder| builder.prepare())
        .map_err(|err| ContractError::Invalid {
            file: root.origin.clone(),
            message: format!("the schemas do not form a consistent set: {err}"),
        })?;
    let compiler = Compiler {
        registry,
        cache: Mutex::default(),
        light_cache: Mutex::default(),
    };
    let invalid_header = |schema: &SchemaRef| {
        let schema = schema.clone();
        move |message: String| ContractError::Invalid {
            file: schema.label.clone(),
            message,
        }
    };
    let headers = HeaderRules {
        request: compiler
            .validator(&request)
            .map_err(invalid_header(&request))?,
        request_with_body: compiler
            .validator(&request_with_body)
            .map_err(invalid_header(&request_with_body))?,
        response: compiler
            .validator(&response)
            .map_err(invalid_header(&response))?,
        request_sentences: compiler.header_sentences(&[&request, &request_with_body]),
        response_sentences: compiler.header_sentences(&[&response]),
        light: super::headers::LightRules::new(
            &compiler,
            [&request, &request_with_body, &response],
        ),
    };
    let by_id = endpoints
        .iter()
        .enumerate()
        .map(|(index, endpoint)| (endpoint.id.clone(), index))
        .collect();
    Ok(ContractSet {
        endpoints,
        by_id,
        router,
        headers,
        compiler,
        generated,
        jobs: Default::default(),
    })
}

fn rules(
    spec: &EndpointSpec,
    manifest: &str,
    path: &PathTemplate,
    resolve: &dyn Fn(&str) -> Result<SchemaRef, String>,
) -> Result<Rules, String> {
    let mut path_params = Vec::new();
    for (param, pointer) in &spec.request.path_params {
        let index = path
            .param_index(param)
            .ok_or_else(|| format!("path_params names `{param}`, which is not in {}", spec.path))?;
        path_params.push((index, pointer.clone()));
    }
    let mut responses = Vec::new();
    for (key, schema) in &spec.responses {
        let key = StatusKey::parse(key)?;
        let schema = schema.as_deref().map(resolve).transpose()?;
        responses.push((key, schema));
    }
    // Exact statuses are looked up before classes.
    responses.sort_by_key(|(key, _)| matches!(key, StatusKey::Class(_)));
    let mut success_statuses = spec.success_statuses.clone();
    success_statuses.sort_unstable();
    if let Some(status) = success_statuses.iter().find(|s| !(200..300).contains(*s)) {
        return Err(format!("success_statuses lists {status}, which is not 2xx"));
    }
    let request = &spec.request;
    Ok(Rules {
        body: request.body.as_deref().map(resolve).transpose()?,
        body_optional: request.body_optional,
        query: resolve(&request.query)?,
        query_required: request.query_required,
        path_params,
        responses,
        success_statuses,
        job: spec.job.as_deref().map(resolve).transpose()?,
        deprecated: spec.deprecated.clone(),
        doc_url: spec.doc_url.clone(),
        manifest: manifest.to_owned(),
    })
}

/// A reference relative to the schema folder (`cma/item.json#/$defs/Item`)
/// as the absolute URI of the file's `$id` plus the fragment, which must
/// point at something in that file.
fn resolve_reference(
    schemas: &HashMap<String, ParsedSchema>,
    reference: &str,
) -> Result<SchemaRef, String> {
    let (file, fragment) = match reference.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (reference, None),
    };
    let schema = schemas
        .get(file)
        .ok_or_else(|| format!("names `{reference}`, which is not a schema file in the folder"))?;
    let Some(fragment) = fragment.filter(|fragment| !fragment.is_empty()) else {
        return Ok(SchemaRef {
            uri: schema.id.clone(),
            label: schema.origin.clone(),
        });
    };
    let pointer = percent_decode(fragment);
    if !pointer.starts_with('/') || schema.json.pointer(&pointer).is_none() {
        return Err(format!(
            "names `{reference}`, but {} has nothing at `#{fragment}`",
            schema.origin
        ));
    }
    Ok(SchemaRef {
        uri: format!("{}#{fragment}", schema.id.trim_end_matches('#')),
        label: format!("{}#{fragment}", schema.origin),
    })
}

fn percent_decode(fragment: &str) -> String {
    form_urlencoded::parse(format!("x={}", fragment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

/// Builds validators from the registry, each once.
pub(super) struct Compiler {
    registry: Registry<'static>,
    /// By absolute URI: the error envelope is shared by every endpoint.
    cache: Cache<jsonschema::json::SerdeJson>,
    light_cache: Cache<LightJson>,
}

/// Looked up twice per proxied exchange, by URIs of 60 bytes and more that
/// come from the contract, not from traffic: foldhash rather than SipHash
/// (about 300 instructions a lookup).
type Cache<F> = Mutex<HashMap<String, Arc<Validator<F>>, foldhash::fast::RandomState>>;

/// The validator of `schema` from `cache`, built (once) if it is not there.
fn cached_or_built<F: Json>(
    cache: &Cache<F>,
    schema: &SchemaRef,
    build: impl FnOnce() -> Result<Validator<F>, String>,
) -> Result<Arc<Validator<F>>, String> {
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some(found) = lock().get(&schema.uri) {
        return Ok(found.clone());
    }
    let built = Arc::new(build()?);
    lock().insert(schema.uri.clone(), built.clone());
    Ok(built)
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").finish_non_exhaustive()
    }
}

impl Compiler {
    pub fn validator(&self, schema: &SchemaRef) -> Result<Arc<Validator>, String> {
        cached_or_built(&self.cache, schema, || self.build(schema))
    }

    /// The same validator, built for [`Light`](super::light::Light) trees.
    pub fn light_validator(&self, schema: &SchemaRef) -> Result<Arc<Validator<LightJson>>, String> {
        cached_or_built(&self.light_cache, schema, || self.build(schema))
    }

    fn build<F: Json>(&self, schema: &SchemaRef) -> Result<Validator<F>, String> {
        let options = jsonschema::options_for::<F>()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .offline();
        if schema.uri.contains('#') {
            options.build(&json!({ "$ref": schema.uri }))
        } else {
            // A whole file is compiled as itself, as it always was.
            let contents = self.lookup(&schema.uri)?;
            options.build(contents)
        }
        .map_err(|err| format!("cannot be compiled: {err}"))
    }

    fn lookup(&self, uri: &str) -> Result<&Value, String> {
        let base = jsonschema::uri::from_str(uri).map_err(|err| format!("`{uri}`: {err}"))?;
        self.registry
            .resolver(base)
            .lookup(uri)
            .map(|resolved| resolved.contents())
            .map_err(|err| format!("`{uri}` does not resolve: {err}"))
    }

    /// What the query schema expects at each key.
    pub fn query_shape(&self, schema: &SchemaRef) -> QueryShape {
        let Ok(base) = jsonschema::uri::from_str(&schema.uri) else {
            return QueryShape::default();
        };
        match self.registry.resolver(base).lookup(&schema.uri) {
            Ok(resolved) => QueryShape::of(
                resolved.contents(),
                &self.registry,
                resolved.resolver().base_uri(),
            ),
            Err(_) => QueryShape::default(),
        }
    }

    pub fn endpoint(&self, rules: &Rules) -> Result<Compiled, String> {
        let named = |schema: &SchemaRef| {
            let label = schema.label.clone();
            move |message: String| format!("{label} {message}")
        };
        let validator = |schema: &SchemaRef| self.validator(schema).map_err(named(schema));
        let mut responses = Vec::with_capacity(rules.responses.len());
        for (key, schema) in &rules.responses {
            responses.push((*key, schema.as_ref().map(validator).transpose()?));
        }
        Ok(Compiled {
            body: rules.body.as_ref().map(validator).transpose()?,
            query: validator(&rules.query)?,
            query_shape: self.query_shape(&rules.query),
            responses,
            job: rules.job.as_ref().map(validator).transpose()?,
        })
    }

    /// The `description` of each header property of the header schemas
    /// (following a root `$ref`, as request-headers-with-body.json extends
    /// request-headers.json): the sentence a header finding shows.
    fn header_sentences(&self, schemas: &[&SchemaRef]) -> HashMap<String, String> {
        let mut sentences = HashMap::new();
        for schema in schemas {
            for contents in self.header_documents(schema).0 {
                let properties = contents.get("properties").and_then(Value::as_object);
                for (name, property) in properties.into_iter().flatten() {
                    if let Some(sentence) = property.get("description").and_then(Value::as_str) {
                        sentences
                            .entry(name.to_ascii_lowercase())
                            .or_insert_with(|| sentence.to_owned());
                    }
                }
            }
        }
        sentences
    }

    /// A header schema and each document its root `$ref` extends, in that
    /// order, at most [`MAX_HOPS`] of them; and whether that is all of them
    /// (false when a document or a root `$ref` does not resolve, or the
    /// chain is longer).
    pub fn header_documents(&self, schema: &SchemaRef) -> (Vec<&Value>, bool) {
        let mut documents = Vec::new();
        let Ok(base) = jsonschema::uri::from_str(&schema.uri) else {
            return (documents, false);
        };
        let mut next = self.registry.resolver(base).lookup(&schema.uri).ok();
        while let Some((contents, resolver, _)) = next.take().map(|found| found.into_inner()) {
            documents.push(contents);
            let Some(reference) = contents.get("$ref").and_then(Value::as_str) else {
                return (documents, true);
            };
            if documents.len() < MAX_HOPS {
                next = resolver.lookup(reference).ok();
            }
        }
        (documents, false)
    }
}
