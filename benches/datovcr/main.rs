//! datovcr's benchmark suite.
//!
//! ```text
//! cargo bench --bench datovcr                    # full run, ~4-5 minutes
//! cargo bench --bench datovcr -- --quick         # smoke run, ~1 minute
//! cargo bench --bench datovcr -- --only binary   # one group: binary, rss, micro, replay, scale, proxy
//! cargo bench --bench datovcr -- --only binary --threads-matrix default,1,2
//! cargo bench --bench datovcr -- --no-pin        # let the kernel place every process
//! ```
//!
//! `DATOVCR_BENCH_QUICK=1` is the same as `--quick`. Every figure is judged
//! against a baseline measured in the same run (machines are noisy). The
//! `binary` group measures the release `datovcr` binary as its own process
//! under wrk (`binary.rs`); `rss` starts the binary too; the other groups
//! are in-process micro-benchmarks (`threads.rs` explains their placement).
//! The table is printed and written as JSON to `target/bench-report.json`,
//! ending with the issue-15 targets (`targets.rs`).

mod bare_proxy;
mod binary;
mod client;
mod counters;
mod external;
mod helper;
mod measure;
mod micro;
mod peers;
mod pki;
mod plain_proxy;
mod procs;
mod proxy;
mod replay;
mod report;
mod targets;
mod threads;
mod upstream;
mod workload;
mod wrk;

use measure::Settings;
use procs::Placement;
use report::Report;

/// Measures one group of rows and adds them to the report.
type Group = fn(&Settings, &Options, &mut Report);

/// The groups of rows, in running order.
const GROUPS: &[(&str, Group)] = &[
    ("binary", |s, o, r| binary::rows(s, &o.binary, r)),
    ("rss", |s, _, r| {
        if r.section(
            "binary",
            "the release binary at scale (its own process, loaded by the in-process client)",
        ) {
            Report::header();
        }
        replay::peak_rss(s, r)
    }),
    ("micro", |s, _, r| micro::rows(s, micro_section(r))),
    ("replay", |s, _, r| replay::versus_bare(s, micro_section(r))),
    ("scale", |s, _, r| replay::at_scale(s, micro_section(r))),
    ("proxy", |s, _, r| proxy::rows(s, micro_section(r))),
];

/// Starts the micro-benchmark section (once) with its table header.
fn micro_section(report: &mut Report) -> &mut Report {
    let heading =
        "micro-benchmarks (in-process, current-thread runtimes; not how users run datovcr)";
    if report.section("micro-benchmark", heading) {
        Report::header();
    }
    report
}

struct Options {
    quick: bool,
    only: Option<String>,
    binary: binary::Options,
}

/// `cargo bench` passes `--bench` to harness-less benches; unknown
/// arguments are ignored so that it and cargo's filters do no harm.
fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        quick: std::env::var_os("DATOVCR_BENCH_QUICK").is_some_and(|v| v != "0"),
        only: None,
        binary: binary::Options {
            threads: vec![None],
            placement: Placement::Pinned {
                load: threads::LOAD_CORE,
                server: threads::SERVER_CORE,
            },
        },
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => options.only = args.next().cloned(),
            "--no-pin" => options.binary.placement = Placement::Unpinned,
            "--threads-matrix" => {
                let list = args
                    .next()
                    .ok_or("--threads-matrix needs a list, e.g. 1,2")?;
                options.binary.threads = list
                    .split(',')
                    .map(|item| match item.trim() {
                        "default" => Ok(None),
                        n => n.parse::<usize>().ok().filter(|n| *n > 0).map(Some).ok_or_else(
                            || format!("--threads-matrix: {n:?} is neither `default` nor a worker count"),
                        ),
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
    }
    if threads::available_cores() <= threads::SERVER_CORE {
        options.binary.placement = Placement::Unpinned;
    }
    Ok(options)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(helper::SUBCOMMAND) {
        helper::main(&args[1..]);
    }
    let options = options(&args).unwrap_or_else(|err| {
        eprintln!("datovcr bench: {err}");
        std::process::exit(2);
    });
    let settings = if options.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    println!(
        "datovcr bench ({} run, {} core(s), load average {})",
        settings.mode,
        threads::available_cores(),
        report::load_average(),
    );
    let started = std::time::Instant::now();
    let mut report = Report::new(settings.mode);
    for (name, group) in GROUPS {
        if options.only.as_deref().is_none_or(|only| only == *name) {
            let group_started = std::time::Instant::now();
            group(&settings, &options, &mut report);
            println!("  ({name}: {:.0} s)", group_started.elapsed().as_secs_f64());
        }
    }
    let suffixes: Vec<String> = options
        .binary
        .threads
        .iter()
        .map(|threads| threads.map_or_else(String::new, |n| format!("_threads{n}")))
        .collect();
    targets::rows(&mut report, &suffixes);
    report.print_summary();
    let path = report.write();
    println!(
        "report written to {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}

// The allocator the `datovcr` binary uses (src/main.rs), so the baseline
// processes this binary becomes (bare server, bare and plain proxies) and
// the in-process rows differ from datovcr only in the work they do. With
// glibc's allocator the bare proxy spent ~7 % more instructions and the
// plain proxies 18-42 % more (callgrind, 2026-11-30).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
