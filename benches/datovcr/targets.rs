//! The targets of issue 15, judged on this run's rows: each a ratio (or an
//! added latency, or a size) measured on the shipped binary, except the
//! cassette load, which stays an in-process row.

use crate::report::{Report, Row};
use serde_json::{Value, json};

/// Which figure of which row a target reads, and how it is judged.
struct Target {
    what: &'static str,
    /// The row's id (before the runtime setting's suffix).
    row: &'static str,
    figure: Figure,
    goal: &'static str,
    holds: fn(f64) -> bool,
}

#[derive(Clone, Copy)]
enum Figure {
    CpuRatio,
    RpsRatio,
    AddedP50,
    /// The durable recording's throughput ratio, and 0 lost.
    RpsRatioNoneLost,
    LoadVersusSkim,
    PeakRssMib,
}

const TARGETS: &[Target] = &[
    Target {
        what: "replay, c=32, CPU per request vs bare hyper",
        row: "binary_replay_c32",
        figure: Figure::CpuRatio,
        goal: "<= 1.25x",
        holds: |x| x <= 1.25,
    },
    Target {
        what: "replay, c=32, requests/s vs bare hyper",
        row: "binary_replay_c32",
        figure: Figure::RpsRatio,
        goal: ">= 0.8x",
        holds: |x| x >= 0.8,
    },
    Target {
        what: "replay, c=1, p50 added latency vs bare hyper",
        row: "binary_replay_c1",
        figure: Figure::AddedP50,
        goal: "<= +15 us",
        holds: |x| x <= 15.0,
    },
    Target {
        what: "proxy validating, not recording, CPU/exchange vs bare proxy",
        row: "binary_proxy_norec_c32",
        figure: Figure::CpuRatio,
        goal: "<= 1.3x",
        holds: |x| x <= 1.3,
    },
    Target {
        what: "proxy recording --fsync periodic, CPU/exchange vs bare proxy",
        row: "binary_proxy_periodic_c32",
        figure: Figure::CpuRatio,
        goal: "<= 1.6x",
        holds: |x| x <= 1.6,
    },
    Target {
        what: "proxy recording durable, c=32, req/s vs bare proxy",
        row: "binary_proxy_durable_c32",
        figure: Figure::RpsRatioNoneLost,
        goal: ">= 0.5x, 0 lost",
        holds: |x| x >= 0.5,
    },
    Target {
        what: "load a 10,000-interaction cassette vs serde_json skim (micro)",
        row: "load_large_cassette",
        figure: Figure::LoadVersusSkim,
        goal: "<= 2.5x",
        holds: |x| x <= 2.5,
    },
    Target {
        what: "peak RSS, datovcr replay, 10,000 interactions",
        row: "replay_peak_rss_large",
        figure: Figure::PeakRssMib,
        goal: "<= 30 MiB",
        holds: |x| x <= 30.0,
    },
];

fn number(details: &Value, key: &str) -> Option<f64> {
    details.get(key).and_then(Value::as_f64)
}

/// Requests a comparison row's runs (both sides) did not answer below 400:
/// their CPU counts in the per-request figures while their work was not
/// done, so a ratio over them says nothing. 0 for rows without requests.
fn failed(details: &Value) -> u64 {
    details.get("failed").and_then(Value::as_u64).unwrap_or(0)
}

/// The figure, printed, and whether the target holds: never over runs
/// with failed requests.
fn judge(target: &Target, row: &Row) -> Option<(String, String, String, bool)> {
    let (base, measured, figure, holds) = judge_figure(target, row)?;
    match failed(&row.details) {
        0 => Some((base, measured, figure, holds)),
        count => Some((base, measured, format!("{figure}, {count} failed"), false)),
    }
}

fn judge_figure(target: &Target, row: &Row) -> Option<(String, String, String, bool)> {
    let d = &row.details;
    let (base, measured) = (row.baseline.clone(), row.measured.clone());
    Some(match target.figure {
        Figure::CpuRatio => {
            let ratio = number(d, "cpu_ratio")?;
            let (b, t) = (
                number(d, "baseline_cpu_us_per_request")?,
                number(d, "target_cpu_us_per_request")?,
            );
            (
                format!("{b:.1} us/req"),
                format!("{t:.1} us/req"),
                format!("{ratio:.2}x"),
                (target.holds)(ratio),
            )
        }
        Figure::RpsRatio => {
            let ratio = number(d, "rps_ratio")?;
            (
                base,
                measured,
                format!("{ratio:.2}x"),
                (target.holds)(ratio),
            )
        }
        Figure::AddedP50 => {
            let added = number(d, "added_p50_us")?;
            (
                format!("{:.0} us", number(d, "baseline_p50_us")?),
                format!("{:.0} us", number(d, "target_p50_us")?),
                format!("{added:+.0} us"),
                (target.holds)(added),
            )
        }
        Figure::RpsRatioNoneLost => {
            let ratio = number(d, "rps_ratio")?;
            let lost = d["extra"]["lost"].as_u64()?;
            (
                base,
                measured,
                format!("{ratio:.2}x, {lost} lost"),
                (target.holds)(ratio) && lost == 0,
            )
        }
        Figure::LoadVersusSkim => {
            let ratio = number(d, "start_vs_read_and_skim_median")?;
            (
                base,
                measured,
                format!("{ratio:.2}x"),
                (target.holds)(ratio),
            )
        }
        Figure::PeakRssMib => {
            let mib = number(d, "vm_hwm_kib")? / 1024.0;
            (
                base,
                format!("{mib:.1} MiB"),
                format!("{mib:.1} MiB"),
                (target.holds)(mib),
            )
        }
    })
}

