//! Replay against the bare hyper server, and replay at scale: loading a
//! large cassette, throughput with it loaded, peak RSS of the real binary.

use crate::client::{Plan, Target};
use crate::measure::{Settings, Side, compare, latency_row, load, throughput_row};
use crate::report::{Report, Row, median};
use crate::threads::{LOAD_CORE, RuntimeThread, SERVER_CORE};
use crate::upstream;
use crate::workload::{self, CannedResponse, RequestTemplate};
use datovcr::replay::{ReplayConfig, ReplayHandle};
use serde_json::json;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Mix = Vec<(RequestTemplate, CannedResponse)>;

fn templates(mix: &Mix) -> Arc<Vec<RequestTemplate>> {
    Arc::new(mix.iter().map(|(request, _)| request.clone()).collect())
}

/// Starts replay on the server thread, quiet (no line per hit, as a CI run
/// would use it), and returns its handle and how long start-up took.
fn start_replay(server: &RuntimeThread, cassette: &Path) -> (ReplayHandle, Duration) {
    let config = ReplayConfig {
        cassettes: vec![cassette.to_owned()],
        quiet: true,
        ..ReplayConfig::default()
    };
    server.run(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind replay");
        let started = Instant::now();
        let handle = datovcr::replay::start(config, None, listener)
            .await
            .expect("replay starts");
        (handle, started.elapsed())
    })
}

/// Replay throughput (c32) and latency (c1) against the bare server.
pub fn versus_bare(settings: &Settings, report: &mut Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = workload::standard_mix();
    let cassette = dir.path().join("standard.json");
    workload::write_cassette(&cassette, &mix);
    let requests = templates(&mix);

    let server = RuntimeThread::spawn("bench-server", SERVER_CORE);
    let loadgen = RuntimeThread::spawn("bench-load", LOAD_CORE);
    let bare = {
        let mix = mix.clone();
        Target::plain(server.run(async move { upstream::start(&mix, None).await }))
    };
    let (replay, _) = start_replay(&server, &cassette);
    let replayed = Target::plain(replay.addr());
    let baseline = Side {
        target: &bare,
        requests: &requests,
    };
    let target = Side {
        target: &replayed,
        requests: &requests,
    };

    let pairs = compare(settings, &loadgen, &baseline, &target, settings.throughput).pairs;
    report.add(throughput_row(
        "replay_throughput_c32",
        "replay throughput, c=32 (vs bare hyper)",
        ">= 0.6x",
        Some(0.6),
        &pairs,
    ));
    let pairs = compare(settings, &loadgen, &baseline, &target, settings.latency).pairs;
    report.add(latency_row(
        "replay_latency_c1",
        "replay latency p50/p99, c=1 (vs bare hyper)",
        "+50/+250 us",
        Some((50.0, Some(250.0))),
        &pairs,
    ));
    drop(replay);
}

/// Start-up with a large cassette, and throughput with it loaded against a
/// 10-interaction cassette, same request mix shape.
pub fn at_scale(settings: &Settings, report: &mut Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    let large_mix = workload::distinct_mix(settings.large);
    let small_mix = workload::distinct_mix(10);
    let large = dir.path().join("large.json");
    let small = dir.path().join("small.json");
    workload::write_cassette(&large, &large_mix);
    workload::write_cassette(&small, &small_mix);

    let server = RuntimeThread::spawn("bench-server", SERVER_CORE);
    let loadgen = RuntimeThread::spawn("bench-load", LOAD_CORE);
    report.add(load_row(settings, &server, &large));

    let (large_replay, _) = start_replay(&server, &large);
    let (small_replay, _) = start_replay(&server, &small);
    let (large_target, small_target) = (
        Target::plain(large_replay.addr()),
        Target::plain(small_replay.addr()),
    );
    let (large_requests, small_requests) = (templates(&large_mix), templates(&small_mix));
    let pairs = compare(
        settings,
        &loadgen,
        &Side {
            target: &small_target,
            requests: &small_requests,
        },
        &Side {
            target: &large_target,
            requests: &large_requests,
        },
        settings.throughput,
    )
    .pairs;
    let mut row = throughput_row(
        "replay_throughput_large_vs_small",
        &format!("replay throughput, {} vs 10 interactions", settings.large),
        ">= 0.9x",
        Some(0.9),
        &pairs,
    );
    row.baseline += " (10)";
    report.add(row);
}

