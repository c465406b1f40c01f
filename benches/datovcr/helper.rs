//! The baselines as processes of their own: the bench binary re-executes
//! itself as `<bench> __serve static` (the bare hyper server that answers
//! every request of the workload with prepared bytes, also the proxy rows'
//! fake upstream) or `<bench> __serve bare-proxy ADDR` (the bare hyper
//! forwarding proxy in front of ADDR). Each runs on a current-thread tokio
//! runtime, the least a hyper server needs, prints `listening on
//! http://ADDR` as `datovcr` does, and runs until it is signalled.

use crate::workload;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;

/// The first argument that selects a helper instead of the bench.
pub const SUBCOMMAND: &str = "__serve";

/// The command that starts helper `args` (`["static"]`, `["bare-proxy", ADDR]`).
pub fn command(args: &[String]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the bench's own path"));
    command.arg(SUBCOMMAND).args(args);
    command
}

/// Runs the helper named by the arguments after [`SUBCOMMAND`]; never returns.
pub fn main(args: &[String]) -> ! {
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
            _ => {
                eprintln!("usage: {SUBCOMMAND} static | {SUBCOMMAND} bare-proxy ADDR");
                std::process::exit(2);
            }
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}").expect("stdout");
        stdout.flush().expect("stdout");
        drop(stdout);
        std::future::pending::<()>().await;
    });
    unreachable!("the helper serves until it is signalled")
}