/// Adds the target rows (one set per runtime setting measured) and the
/// side-by-side peer rows, judged on the rows measured before.
pub fn rows(report: &mut Report, suffixes: &[String]) {
    report.section(
        "target",
        "issue 15 targets (ratios from this run; the release binary unless marked micro)",
    );
    Report::header();
    let mut judged = Vec::new();
    for suffix in suffixes {
        for target in TARGETS {
            let binary = target.row.starts_with("binary_");
            if !binary && !suffix.is_empty() {
                continue;
            }
            let id = if binary {
                format!("{}{suffix}", target.row)
            } else {
                target.row.to_owned()
            };
            let label = match suffix.strip_prefix("_threads") {
                Some(n) if binary => format!("{}, DATOVCR_THREADS={n}", target.what),
                _ => target.what.to_owned(),
            };
            let judgement = report.find(&id).and_then(|row| judge(target, row));
            judged.push(match judgement {
                Some((baseline, measured, figure, holds)) => Row {
                    id: format!("target_{id}"),
                    what: label,
                    baseline,
                    measured,
                    figure,
                    goal: target.goal,
                    holds: Some(holds),
                    details: json!({"row": id}),
                },
                None => Row {
                    id: format!("target_{id}"),
                    what: label,
                    baseline: "-".into(),
                    measured: "not measured".into(),
                    figure: "-".into(),
                    goal: target.goal,
                    holds: None,
                    details: json!({"row": id, "why": "its group did not run"}),
                },
            });
        }
    }
    judged.extend(peer_rows(report));
    judged.extend(plain_rows(report));
    for row in judged {
        report.add(row);
    }
}

/// datovcr and talkback side by side, each against the same baseline.
fn peer_rows(report: &Report) -> Vec<Row> {
    let pairs = [
        (
            "replay c=32, req/s vs bare hyper: datovcr | talkback",
            "binary_replay_c32",
            "peer_talkback_replay_c32",
        ),
        (
            "recording c=32, req/s vs bare proxy: datovcr periodic | talkback",
            "binary_proxy_periodic_c32",
            "peer_talkback_record_c32",
        ),
    ];
    pairs
        .iter()
        .filter_map(|(what, ours, theirs)| {
            let ours = report.find(ours)?;
            let theirs = report.find(theirs)?;
            let figure = |row: &Row, key| number(&row.details, key).unwrap_or(f64::NAN);
            Some(Row {
                id: format!("peers_{}", ours.id),
                what: (*what).to_owned(),
                baseline: format!("{:.2}x", figure(ours, "rps_ratio")),
                measured: format!("{:.2}x", figure(theirs, "rps_ratio")),
                figure: format!(
                    "CPU {:.2}x | {:.2}x",
                    figure(ours, "cpu_ratio"),
                    figure(theirs, "cpu_ratio")
                ),
                goal: "info",
                holds: None,
                details: json!({"datovcr": ours.id, "talkback": theirs.id}),
            })
        })
        .collect()
}

/// Each missed-prone target's figure for datovcr next to the same figure
/// for the job done plainly (`plain_proxy.rs`, and the whole cassette
/// parsed into one `Value` for the load): where the plain job misses the
/// goal too, doing less of datovcr's own work would not meet it.
fn plain_rows(report: &Report) -> Vec<Row> {
    // (what, datovcr's row, its key, the plain row, its key)
    let pairs = [
        (
            "proxy validating CPU vs bare proxy: datovcr | plain",
            "binary_proxy_norec_c32",
            "cpu_ratio",
            "plain_proxy_validate_c32",
            "cpu_ratio",
        ),
        (
            "recording periodic CPU vs bare proxy: datovcr | plain, no redaction",
            "binary_proxy_periodic_c32",
            "cpu_ratio",
            "plain_proxy_periodic_c32",
            "cpu_ratio",
        ),
        (
            "recording durable req/s vs bare proxy: datovcr | plain, no redaction",
            "binary_proxy_durable_c32",
            "rps_ratio",
            "plain_proxy_durable_c32",
            "rps_ratio",
        ),
        (
            "load 10,000 vs skim: datovcr | whole file as one Value",
            "load_large_cassette",
            "start_vs_read_and_skim_median",
            "load_large_cassette",
            "plain_value_vs_read_and_skim_median",
        ),
    ];
    pairs
        .iter()
        .filter_map(|(what, ours, our_key, plain, plain_key)| {
            let ours = report.find(ours)?;
            let plain = report.find(plain)?;
            let ours_figure = number(&ours.details, our_key)?;
            let plain_figure = number(&plain.details, plain_key)?;
            // A side that answered errors (a plain proxy that could not do
            // its job answers 500) did less than the job: no comparison.
            let (ours_failed, plain_failed) = (failed(&ours.details), failed(&plain.details));
            let figure = if ours_failed + plain_failed > 0 {
                format!("not compared: {ours_failed} | {plain_failed} failed")
            } else {
                format!("{:.2}x", ours_figure / plain_figure)
            };
            Some(Row {
                id: format!("plain_{}", ours.id),
                what: (*what).to_owned(),
                baseline: format!("{ours_figure:.2}x"),
                measured: format!("{plain_figure:.2}x"),
                figure,
                goal: "info",
                holds: None,
                details: json!({"datovcr": ours.id, "plain": plain.id}),
            })
        })
        .collect()
}
