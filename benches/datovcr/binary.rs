//! The shipped binary as users run it: the release `datovcr` started as its
//! own process with a user's flags, loaded by wrk, against baselines that
//! are processes too (the bare hyper server, and the bare hyper forwarding
//! proxy in front of the same fake upstream process). Every server process
//! is pinned to the server core and wrk to the load core (unless
//! `--no-pin`); each figure is the median of per-pair ratios.

use crate::counters::Support;
use crate::external::{self, Lab, Run};
use crate::helper;
use crate::measure::Settings;
use crate::procs::{Placement, Server};
use crate::report::{Report, median};
use crate::workload::{self, RequestTemplate};
use crate::{peers, wrk};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The binary `cargo bench` built alongside this bench, with the bench
/// profile (which inherits `[profile.release]`): `target/release/datovcr`.
pub const DATOVCR: &str = env!("CARGO_BIN_EXE_datovcr");

/// The variable the binary reads its runtime's worker count from.
pub const THREADS_VAR: &str = "DATOVCR_THREADS";

/// What the command line chose for these rows.
#[derive(Debug, Clone)]
pub struct Options {
    /// Runtime settings to measure the binary with: `None` leaves
    /// [`THREADS_VAR`] unset (the binary's default), `Some(n)` sets it.
    pub threads: Vec<Option<usize>>,
    pub placement: Placement,
}

/// Suffix for row ids and label for row names of one runtime setting.
fn setting(threads: Option<usize>) -> (String, String) {
    match threads {
        None => (String::new(), String::new()),
        Some(n) => (format!("_threads{n}"), format!(", {THREADS_VAR}={n}")),
    }
}

/// `datovcr ARGS` with the runtime setting in its environment.
fn datovcr(args: &[&str], threads: Option<usize>) -> Command {
    let mut command = Command::new(DATOVCR);
    command.args(args);
    match threads {
        Some(n) => command.env(THREADS_VAR, n.to_string()),
        None => command.env_remove(THREADS_VAR),
    };
    command
}

fn start(lab: &Lab, name: &str, command: Command) -> Server {
    Server::start(name, command, lab.placement.server_core(), lab.path())
        .unwrap_or_else(|err| panic!("{err}"))
}

/// Installs what is missing (`benches/setup.sh`); false when wrk is still
/// not there.
fn setup() -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/setup.sh");
    let peers = peers::module_dir();
    if wrk::available() && peers.join("package.json").exists() {
        return true;
    }
    println!("  running {script} (installs wrk and talkback when missing)");
    match Command::new("sh").arg(script).status() {
        Ok(status) if status.success() => wrk::available(),
        Ok(_) | Err(_) => false,
    }
}

