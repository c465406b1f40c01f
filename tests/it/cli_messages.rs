//! Issue 13's messages, as a newcomer meets them on the command line:
//! addresses (host names, ports in use), the proxy's start-up line in the
//! flags' own spelling, and help that explains each option once.

use crate::support::process::ServerProcess;
use std::process::Output;

/// `datovcr ARGS` to its exit, bounded: a server that starts where it must
/// refuse is killed after 20 s (exit code `None`), so the test fails rather
/// than hangs.
fn datovcr(args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(args)
        .current_dir(crate::support::repo_path(""))
        .write_stdin(Vec::new())
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn listen_takes_host_names_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cassettes = crate::support::repo_path("cassettes").display().to_string();
    for host in ["localhost:0", "127.0.0.1:0", "[::1]:0"] {
        let server = ServerProcess::start(
            dir.path(),
            &["replay", "--cassette", &cassettes, "--listen", host].map(String::from),
            &dir.path().join("stderr"),
        );
        assert!(server.addr.ip().is_loopback(), "{host}: {}", server.addr);
        if host.starts_with("localhost") {
            assert!(
                server.addr.is_ipv4(),
                "localhost prefers IPv4: {}",
                server.addr
            );
        }
        let (status, log) = server.terminate();
        assert!(status.success(), "{host}: {log}");
    }
    for (listen, words) in [
        ("localhost", "has no port"),
        ("127.0.0.1", "has no port"),
        ("localhost:http", "is not a port number"),
        ("localhost:70000", "is not a port number"),
    ] {
        for command in ["replay", "proxy"] {
            let out = datovcr(&[command, "--listen", listen]);
            assert_eq!(out.status.code(), Some(2), "{command} --listen {listen}");
            let text = stderr(&out);
            assert!(text.contains(words), "{command} --listen {listen}: {text}");
            assert!(
                text.contains("127.0.0.1:8787"),
                "{command} --listen {listen}: {text}"
            );
        }
    }
}

#[test]
fn a_port_in_use_suggests_a_free_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    for command in ["replay", "proxy"] {
        let out = datovcr(&[command, "--listen", &listen]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains(&listen), "{command}: {text}");
        assert!(text.contains("in use"), "{command}: {text}");
        assert!(text.contains("--listen 127.0.0.1:0"), "{command}: {text}");
    }
}

#[test]
fn the_proxy_names_its_record_mode_as_the_flag_spells_it() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, words) in [
        (
            "new",
            "recording into cassettes/recording.json (--record new)",
        ),
        (
            "all",
            "recording into cassettes/recording.json (--record all)",
        ),
        ("none", "not recording (--record none)"),
    ] {
        let server = ServerProcess::start(
            dir.path(),
            &["proxy", "--listen", "127.0.0.1:0", "--record", mode].map(String::from),
            &dir.path().join("stderr"),
        );
        let (status, log) = server.terminate();
        assert!(status.success(), "{log}");
        assert!(log.contains(words), "--record {mode}: {log}");
    }
}

#[test]
fn short_help_gives_each_option_one_sentence_and_long_help_each_detail_once() {
    for command in ["proxy", "replay", "schema-check"] {
        let short = String::from_utf8(datovcr(&[command, "-h"]).stdout).unwrap();
        let options = short
            .lines()
            .filter(|line| line.trim_start().starts_with("--"))
            .count();
        assert!(options >= 3, "{command} -h lists no options:\n{short}");
        // One sentence each: an option's help ends at its first full stop.
        for paragraph in short.split("\n      --").skip(1) {
            let help: String = paragraph.lines().skip(1).collect::<Vec<_>>().join(" ");
            // "e.g. x" is not a sentence break.
            let sentences = help
                .split("[default")
                .next()
                .unwrap()
                .replace("e.g. ", "e.g.\u{a0}")
                .matches(". ")
                .count();
            assert!(
                sentences == 0,
                "{command} -h: more than one sentence for --{paragraph}"
            );
        }
    }
    let long = String::from_utf8(datovcr(&["proxy", "--help"]).stdout).unwrap();
    // Wrapped lines joined, so a phrase is found wherever the wrap falls.
    let long = long.split_whitespace().collect::<Vec<_>>().join(" ");
    for detail in [
        "survives a power loss",
        "a machine crash can lose the last interval",
    ] {
        assert_eq!(
            long.matches(detail).count(),
            1,
            "proxy --help: {detail:?}\n{long}"
        );
    }
}

