//! The result table: printed for people, written as JSON for tools.

use serde_json::{Value, json};
use std::path::PathBuf;

/// One line of the table.
pub struct Row {
    /// Stable identifier, for the JSON and for `--only`.
    pub id: &'static str,
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
    rows: Vec<Row>,
}

impl Report {
    pub fn new(mode: &'static str) -> Report {
        Report {
            mode,
            rows: Vec::new(),
        }
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
        self.rows.push(row);
    }

    pub fn header() {
        println!(
            "  {:<58} {:>16} {:>16} {:>14}  {:<16} holds",
            "what", "baseline", "measured", "figure", "goal"
        );
    }

    /// A summary line: how many goals hold.
    pub fn print_summary(&self) {
        let judged: Vec<bool> = self.rows.iter().filter_map(|row| row.holds).collect();
        let held = judged.iter().filter(|holds| **holds).count();
        println!("\n{held} of {} goal(s) hold", judged.len());
        for row in self.rows.iter().filter(|row| row.holds == Some(false)) {
            println!(
                "  missed: {} ({} vs goal {})",
                row.what, row.figure, row.goal
            );
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "command": "cargo bench --bench datovcr",
            "mode": self.mode,
            "machine": machine(),
            "placement": "load generator pinned to core 0; servers under test pinned to core 1; each on a current-thread tokio runtime",
            "rows": self.rows.iter().map(|row| json!({
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
