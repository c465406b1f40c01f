//! Measuring server processes from outside: one wrk run against one
//! process, with the process's CPU time (and instructions, where perf can
//! count them) over the run; pairs of baseline and target runs, alternated;
//! the medians of the per-pair ratios; one printed line per comparison.

use crate::counters::{self, Counting, Support};
use crate::procs::{Placement, Server};
use crate::report::{Report, Row, median, rps};
use crate::wrk::{self, Load, Measured};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every binary-level row shares: the script wrk sends, where
/// processes run, and how long and how often to measure.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub script: PathBuf,
    pub placement: Placement,
    pub perf: Support,
    /// Baseline/target pairs per comparison.
    pub pairs: usize,
    /// One measured run.
    pub run: Duration,
    /// The warm-up run each side gets first.
    pub warmup: Duration,
}

impl Lab {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self, connections: usize) -> Load {
        Load {
            connections,
            duration: self.run,
        }
    }

    pub fn warmup(&self, connections: usize) -> Load {
        Load {
            connections,
            duration: self.warmup,
        }
    }

    /// Runs `load` against `server`, reading its CPU time (and instructions)
    /// around the run.
    pub fn measure(&self, server: &Server, load: Load) -> Run {
        let counting = match self.perf {
            Support::Available => Counting::start(server.pid(), self.placement.load_core()),
            Support::Unavailable(_) => None,
        };
        let before = server.cpu();
        let measured = wrk::run(server.addr, &self.script, load, self.placement.load_core());
        let cpu = server.cpu().saturating_sub(before);
        let instructions = counting.and_then(Counting::stop);
        Run {
            measured,
            cpu,
            instructions,
            threads: server.threads(),
        }
    }

    /// Warms both sides up, then runs them `pairs` times, alternating which
    /// goes first so a drift of the machine favours neither.
    pub fn compare(
        &self,
        connections: usize,
        baseline: &mut dyn FnMut(Load) -> Run,
        target: &mut dyn FnMut(Load) -> Run,
    ) -> Vec<(Run, Run)> {
        baseline(self.warmup(connections));
        target(self.warmup(connections));
        let load = self.load(connections);
        (0..self.pairs)
            .map(|pair| {
                if pair % 2 == 0 {
                    let base = baseline(load);
                    (base, target(load))
                } else {
                    let measured = target(load);
                    (baseline(load), measured)
                }
            })
            .collect()
    }
}

/// One wrk run against one server process.
#[derive(Debug, Clone)]
pub struct Run {
    pub measured: Measured,
    /// utime + stime of the server process over the run.
    pub cpu: Duration,
    /// Instructions the server process retired over the run, where perf
    /// can count them.
    pub instructions: Option<u64>,
    /// Threads the server process had at the end of the run.
    pub threads: usize,
}

impl Run {
    fn requests(&self) -> f64 {
        self.measured.requests.max(1) as f64
    }

    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests()
    }

    pub fn instructions_per_request(&self) -> Option<f64> {
        self.instructions
            .map(|count| count as f64 / self.requests())
    }

    fn json(&self) -> Value {
        json!({
            "requests": self.measured.requests,
            "failed": self.measured.failed(),
            "rps": self.measured.throughput(),
            "p50_us": self.measured.p50_us,
            "p90_us": self.measured.p90_us,
            "p99_us": self.measured.p99_us,
            "mean_us": self.measured.mean_us,
            "cpu_ms": self.cpu.as_secs_f64() * 1e3,
            "cpu_us_per_request": self.cpu_us_per_request(),
            "instructions_per_request": self.instructions_per_request(),
            "threads": self.threads,
            "server_busy": self.cpu.as_secs_f64() * 1e6 / self.measured.duration_us.max(1) as f64,
            "load_generator_busy": self.measured.load_busy(),
        })
    }
}

/// The medians a comparison is judged on.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub base_rps: f64,
    pub target_rps: f64,
    pub rps_ratio: f64,
    pub base_p50: f64,
    pub target_p50: f64,
    pub added_p50: f64,
    pub added_p99: f64,
    pub base_cpu: f64,
    pub target_cpu: f64,
    pub cpu_ratio: f64,
    pub instructions_ratio: Option<f64>,
    pub failed: u64,
    /// The largest share of its core wrk used in any run.
    pub load_busy: f64,
}

fn med(pairs: &[(Run, Run)], f: impl Fn(&Run, &Run) -> f64) -> f64 {
    median(&pairs.iter().map(|(b, t)| f(b, t)).collect::<Vec<_>>())
}