/// Every binary-level row.
pub fn rows(settings: &Settings, options: &Options, report: &mut Report) {
    report.section(
        "binary",
        &format!(
            "binary-level rows: `{DATOVCR}` as its own process, wrk (1 thread) as the load, \
             {}; median of {} pairs of {:.1} s runs",
            options.placement.describe(),
            settings.reps,
            settings.binary_run.as_secs_f64()
        ),
    );
    if !setup() {
        println!("  skipped: wrk is not installed and benches/setup.sh could not install it");
        return;
    }
    if !DATOVCR.contains("/release/") {
        println!("  warning: {DATOVCR} is not a release build");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = workload::standard_mix();
    let cassette = dir.path().join("standard.json");
    workload::write_cassette(&cassette, &mix);
    let templates: Vec<RequestTemplate> = mix.into_iter().map(|(request, _)| request).collect();
    let script = wrk::script(dir.path(), &templates);
    let lab = Lab {
        dir,
        script,
        placement: options.placement,
        perf: external::probe_perf(),
        pairs: settings.reps,
        run: settings.binary_run,
        warmup: settings.binary_warmup,
    };
    external::print_header(&lab.perf);
    let bare = start(&lab, "bare-server", helper::command(&["static".into()]));
    let upstream = start(&lab, "upstream", helper::command(&["static".into()]));
    let bare_proxy = start(
        &lab,
        "bare-proxy",
        helper::command(&["bare-proxy".into(), upstream.addr.to_string()]),
    );
    for &threads in &options.threads {
        replay_rows(&lab, &bare, &cassette, &templates, threads, report);
        proxy_rows(&lab, &upstream, &bare_proxy, threads, report);
    }
    plain_rows(&lab, &upstream, &bare_proxy, report);
    startup_row(&lab, settings, report);
    peers::rows(&lab, &bare, &upstream, &bare_proxy, report);
    if let Support::Unavailable(why) = &lab.perf {
        report.note("instructions", why);
    }
}

/// `datovcr replay` on a cassette of the workload, against the bare server.
fn replay_rows(
    lab: &Lab,
    bare: &Server,
    cassette: &Path,
    templates: &[RequestTemplate],
    threads: Option<usize>,
    report: &mut Report,
) {
    let (id, label) = setting(threads);
    let cassette = cassette.to_str().expect("a UTF-8 temp path");
    let replay = start(
        lab,
        "datovcr-replay",
        datovcr(
            &[
                "replay",
                "--cassette",
                cassette,
                "--listen",
                "127.0.0.1:0",
                "--quiet",
            ],
            threads,
        ),
    );
    if let Err(difference) = same_answers(bare, &replay, templates) {
        println!("  warning: replay and the bare server answer differently: {difference}");
    }
    for connections in [32, 1] {
        let pairs = lab.compare(
            connections,
            &mut |load| lab.measure(bare, load),
            &mut |load| lab.measure(&replay, load),
        );
        external::report(
            report,
            format!("binary_replay_c{connections}{id}"),
            format!("datovcr replay, c={connections}{label}"),
            "bare hyper server",
            &pairs,
            json!({"threads_in_process": replay.threads(), "setting": threads}),
        );
    }
    let _ = replay.stop();
}

/// `datovcr proxy` validating only, and recording in each `--fsync` mode,
/// against the bare forwarding proxy, both in front of the same upstream.
fn proxy_rows(
    lab: &Lab,
    upstream: &Server,
    bare_proxy: &Server,
    threads: Option<usize>,
    report: &mut Report,
) {
    let (id, label) = setting(threads);
    let upstream_url = format!("http://{}", upstream.addr);
    let unused = lab.path().join("not-recorded.json");
    let validating = start(
        lab,
        "datovcr-proxy",
        datovcr(
            &[
                "proxy",
                "--upstream",
                &upstream_url,
                "--record",
                "none",
                "--cassette",
                unused.to_str().expect("UTF-8"),
                "--listen",
                "127.0.0.1:0",
                "--quiet",
            ],
            threads,
        ),
    );
    for connections in [32, 1] {
        let pairs = lab.compare(
            connections,
            &mut |load| lab.measure(bare_proxy, load),
            &mut |load| lab.measure(&validating, load),
        );
        external::report(
            report,
            format!("binary_proxy_norec_c{connections}{id}"),
            format!("datovcr proxy --record none, c={connections}{label}"),
            "bare forwarding proxy",
            &pairs,
            json!({
                "threads_in_process": validating.threads(),
                "setting": threads,
                "stderr_lines": validating.stderr().lines().count(),
            }),
        );
    }
    let _ = validating.stop();

    for (mode, flag) in [
        ("periodic", Some("periodic")),
        ("after_response", Some("after-response")),
        ("durable", None),
    ] {
        let mut ledger = Ledger::default();
        let pairs = lab.compare(32, &mut |load| lab.measure(bare_proxy, load), &mut |load| {
            recording_run(lab, &upstream_url, flag, threads, load, &mut ledger)
        });
        let flags = flag.map_or_else(
            || "default --fsync (before-response)".to_owned(),
            |flag| format!("--fsync {flag}"),
        );
        let mut extra = ledger.json();
        extra["setting"] = json!(threads);
        external::report(
            report,
            format!("binary_proxy_{mode}_c32{id}"),
            format!("datovcr proxy recording, {flags}, c=32{label}"),
            "bare forwarding proxy",
            &pairs,
            extra,
        );
        println!(
            "  {:<58} {} acknowledged (2xx), {} in the cassettes after shutdown, {} lost",
            "", ledger.acknowledged, ledger.recorded, ledger.lost
        );
    }
}

/// The proxy rows' jobs done plainly ([`crate::plain_proxy`]) against the
/// bare forwarding proxy: what validating, and recording in each sync mode,
/// cost done the obvious way, before datovcr's own guarantees. The target rows compare datovcr against these.
fn plain_rows(lab: &Lab, upstream: &Server, bare_proxy: &Server, report: &mut Report) {
    let upstream = upstream.addr.to_string();
    let recording = lab.path().join("plain-recording.jsonl");
    let recording = recording.to_str().expect("a UTF-8 temp path");
    let jobs: [(&str, &str, Vec<&str>); 3] = [
        ("validate", "plain validating proxy", vec!["validate"]),
        (
            "periodic",
            "plain recording proxy, sync every second",
            vec!["record", recording, "periodic"],
        ),
        (
            "durable",
            "plain recording proxy, sync before each answer",
            vec!["record", recording, "durable"],
        ),
    ];
    for (id, what, job) in jobs {
        let mut args = vec!["plain-proxy".to_owned(), upstream.clone()];
        args.extend(job.iter().map(|arg| (*arg).to_owned()));
        let plain = start(lab, &format!("plain-{id}"), helper::command(&args));
        let pairs = lab.compare(32, &mut |load| lab.measure(bare_proxy, load), &mut |load| {
            lab.measure(&plain, load)
        });
        external::report(
            report,
            format!("plain_proxy_{id}_c32"),
            format!("{what}, c=32"),
            "bare forwarding proxy",
            &pairs,
            json!({"stderr_lines": plain.stderr().lines().count()}),
        );
        let _ = plain.stop();
        let _ = std::fs::remove_file(recording);
    }
}

/// What the recording runs acknowledged and what reached the cassettes.
#[derive(Default)]
struct Ledger {
    acknowledged: u64,
    recorded: u64,
    /// Acknowledged exchanges missing from the cassette, summed per run.
    lost: u64,
    /// Exchanges recorded whose response wrk never counted: in flight
    /// when the run was stopped (at most one per connection and run).
    in_flight: u64,
    errors: Vec<String>,
}

impl Ledger {
    fn json(&self) -> serde_json::Value {
        json!({
            "acknowledged_2xx": self.acknowledged,
            "interactions_after_shutdown": self.recorded,
            "lost": self.lost,
            "recorded_while_in_flight": self.in_flight,
            "errors": self.errors,
        })
    }
}

/// One measured run of a recording proxy started afresh on its own
/// cassette (a run records up to ~20 MB; keeping one process for every run
/// would approach the cassette size limit). The process is primed first so
/// its lazily compiled validators and upstream connections are ready;
/// after the run it is stopped with SIGTERM (which compacts the journal)
/// and every 2xx wrk counted must be in the cassette.
fn recording_run(
    lab: &Lab,
    upstream_url: &str,
    fsync: Option<&str>,
    threads: Option<usize>,
    load: wrk::Load,
    ledger: &mut Ledger,
) -> Run {
    let folder = tempfile::tempdir_in(lab.path()).expect("a run folder");
    let cassette: PathBuf = folder.path().join("recording.json");
    let mut args = vec![
        "proxy",
        "--upstream",
        upstream_url,
        "--cassette",
        cassette.to_str().expect("UTF-8"),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ];
    if let Some(fsync) = fsync {
        args.extend(["--fsync", fsync]);
    }
    let proxy = start(lab, "datovcr-proxy-recording", datovcr(&args, threads));
    let primed = wrk::run(
        proxy.addr,
        &lab.script,
        wrk::Load {
            connections: 4,
            duration: Duration::from_millis(150),
        },
        lab.placement.load_core(),
    );
    let run = lab.measure(&proxy, load);
    let stderr_lines = proxy.stderr().lines().count();
    let _ = proxy.stop();
    let acknowledged = primed.ok() + run.measured.ok();
    let recorded = match datovcr::recorder::load_with_journal(&cassette) {
        Ok(cassette) => cassette.interactions.len() as u64,
        Err(err) => {
            ledger.errors.push(err.to_string());
            0
        }
    };
    if stderr_lines > 0 {
        ledger
            .errors
            .push(format!("{stderr_lines} line(s) on stderr"));
    }
    ledger.acknowledged += acknowledged;
    ledger.recorded += recorded;
    ledger.lost += acknowledged.saturating_sub(recorded);
    ledger.in_flight += recorded.saturating_sub(acknowledged);
    run
}

/// Start-up to the `listening` line of `datovcr replay --check` on the
/// repository's cassettes (the whole contract loaded), against the bare
/// server process's start-up, alternating.
fn startup_row(lab: &Lab, settings: &Settings, report: &mut Report) {
    let cassettes = concat!(env!("CARGO_MANIFEST_DIR"), "/cassettes");
    let args = [
        "replay",
        "--check",
        "--cassette",
        cassettes,
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ];
    let mut bare_ms = Vec::new();
    let mut replay_ms = Vec::new();
    let ms = |server: Server| {
        let ms = server.startup.as_secs_f64() * 1e3;
        let _ = server.stop();
        ms
    };
    for round in 0..settings.startups {
        let bare = || {
            ms(start(
                lab,
                "bare-start",
                helper::command(&["static".into()]),
            ))
        };
        let replay = || ms(start(lab, "replay-start", datovcr(&args, None)));
        if round % 2 == 0 {
            bare_ms.push(bare());
            replay_ms.push(replay());
        } else {
            replay_ms.push(replay());
            bare_ms.push(bare());
        }
    }
    let (base, target) = (median(&bare_ms), median(&replay_ms));
    println!(
        "  {:<58} {:>26} {:>30}",
        "datovcr replay --check, shipped cassettes: start-up",
        format!("{base:.1} -> {target:.1} ms"),
        format!("(+{:.1} ms, median of {})", target - base, bare_ms.len())
    );
    report.record(crate::report::Row {
        id: "binary_replay_startup_check".into(),
        what: "`datovcr replay --check` on cassettes/: spawn to `listening` (vs the bare server process)".into(),
        baseline: format!("{base:.1} ms"),
        measured: format!("{target:.1} ms"),
        figure: format!("+{:.1} ms", target - base),
        goal: "info",
        holds: None,
        details: json!({"bare_ms": bare_ms, "replay_ms": replay_ms}),
    });
}

/// Checks that `a` and `b` answer every request of the workload with the
/// same status, headers (but `date`) and body bytes, so the comparison is
/// between servers doing the same job.
fn same_answers(a: &Server, b: &Server, templates: &[RequestTemplate]) -> Result<(), String> {
    for request in templates {
        let (left, right) = (fetch(a.addr, request)?, fetch(b.addr, request)?);
        if left != right {
            return Err(format!(
                "{} {}: {left:?} vs {right:?}",
                request.method, request.path
            ));
        }
    }
    Ok(())
}

/// One request over its own connection; the answer's status line, header
/// lines but `date` (lowercased, sorted) and body.
fn fetch(addr: std::net::SocketAddr, request: &RequestTemplate) -> Result<Vec<String>, String> {
    use std::io::{Read as _, Write as _};
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        if name != "connection" {
            head.push_str(&format!(
                "{name}: {}\r\n",
                value.to_str().unwrap_or_default()
            ));
        }
    }
    head.push_str(&format!(
        "connection: close\r\ncontent-length: {}\r\n\r\n",
        request.body.len()
    ));
    let mut stream = std::net::TcpStream::connect(addr).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|err| err.to_string())?;
    stream
        .write_all(&[head.as_bytes(), &request.body].concat())
        .map_err(|err| err.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|err| err.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of head")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<String> = lines
        .map(str::to_ascii_lowercase)
        .filter(|line| !line.starts_with("date:"))
        .collect();
    headers.sort();
    Ok([vec![status], headers, vec![body.to_owned()]].concat())
}
