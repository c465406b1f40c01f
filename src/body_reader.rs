//! Reading whole message bodies within a size limit and an idle timeout.
//!
//! hyper has no body limit or body timeout of its own; both are needed
//! before a body is buffered for validation and recording.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("no body data arrived for {0:?}")]
    IdleTimeout(Duration),
    #[error("the body took longer than {0:?} to arrive")]
    TotalTimeout(Duration),
    #[error("the body could not be read: {0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

/// How long a body may take.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadlines {
    /// Longest pause between two pieces of the body.
    pub idle: Duration,
    /// Longest time for the whole body: a body trickling just under `idle`
    /// would otherwise hold a connection forever.
    pub total: Duration,
}

/// Collects `body`, failing once more than `limit` bytes arrive, when no
/// frame arrives for `deadlines.idle`, or after `deadlines.total`.
pub async fn read_limited<B>(
    body: B,
    limit: usize,
    deadlines: BodyDeadlines,
) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match tokio::time::timeout(
        deadlines.total,
        read_idle_limited(body, limit, deadlines.idle),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(BodyError::TotalTimeout(deadlines.total)),
    }
}

async fn read_idle_limited<B>(body: B, limit: usize, idle: Duration) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = body;
    // Most bodies arrive as one frame: keep it as it is (no copy) and only
    // join frames when there are several.
    let mut frames: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while !body.is_end_stream() {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::IdleTimeout(idle)),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|err| BodyError::Failed(err.into()))?,
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit {
                return Err(BodyError::TooLarge { limit });
            }
            frames.push(data);
        }
    }
    Ok(match frames.len() {
        0 => Bytes::new(),
        1 => frames.pop().expect("one frame"),
        _ => {
            let mut joined = BytesMut::with_capacity(total);
            frames
                .iter()
                .for_each(|frame| joined.extend_from_slice(frame));
            joined.freeze()
        }
    })
}
