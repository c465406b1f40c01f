//! The proxy against talking to the upstream directly: added latency
//! (validating and recording), throughput (validating, not recording) and
//! durable recording throughput with a count of what reached the cassette.

use crate::client::{Plan, Target};
use crate::measure::{Comparison, Settings, Side, compare, latency_row, throughput_row};
use crate::pki::Pki;
use crate::report::{Report, Row};
use crate::threads::{LOAD_CORE, RuntimeThread, SERVER_CORE, StderrSilenced};
use crate::upstream;
use crate::workload::{self, RequestTemplate};
use datovcr::contract::ContractSet;
use datovcr::proxy::{ProxyConfig, ProxyHandle};
use datovcr::recorder::{Fsync, RecordMode};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything one proxy row needs: the upstream reached directly and the
/// proxy in front of it.
struct Pair {
    direct: Target,
    proxy: Target,
}

/// The running servers: a fake upstream (plain and TLS) and four proxies
/// (plain/TLS upstream × recording/not), all pinned to the server core.
struct Lab {
    _upstream_thread: RuntimeThread,
    proxy_thread: RuntimeThread,
    loadgen: RuntimeThread,
    _pki: Pki,
    /// Connections the upstream accepted, from the load generator and the proxies.
    accepted: Arc<AtomicUsize>,
    requests: Arc<Vec<RequestTemplate>>,
    plain_direct: Target,
    tls_direct: Target,
    /// Recording proxies, plain then TLS upstream, fsync before the response.
    recording: Vec<(ProxyHandle, PathBuf)>,
    /// The same with `--fsync after-response`.
    recording_fsync_after: Vec<(ProxyHandle, PathBuf)>,
    /// The same with `--fsync periodic` (the default 1 s interval).
    recording_periodic: Vec<(ProxyHandle, PathBuf)>,
    not_recording: Vec<ProxyHandle>,
    /// The bare hyper forwarding proxy in front of the plain upstream.
    bare_proxy: Target,
}

impl Lab {
    fn start(dir: &Path) -> Lab {
        let pki = Pki::new();
        let mix = workload::standard_mix();
        let upstream_thread = RuntimeThread::spawn("bench-upstream", SERVER_CORE);
        let proxy_thread = RuntimeThread::spawn("bench-proxy", SERVER_CORE);
        let loadgen = RuntimeThread::spawn("bench-load", LOAD_CORE);
        let accepted = Arc::new(AtomicUsize::new(0));
        let plain_addr = {
            let (mix, accepted) = (mix.clone(), accepted.clone());
            upstream_thread.run(async move { upstream::start_counting(&mix, None, accepted).await })
        };
        let tls_addr = {
            let (mix, acceptor, accepted) = (mix.clone(), pki.acceptor(), accepted.clone());
            upstream_thread
                .run(async move { upstream::start_counting(&mix, Some(acceptor), accepted).await })
        };
        let contract = Arc::new(ContractSet::embedded().expect("the contract compiles"));
        let mut recording = Vec::new();
        let mut recording_fsync_after = Vec::new();
        let mut recording_periodic = Vec::new();
        let mut not_recording = Vec::new();
        for (name, upstream) in [
            ("plain", format!("http://{plain_addr}")),
            ("tls", format!("https://{tls_addr}")),
        ] {
            for (mode, fsync) in [
                (RecordMode::New, Fsync::BeforeResponse),
                (RecordMode::New, Fsync::AfterResponse),
                (RecordMode::New, Fsync::Periodic),
                (RecordMode::None, Fsync::BeforeResponse),
            ] {
                let cassette = dir.join(format!("{name}-{mode:?}-{fsync:?}.json"));
                let mut config =
                    ProxyConfig::new(upstream.parse().expect("a URI"), cassette.clone());
                config.ca_files = vec![pki.ca_file.clone()];
                config.record_mode = mode;
                config.fsync = fsync;
                let handle = start_proxy(&proxy_thread, config, contract.clone());
                match (mode, fsync) {
                    (RecordMode::None, _) => not_recording.push(handle),
                    (_, Fsync::AfterResponse) => recording_fsync_after.push((handle, cassette)),
                    (_, Fsync::Periodic) => recording_periodic.push((handle, cassette)),
                    _ => recording.push((handle, cassette)),
                }
            }
        }
        let bare_proxy = proxy_thread.run(crate::bare_proxy::start(plain_addr));
        let (connector, server_name) = pki.connector();
        Lab {
            bare_proxy: Target::plain(bare_proxy),
            _upstream_thread: upstream_thread,
            proxy_thread,
            loadgen,
            requests: Arc::new(mix.into_iter().map(|(request, _)| request).collect()),
            plain_direct: Target::plain(plain_addr),
            tls_direct: Target {
                addr: tls_addr,
                tls: Some((connector, server_name)),
            },
            _pki: pki,
            accepted,
            recording,
            recording_fsync_after,
            recording_periodic,
            not_recording,
        }
    }

