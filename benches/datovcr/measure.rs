//! How long and how often to measure, and how pairs of runs become rows.

use crate::client::{self, Outcome, Plan, Target};
use crate::report::{Row, median, rps};
use crate::threads::RuntimeThread;
use crate::workload::RequestTemplate;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Sizes of the run: `--quick` is a smoke run (~1 min), the default a
/// measurement (~4-5 min on 2 cores).
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: &'static str,
    /// Baseline/target pairs per row; the row reports the median.
    pub reps: usize,
    /// Concurrency 32: throughput rows.
    pub throughput: Plan,
    /// Concurrency 1: latency rows.
    pub latency: Plan,
    /// Iterations of each micro-benchmark per repetition.
    pub micro_iterations: usize,
    /// Interactions in the large cassette.
    pub large: usize,
    /// One measured wrk run of a binary-level row.
    pub binary_run: Duration,
    /// The warm-up run each side of a binary-level row gets first.
    pub binary_warmup: Duration,
    /// Start-ups per side in the start-up row.
    pub startups: usize,
}

impl Settings {
    pub fn full() -> Settings {
        Settings {
            mode: "full",
            reps: 5,
            throughput: Plan {
                concurrency: 32,
                requests: 40_000,
                time_cap: Duration::from_millis(1000),
            },
            latency: Plan {
                concurrency: 1,
                requests: 4_000,
                time_cap: Duration::from_millis(700),
            },
            micro_iterations: 20_000,
            large: 10_000,
            binary_run: Duration::from_millis(1000),
            binary_warmup: Duration::from_millis(200),
            startups: 11,
        }
    }

    pub fn quick() -> Settings {
        Settings {
            mode: "quick",
            reps: 3,
            throughput: Plan {
                concurrency: 32,
                requests: 6_000,
                time_cap: Duration::from_millis(300),
            },
            latency: Plan {
                concurrency: 1,
                requests: 800,
                time_cap: Duration::from_millis(250),
            },
            micro_iterations: 2_000,
            large: 10_000,
            binary_run: Duration::from_millis(300),
            binary_warmup: Duration::from_millis(150),
            startups: 5,
        }
    }
}

/// A shorter plan that warms caches, pools and branch predictors.
fn warmup(plan: Plan) -> Plan {
    Plan {
        requests: (plan.requests / 10).max(50),
        time_cap: plan.time_cap / 5,
        ..plan
    }
}

/// Sends `plan` from the load generator's thread.
pub fn load(
    loadgen: &RuntimeThread,
    target: &Target,
    requests: &Arc<Vec<RequestTemplate>>,
    plan: Plan,
) -> Outcome {
    let target = target.clone();
    let requests = requests.clone();
    loadgen.run(async move { client::run(target, &requests, plan).await })
}

/// One side of a comparison: where the load goes and what it sends.
pub struct Side<'a> {
    pub target: &'a Target,
    pub requests: &'a Arc<Vec<RequestTemplate>>,
}

/// What [`compare`] measured.
pub struct Comparison {
    /// `(baseline, target)` per repetition.
    pub pairs: Vec<(Outcome, Outcome)>,
    /// 2xx answers the target gave, warm-up included (for loss accounting).
    pub target_ok: u64,
}

/// Measures baseline and target `reps` times each, alternating which goes
/// first so slow drift of the machine does not favour either. Each side is
/// warmed up once first.
pub fn compare(
    settings: &Settings,
    loadgen: &RuntimeThread,
    baseline: &Side<'_>,
    target: &Side<'_>,
    plan: Plan,
) -> Comparison {
    let run = |side: &Side<'_>, plan| load(loadgen, side.target, side.requests, plan);
    run(baseline, warmup(plan));
    let warm = run(target, warmup(plan));
    let pairs: Vec<(Outcome, Outcome)> = (0..settings.reps)
        .map(|rep| {
            if rep % 2 == 0 {
                let base = run(baseline, plan);
                (base, run(target, plan))
            } else {
                let measured = run(target, plan);
                (run(baseline, plan), measured)
            }
        })
        .collect();
    let target_ok = warm.ok + pairs.iter().map(|(_, t)| t.ok).sum::<u64>();
    Comparison { pairs, target_ok }
}