/// Time from `replay::start` to a serving handle with the large cassette:
/// read, parse, index and prepare every response.
fn load_row(settings: &Settings, server: &RuntimeThread, cassette: &Path) -> Row {
    // The goal is an absolute time, which this shared machine bends by ±30 %
    // from run to run; the least any loader must do (read the file and let
    // serde_json skim it without building anything), timed on the same
    // core right before each load, shows how fast the machine was.
    let mut floor = Vec::new();
    let mut times = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..settings.reps {
        floor.push(server.run({
            let cassette = cassette.to_owned();
            async move {
                let started = Instant::now();
                let bytes = std::fs::read(&cassette).expect("reads");
                serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).expect("JSON");
                started.elapsed().as_secs_f64() * 1000.0
            }
        }));
        times.push(start_replay(server, cassette).1.as_secs_f64() * 1000.0);
        // The plain loader: the whole file parsed into one `Value` it keeps
        // (dropped after the clock stops), as a tool without datovcr's
        // loader would hold a cassette.
        plain.push(server.run({
            let cassette = cassette.to_owned();
            async move {
                let started = Instant::now();
                let bytes = std::fs::read(&cassette).expect("reads");
                let kept = serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON");
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                drop(std::hint::black_box(kept));
                ms
            }
        }));
    }
    let ratios: Vec<f64> = times.iter().zip(&floor).map(|(t, f)| t / f).collect();
    let plain_ratios: Vec<f64> = plain.iter().zip(&floor).map(|(p, f)| p / f).collect();
    // Milliseconds per call of `read`, once per repetition.
    let timed = |read: &dyn Fn()| -> Vec<f64> {
        (0..settings.reps)
            .map(|_| {
                let started = Instant::now();
                read();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect()
    };
    let parse = timed(&|| {
        let loaded = datovcr::cassette::Cassette::load(cassette).expect("loads");
        std::hint::black_box(loaded);
    });
    let stream = timed(&|| {
        datovcr::cassette::for_each_interaction::<()>(cassette, &mut |interaction| {
            std::hint::black_box(interaction);
            Ok(())
        })
        .expect("streams")
        .expect("never refused");
    });
    // What replay itself reads: responses in wire form, no body `Value`s.
    let wire = timed(&|| {
        datovcr::cassette::for_each_wire_interaction::<()>(cassette, &mut |interaction| {
            std::hint::black_box(interaction);
            Ok(())
        })
        .expect("streams")
        .expect("never refused");
    });
    let ms = median(&times);
    let bytes = std::fs::metadata(cassette).map_or(0, |m| m.len());
    Row {
        id: "load_large_cassette".into(),
        what: format!(
            "load a {}-interaction cassette (replay start)",
            settings.large
        ),
        baseline: format!("{:.1} ms (read+skim)", median(&floor)),
        measured: format!("{ms:.1} ms"),
        figure: format!("{ms:.1} ms"),
        goal: "<= 150 ms",
        holds: Some(ms <= 150.0),
        details: json!({
            "start_ms": times,
            "read_and_skim_ms": floor,
            "start_vs_read_and_skim": ratios,
            "start_vs_read_and_skim_median": median(&ratios),
            "plain_value_ms": plain,
            "plain_value_vs_read_and_skim": plain_ratios,
            "plain_value_vs_read_and_skim_median": median(&plain_ratios),
            "parse_only_ms": parse,
            "stream_parse_only_ms": stream,
            "wire_stream_parse_only_ms": wire,
            "file_bytes": bytes,
        }),
    }
}

/// Peak RSS (VmHWM) of the real `datovcr replay` binary serving a large
/// cassette, after a burst of requests over every interaction; the same
/// figure with the 3-interaction cassette shows the fixed cost.
pub fn peak_rss(settings: &Settings, report: &mut Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    let large_mix = workload::distinct_mix(settings.large);
    let large = dir.path().join("large.json");
    workload::write_cassette(&large, &large_mix);
    let small_mix = workload::standard_mix();
    let small = dir.path().join("standard.json");
    workload::write_cassette(&small, &small_mix);

    let loadgen = RuntimeThread::spawn("bench-load", LOAD_CORE);
    let plan = Plan {
        concurrency: 32,
        requests: settings.large.max(2_000),
        time_cap: Duration::from_secs(10),
    };
    let (small_kib, small_start) = child_peak_rss(&loadgen, &small, &templates(&small_mix), plan);
    let (large_kib, large_start) = child_peak_rss(&loadgen, &large, &templates(&large_mix), plan);
    let startup_ms = large_start.as_secs_f64() * 1000.0;
    report.add(Row {
        id: "replay_binary_startup_large".into(),
        what: format!(
            "`datovcr replay` start-up, {} interactions (to `listening`)",
            settings.large
        ),
        baseline: format!("{:.1} ms (3)", small_start.as_secs_f64() * 1000.0),
        measured: format!("{startup_ms:.1} ms"),
        figure: format!("+{:.1} ms", startup_ms - small_start.as_secs_f64() * 1000.0),
        goal: "<= 150 ms",
        holds: Some(startup_ms <= 150.0),
        details: json!({
            "startup_ms": startup_ms,
            "startup_ms_3_interactions": small_start.as_secs_f64() * 1000.0,
        }),
    });
    let mib = large_kib as f64 / 1024.0;
    report.add(Row {
        id: "replay_peak_rss_large".into(),
        what: format!(
            "peak RSS of `datovcr replay`, {} interactions",
            settings.large
        ),
        baseline: format!("{:.1} MiB (3)", small_kib as f64 / 1024.0),
        measured: format!("{mib:.1} MiB"),
        figure: format!("{mib:.1} MiB"),
        goal: "<= 40 MiB",
        holds: Some(mib <= 40.0),
        details: json!({
            "vm_hwm_kib": large_kib,
            "vm_hwm_kib_3_interactions": small_kib,
            "requests": plan.requests,
        }),
    });
}

/// Runs the binary on `cassette`, sends `plan`, and returns VmHWM in KiB
/// and the time from spawning the process to its `listening` line.
fn child_peak_rss(
    loadgen: &RuntimeThread,
    cassette: &Path,
    requests: &Arc<Vec<RequestTemplate>>,
    plan: Plan,
) -> (u64, Duration) {
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_datovcr"))
        .args(["replay", "--quiet", "--listen", "127.0.0.1:0", "--cassette"])
        .arg(cassette)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start datovcr replay");
    let addr = read_listen_line(&mut child);
    let startup = spawned.elapsed();
    let outcome = load(loadgen, &Target::plain(addr), requests, plan);
    assert_eq!(outcome.failed, 0, "replay answered every request");
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let hwm = std::fs::read_to_string(status)
        .expect("read /proc/PID/status")
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM is reported");
    // SAFETY: a plain signal to the child this function started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    (hwm, startup)
}

/// The first stdout line is `listening on http://ADDR`.
fn read_listen_line(child: &mut std::process::Child) -> std::net::SocketAddr {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    line.trim()
        .strip_prefix("listening on http://")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from replay: {line:?}"))
}
