//! Rendering a [`CheckReport`] for people (`human`), programs (`json`) and
//! CI systems (`junit`).

use super::{CheckReport, CheckedCase};
use crate::contract::{Category, Finding};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::json;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
}

pub fn render(report: &CheckReport, format: Format) -> String {
    match format {
        Format::Human => human(report),
        Format::Json => json(report),
        Format::Junit => junit(report),
    }
}

/// Counts shown in every format's summary.
struct Summary {
    cases: usize,
    violations: usize,
    leaked_secrets: usize,
    drift: usize,
    not_under_contract: usize,
}

fn summarize(report: &CheckReport) -> Summary {
    let count = |category| {
        report
            .findings()
            .filter(|(_, f)| f.category == category)
            .count()
    };
    Summary {
        cases: report.cases.len(),
        violations: count(Category::Violation),
        leaked_secrets: count(Category::LeakedSecret),
        drift: count(Category::Drift),
        not_under_contract: report.cases.iter().filter(|c| c.endpoint.is_none()).count(),
    }
}

fn case_name(case: &CheckedCase) -> String {
    let mut name = match case.interaction {
        Some(index) => format!("{} #{index} {}", case.file, case.label),
        None => format!("{} {}", case.file, case.label),
    };
    if let Some(endpoint) = &case.endpoint {
        let _ = write!(name, " ({endpoint})");
    }
    name
}

fn human(report: &CheckReport) -> String {
    let mut out = String::new();
    for message in &report.unreadable {
        let _ = writeln!(out, "error: {message}");
    }
    for case in &report.cases {
        if case.endpoint.is_none() {
            let _ = writeln!(out, "{}: not under contract", case_name(case));
        }
        for finding in &case.findings {
            let _ = writeln!(
                out,
                "{}: {}: {finding}",
                case_name(case),
                severity_word(finding)
            );
        }
    }
    let s = summarize(report);
    let _ = writeln!(
        out,
        "checked {} interaction(s) in {} file(s): {} violation(s), {} leaked secret(s), {} drift warning(s), {} not under contract{}",
        s.cases,
        report.files_checked,
        s.violations,
        s.leaked_secrets,
        s.drift,
        s.not_under_contract,
        if report.unreadable.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable file(s)", report.unreadable.len())
        }
    );
    out
}

fn severity_word(finding: &Finding) -> &'static str {
    match finding.category {
        Category::Violation => "error",
        Category::LeakedSecret => "leaked secret",
        Category::Drift => "warning (drift)",
        Category::NotRecorded => "note (not recorded)",
    }
}

fn json(report: &CheckReport) -> String {
    let findings: Vec<_> = report
        .findings()
        .map(|(case, finding)| {
            json!({
                "file": case.file,
                "interaction": case.interaction,
                "endpoint": case.endpoint,
                "severity": finding.severity(),
                "category": finding.category,
                "side": finding.side,
                "part": finding.part,
                "pointer": finding.pointer,
                "rule": finding.rule,
                "message": finding.message,
            })
        })
        .collect();
    let not_under_contract: Vec<_> = report
        .cases
        .iter()
        .filter(|case| case.endpoint.is_none())
        .map(|case| json!({"file": case.file, "interaction": case.interaction, "request": case.label}))
        .collect();
    let s = summarize(report);
    let document = json!({
        "findings": findings,
        "not_under_contract": not_under_contract,
        "unreadable": report.unreadable,
        "summary": {
            "files": report.files_checked,
            "interactions": s.cases,
            "violations": s.violations,
            "leaked_secrets": s.leaked_secrets,
            "drift_warnings": s.drift,
            "not_under_contract": s.not_under_contract,
            "exit_code": report.exit_code(),
        }
    });
    let mut text = serde_json::to_string_pretty(&document).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// One `<testsuite>` per file, one `<testcase>` per interaction. Errors are
/// `<failure>`s, drift goes to `<system-out>`, interactions outside the
/// contract are `<skipped>`, unreadable files are `<error>`s.
fn junit(report: &CheckReport) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_junit(&mut writer, report).expect("writing XML to memory cannot fail");
    let mut xml = String::from_utf8(writer.into_inner()).expect("quick-xml writes UTF-8");
    xml.push('\n');
    xml
}

