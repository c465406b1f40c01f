//! Peer rows: talkback 4.2 (npm; `benches/setup.sh` installs it into
//! `target/bench-peers`), started by `benches/peers/talkback.js` on the
//! same core, loaded by the same wrk script, against the same baselines as
//! datovcr's rows: replaying the same exchanges against the bare server,
//! and recording (talkback's OVERWRITE mode: every request is forwarded and
//! its tape written, with `writeFileSync` and no fsync) against the bare
//! forwarding proxy in front of the same upstream.

use crate::external::{self, Lab};
use crate::procs::Server;
use crate::report::Report;
use crate::wrk::{self, Load};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where `benches/setup.sh` installs talkback (`DATOVCR_BENCH_PEERS`
/// overrides the folder, as in the script).
pub fn module_dir() -> PathBuf {
    std::env::var_os("DATOVCR_BENCH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-peers"))
        })
        .join("node_modules/talkback")
}

fn talkback(lab: &Lab, mode: &str, upstream: &Server, tapes: &Path) -> Result<Server, String> {
    let mut command = Command::new("node");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/peers/talkback.js"
        ))
        .arg(module_dir())
        .arg(mode)
        .arg(format!("http://{}", upstream.addr))
        .arg(tapes);
    Server::start(
        &format!("talkback-{mode}"),
        command,
        lab.placement.server_core(),
        lab.path(),
    )
}

/// Tapes in `dir`.
fn tapes_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

pub fn rows(lab: &Lab, bare: &Server, upstream: &Server, bare_proxy: &Server, report: &mut Report) {
    if !module_dir().join("package.json").exists() {
        println!(
            "  talkback rows skipped: {} is missing (run benches/setup.sh; it needs npm)",
            module_dir().display()
        );
        return;
    }
    if let Err(err) = measure(lab, bare, upstream, bare_proxy, report) {
        println!("  talkback rows skipped: {err}");
    }
}

fn measure(
    lab: &Lab,
    bare: &Server,
    upstream: &Server,
    bare_proxy: &Server,
    report: &mut Report,
) -> Result<(), String> {
    // The replay tapes: talkback records the workload's exchanges once, one
    // connection so each request shape gets exactly one tape.
    let tapes = lab.path().join("talkback-tapes");
    let recorder = talkback(lab, "record-new", upstream, &tapes)?;
    let primed = wrk::run(
        recorder.addr,
        &lab.script,
        Load {
            connections: 1,
            duration: Duration::from_millis(200),
        },
        lab.placement.load_core(),
    );
    let _ = recorder.stop();
    if primed.failed() > 0 || tapes_in(&tapes) == 0 {
        return Err(format!(
            "recording the replay tapes failed ({} failed requests, {} tapes)",
            primed.failed(),
            tapes_in(&tapes)
        ));
    }

    let replay = talkback(lab, "replay", upstream, &tapes)?;
    let pairs = lab.compare(32, &mut |load| lab.measure(bare, load), &mut |load| {
        lab.measure(&replay, load)
    });
    external::report(
        report,
        "peer_talkback_replay_c32".into(),
        "peer: talkback 4.2 replay (record DISABLED), c=32".into(),
        "bare hyper server",
        &pairs,
        json!({"tapes": tapes_in(&tapes), "threads_in_process": replay.threads()}),
    );
    let _ = replay.stop();

    let record_tapes = lab.path().join("talkback-record");
    let recorder = talkback(lab, "record", upstream, &record_tapes)?;
    let pairs = lab.compare(32, &mut |load| lab.measure(bare_proxy, load), &mut |load| {
        lab.measure(&recorder, load)
    });
    external::report(
        report,
        "peer_talkback_record_c32".into(),
        "peer: talkback 4.2 recording (record OVERWRITE), c=32".into(),
        "bare forwarding proxy",
        &pairs,
        json!({"tapes": tapes_in(&record_tapes), "threads_in_process": recorder.threads()}),
    );
    let _ = recorder.stop();
    Ok(())
}
