//! The result table: printed for people, written as JSON for tools.

use serde_json::{Value, json};
use std::path::PathBuf;

/// One line of the table.
pub struct Row {
    /// Stable identifier, for the JSON.
    pub id: String,
    pub what: String,
    /// The baseline's figure, or `—` when the row has none.
    pub baseline: String,
    /// The target's figure.
    pub measured: String,
    /// The ratio or overhead the target is judged on.
    pub figure: String,
    /// The goal, or `info` for rows that only explain others.
    pub goal: &'static str,
    /// `None` for information rows.
    pub holds: Option<bool>,
    /// Raw numbers per repetition and anything else worth keeping.
    pub details: Value,
}

pub struct Report {
    pub mode: &'static str,
    /// Where the rows added next belong: `micro-benchmark`, `binary`, `target`.
    section: &'static str,
    heading: String,
    rows: Vec<(&'static str, Row)>,
    /// Facts about the run worth keeping with it (`instructions`: why there
    /// are no instruction counts).
    notes: serde_json::Map<String, Value>,
}

impl Report {
    pub fn new(mode: &'static str) -> Report {
        Report {
            mode,
            section: "micro-benchmark",
            heading: String::new(),
            rows: Vec::new(),
            notes: serde_json::Map::from_iter([(
                "load_average_at_start".to_owned(),
                Value::from(load_average()),
            )]),
        }
    }

    /// Starts a section: a heading, and the section name every row added
    /// from now on carries in the JSON.
    /// A section already started is not started again: then it returns false.
    pub fn section(&mut self, section: &'static str, heading: &str) -> bool {
        if self.heading == heading {
            return false;
        }
        self.section = section;
        self.heading = heading.to_owned();
        println!("\n{heading}");
        true
    }

    /// Adds a row without printing it (its group printed it its own way).
    pub fn record(&mut self, row: Row) {
        self.rows.push((self.section, row));
    }

    pub fn note(&mut self, key: &str, text: &str) {
        self.notes.insert(key.to_owned(), Value::from(text));
    }

    /// The row with `id`, if it was measured in this run.
    pub fn find(&self, id: &str) -> Option<&Row> {
        self.rows
            .iter()
            .map(|(_, row)| row)
            .find(|row| row.id == id)
    }

    /// Adds a row and prints it at once, so a long run shows progress.
    pub fn add(&mut self, row: Row) {
        println!(
            "  {:<58} {:>16} {:>16} {:>14}  {:<16} {}",
            row.what,
            row.baseline,
            row.measured,
            row.figure,
            row.goal,
            verdict(row.holds)
        );
        self.rows.push((self.section, row));
    }

    pub fn header() {
        println!(
            "  {:<58} {:>16} {:>16} {:>14}  {:<16} holds",
            "what", "baseline", "measured", "figure", "goal"
        );
    }

    /// Summary lines: how many goals hold, per section.
    pub fn print_summary(&self) {
        println!();
        for section in ["target", "micro-benchmark"] {
            let judged: Vec<&Row> = self
                .rows
                .iter()
                .filter(|(s, row)| *s == section && row.holds.is_some())
                .map(|(_, row)| row)
                .collect();
            if judged.is_empty() {
                continue;
            }
            let held = judged.iter().filter(|row| row.holds == Some(true)).count();
            println!("{held} of {} {section} goal(s) hold", judged.len());
            for row in judged.iter().filter(|row| row.holds == Some(false)) {
                println!(
                    "  missed: {} ({} vs goal {})",
                    row.what, row.figure, row.goal
                );
            }
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "command": "cargo bench --bench datovcr",
            "mode": self.mode,
            "machine": machine(),
            "notes": self.notes,
            "placement": {
                "micro-benchmark": "in-process: load generator thread pinned to core 0; servers under test on current-thread tokio runtimes pinned to core 1",
                "binary": "separate processes: wrk pinned to core 0, every server process pinned to core 1 (unless --no-pin)",
            },
            "rows": self.rows.iter().map(|(section, row)| json!({
                "section": section,
                "id": row.id,
                "what": row.what,
                "baseline": row.baseline,
                "measured": row.measured,
                "figure": row.figure,
                "goal": row.goal,
                "holds": row.holds,
                "details": row.details,
            })).collect::<Vec<_>>(),
        })
    }

    /// Writes `target/bench-report.json` (or under `CARGO_TARGET_DIR`).
    pub fn write(&self) -> PathBuf {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        std::fs::create_dir_all(&dir).expect("create the target folder");
        let path = dir.join("bench-report.json");
        let text = serde_json::to_string_pretty(&self.to_json()).expect("JSON serializes");
        std::fs::write(&path, text + "\n").expect("write the report");
        path
    }
}

fn verdict(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "",
    }
}

/// `/proc/loadavg`'s first three fields: other work competing for the cores.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cores and CPU model, from `/proc/cpuinfo`.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    json!({
        "cores": crate::threads::available_cores(),
        "cpu": model,
        "os": std::env::consts::OS,
    })
}

/// The median of `values` (NaN for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// `12 345 req/s`.
pub fn rps(value: f64) -> String {
    format!("{} req/s", thousands(value))
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}