/// A TLS failure names the option that fixes it, and a log line shows
/// `-> FILE` only for an exchange that was written there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_name_the_fix_and_the_arrow_means_recorded() {
    use crate::support::client::send;
    use crate::support::proxy::{api_headers, borrowed, client_for};
    use crate::support::tls::CertFlavour;
    use crate::support::upstream::{FakeDato, FakeDatoOptions};
    use http::Method;

    let dir = tempfile::tempdir().unwrap();
    let good = FakeDato::start(FakeDatoOptions::default()).await;
    let client = client_for(&good);
    let headers = api_headers("bearer-abcdefgh", false);
    for (flavour, fix) in [
        (CertFlavour::UnknownIssuer, "--ca-file"),
        (CertFlavour::WrongHost, "check the host in --upstream"),
        (CertFlavour::Expired, "validity period"),
        (CertFlavour::Valid, ""),
    ] {
        let upstream = FakeDato::start(FakeDatoOptions::default().with_tls(flavour)).await;
        let stderr_path = dir.path().join("stderr");
        let ca = upstream.ca_file().display().to_string();
        let args = [
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream.base_url(),
            "--ca-file",
            &ca,
            "--enforce",
        ]
        .map(String::from);
        let server = ServerProcess::start(dir.path(), &args, &stderr_path);
        let (status, _, body) = send(
            &client,
            Method::GET,
            &server.url("/access_tokens"),
            &borrowed(&headers),
            "",
        )
        .await;
        let body = String::from_utf8_lossy(&body).into_owned();
        // A request the contract refuses (no Accept: JSON) under --enforce.
        let (refused, _, _) = send(
            &client,
            Method::GET,
            &server.url("/access_tokens"),
            &[
                ("authorization", "Bearer bearer-abcdefgh"),
                ("accept", "text/html"),
            ],
            "",
        )
        .await;
        let (exit, log) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(exit.success(), "{log}");
        assert_eq!(refused.as_u16(), 422, "{log}");
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" GET /access_tokens "))
            .collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(
            !lines[1].contains(" -> "),
            "--enforce refusal shows an arrow: {}",
            lines[1]
        );
        if fix.is_empty() {
            assert_eq!(status.as_u16(), 200, "{body}");
            assert!(
                lines[0].contains(" -> cassettes/recording.json"),
                "{}",
                lines[0]
            );
        } else {
            assert_eq!(status.as_u16(), 502, "{body}");
            assert!(body.contains("DATOVCR_UPSTREAM_TLS"), "{body}");
            assert!(body.contains(fix), "{flavour:?}: {body}");
            assert!(!lines[0].contains(" -> "), "{flavour:?}: {}", lines[0]);
        }
        upstream.shutdown().await;
    }
}

/// `datovcr` run in `dir` (not the repository).
fn datovcr_in(dir: &std::path::Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("datovcr")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .write_stdin(Vec::new())
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap()
}

#[test]
fn missing_and_empty_inputs_get_one_message_from_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let replay = |extra: &[&str]| {
        let mut args = vec!["replay", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        datovcr_in(dir.path(), &args)
    };
    // (replay's output, schema-check's output, words both must say)
    let cases = [
        (
            replay(&[]),
            datovcr_in(dir.path(), &["schema-check"]),
            "no cassettes/ folder here",
        ),
        (
            replay(&["--cassette", "nosuch"]),
            datovcr_in(dir.path(), &["schema-check", "nosuch"]),
            "no cassette file or folder at nosuch",
        ),
        (
            replay(&["--cassette", "empty"]),
            datovcr_in(dir.path(), &["schema-check", "empty"]),
            "no cassette found under empty",
        ),
    ];
    for (replayed, checked, words) in cases {
        for (command, out) in [("replay", &replayed), ("schema-check", &checked)] {
            assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(out));
            assert!(stderr(out).contains(words), "{command}: {}", stderr(out));
            assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
        }
    }
}

