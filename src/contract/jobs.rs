//! Jobs: a call that answers 202 with `{data: {type: "job", id}}` finishes
//! later, and `GET /job-results/{id}` then carries the call's real answer in
//! `data.attributes.payload`, with its status in `data.attributes.status`.
//!
//! The [`JobLedger`] remembers which endpoint started each job, so the
//! payload is checked against that endpoint's job schema (its error schema
//! when the job failed). It lives in the [`super::ContractSet`], so it spans
//! one proxy or replay run, and the cassettes of one `schema-check` run, in
//! the order their exchanges are checked. A job result whose job was not seen
//! starting is not checked; a 404 while the job runs is the error envelope's.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Jobs started and not yet seen finished; the oldest is forgotten past
/// this many, so a long proxy run cannot grow it without bound.
const MAX_PENDING: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct JobLedger {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Job id to the index of the endpoint that started it.
    by_id: HashMap<String, usize>,
    /// Ids in the order they started, for forgetting the oldest.
    order: VecDeque<String>,
}

impl JobLedger {
    /// Notes a job that endpoint `origin` started.
    pub fn started(&self, job_id: &str, origin: usize) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.by_id.insert(job_id.to_owned(), origin).is_none() {
            pending.order.push_back(job_id.to_owned());
        }
        while pending.order.len() > MAX_PENDING {
            if let Some(oldest) = pending.order.pop_front() {
                pending.by_id.remove(&oldest);
            }
        }
    }

    /// The endpoint that started `job_id`, which is now finished.
    pub fn finished(&self, job_id: &str) -> Option<usize> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let origin = pending.by_id.remove(job_id)?;
        pending.order.retain(|id| id != job_id);
        Some(origin)
    }
}

/// The id of the job in a 202 answer, `{data: {type: "job", id}}`.
pub(super) fn started_job(body: &Value) -> Option<&str> {
    let data = body.get("data")?;
    (data.get("type")?.as_str()? == "job").then_some(())?;
    data.get("id")?.as_str()
}

/// A finished job's result: `(job id, the call's status, its payload)`,
/// from `{data: {type: "job_result", id, attributes: {status, payload}}}`.
pub(super) fn job_result(body: &Value) -> Option<(&str, u16, &Value)> {
    let data = body.get("data")?;
    (data.get("type")?.as_str()? == "job_result").then_some(())?;
    let id = data.get("id")?.as_str()?;
    let attributes = data.get("attributes")?;
    let status = u16::try_from(attributes.get("status")?.as_u64()?).ok()?;
    Some((id, status, attributes.get("payload")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_is_finished_once_and_the_oldest_are_forgotten() {
        let ledger = JobLedger::default();
        ledger.started("a", 3);
        ledger.started("a", 3);
        assert_eq!(ledger.finished("a"), Some(3));
        assert_eq!(ledger.finished("a"), None);
        for n in 0..=MAX_PENDING {
            ledger.started(&n.to_string(), n);
        }
        assert_eq!(ledger.finished("0"), None, "the oldest was forgotten");
        assert_eq!(ledger.finished("1"), Some(1));
        assert_eq!(ledger.finished(&MAX_PENDING.to_string()), Some(MAX_PENDING));
    }

    #[test]
    fn jobs_and_results_are_read_from_their_documents() {
        assert_eq!(
            started_job(&json!({"data": {"type": "job", "id": "x1"}})),
            Some("x1")
        );
        assert_eq!(
            started_job(&json!({"data": {"type": "field", "id": "x1"}})),
            None
        );
        assert_eq!(
            started_job(&json!({"data": {"type": "job", "id": 7}})),
            None
        );
        let result = json!({"data": {"type": "job_result", "id": "x1",
            "attributes": {"status": 201, "payload": {"data": []}}}});
        assert_eq!(job_result(&result), Some(("x1", 201, &json!({"data": []}))));
        for broken in [
            json!({"data": {"type": "job_result", "id": "x1", "attributes": {"payload": {}}}}),
            json!({"data": {"type": "job_result", "id": "x1", "attributes": {"status": 70000, "payload": {}}}}),
            json!({"data": {"type": "job", "id": "x1", "attributes": {"status": 200, "payload": {}}}}),
        ] {
            assert_eq!(job_result(&broken), None, "{broken}");
        }
    }
}
