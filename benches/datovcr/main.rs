//! datovcr's benchmark suite.
//!
//! ```text
//! cargo bench --bench datovcr                 # full run, ~3 minutes
//! cargo bench --bench datovcr -- --quick      # smoke run, ~30 seconds
//! cargo bench --bench datovcr -- --only proxy # one group: replay, scale, rss, proxy, micro
//! ```
//!
//! `DATOVCR_BENCH_QUICK=1` is the same as `--quick`. Every figure is judged
//! against a baseline measured in the same run (machines are noisy): the
//! bare hyper server for replay, the upstream reached directly for the
//! proxy. The table is printed and written as JSON to
//! `target/bench-report.json`. How CPU is shared between the load generator
//! and the servers is explained in `threads.rs`.

mod bare_proxy;
mod client;
mod measure;
mod micro;
mod pki;
mod proxy;
mod replay;
mod report;
mod threads;
mod upstream;
mod workload;

use measure::Settings;
use report::Report;

/// Measures one group of rows and adds them to the report.
type Group = fn(&Settings, &mut Report);

/// The groups of rows, in running order.
const GROUPS: &[(&str, Group)] = &[
    ("micro", micro::rows),
    ("replay", replay::versus_bare),
    ("scale", replay::at_scale),
    ("rss", replay::peak_rss),
    ("proxy", proxy::rows),
];

struct Options {
    quick: bool,
    only: Option<String>,
}

/// `cargo bench` passes `--bench` to harness-less benches; unknown
/// arguments are ignored so that it and cargo's filters do no harm.
fn options() -> Options {
    let mut options = Options {
        quick: std::env::var_os("DATOVCR_BENCH_QUICK").is_some_and(|v| v != "0"),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => options.only = args.next(),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    let settings = if options.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    println!(
        "datovcr bench ({} run, {} core(s); load generator on core {}, servers on core {})\n",
        settings.mode,
        threads::available_cores(),
        threads::LOAD_CORE,
        threads::SERVER_CORE
    );
    let started = std::time::Instant::now();
    let mut report = Report::new(settings.mode);
    Report::header();
    for (name, group) in GROUPS {
        if options.only.as_deref().is_none_or(|only| only == *name) {
            group(&settings, &mut report);
        }
    }
    report.print_summary();
    let path = report.write();
    println!(
        "report written to {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
