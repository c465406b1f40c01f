//! A mutation fuzzer for datovcr's input-facing code that runs on the
//! stable toolchain (cargo-fuzz needs nightly, which this project does not
//! assume).
//!
//! ```text
//! cargo run --release --example fuzz -- all --seconds 180
//! cargo run --release --example fuzz -- cassette --seconds 60 --seed 42
//! ```
//!
//! Each target starts from its seed corpus in `fuzz/corpus/<target>/`,
//! mutates inputs (bit flips, byte edits, splices, JSON-aware tweaks) and
//! checks invariants as well as "no panic". A failing input is written to
//! `target/fuzz-crash-<target>-<n>.bin` and the run exits 1.

use datovcr::cassette::{
    Body, Cassette, Headers, Interaction, Query, RecordedRequest, RecordedResponse,
};
use datovcr::contract::ContractSet;
use datovcr::redact::{Redactor, find_leaks};
use datovcr::replay::MatchRules;
use datovcr::replay::matching::RequestView;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TARGETS: &[&str] = &["cassette", "matching", "redaction", "contract"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args.first().map(String::as_str).unwrap_or("all");
    let seconds = flag(&args, "--seconds").unwrap_or(10);
    let seed = flag(&args, "--seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    let targets: Vec<&str> = match target {
        "all" => TARGETS.to_vec(),
        one if TARGETS.contains(&one) => vec![one],
        other => {
            eprintln!("unknown target `{other}`; use one of {TARGETS:?} or all");
            std::process::exit(2);
        }
    };
    // Failures are reported through the return value, not panic output.
    std::panic::set_hook(Box::new(|_| {}));
    let contract = ContractSet::embedded().expect("the built-in contract compiles");
    let mut failed = false;
    for target in targets {
        let budget = Duration::from_secs(seconds);
        let outcome = run(target, budget, seed, &contract);
        println!(
            "fuzz {target}: {} inputs in {:?}, seed {seed}: {}",
            outcome.runs, budget, outcome.verdict
        );
        failed |= outcome.verdict != "ok";
    }
    std::process::exit(i32::from(failed));
}

fn flag(args: &[String], name: &str) -> Option<u64> {
    let index = args.iter().position(|arg| arg == name)?;
    args.get(index + 1)?.parse().ok()
}

struct Outcome {
    runs: u64,
    verdict: String,
}

fn run(target: &str, budget: Duration, seed: u64, contract: &ContractSet) -> Outcome {
    let corpus = load_corpus(target);
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < budget && runs < 50_000_000 {
        let base = &corpus[(rng.next() % corpus.len() as u64) as usize];
        let other = &corpus[(rng.next() % corpus.len() as u64) as usize];
        let input = if runs < corpus.len() as u64 {
            base.clone()
        } else {
            mutate(base, other, &mut rng)
        };
        runs += 1;
        let one = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| check(target, &input, contract)));
        if std::env::var_os("FUZZ_SLOW").is_some() && one.elapsed() > Duration::from_millis(200) {
            let _ = std::fs::write(format!("target/fuzz-slow-{target}-{runs}.bin"), &input);
            eprintln!("slow: {:?} for {} bytes", one.elapsed(), input.len());
        }
        let problem = match result {
            Ok(Ok(())) => continue,
            Ok(Err(invariant)) => invariant,
            Err(_) => "panic".to_owned(),
        };
        let path = PathBuf::from(format!("target/fuzz-crash-{target}-{runs}.bin"));
        let _ = std::fs::create_dir_all("target");
        let _ = std::fs::write(&path, &input);
        return Outcome {
            runs,
            verdict: format!("FAILED ({problem}); input saved to {}", path.display()),
        };
    }
    Outcome {
        runs,
        verdict: "ok".into(),
    }
}

fn load_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    corpus.push(Vec::new());
    corpus
}

/// One target's invariants for one input.
fn check(target: &str, input: &[u8], contract: &ContractSet) -> Result<(), String> {
    match target {
        "cassette" => check_cassette(input),
        "matching" => check_matching(input),
        "redaction" => check_redaction(input),
        "contract" => check_contract(input, contract),
        _ => unreachable!("targets are checked in main"),
    }
}

/// Parsing never panics; whatever parses survives save and reload unchanged.
fn check_cassette(input: &[u8]) -> Result<(), String> {
    let Ok(cassette) = Cassette::from_slice(input, Path::new("fuzz.json")) else {
        return Ok(());
    };
    let saved = cassette.to_bytes();
    let reloaded = Cassette::from_slice(&saved, Path::new("fuzz.json"))
        .map_err(|err| format!("saved cassette does not reload: {err}"))?;
    if reloaded.to_bytes() != saved {
        return Err("load/save is not byte-stable".into());
    }
    Ok(())
}

