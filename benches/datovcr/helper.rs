//! The baselines as processes of their own: the bench binary re-executes
//! itself as `<bench> __serve static` (the bare hyper server that answers
//! every request of the workload with prepared bytes, also the proxy rows'
//! fake upstream) or `<bench> __serve bare-proxy ADDR` (the bare hyper
//! forwarding proxy in front of ADDR) or `<bench> __serve plain-proxy ADDR
//! JOB…` (the same proxy doing a row's job plainly, [`crate::plain_proxy`]).
//! Each runs on a current-thread tokio
//! runtime, the least a hyper server needs, prints `listening on
//! http://ADDR` as `datovcr` does, and runs until it is signalled.

use crate::workload;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;

/// The first argument that selects a helper instead of the bench.
pub const SUBCOMMAND: &str = "__serve";

/// The command that starts helper `args` (`["static"]`, `["bare-proxy", ADDR]`,
/// `["plain-proxy", ADDR, "validate"]`).
pub fn command(args: &[String]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the bench's own path"));
    command.arg(SUBCOMMAND).args(args);
    command
}

/// Runs the helper named by the arguments after [`SUBCOMMAND`]; never returns.
pub fn main(args: &[String]) -> ! {
    if let [kind, count] = args
        && kind == "load"
    {
        load(count.parse().expect("load N: a count of interactions"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let addr = match args {
            [kind] if kind == "static" => {
                crate::upstream::start(&workload::standard_mix(), None).await
            }
            [kind, upstream] if kind == "bare-proxy" => {
                let upstream: SocketAddr = upstream.parse().expect("bare-proxy ADDR");
                crate::bare_proxy::start(upstream).await
            }
            [kind, upstream, job @ ..] if kind == "plain-proxy" => {
                let upstream: SocketAddr = upstream.parse().expect("plain-proxy ADDR");
                let job = crate::plain_proxy::Job::parse(job).unwrap_or_else(|| usage());
                crate::plain_proxy::start(upstream, job).await
            }
            _ => usage(),
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}").expect("stdout");
        stdout.flush().expect("stdout");
        drop(stdout);
        std::future::pending::<()>().await;
    });
    unreachable!("the helper serves until it is signalled")
}

fn usage() -> ! {
    eprintln!(
        "usage: {SUBCOMMAND} static | {SUBCOMMAND} bare-proxy ADDR | {SUBCOMMAND} plain-proxy ADDR \
         (validate | record FILE periodic|durable) | {SUBCOMMAND} load N"
    );
    std::process::exit(2);
}

/// `__serve load N`: writes the loading row's cassette of `n` interactions
/// (`workload::distinct_mix`) to a temporary folder, then does what the row
/// compares: [`skim_floor`] (read the file, serde_json skims it) and
/// [`replay_start`] (replay loads it and serves). Under `valgrind
/// --tool=callgrind` (`benches/load-instructions.sh`) each is one
/// function's inclusive count.
fn load(n: usize) -> ! {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("large.json");
    workload::write_cassette(&path, &workload::distinct_mix(n));
    skim_floor(&path);
    replay_start(&path);
    std::process::exit(0)
}

/// The loading row's floor: read the file and let serde_json skim it.
#[inline(never)]
fn skim_floor(path: &std::path::Path) {
    let bytes = std::fs::read(path).expect("reads the cassette");
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).expect("JSON");
}

/// The loading row's target: `replay::start` on the file, to a serving
/// handle, then stopped.
#[inline(never)]
fn replay_start(path: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let config = datovcr::replay::ReplayConfig {
            cassettes: vec![path.to_owned()],
            quiet: true,
            ..Default::default()
        };
        let handle = datovcr::replay::start(config, None, listener)
            .await
            .expect("replay starts");
        drop(handle);
    });
}
