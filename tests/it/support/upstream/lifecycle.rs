//! When the fake answers and when it hangs up: a [`Gate`] that holds every
//! answer until the test opens it, and a [`KeepAlive`] policy that ends
//! kept-alive connections the way a server's idle timeout does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

/// Holds the fake's answers until [`Gate::open`]: the request is captured
/// (so [`super::FakeDato::wait_for_requests`] sees it), then waits. Lets a
/// test act while the upstream is "working on" a request, without sleeping.
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(watch::Sender::new(false)))
    }

    /// Lets every held request, and every later one, be answered.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Holds later requests again (those already let through go on).
    pub fn close(&self) {
        self.0.send_replace(false);
    }

    pub(super) async fn wait(&self) {
        let mut open = self.0.subscribe();
        // The sender lives as long as this gate, so this cannot fail.
        let _ = open.wait_for(|&open| open).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

/// How a connection is ended by [`KeepAlive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hangup {
    /// An orderly close (FIN; TLS `close_notify` first when TLS is on).
    Close,
    /// An abortive close: `SO_LINGER` 0, so the peer sees an RST.
    Reset,
}

/// Answers at most `answers` requests per connection, and hangs up on the
/// next one without a response byte. No `connection: close` is ever sent,
/// so the client's pool keeps the connection as alive: exactly what a
/// client sees when a server's keep-alive timeout fires while its request
/// is on the way. The dropped request is read whole first (not captured
/// as answered), so an orderly close is a FIN, not an RST for unread data.
pub(super) struct KeepAlive {
    /// `usize::MAX` means "never hang up".
    answers: AtomicUsize,
    hangup: Hangup,
    dropped: AtomicUsize,
}

impl KeepAlive {
    pub(super) fn new(answers: Option<usize>, hangup: Hangup) -> KeepAlive {
        KeepAlive {
            answers: AtomicUsize::new(answers.unwrap_or(usize::MAX)),
            hangup,
            dropped: AtomicUsize::new(0),
        }
    }

    pub(super) fn set_answers(&self, answers: Option<usize>) {
        self.answers
            .store(answers.unwrap_or(usize::MAX), Ordering::SeqCst);
    }

    /// `Some(hangup)` when a connection that already answered `answered`
    /// requests must drop this one; counts it as dropped.
    pub(super) fn drop_next(&self, answered: usize) -> Option<Hangup> {
        if answered < self.answers.load(Ordering::SeqCst) {
            return None;
        }
        self.dropped.fetch_add(1, Ordering::SeqCst);
        Some(self.hangup)
    }

    pub(super) fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}
