//! The command line: clap definitions and dispatch to the library.

use crate::check::{self, CheckReport, EXIT_ERROR, Payload, report::Format};
use crate::contract::ContractSet;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "datovcr",
    version,
    about = "Record/replay proxy and contract tester for the DatoCMS CMA (access tokens)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check cassettes and single payloads against the access-token contract
    /// and search them for secrets that were not redacted.
    ///
    /// Exit status: 0 clean (drift warnings allowed), 1 violations or leaked
    /// secrets, 2 usage, I/O or parse errors.
    SchemaCheck(SchemaCheckArgs),
}

#[derive(Debug, Args)]
pub struct SchemaCheckArgs {
    /// Cassette files or folders (searched recursively for *.json).
    /// Defaults to `cassettes/` unless a single payload is given.
    pub paths: Vec<PathBuf>,

    /// Read the contract from this folder (manifest.json and schemas)
    /// instead of the one built into the binary.
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Endpoint a single payload is checked against, e.g. `access_tokens.create`.
    #[arg(long, value_name = "ID", requires = "payload")]
    pub endpoint: Option<String>,

    /// A request body (JSON file, or `-` for stdin) to check.
    #[arg(long, value_name = "FILE", group = "payload", requires = "endpoint")]
    pub request: Option<PathBuf>,

    /// A response body (JSON file, or `-` for stdin) to check; needs --status.
    #[arg(long, value_name = "FILE", group = "payload", requires_all = ["endpoint", "status"])]
    pub response: Option<PathBuf>,

    /// The status the response was (or would be) sent with.
    #[arg(long, value_name = "N", requires = "response", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub status: Option<u16>,
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::SchemaCheck(args) => schema_check(args),
    }
}

fn schema_check(args: SchemaCheckArgs) -> i32 {
    let contract = match &args.schemas {
        Some(dir) => ContractSet::from_dir(dir),
        None => ContractSet::embedded(),
    };
    let contract = match contract {
        Ok(contract) => contract,
        Err(err) => return fail(&err.to_string()),
    };

    let mut report = CheckReport::default();
    let mut payloads = Vec::new();
    if let Some(endpoint) = &args.endpoint {
        if let Some(file) = &args.request {
            payloads.push(Payload::Request {
                endpoint: endpoint.clone(),
                file: file.clone(),
            });
        }
        if let (Some(file), Some(status)) = (&args.response, args.status) {
            payloads.push(Payload::Response {
                endpoint: endpoint.clone(),
                file: file.clone(),
                status,
            });
        }
    }
    for payload in &payloads {
        if let Err(message) = check::check_payload(&contract, payload, &mut report) {
            return fail(&message);
        }
    }

    let paths = if args.paths.is_empty() && payloads.is_empty() {
        let default = PathBuf::from("cassettes");
        if !default.is_dir() {
            return fail(
                "no cassettes/ folder here: run from a project that has one, or pass cassette paths",
            );
        }
        vec![default]
    } else {
        args.paths.clone()
    };
    let files = match check::collect_cassettes(&paths) {
        Ok(files) => files,
        Err(message) => return fail(&message),
    };
    check::check_cassettes(&contract, &files, &mut report);

    print!("{}", check::report::render(&report, args.format));
    report.exit_code()
}

fn fail(message: &str) -> i32 {
    eprintln!("datovcr: {message}");
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
