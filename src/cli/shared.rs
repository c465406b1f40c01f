//! Option groups more than one command takes (recording, runtime, limits),
//! and the parsers of option values.

use crate::proxy::{Limits, ProxyConfig};
use crate::recorder::Fsync;
use crate::redact::RedactionRules;
use crate::server::ConnectionLimits;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct RecordingArgs {
    /// Another header whose values are credentials: redacted in everything recorded and never
    /// printed.
    ///
    /// Repeatable. For `replay --on-miss record` pass the rules the cassette was recorded with:
    /// a header or query parameter the loaded cassettes hold redacted is redacted in new
    /// episodes anyway, with a warning, but one they never saw is not. A redacted header can
    /// never be matched with --match header:NAME.
    #[arg(long = "redact-header", value_name = "NAME", value_parser = parse_header_name)]
    pub redact_headers: Vec<String>,

    /// A JSON pointer redacted in every JSON request and response body recorded.
    ///
    /// Repeatable. `replay` cannot tell which pointers a cassette was recorded with: pass the
    /// same ones to `--on-miss record`.
    #[arg(long = "redact-pointer", value_name = "POINTER", value_parser = parse_pointer)]
    pub redact_pointers: Vec<String>,

    /// A query parameter whose value is a credential: redacted in everything recorded and never
    /// printed.
    ///
    /// Repeatable.
    #[arg(long = "redact-query", value_name = "NAME")]
    pub redact_query: Vec<String>,

    /// When a recorded exchange is fsynced: before-response, after-response or periodic.
    #[arg(long, value_enum, default_value_t = Fsync::BeforeResponse)]
    pub fsync: Fsync,

    /// With --fsync periodic: the longest a written exchange waits for its
    /// fsync (e.g. 200ms, 1s).
    #[arg(long, value_parser = parse_fsync_interval, default_value = "1s", value_name = "DURATION")]
    pub fsync_interval: Duration,
}

impl RecordingArgs {
    /// `--redact-header`, `--redact-pointer` and `--redact-query` as rules.
    pub fn redaction_rules(&self) -> RedactionRules {
        RedactionRules {
            headers: self.redact_headers.clone(),
            pointers: self.redact_pointers.clone(),
            query_params: self.redact_query.clone(),
        }
    }

    /// Sets everything these flags decide on the config that writes cassettes.
    pub fn apply(&self, config: &mut ProxyConfig) {
        config.redaction = self.redaction_rules();
        config.fsync = self.fsync;
        config.fsync_interval = self.fsync_interval;
    }
}

/// How the server's work is spread over threads (see docs/performance.md,
/// "Runtime", for the measurements behind the default).
#[derive(Debug, Clone, Copy, Args)]
pub struct RuntimeArgs {
    /// Worker threads serving requests; 1 serves everything on one thread.
    ///
    /// The default, 1, was measured best on machines like CI runners, where
    /// the client under test runs on the same few cores: a second worker
    /// adds cross-thread wake-ups and takes CPU the client needs. Raise it
    /// when datovcr serves many clients from a machine of its own. The
    /// recorder's file writing runs on threads of its own either way.
    /// At most 1024.
    #[arg(
        long,
        value_name = "N",
        env = "DATOVCR_THREADS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS)
    )]
    pub threads: u16,
}

/// The most `--threads` takes. The runtime starts every worker at once and
/// panics (or overflows) when the OS refuses one, so a mistyped count must
/// be refused before it gets there.
const MAX_THREADS: i64 = 1024;

/// Every limit, with the defaults documented in docs/proxy.md.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest request head (request line and headers); larger gets 431.
    #[arg(long, default_value = "64KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_head_bytes: usize,
    /// Most header fields in a request; more gets 431.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = parse_count)]
    pub max_headers: usize,
    /// Longest request URI; longer gets 414.
    #[arg(long, default_value = "8KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_uri_bytes: usize,
    /// Largest request body; larger gets 413.
    #[arg(long, default_value = "10MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_request_body: usize,
    /// Time allowed to send a request head; the connection is closed after it.
    #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DURATION")]
    pub header_read_timeout: Duration,
    /// Longest pause while a request body arrives; longer gets 408.
    #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DURATION")]
    pub body_idle_timeout: Duration,
    /// TCP connect plus TLS handshake with the upstream; longer gets 502.
    #[arg(long, default_value = "5s", value_parser = parse_timeout, value_name = "DURATION")]
    pub upstream_connect_timeout: Duration,
    /// Wait for the upstream's response head; longer gets 504.
    #[arg(long, default_value = "30s", value_parser = parse_timeout, value_name = "DURATION")]
    pub upstream_response_timeout: Duration,
    /// Longest pause while the upstream's body arrives; longer gets 504.
    #[arg(long, default_value = "30s", value_parser = parse_timeout, value_name = "DURATION")]
    pub upstream_body_idle_timeout: Duration,
    /// Largest upstream response body; larger gets 502 and is not recorded.
    #[arg(long, default_value = "32MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_upstream_body: usize,
    /// How long in-flight exchanges may finish after Ctrl-C or SIGTERM.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// Longest time to receive a whole request body, however steadily it trickles; longer gets
    /// 408.
    #[arg(long, default_value = "60s", value_parser = parse_timeout, value_name = "DURATION")]
    pub request_body_timeout: Duration,
    /// Longest a write to a client may block (a client that stops reading); then it is closed.
    #[arg(long, default_value = "30s", value_parser = parse_timeout, value_name = "DURATION")]
    pub write_timeout: Duration,
    /// Open client connections at most; more wait to be accepted.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = parse_count)]
    pub max_connections: usize,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = parse_count)]
    pub max_in_flight: usize,
    /// Most cassettes recorded into in one run (each has a writer thread and open files); an
    /// exchange naming one more gets 503 and is not forwarded.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_cassettes: u32,
}

