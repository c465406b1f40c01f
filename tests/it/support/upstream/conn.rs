//! One connection's byte stream: plain or TLS, shared between hyper and the
//! fault handlers, and logged so that requests can be captured as sent.

use super::lock;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The accepted socket, with or without TLS.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// One connection's stream, shared between hyper and the connection task so
/// that faults can take it back, plus a log of the (decrypted) bytes read so
/// that requests can be captured exactly as sent: hyper lowercases header
/// names and merges duplicates into a map, and keeps the original case only
/// in a private extension.
#[derive(Clone)]
pub(super) struct ConnIo(Arc<Mutex<Shared>>);

pub(super) struct Shared {
    pub(super) stream: Stream,
    /// Bytes read and not yet attributed to a captured request.
    log: Vec<u8>,
}

pub(super) struct RawHead {
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
}

impl ConnIo {
    pub(super) fn new(stream: Stream) -> ConnIo {
        ConnIo(Arc::new(Mutex::new(Shared {
            stream,
            log: Vec::new(),
        })))
    }

    pub(super) fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.0)
    }
}

impl Shared {
    /// Parses the head of the request hyper has just handed over (its body
    /// already read in full) from the start of the log, and drops that
    /// request's bytes from the log. HTTP/1.1 requests on one connection are
    /// sequential, so the log always starts at the current request.
    pub(super) fn next_raw_request(&mut self) -> Option<RawHead> {
        let log = &self.log;
        // RFC 9112 §2.2: a server should ignore empty lines before a request.
        let mut start = 0;
        while log[start..].starts_with(b"\r\n") {
            start += 2;
        }
        let head_len = find(&log[start..], b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&log[start..start + head_len]).into_owned();
        let body_start = start + head_len + 4;
        let mut lines = head.split("\r\n");
        let target = lines.next()?.split(' ').nth(1)?.to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.trim_matches([' ', '\t']).to_string(),
                )
            })
            .collect();
        let chunked = headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().trim_end().ends_with("chunked")
        });
        let body_end = if chunked {
            chunked_len(&log[body_start..]).map(|len| body_start + len)
        } else {
            let length = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.parse::<usize>().ok())
                .unwrap_or(0);
            Some(body_start + length)
        };
        let consumed = body_end.unwrap_or(log.len()).min(log.len());
        self.log.drain(..consumed);
        Some(RawHead { target, headers })
    }
}

/// Length of a complete chunked body (chunks, last chunk, trailers, CRLF).
fn chunked_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line_end = pos + find(&bytes[pos..], b"\r\n")?;
        let line = std::str::from_utf8(&bytes[pos..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            loop {
                let trailer_end = pos + find(&bytes[pos..], b"\r\n")?;
                let empty = trailer_end == pos;
                pos = trailer_end + 2;
                if empty {
                    return Some(pos);
                }
            }
        }
        pos += size + 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut shared = self.shared();
        let before = buf.filled().len();
        let result = Pin::new(&mut shared.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            shared.log.extend_from_slice(&buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.shared().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.shared().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.shared().stream).poll_shutdown(cx)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
