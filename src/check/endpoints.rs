//! `schema-check --list-endpoints`: every endpoint under contract, one per
//! line (`human`) or as a JSON array (`json`).

use super::report::Format;
use crate::contract::{ContractSet, Endpoint};
use serde_json::json;
use std::fmt::Write as _;

/// `yes`, `no`, or `optional` (the documented body may be left out).
fn body(endpoint: &Endpoint) -> &'static str {
    match (endpoint.has_request_body(), endpoint.body_optional()) {
        (false, _) => "no",
        (true, false) => "yes",
        (true, true) => "optional",
    }
}

fn statuses(endpoint: &Endpoint) -> String {
    let statuses: Vec<String> = endpoint
        .success_statuses()
        .iter()
        .map(u16::to_string)
        .collect();
    statuses.join(",")
}

/// The list, in manifest order. Human: aligned columns `ID METHOD PATH
/// BODY SUCCESS`; JSON: those and `job`, `deprecated`, `doc_url`, and the
/// manifest each entry comes from. JUnit has no meaning here: human.
pub fn render(contract: &ContractSet, format: Format) -> String {
    let endpoints = contract.endpoints();
    if format == Format::Json {
        let list: Vec<_> = endpoints
            .iter()
            .map(|endpoint| {
                json!({
                    "id": endpoint.id,
                    "method": endpoint.method,
                    "path": endpoint.path.as_str(),
                    "body": body(endpoint),
                    "success_statuses": endpoint.success_statuses(),
                    "job": endpoint.has_job(),
                    "deprecated": endpoint.deprecated(),
                    "doc_url": endpoint.doc_url(),
                    "manifest": endpoint.manifest(),
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&list).expect("a JSON value serializes");
        text.push('\n');
        return text;
    }
    let rows: Vec<[String; 5]> = endpoints
        .iter()
        .map(|endpoint| {
            [
                endpoint.id.clone(),
                endpoint.method.clone(),
                endpoint.path.as_str().to_owned(),
                body(endpoint).to_owned(),
                statuses(endpoint),
            ]
        })
        .collect();
    let header = ["ID", "METHOD", "PATH", "BODY", "SUCCESS"].map(str::to_owned);
    let mut widths = header.clone().map(|cell| cell.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (at, (cell, width)) in row.iter().zip(widths).enumerate() {
            if at + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
