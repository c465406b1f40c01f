//! The commit delay ([`crate::recorder::arrivals`]): a batch waits for the
//! exchanges [`Recorder::prepare`] counted, and for nothing else. Every
//! recorder here has a delay of an hour, so a test that passes shows the
//! wait ended because the exchanges in flight were queued, not because
//! the delay ran out.

use super::*;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

/// Far below [`HOUR`]: a batch still waiting this long waits for the
/// delay, and fails the test.
const NO_WAIT: Duration = Duration::from_secs(60);

/// How often the tests that show batching repeat their scenario. Without
/// the wait each round batches as asserted only when the writer thread
/// happens to be scheduled late (about one round in three, measured with
/// the wait removed); every round passing then is a chance of well under
/// one in a thousand, so these tests fail without the commit delay.
const ROUNDS: usize = 8;

/// `future`'s output, or a failure naming what hung.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(NO_WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {NO_WAIT:?}"))
}

/// `n` exchanges forwarded together, none queued yet: their tickets.
async fn forwarded(recorder: &Recorder, cassette: &Path, n: usize) -> Vec<Ticket> {
    let mut tickets = Vec::with_capacity(n);
    for _ in 0..n {
        tickets.push(recorder.prepare(cassette).await.expect("prepare"));
    }
    tickets
}

#[tokio::test]
async fn a_durable_batch_waits_for_every_exchange_in_flight() {
    for round in 0..ROUNDS {
        let (_dir, cassette) = setup();
        let recorder = Recorder::with_commit_delay(RecordMode::New, Fsync::BeforeResponse, HOUR);
        // All three are on their way before the first one is queued.
        let tickets = forwarded(&recorder, &cassette, 3).await;
        let mut appends = tokio::task::JoinSet::new();
        for (i, ticket) in tickets.into_iter().enumerate() {
            let (recorder, cassette) = (recorder.clone(), cassette.clone());
            appends.spawn(async move {
                recorder
                    .append_prepared(&cassette, &exchange(&token_path(i)), ticket)
                    .await
            });
            // Each exchange is queued, and the first one's batch begun,
            // before the next arrives: without the wait the first would
            // be fsynced alone.
            tokio::task::yield_now().await;
        }
        within("the three appends", async {
            while let Some(appended) = appends.join_next().await {
                appended.expect("task").expect("durable");
            }
        })
        .await;
        assert_eq!(
            recorder.batches_written(),
            1,
            "round {round}: one fsync for the three"
        );
        recorder.close().await.expect("close");
        // The wait gathers; it does not reorder.
        assert_eq!(recorded_paths(&cassette), names(0..3), "round {round}");
    }
}

#[tokio::test]
async fn a_lone_durable_exchange_does_not_wait() {
    let (_dir, cassette) = setup();
    let recorder = Recorder::with_commit_delay(RecordMode::New, Fsync::BeforeResponse, HOUR);
    for i in 0..3 {
        let ticket = recorder.prepare(&cassette).await.expect("prepare");
        within(
            "a lone append",
            recorder.append_prepared(&cassette, &exchange(&token_path(i)), ticket),
        )
        .await
        .expect("durable");
    }
    assert_eq!(recorder.batches_written(), 3, "one at a time, one each");
    recorder.close().await.expect("close");
}

#[tokio::test]
async fn an_exchange_that_ends_unrecorded_releases_the_batch() {
    let (_dir, cassette) = setup();
    let recorder = Recorder::with_commit_delay(RecordMode::New, Fsync::BeforeResponse, HOUR);
    let recorded = recorder.prepare(&cassette).await.expect("prepare");
    // Forwarded too, but the upstream failed: it is never appended.
    let failed = recorder.prepare(&cassette).await.expect("prepare");
    let append = {
        let recorder = recorder.clone();
        let cassette = cassette.clone();
        tokio::spawn(async move {
            recorder
                .append_prepared(&cassette, &exchange(&token_path(0)), recorded)
                .await
        })
    };
    // Dropped while the batch waits, or before it: either way the wait
    // must end with it.
    tokio::task::yield_now().await;
    drop(failed);
    within("the recorded one", append)
        .await
        .expect("task")
        .expect("durable");
    assert_eq!(recorder.batches_written(), 1);
    recorder.close().await.expect("close");
}

#[tokio::test]
async fn after_response_fsyncs_once_the_exchanges_in_flight_are_written() {
    for round in 0..ROUNDS {
        let (_dir, cassette) = setup();
        let recorder = Recorder::with_commit_delay(RecordMode::New, Fsync::AfterResponse, HOUR);
        let tickets = forwarded(&recorder, &cassette, 3).await;
        for (i, ticket) in tickets.into_iter().enumerate() {
            // Answered once written: the fsync follows off the reply path.
            recorder
                .append_prepared(&cassette, &exchange(&token_path(i)), ticket)
                .await
                .expect("written");
        }
        within("close", recorder.close()).await.expect("close");
        assert_eq!(
            recorder.background_fsyncs(),
            1,
            "round {round}: one fsync for the three"
        );
        assert_eq!(recorded_paths(&cassette), names(0..3), "round {round}");
    }
}
