//! `datovcr schema-check`: cassettes and single payloads in, findings out.
//!
//! Every interaction becomes one [`CheckedCase`]: routed to its endpoint,
//! checked against the contract, and searched for secrets that were not
//! redacted. Interactions on endpoints outside the contract are listed, not
//! failed. The report is rendered by [`report`].

pub mod endpoints;
pub mod report;

use crate::contract::{ContractSet, Finding, Side};
use crate::redact;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The outcome for one interaction or one payload.
#[derive(Debug, Clone)]
pub struct CheckedCase {
    /// The cassette or payload file.
    pub file: String,
    /// Position in the cassette; `None` for a single payload.
    pub interaction: Option<usize>,
    /// `POST /access_tokens`, or what the payload was checked as.
    pub label: String,
    /// The endpoint id, or `None` when the request is not under contract.
    pub endpoint: Option<String>,
    pub findings: Vec<Finding>,
}

/// Everything one run found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub cases: Vec<CheckedCase>,
    /// Files that could not be read or parsed: they make the exit code 2.
    pub unreadable: Vec<String>,
    pub files_checked: usize,
}

/// A lone payload to check against one endpoint.
#[derive(Debug, Clone)]
pub enum Payload {
    Request {
        endpoint: String,
        file: PathBuf,
    },
    Response {
        endpoint: String,
        file: PathBuf,
        status: u16,
    },
}

/// Exit codes, ripgrep-style.
pub const EXIT_CLEAN: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

impl CheckReport {
    pub fn findings(&self) -> impl Iterator<Item = (&CheckedCase, &Finding)> {
        self.cases
            .iter()
            .flat_map(|case| case.findings.iter().map(move |finding| (case, finding)))
    }

    pub fn error_count(&self) -> usize {
        self.findings().filter(|(_, f)| f.is_error()).count()
    }

    pub fn exit_code(&self) -> i32 {
        if !self.unreadable.is_empty() {
            EXIT_ERROR
        } else if self.error_count() > 0 {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        }
    }
}

/// A cassette a reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCassette {
    /// `NAME.json`, which may not exist yet: a crash before the first
    /// compaction leaves only `NAME.json.journal`, and that journal is the
    /// cassette (read it with [`crate::recorder::load_with_journal`]).
    pub path: PathBuf,
    /// Named on the command line, rather than found in a folder.
    pub named: bool,
}

/// Lists the cassettes under `paths`: files as given, folders searched
/// recursively for `*.json` files and for the journals and merge files of
/// cassettes that have no file yet, in sorted order so reports are stable.
/// A path that names no file is a cassette if its journal or merge file
/// exists. Links are followed; a folder reached twice (a link loop) is
/// searched once.
pub fn find_cassettes(paths: &[PathBuf]) -> Result<Vec<FoundCassette>, String> {
    let mut found = Vec::new();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(_) if crate::recorder::has_pending_entries(path) => {
                found.push(FoundCassette {
                    path: path.clone(),
                    named: true,
                });
                continue;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing_cassettes(path));
            }
            Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
        };
        if metadata.is_dir() {
            walk(path, &mut seen_dirs, &mut found)
                .map_err(|err| format!("cannot list {}: {err}", path.display()))?;
        } else {
            found.push(FoundCassette {
                path: path.clone(),
                named: true,
            });
        }
    }
    Ok(found)
}

/// What replay and schema-check both say when a cassette path does not exist.
pub fn missing_cassettes(path: &Path) -> String {
    if path == Path::new(DEFAULT_CASSETTES) {
        format!(
            "no {DEFAULT_CASSETTES}/ folder here: run from a project that has one, or name your \
             cassette files or folders (replay --cassette PATH, schema-check PATH)"
        )
    } else {
        format!(
            "no cassette file or folder at {}: check the path",
            path.display()
        )
    }
}

/// What replay and schema-check both say when `paths` hold no cassette.
pub fn no_cassette_found(paths: &[PathBuf]) -> String {
    let paths: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    format!(
        "no cassette found under {} (a cassette is a *.json file, or a *.json.journal of one; \
         node_modules and hidden folders are not searched)",
        paths.join(", ")
    )
}

/// The folder both commands read when given no cassette path.
pub const DEFAULT_CASSETTES: &str = "cassettes";