/// A throughput row: the median of the per-repetition ratios target/baseline.
pub fn throughput_row(
    id: &'static str,
    what: &str,
    goal: &'static str,
    minimum: Option<f64>,
    pairs: &[(Outcome, Outcome)],
) -> Row {
    let ratios: Vec<f64> = pairs
        .iter()
        .map(|(base, target)| target.throughput() / base.throughput())
        .collect();
    let ratio = median(&ratios);
    let base_rps = median(
        &pairs
            .iter()
            .map(|(b, _)| b.throughput())
            .collect::<Vec<_>>(),
    );
    let target_rps = median(
        &pairs
            .iter()
            .map(|(_, t)| t.throughput())
            .collect::<Vec<_>>(),
    );
    let base_cpu = median(
        &pairs
            .iter()
            .map(|(b, _)| b.server_cpu_us())
            .collect::<Vec<_>>(),
    );
    let target_cpu = median(
        &pairs
            .iter()
            .map(|(_, t)| t.server_cpu_us())
            .collect::<Vec<_>>(),
    );
    Row {
        id: id.to_owned(),
        what: what.to_owned(),
        baseline: rps(base_rps),
        measured: rps(target_rps),
        figure: format!("{ratio:.2}x"),
        goal,
        holds: minimum.map(|minimum| ratio >= minimum),
        details: json!({
            "ratio": ratio,
            "ratios": ratios,
            "baseline_rps": pairs.iter().map(|(b, _)| b.throughput()).collect::<Vec<_>>(),
            "target_rps": pairs.iter().map(|(_, t)| t.throughput()).collect::<Vec<_>>(),
            "baseline_server_cpu_us_per_request": base_cpu,
            "target_server_cpu_us_per_request": target_cpu,
            "baseline_thread_cpu_us_per_request": thread_medians(pairs.iter().map(|(b, _)| b)),
            "target_thread_cpu_us_per_request": thread_medians(pairs.iter().map(|(_, t)| t)),
            "failed": pairs.iter().map(|(b, t)| b.failed + t.failed).sum::<u64>(),
        }),
    }
}

/// A latency row: the medians of the per-repetition differences of p50
/// and p99 (target minus baseline), in microseconds.
pub fn latency_row(
    id: &'static str,
    what: &str,
    goal: &'static str,
    limits: Option<(f64, Option<f64>)>,
    pairs: &[(Outcome, Outcome)],
) -> Row {
    let p = |outcome: &Outcome, q| outcome.percentile_us(q);
    let over50 = median(
        &pairs
            .iter()
            .map(|(b, t)| p(t, 50.0) - p(b, 50.0))
            .collect::<Vec<_>>(),
    );
    let over99 = median(
        &pairs
            .iter()
            .map(|(b, t)| p(t, 99.0) - p(b, 99.0))
            .collect::<Vec<_>>(),
    );
    let base50 = median(&pairs.iter().map(|(b, _)| p(b, 50.0)).collect::<Vec<_>>());
    let base99 = median(&pairs.iter().map(|(b, _)| p(b, 99.0)).collect::<Vec<_>>());
    let t50 = median(&pairs.iter().map(|(_, t)| p(t, 50.0)).collect::<Vec<_>>());
    let t99 = median(&pairs.iter().map(|(_, t)| p(t, 99.0)).collect::<Vec<_>>());
    let holds = limits.map(|(max50, max99)| over50 <= max50 && max99.is_none_or(|m| over99 <= m));
    Row {
        id: id.to_owned(),
        what: what.to_owned(),
        baseline: format!("{base50:.0}/{base99:.0} us"),
        measured: format!("{t50:.0}/{t99:.0} us"),
        figure: format!("{over50:+.0}/{over99:+.0} us"),
        goal,
        holds,
        details: json!({
            "added_p50_us": over50,
            "added_p99_us": over99,
            "baseline_p50_us": base50,
            "baseline_p99_us": base99,
            "target_p50_us": t50,
            "target_p99_us": t99,
            "samples": pairs.iter().map(|(b, t)| (b.latencies.len(), t.latencies.len())).collect::<Vec<_>>(),
            "baseline_server_cpu_us_per_request": median(&pairs.iter().map(|(b, _)| b.server_cpu_us()).collect::<Vec<_>>()),
            "target_server_cpu_us_per_request": median(&pairs.iter().map(|(_, t)| t.server_cpu_us()).collect::<Vec<_>>()),
            "baseline_thread_cpu_us_per_request": thread_medians(pairs.iter().map(|(b, _)| b)),
            "target_thread_cpu_us_per_request": thread_medians(pairs.iter().map(|(_, t)| t)),
            "failed": pairs.iter().map(|(b, t)| b.failed + t.failed).sum::<u64>(),
        }),
    }
}

/// Per thread name, the median over repetitions of CPU µs per request.
fn thread_medians<'o>(outcomes: impl Iterator<Item = &'o Outcome>) -> BTreeMap<String, f64> {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for outcome in outcomes {
        for (name, us) in outcome.thread_cpu_us() {
            samples.entry(name).or_default().push(us);
        }
    }
    samples
        .into_iter()
        .map(|(name, values)| (name, (median(&values) * 10.0).round() / 10.0))
        .collect()
}