impl LimitArgs {
    pub(super) fn to_limits(&self) -> Limits {
        Limits {
            connection: ConnectionLimits {
                max_head_bytes: self.max_head_bytes,
                max_headers: self.max_headers,
                header_read_timeout: self.header_read_timeout,
                shutdown_grace: self.shutdown_grace,
                max_connections: self.max_connections,
                max_in_flight: self.max_in_flight,
                write_timeout: self.write_timeout,
            },
            request_body_timeout: self.request_body_timeout,
            max_uri_bytes: self.max_uri_bytes,
            max_request_body: self.max_request_body,
            body_idle_timeout: self.body_idle_timeout,
            upstream_connect_timeout: self.upstream_connect_timeout,
            upstream_response_timeout: self.upstream_response_timeout,
            max_upstream_body: self.max_upstream_body,
            upstream_body_idle_timeout: self.upstream_body_idle_timeout,
            max_cassettes: self.max_cassettes as usize,
        }
    }
}

/// A humantime duration from 1 ms to 1 hour: a zero interval would fsync
/// in a busy loop, and a longer one is no durability at all.
pub(super) fn parse_fsync_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if interval < Duration::from_millis(1) || interval > Duration::from_secs(3600) {
        return Err(format!(
            "`{text}` is out of range: give 1ms to 1h (e.g. 200ms, 1s)"
        ));
    }
    Ok(interval)
}

/// `65536`, `64KiB`, `10MiB` (also `K`/`M`, `KB`/`MB` as binary units).
pub(super) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => {
            return Err(format!(
                "`{text}` is not a size; write it like 65536, 64KiB or 10MiB"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size; write it like 65536, 64KiB or 10MiB"))
}

/// A limit's timeout: a humantime duration above zero. A zero timeout
/// fails every request (or closes every connection) at once, which no one
/// means; the message says how to write one.
pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if timeout.is_zero() {
        return Err(format!(
            "`{text}` would time out at once, failing every request; give a duration above zero (e.g. 10s)"
        ));
    }
    Ok(timeout)
}

/// A limit's count: 1 or more. With 0 the server would accept no
/// connection, answer every request 503, or refuse every header.
pub(super) fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!(
            "`{text}` would let nothing through; give 1 or more"
        )),
        Ok(count) => Ok(count),
        Err(_) => Err(format!(
            "`{text}` is not a count; give a whole number, 1 or more"
        )),
    }
}

/// A header name, an RFC 9110 token: a name no header can have (a space,
/// a colon) is a typo that would redact nothing.
pub(super) fn parse_header_name(text: &str) -> Result<String, String> {
    crate::cassette::check_name(text)?;
    Ok(text.to_owned())
}

pub(super) fn parse_pointer(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a JSON pointer; write it like /data/attributes/secret"
        ))
    }
}

/// A `--listen` address: `IP:PORT`, or `HOST:PORT` with the host name
/// resolved now. Of a name's addresses an IPv4 one is preferred, as
/// `localhost` means `127.0.0.1` to most clients.
pub(super) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` has no port; write HOST:PORT, such as 127.0.0.1:8787 (port 0 picks a free one)"
        ));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "`{port}` in `{text}` is not a port number; write HOST:PORT, such as 127.0.0.1:8787"
        ));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|err| {
            format!("cannot resolve `{host}`: {err}; write an address such as 127.0.0.1:{port}")
        })?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            format!("`{host}` resolves to no address; write an address such as 127.0.0.1:{port}")
        })
}

pub(super) fn parse_prefix(text: &str) -> Result<String, String> {
    let trimmed = text.trim_end_matches('/');
    if trimmed.starts_with('/') && !trimmed.contains(['?', '#']) {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a path prefix; write it like /proxy-prefix"
        ))
    }
}

/// An upstream URL: https, or http for a loopback host (tests, benchmarks).
pub(super) fn parse_upstream(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|err| format!("--upstream `{text}` is not a URL: {err}"))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if loopback => Ok(uri),
        Some("http") => Err(format!(
            "--upstream `{text}` uses plain http to a remote host, which would send API tokens unencrypted; use https"
        )),
        _ => Err(format!(
            "--upstream `{text}` must be an https:// URL such as https://site-api.datocms.com"
        )),
    }
}