    /// Direct and proxied targets: index 0 plain, 1 TLS upstream.
    fn pair(&self, tls: bool, recording: Recording) -> Pair {
        let index = usize::from(tls);
        let proxy = match recording {
            Recording::FsyncBefore => self.recording[index].0.addr(),
            Recording::FsyncAfter => self.recording_fsync_after[index].0.addr(),
            Recording::Periodic => self.recording_periodic[index].0.addr(),
            Recording::Off => self.not_recording[index].addr(),
        };
        Pair {
            direct: if tls {
                self.tls_direct.clone()
            } else {
                self.plain_direct.clone()
            },
            proxy: Target::plain(proxy),
        }
    }

    fn compare(&self, settings: &Settings, pair: &Pair, plan: Plan) -> Comparison {
        compare(
            settings,
            &self.loadgen,
            &Side {
                target: &pair.direct,
                requests: &self.requests,
            },
            &Side {
                target: &pair.proxy,
                requests: &self.requests,
            },
            plan,
        )
    }
}

/// Which of the proxies a row measures.
#[derive(Clone, Copy)]
enum Recording {
    /// Recording, each exchange fsynced before its response (the default).
    FsyncBefore,
    /// Recording with `--fsync after-response`.
    FsyncAfter,
    /// Recording with `--fsync periodic`.
    Periodic,
    /// `--record none`: validating only.
    Off,
}

fn start_proxy(
    thread: &RuntimeThread,
    config: ProxyConfig,
    contract: Arc<ContractSet>,
) -> ProxyHandle {
    thread.run(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the proxy");
        datovcr::proxy::start(config, contract, listener)
            .await
            .expect("the proxy starts")
    })
}