fn write_junit(writer: &mut Writer<Vec<u8>>, report: &CheckReport) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut files: Vec<&str> = report.cases.iter().map(|case| case.file.as_str()).collect();
    files.dedup();
    let total_failures = report
        .cases
        .iter()
        .filter(|c| c.findings.iter().any(Finding::is_error))
        .count();
    writer
        .create_element("testsuites")
        .with_attribute(("name", "datovcr schema-check"))
        .with_attribute((
            "tests",
            (report.cases.len() + report.unreadable.len())
                .to_string()
                .as_str(),
        ))
        .with_attribute(("failures", total_failures.to_string().as_str()))
        .with_attribute(("errors", report.unreadable.len().to_string().as_str()))
        .write_inner_content(|writer| {
            for file in &files {
                let cases: Vec<_> = report
                    .cases
                    .iter()
                    .filter(|case| case.file == *file)
                    .collect();
                write_suite(writer, file, &cases)?;
            }
            if !report.unreadable.is_empty() {
                write_unreadable(writer, &report.unreadable)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_suite(
    writer: &mut Writer<Vec<u8>>,
    file: &str,
    cases: &[&CheckedCase],
) -> std::io::Result<()> {
    let failures = cases
        .iter()
        .filter(|c| c.findings.iter().any(Finding::is_error))
        .count();
    let skipped = cases.iter().filter(|c| c.endpoint.is_none()).count();
    writer
        .create_element("testsuite")
        .with_attribute(("name", file))
        .with_attribute(("tests", cases.len().to_string().as_str()))
        .with_attribute(("failures", failures.to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", skipped.to_string().as_str()))
        .write_inner_content(|writer| {
            for case in cases {
                write_case(writer, file, case)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_case(writer: &mut Writer<Vec<u8>>, file: &str, case: &CheckedCase) -> std::io::Result<()> {
    let name = match case.interaction {
        Some(index) => format!("#{index} {}", case.label),
        None => case.label.clone(),
    };
    let name = match &case.endpoint {
        Some(endpoint) => format!("{name} ({endpoint})"),
        None => name,
    };
    let errors: Vec<&Finding> = case.findings.iter().filter(|f| f.is_error()).collect();
    let warnings: Vec<&Finding> = case.findings.iter().filter(|f| !f.is_error()).collect();
    let element = writer
        .create_element("testcase")
        .with_attribute(("classname", file))
        .with_attribute(("name", name.as_str()));
    if errors.is_empty() && warnings.is_empty() && case.endpoint.is_some() {
        element.write_empty()?;
        return Ok(());
    }
    element.write_inner_content(|writer| {
        if case.endpoint.is_none() {
            writer
                .create_element("skipped")
                .with_attribute(("message", "not under contract"))
                .write_empty()?;
        }
        if !errors.is_empty() {
            let message = format!("{} problem(s): {}", errors.len(), errors[0]);
            writer
                .create_element("failure")
                .with_attribute(("message", message.as_str()))
                .with_attribute(("type", errors[0].category.to_string().as_str()))
                .write_text_content(BytesText::new(&lines(&errors)))?;
        }
        if !warnings.is_empty() {
            writer
                .create_element("system-out")
                .write_text_content(BytesText::new(&lines(&warnings)))?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_unreadable(writer: &mut Writer<Vec<u8>>, unreadable: &[String]) -> std::io::Result<()> {
    writer
        .create_element("testsuite")
        .with_attribute(("name", "unreadable files"))
        .with_attribute(("tests", unreadable.len().to_string().as_str()))
        .with_attribute(("failures", "0"))
        .with_attribute(("errors", unreadable.len().to_string().as_str()))
        .write_inner_content(|writer| {
            for message in unreadable {
                writer
                    .create_element("testcase")
                    .with_attribute(("classname", "unreadable"))
                    .with_attribute(("name", message.as_str()))
                    .write_inner_content(|writer| {
                        writer
                            .create_element("error")
                            .with_attribute(("message", message.as_str()))
                            .write_empty()?;
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    Ok(())
}

fn lines(findings: &[&Finding]) -> String {
    findings
        .iter()
        .map(|finding| format!("{} {finding}\n", finding.category))
        .collect()
}
