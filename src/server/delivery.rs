//! Knowing whether a response reached its client.
//!
//! A client may go away at any moment: before the handler has answered
//! (hyper then drops the request's service future), or while the response
//! is being written (the write fails, or times out). Either way the
//! exchange itself goes on (see [`super::serve`]); what is left to do is to
//! say so. A handler that wants that said puts an [`Undelivered`] note in
//! its response's extensions; the server prints it on stderr when the
//! response was not handed to the kernel whole.
//!
//! "Delivered" means: hyper finished with the body ([`Tracked`] dropped) and
//! a flush of the connection succeeded after it ([`Watched`]). Bytes the
//! kernel accepted may still be lost with the client's connection; no
//! server can know that, so no note is printed for them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A line to print if the response carrying it never reaches its client.
/// The handler writes it (so it can scrub the exchange's secrets from it),
/// only when it is needed; the server only prints it.
#[derive(Clone)]
pub struct Undelivered(Arc<dyn Fn() -> String + Send + Sync>);

impl Undelivered {
    pub fn new(line: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(line))
    }

    pub(super) fn say(&self) {
        eprintln!("{}", (self.0)());
    }
}

/// A response on its way from the handler's task to its connection. If it
/// is dropped unopened (the client was gone before the handler answered,
/// so hyper dropped the future waiting for it), its note is printed.
pub(super) struct Sealed(Option<http::Response<Full<Bytes>>>);

impl Sealed {
    pub(super) fn new(response: http::Response<Full<Bytes>>) -> Self {
        Self(Some(response))
    }

    pub(super) fn open(mut self) -> http::Response<Full<Bytes>> {
        self.0.take().expect("a sealed response is opened once")
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        if let Some(note) = self
            .0
            .as_ref()
            .and_then(|r| r.extensions().get::<Undelivered>())
        {
            note.say();
        }
    }
}

/// One client connection's view of the response being written on it.
/// HTTP/1.1 writes one response at a time, so one slot is enough.
#[derive(Default)]
pub(super) struct Link(Mutex<Slot>);

#[derive(Default)]
struct Slot {
    /// The note of the response being written, until it is delivered.
    note: Option<Undelivered>,
    /// hyper is done with that response's body: the next successful flush
    /// delivers it.
    handed_over: bool,
}

impl Link {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts watching `response`'s delivery: its note (if any) moves to
    /// this connection, its body is wrapped so that hyper's end with it is
    /// seen. `to_head` says whether it answers a HEAD request. The framing
    /// of a response without a body is settled here: see [`super::framing`].
    pub(super) fn track(
        self: &Arc<Self>,
        response: http::Response<Full<Bytes>>,
        to_head: bool,
    ) -> http::Response<Tracked> {
        let (mut parts, body) = response.into_parts();
        let note = parts.extensions.remove::<Undelivered>();
        let (body, declared) = super::framing::bodiless(&mut parts, body, to_head);
        *self.slot() = Slot {
            note,
            handed_over: false,
        };
        http::Response::from_parts(
            parts,
            Tracked {
                body,
                declared,
                link: self.clone(),
            },
        )
    }

    fn handed_over(&self) {
        self.slot().handed_over = true;
    }

    fn flushed(&self) {
        let mut slot = self.slot();
        if slot.handed_over {
            slot.note = None;
        }
    }

    /// The connection is over: a response still in the slot never made it.
    pub(super) fn closed(&self) {
        let note = self.slot().note.take();
        if let Some(note) = note {
            note.say();
        }
    }
}

/// A response body whose end (hyper dropping it, after its last frame or
/// because the connection broke) is reported to its [`Link`].
pub struct Tracked {
    body: Full<Bytes>,
    /// An empty body that claims this length (see [`super::framing`]).
    declared: Option<u64>,
    link: Arc<Link>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.declared.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(length) => SizeHint::with_exact(length),
            None => self.body.size_hint(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.link.handed_over();
    }
}

/// A client connection's byte stream that tells its [`Link`] about every
/// successful flush: hyper flushes only once its buffer is all written.
pub(super) struct Watched<S> {
    inner: S,
    link: Arc<Link>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, link: Arc<Link>) -> Self {
        Self { inner, link }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.link.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