/// Every proxy row. The proxy logs a line per exchange on stderr, which goes
/// to `/dev/null` meanwhile.
pub fn rows(settings: &Settings, report: &mut Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    let silenced = StderrSilenced::new();
    let lab = Lab::start(dir.path());
    let mut rows = Vec::new();
    let mut recorded_ok = [0u64; 2];
    let mut recorded_ok_fsync_after = [0u64; 2];
    let mut recorded_ok_periodic = [0u64; 2];

    for (tls, recording, id, what) in [
        (
            false,
            Recording::FsyncBefore,
            "proxy_latency_c1_plain",
            "proxy added latency, c=1, plain, validating+recording",
        ),
        (
            true,
            Recording::FsyncBefore,
            "proxy_latency_c1_tls",
            "proxy added latency, c=1, TLS, validating+recording",
        ),
        (
            false,
            Recording::FsyncAfter,
            "proxy_latency_c1_plain_fsync_after",
            "proxy added latency, c=1, plain, validating+recording, --fsync after-response",
        ),
        (
            true,
            Recording::FsyncAfter,
            "proxy_latency_c1_tls_fsync_after",
            "proxy added latency, c=1, TLS, validating+recording, --fsync after-response",
        ),
        (
            false,
            Recording::Periodic,
            "proxy_latency_c1_plain_fsync_periodic",
            "proxy added latency, c=1, plain, validating+recording, --fsync periodic",
        ),
        (
            true,
            Recording::Periodic,
            "proxy_latency_c1_tls_fsync_periodic",
            "proxy added latency, c=1, TLS, validating+recording, --fsync periodic",
        ),
    ] {
        let measured = lab.compare(settings, &lab.pair(tls, recording), settings.latency);
        match recording {
            Recording::FsyncAfter => {
                recorded_ok_fsync_after[usize::from(tls)] += measured.target_ok
            }
            Recording::Periodic => recorded_ok_periodic[usize::from(tls)] += measured.target_ok,
            _ => recorded_ok[usize::from(tls)] += measured.target_ok,
        }
        rows.push(latency_row(
            id,
            what,
            "p50 <= +100 us",
            Some((100.0, None)),
            &measured.pairs,
        ));
    }
    for (tls, id, what) in [
        (
            false,
            "proxy_latency_c1_plain_norec",
            "proxy added latency, c=1, plain, validating only",
        ),
        (
            true,
            "proxy_latency_c1_tls_norec",
            "proxy added latency, c=1, TLS, validating only",
        ),
    ] {
        let measured = lab.compare(settings, &lab.pair(tls, Recording::Off), settings.latency);
        rows.push(latency_row(id, what, "info", None, &measured.pairs));
    }
    for (tls, id, what, minimum) in [
        (
            false,
            "proxy_throughput_c32_plain",
            "proxy throughput, c=32, plain, validating",
            Some(0.5),
        ),
        (
            true,
            "proxy_throughput_c32_tls",
            "proxy throughput, c=32, TLS, validating",
            None,
        ),
    ] {
        let measured = lab.compare(
            settings,
            &lab.pair(tls, Recording::Off),
            settings.throughput,
        );
        let goal = if minimum.is_some() { ">= 0.5x" } else { "info" };
        rows.push(throughput_row(id, what, goal, minimum, &measured.pairs));
    }
    // The floor: what any hyper forwarding proxy costs, and datovcr's proxy
    // measured against it rather than against the upstream alone.
    let bare = Pair {
        direct: lab.plain_direct.clone(),
        proxy: lab.bare_proxy.clone(),
    };
    let measured = lab.compare(settings, &bare, settings.latency);
    rows.push(latency_row(
        "bare_proxy_latency_c1_plain",
        "bare hyper forwarding proxy added latency, c=1, plain",
        "info",
        None,
        &measured.pairs,
    ));
    let measured = lab.compare(settings, &bare, settings.throughput);
    rows.push(throughput_row(
        "bare_proxy_throughput_c32_plain",
        "bare hyper forwarding proxy throughput, c=32, plain",
        "info",
        None,
        &measured.pairs,
    ));
    let versus_bare = Pair {
        direct: lab.bare_proxy.clone(),
        proxy: lab.pair(false, Recording::Off).proxy,
    };
    let measured = lab.compare(settings, &versus_bare, settings.throughput);
    rows.push(throughput_row(
        "proxy_vs_bare_proxy_throughput_c32_plain",
        "proxy throughput vs bare hyper proxy, c=32, plain, validating",
        "info",
        None,
        &measured.pairs,
    ));

    // Capped by count, not only by time, so that what this proxy records
    // over the whole run (about 80,000 exchanges at most) stays well under
    // the 256 MiB a cassette may hold however fast the machine is.
    let recording_plan = Plan {
        requests: settings.throughput.requests.min(10_000),
        ..settings.throughput
    };
    let measured = lab.compare(
        settings,
        &lab.pair(false, Recording::FsyncBefore),
        recording_plan,
    );
    recorded_ok[0] += measured.target_ok;
    let mut recording_row = throughput_row(
        "recording_throughput_c32",
        "recording throughput, c=32, one cassette, durable",
        ">= 0.25x, 0 lost",
        Some(0.25),
        &measured.pairs,
    );

    recording_row.details["upstream_connections_accepted"] =
        json!(lab.accepted.load(Ordering::Relaxed));
    let Lab {
        proxy_thread,
        recording,
        recording_fsync_after,
        recording_periodic,
        ..
    } = lab;
    let lost = count_lost(
        &proxy_thread,
        recording
            .into_iter()
            .chain(recording_fsync_after)
            .chain(recording_periodic)
            .collect(),
        [recorded_ok, recorded_ok_fsync_after, recorded_ok_periodic].concat(),
        &mut recording_row,
    );
    recording_row.holds = recording_row.holds.map(|holds| holds && lost == 0);
    recording_row.figure += &format!(", {lost} lost");
    rows.push(recording_row);
    drop(silenced);
    for row in rows {
        report.add(row);
    }
}

/// Shuts the recording proxies down (which compacts their journals) and
/// compares the cassettes' interactions with the 2xx answers the clients
/// got (warm-ups included): every acknowledged exchange must be on disk.
fn count_lost(
    thread: &RuntimeThread,
    recording: Vec<(ProxyHandle, PathBuf)>,
    expected: Vec<u64>,
    row: &mut Row,
) -> i64 {
    let mut lost = 0;
    let mut found = Vec::new();
    for ((handle, cassette), expected) in recording.into_iter().zip(expected) {
        let summary = thread.run(handle.shutdown());
        // The cassette plus anything still pending in its journal, read as
        // replay reads it. A file that cannot be read counts as lost, and
        // the error is reported rather than hidden.
        let (interactions, read_error) = match datovcr::recorder::load_with_journal(&cassette) {
            Ok(cassette) => (cassette.interactions.len() as u64, None),
            Err(err) => (0, Some(err.to_string())),
        };
        lost += expected as i64 - interactions as i64;
        found.push(json!({
            "cassette": cassette.file_name().map(|n| n.to_string_lossy().into_owned()),
            "acknowledged_2xx": expected,
            "interactions_after_shutdown": interactions,
            "read_error": read_error,
            "record_error": summary.record_error,
            "journal_batches": summary.batches_written,
            "background_fsyncs": summary.background_fsyncs,
            "inline_writes": summary.inline_writes,
        }));
    }
    row.details["recording"] = json!(found);
    row.details["lost"] = json!(lost);
    lost
}