/// Which folder a path is, so that a link loop is walked once.
fn dir_id(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

fn walk(
    dir: &Path,
    seen_dirs: &mut HashSet<(u64, u64)>,
    found: &mut Vec<FoundCassette>,
) -> std::io::Result<()> {
    if !seen_dirs.insert(dir_id(&std::fs::metadata(dir)?)) {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    // Sorted by path, folders among files; a cassette known only by its
    // journal or merge file sorts under its own name, once.
    let mut listed: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for path in entries {
        // Tooling's folders and hidden files hold JSON that is no cassette
        // (`node_modules/**/package.json`, `.vscode/settings.json`).
        let name = path.file_name().map(|name| name.to_string_lossy());
        if name.is_some_and(|name| name.starts_with('.') || name == "node_modules") {
            continue;
        }
        if path.is_dir() {
            listed.insert(path, true);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            listed.insert(path, false);
        } else if let Some(owner) = path
            .file_name()
            .and_then(crate::recorder::pending_entries_of)
        {
            listed.insert(dir.join(owner), false);
        }
    }
    for (path, is_dir) in listed {
        if is_dir {
            walk(&path, seen_dirs, found)?;
        } else {
            found.push(FoundCassette { path, named: false });
        }
    }
    Ok(())
}

/// Checks every interaction of each cassette, journal included. One that
/// cannot be read is reported in [`CheckReport::unreadable`] (exit code 2)
/// and the others are still checked.
pub fn check_cassettes(
    contract: &ContractSet,
    cassettes: &[FoundCassette],
    report: &mut CheckReport,
) {
    for FoundCassette { path, .. } in cassettes {
        report.files_checked += 1;
        // Pending journal entries count: they are acknowledged exchanges.
        let cassette = match crate::recorder::load_with_journal(path) {
            Ok(cassette) => cassette,
            Err(err) => {
                report.unreadable.push(err.to_string());
                continue;
            }
        };
        let file = path.display().to_string();
        // One redactor per cassette: a secret issued in one interaction and
        // quoted in a later one is found as a leak there too. A header the
        // cassette holds redacted that no built-in rule knows was recorded
        // with `--redact-header`: the same rule reads the whole cassette.
        let headers: Vec<String> = cassette
            .interactions
            .iter()
            .flat_map(redact::header_values::redacted_header_names)
            .collect();
        let redactor = redact::Redactor::new(&redact::RedactionRules {
            headers,
            ..redact::RedactionRules::default()
        });
        for (index, interaction) in cassette.interactions.iter().enumerate() {
            let request = &interaction.request;
            let (endpoint, mut findings) = match contract.check_interaction(interaction) {
                Some((endpoint, findings)) => (Some(endpoint.id.clone()), findings),
                None => (None, Vec::new()),
            };
            let (leaks, secrets) = redact::find_leaks_with(&redactor, interaction);
            findings.extend(leaks);
            scrub_findings(&mut findings, &secrets);
            report.cases.push(CheckedCase {
                file: file.clone(),
                interaction: Some(index),
                // The path names the case in every report: scrubbed too.
                label: secrets
                    .scrub(&format!("{} {}", request.method, request.path))
                    .into_owned(),
                endpoint,
                findings,
            });
        }
    }
}

/// Checks one payload file (a JSON body) against an endpoint.
pub fn check_payload(
    contract: &ContractSet,
    payload: &Payload,
    report: &mut CheckReport,
) -> Result<(), String> {
    let (endpoint_id, file) = match payload {
        Payload::Request { endpoint, file } | Payload::Response { endpoint, file, .. } => {
            (endpoint, file)
        }
    };
    let endpoint = contract.endpoint(endpoint_id).ok_or_else(|| {
        format!(
            "unknown endpoint `{endpoint_id}`; `datovcr schema-check --list-endpoints` lists all {}",
            contract.endpoints().len()
        )
    })?;
    report.files_checked += 1;
    let body = match read_json(file) {
        Ok(body) => body,
        Err(message) => {
            report.unreadable.push(message);
            return Ok(());
        }
    };
    let (label, side, mut findings) = match payload {
        Payload::Request { .. } => (
            "request body".to_owned(),
            Side::Request,
            contract.check_request_body(endpoint, &body),
        ),
        Payload::Response { status, .. } => (
            format!("response body, status {status}"),
            Side::Response,
            contract.check_response_body(endpoint, *status, &body),
        ),
    };
    let (leaks, secrets) = redact::find_body_leaks(side, &body);
    findings.extend(leaks);
    scrub_findings(&mut findings, &secrets);
    report.cases.push(CheckedCase {
        file: file.display().to_string(),
        interaction: None,
        label,
        endpoint: Some(endpoint.id.clone()),
        findings,
    });
    Ok(())
}

/// Violation messages quote the instance they fault, which may hold the
/// very secrets the leak search found: no report may repeat them.
fn scrub_findings(findings: &mut [Finding], secrets: &redact::Secrets) {
    for finding in findings {
        finding.message = secrets.scrub(&finding.message).into_owned();
        finding.pointer = secrets.scrub(&finding.pointer).into_owned();
    }
}

fn read_json(file: &Path) -> Result<Value, String> {
    let bytes = if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|err| format!("cannot read standard input: {err}"))?;
        bytes
    } else {
        std::fs::read(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?
    };
    let value =
        serde_json::from_slice(&bytes).map_err(|err| {
            match crate::cassette::bom_advice(&bytes) {
                Some(advice) => format!("{}: {advice}", file.display()),
                None => format!(
                    "{}:{}:{}: not valid JSON: {err}",
                    file.display(),
                    err.line(),
                    err.column()
                ),
            }
        })?;
    // The rule of a cassette's `json` body: a payload is judged as its
    // body would be.
    crate::cassette::check_json_text(&bytes)
        .map_err(|rule| format!("{}: {rule}", file.display()))?;
    Ok(value)
}