#[test]
fn a_folder_walk_skips_tooling_folders_and_reads_without_the_recorders_words() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    for folder in ["node_modules/pkg", ".vscode", "nested/.cache"] {
        std::fs::create_dir_all(project.join(folder)).unwrap();
    }
    std::fs::write(
        project.join("node_modules/pkg/package.json"),
        r#"{"name":"pkg"}"#,
    )
    .unwrap();
    std::fs::write(project.join(".vscode/settings.json"), r#"{"a":1}"#).unwrap();
    std::fs::write(project.join("nested/.cache/x.json"), "[]").unwrap();
    std::fs::write(project.join(".eslintrc.json"), "{}").unwrap();
    std::fs::copy(
        crate::support::repo_path("cassettes/access-tokens-docs.json"),
        project.join("nested/docs.json"),
    )
    .unwrap();

    let out = datovcr_in(dir.path(), &["schema-check", "project"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("in 1 file(s)"), "{text}");

    let server = ServerProcess::start(
        dir.path(),
        &["replay", "--listen", "127.0.0.1:0", "--cassette", "project"].map(String::from),
        &dir.path().join("stderr"),
    );
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(!log.contains("skipping"), "{log}");

    // An unreadable cassette is reported in a reader's words: nothing about
    // journals kept or files changed, which only a writer could do.
    std::fs::write(
        project.join("broken.json"),
        r#"{"version": 1, "interactions": 5}"#,
    )
    .unwrap();
    let out = datovcr_in(dir.path(), &["schema-check", "project"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("broken.json:1:"), "{text}");
    for writer_words in [
        "journal is kept",
        "no file was changed",
        "repair or restore",
    ] {
        assert!(!text.contains(writer_words), "{text}");
    }
}

/// The contract covers the whole CMA; no help text says otherwise.
#[test]
fn help_texts_name_the_whole_cma_not_the_access_tokens_alone() {
    for args in [
        &["--help"][..],
        &["schema-check", "--help"],
        &["proxy", "--help"],
        &["replay", "--help"],
    ] {
        let help = String::from_utf8(datovcr(args).stdout).unwrap();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(!help.is_empty(), "{args:?} printed nothing");
        for stale in ["(access tokens)", "access-token contract"] {
            assert!(!help.contains(stale), "{args:?} says {stale:?}:\n{help}");
        }
    }
    let top = String::from_utf8(datovcr(&["--help"]).stdout).unwrap();
    assert!(top.contains("Content Management API"), "{top}");
}

/// Threads in a running process, from `/proc` (Linux).
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc lists the process's threads")
        .count()
}

/// One request on a connection of its own; the status line.
fn status_line(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: x\r\naccept: application/json\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn threads_are_one_by_default_and_any_positive_count_serves() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = crate::support::repo_path("cassettes/access-tokens-docs.json")
        .display()
        .to_string();
    let base = ["replay", "--cassette", &cassette, "--listen", "127.0.0.1:0"];
    // (extra flags, environment, fewest and most threads the process may have)
    let cases: [(&[&str], Option<&str>, usize, usize); 3] = [
        (&[], None, 1, 1),
        (&["--threads", "3"], None, 4, usize::MAX),
        (&[], Some("2"), 3, usize::MAX),
    ];
    for (extra, env, fewest, most) in cases {
        let args: Vec<String> = base.iter().chain(extra).map(|s| s.to_string()).collect();
        let env: Vec<(&str, &str)> = env.map(|n| ("DATOVCR_THREADS", n)).into_iter().collect();
        let server =
            ServerProcess::start_with_env(dir.path(), &args, &env, &dir.path().join("stderr"));
        assert_eq!(
            status_line(server.addr, "/access_tokens"),
            "HTTP/1.1 200 OK"
        );
        let threads = thread_count(server.pid());
        assert!(
            (fewest..=most).contains(&threads),
            "{extra:?} {env:?}: {threads} threads"
        );
        let (status, log) = server.terminate();
        assert!(status.success(), "{extra:?} {env:?}: {log}");
    }
}