impl Figures {
    pub fn of(pairs: &[(Run, Run)]) -> Figures {
        let instructions: Vec<f64> = pairs
            .iter()
            .filter_map(|(b, t)| {
                Some(t.instructions_per_request()? / b.instructions_per_request()?)
            })
            .collect();
        Figures {
            base_rps: med(pairs, |b, _| b.measured.throughput()),
            target_rps: med(pairs, |_, t| t.measured.throughput()),
            rps_ratio: med(pairs, |b, t| {
                t.measured.throughput() / b.measured.throughput()
            }),
            base_p50: med(pairs, |b, _| b.measured.p50_us),
            target_p50: med(pairs, |_, t| t.measured.p50_us),
            added_p50: med(pairs, |b, t| t.measured.p50_us - b.measured.p50_us),
            added_p99: med(pairs, |b, t| t.measured.p99_us - b.measured.p99_us),
            base_cpu: med(pairs, |b, _| b.cpu_us_per_request()),
            target_cpu: med(pairs, |_, t| t.cpu_us_per_request()),
            cpu_ratio: med(pairs, |b, t| {
                t.cpu_us_per_request() / b.cpu_us_per_request()
            }),
            instructions_ratio: (!instructions.is_empty()).then(|| median(&instructions)),
            failed: pairs
                .iter()
                .map(|(b, t)| b.measured.failed() + t.measured.failed())
                .sum(),
            load_busy: pairs
                .iter()
                .flat_map(|(b, t)| [b.measured.load_busy(), t.measured.load_busy()])
                .fold(0.0, f64::max),
        }
    }
}

/// The header of the binary-level table.
pub fn print_header(perf: &Support) {
    println!(
        "  {:<58} {:>26} {:>30} {:>30} {:>8}",
        "row (baseline -> target)",
        "req/s (ratio)",
        "p50 us (added)",
        "CPU us/request (ratio)",
        "instr"
    );
    if let Support::Unavailable(why) = perf {
        println!("  (instructions per request: not supported on this machine: {why})");
    }
}

/// Prints one comparison and records it in the report (with every run's raw
/// figures), returning its medians.
pub fn report(
    report: &mut Report,
    id: String,
    what: String,
    baseline: &str,
    pairs: &[(Run, Run)],
    extra: Value,
) -> Figures {
    let f = Figures::of(pairs);
    let instructions = f
        .instructions_ratio
        .map_or_else(|| "n/a".to_owned(), |ratio| format!("{ratio:.2}x"));
    println!(
        "  {:<58} {:>26} {:>30} {:>30} {:>8}{}",
        what,
        format!(
            "{:.0} -> {:.0} ({:.2}x)",
            f.base_rps, f.target_rps, f.rps_ratio
        ),
        format!(
            "{:.0} -> {:.0} ({:+.0})",
            f.base_p50, f.target_p50, f.added_p50
        ),
        format!(
            "{:.1} -> {:.1} ({:.2}x)",
            f.base_cpu, f.target_cpu, f.cpu_ratio
        ),
        instructions,
        if f.failed > 0 {
            format!("  ({} failed)", f.failed)
        } else {
            String::new()
        }
    );
    if f.load_busy > 0.9 {
        println!(
            "  {:<58} wrk used {:.0} % of its core: req/s ratios understate the difference",
            "",
            f.load_busy * 100.0
        );
    }
    report.record(Row {
        id,
        what: format!("{what} (vs {baseline})"),
        baseline: rps(f.base_rps),
        measured: rps(f.target_rps),
        figure: format!("{:.2}x req/s, {:.2}x CPU/request", f.rps_ratio, f.cpu_ratio),
        goal: "info",
        holds: None,
        details: json!({
            "baseline": baseline,
            "rps_ratio": f.rps_ratio,
            "cpu_ratio": f.cpu_ratio,
            "added_p50_us": f.added_p50,
            "added_p99_us": f.added_p99,
            "baseline_rps": f.base_rps,
            "target_rps": f.target_rps,
            "baseline_p50_us": f.base_p50,
            "target_p50_us": f.target_p50,
            "baseline_cpu_us_per_request": f.base_cpu,
            "target_cpu_us_per_request": f.target_cpu,
            "instructions_ratio": f.instructions_ratio,
            "failed": f.failed,
            "load_generator_busy_max": f.load_busy,
            "pairs": pairs.iter().map(|(b, t)| json!({"baseline": b.json(), "target": t.json()})).collect::<Vec<_>>(),
            "extra": extra,
        }),
    });
    f
}

/// Probes perf once and says what it found.
pub fn probe_perf() -> Support {
    counters::probe()
}
