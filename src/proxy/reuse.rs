//! How an upstream connection has been used, for telling a stale kept-alive
//! connection from a request the upstream may have acted on.
//!
//! hyper-util's client retries a request on its own only when the request
//! was never written (`retry_canceled_requests`). A request written to a
//! pooled connection that the server had just closed fails with "connection
//! closed before message completed", and nothing in the error says whether
//! the connection was reused or whether any of the response had arrived.
//! So every connection is [`Counted`]: it counts the requests written on it
//! and notes whether any byte was read since the current one started. The
//! counters travel in the connection's [`Connected`] extras, which the
//! client attaches to its errors ([`usage_of`]).
//!
//! The count works on the decrypted stream, above TLS, where an HTTP/1.1
//! client only ever writes a request and reads its response, in turn.

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An upstream connection as the client uses it: hyper's IO traits over
/// tokio's over the counting layer over hyper's again (the counting needs
/// tokio's `ReadBuf` to see how much was read, safely).
pub type Counted<T> = TokioIo<Counting<TokioIo<T>>>;

/// Wraps a fresh connection.
pub fn count<T>(io: T) -> Counted<T> {
    TokioIo::new(Counting {
        inner: TokioIo::new(io),
        usage: Arc::new(Usage::default()),
    })
}

/// What a connection has carried so far.
#[derive(Debug, Default)]
pub struct Usage {
    /// Requests whose writing started (a write after a read, or the first).
    requests: AtomicU64,
    /// The last operation was a write: the current request is being sent.
    writing: AtomicBool,
    /// A byte arrived since the current request started.
    response_bytes: AtomicBool,
}

impl Usage {
    fn wrote(&self) {
        if !self.writing.swap(true, Ordering::Relaxed) {
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.response_bytes.store(false, Ordering::Relaxed);
        }
    }

    fn read(&self) {
        self.writing.store(false, Ordering::Relaxed);
        self.response_bytes.store(true, Ordering::Relaxed);
    }

    /// The connection had carried an earlier request, and no byte of the
    /// current request's response arrived.
    pub fn failed_before_response_on_reused(&self) -> bool {
        self.requests.load(Ordering::Relaxed) > 1 && !self.response_bytes.load(Ordering::Relaxed)
    }
}

/// The [`Usage`] of the connection a client error happened on.
pub fn usage_of(connected: &Connected) -> Option<Arc<Usage>> {
    let mut extras = http::Extensions::new();
    connected.get_extras(&mut extras);
    extras.get::<UsageTag>().map(|tag| tag.0.clone())
}

/// How [`Usage`] rides in [`Connected`]'s extras.
#[derive(Clone)]
struct UsageTag(Arc<Usage>);

/// The counting layer (see the module docs).
pub struct Counting<S> {
    inner: S,
    usage: Arc<Usage>,
}

impl<T: Connection + hyper::rt::Read + hyper::rt::Write + Unpin> Connection
    for Counting<TokioIo<T>>
{
    fn connected(&self) -> Connected {
        self.inner
            .inner()
            .connected()
            .extra(UsageTag(self.usage.clone()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read
            && buf.filled().len() > before
        {
            self.usage.read();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.usage.wrote();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.usage.wrote();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reused_connection_with_no_response_byte_is_stale() {
        let usage = Usage::default();
        usage.wrote();
        assert!(!usage.failed_before_response_on_reused(), "first request");
        usage.read();
        usage.wrote();
        usage.wrote();
        assert!(
            usage.failed_before_response_on_reused(),
            "second, unanswered"
        );
        usage.read();
        assert!(
            !usage.failed_before_response_on_reused(),
            "second, answer begun"
        );
    }
}