/// The input is split into request parts; equal requests give equal keys,
/// and a request never differs from itself.
fn check_matching(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.splitn(4, '\n');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let query = Query::parse(parts.next().unwrap_or_default());
    let body_bytes = parts.next().unwrap_or_default().as_bytes();
    let body = Body::from_bytes(body_bytes, None);
    let headers: Headers = [("x-environment", path.as_str())].into_iter().collect();
    let view = RequestView {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    for spec in [
        "method,path,query,body,header:x-environment",
        "method,path",
        "body",
    ] {
        let mut rules = MatchRules::parse(spec).map_err(|err| err.to_string())?;
        rules.ignore_body_pointers.push(path.clone());
        if rules.key(&view) != rules.key(&view.clone()) {
            return Err("a key is not deterministic".into());
        }
        if !datovcr::replay::miss::differences(&rules, &view, &view).is_empty() {
            return Err("a request differs from itself".into());
        }
    }
    Ok(())
}

/// Any body, JSON or not, with a bearer taken from the input: the written
/// line never holds the bearer, or the write is refused.
fn check_redaction(input: &[u8]) -> Result<(), String> {
    let (secret, body) = match input.iter().position(|b| *b == b'\n') {
        Some(split) => (&input[..split], &input[split + 1..]),
        None => (input, &[][..]),
    };
    let secret = String::from_utf8_lossy(secret).trim().to_owned();
    let interaction = interaction(&secret, Body::from_bytes(body, Some("application/json")));
    let redacted = Redactor::default().redact(interaction);
    let Ok(line) = redacted.to_journal_line() else {
        return Ok(());
    };
    // Secrets inside the placeholder text itself are replaced where they
    // stand but cannot be searched for (see `Secrets::add`).
    let searchable = secret.len() >= datovcr::redact::MIN_SEARCHABLE_SECRET
        && !secret.contains('\r')
        && !datovcr::redact::BEARER_PLACEHOLDER.contains(secret.as_str());
    if searchable && memchr::memmem::find(&line, secret.as_bytes()).is_some() {
        return Err("a secret survived redaction".into());
    }
    let parsed: Interaction =
        serde_json::from_slice(&line).map_err(|err| format!("the line does not parse: {err}"))?;
    if !find_leaks(&parsed).is_empty() {
        return Err("schema-check would report a leak in a redacted line".into());
    }
    Ok(())
}

/// Routing and checking never panic on any interaction JSON.
fn check_contract(input: &[u8], contract: &ContractSet) -> Result<(), String> {
    if let Ok(interaction) = serde_json::from_slice::<Interaction>(input) {
        let _ = contract.check_interaction(&interaction);
    }
    let text = String::from_utf8_lossy(input);
    let _ = contract.route("PUT", &text);
    let _ = contract.route(&text, "/access_tokens");
    Ok(())
}

fn interaction(bearer: &str, body: Body) -> Interaction {
    let mut headers = Headers::new();
    headers.append("authorization", format!("Bearer {bearer}"));
    Interaction {
        recorded_at: "2026-11-27T10:00:00Z".into(),
        request: RecordedRequest {
            method: "GET".into(),
            path: "/access_tokens".into(),
            query: Query::default(),
            headers,
            body: Body::Empty,
        },
        response: RecordedResponse {
            status: 200,
            headers: Headers::new(),
            body,
        },
    }
}

/// xorshift64*, seeded from the command line for reproducible runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Interesting bytes for JSON and HTTP parsers.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"18446744073709551616",
    b"\"json\":",
    b"\"text\":",
    b"\"base64\":",
    b"\"version\":",
    b"\"access_token\"",
    b"\"token\":",
    b"\xff",
    b"\xc3\x28",
    b"%",
    b"%zz",
    b"/",
    b"..",
    b"~1",
    b"\n",
    b"\r\n",
    b"Bearer ",
];

fn mutate(base: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let at = rng.below(data.len());
                let len = rng.below(16).min(data.len() - at);
                data.drain(at..at + len);
            }
            2 => {
                let at = rng.below(data.len() + 1);
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 if !other.is_empty() => {
                let at = rng.below(data.len() + 1);
                let from = rng.below(other.len());
                let len = rng.below(64).min(other.len() - from);
                data.splice(at..at, other[from..from + len].iter().copied());
            }
            4 if !data.is_empty() => {
                let at = rng.below(data.len());
                data.truncate(at);
            }
            _ => {
                let at = rng.below(data.len() + 1);
                data.insert(at, rng.next() as u8);
            }
        }
    }
    data.truncate(1 << 16);
    data
}
