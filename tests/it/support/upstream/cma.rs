//! The CMA beyond access tokens, as far as the official client's broad flow
//! goes (`tests/clients/node/cma-flow.mjs`): models, fields, records,
//! environments, jobs, webhooks and build triggers, kept in memory.
//!
//! Switched on by [`super::FakeDatoOptions::with_cma`]; off, these paths are
//! `INVALID_ENDPOINT` as before. Answers follow the 2022 real traffic
//! (`shared/real-traffic/README.md`) in the shapes of the 5.8.1 contract
//! (`schemas/cma/`), every documented key present:
//!
//! | Call | Answer |
//! |---|---|
//! | `POST /item-types`, `GET /item-types/{id}` | 201 / 200 `item_type` |
//! | `POST /item-types/{id}/fields` | 202 job; its result (ready at the first poll) is 201 with the `field` |
//! | `POST /items`, `PUT /items/{id}`, `PUT /items/{id}/publish` | 201 (with the model in `included`) / 200 `item`; attributes must be fields of the model |
//! | `GET /items?filter[type]=…&page[offset]=…&page[limit]=…` | 200, that page in creation order, `meta.total_count` (limit 30 by default, at most 500) |
//! | `POST /environments/{id}/fork` | 202 job; its result is 404 `NOT_FOUND` for [`FORK_POLLS_RUNNING`] poll(s), then 201 with the new `environment` |
//! | `GET /job-results/{id}` | as above; an unknown job is 404 too, as the API cannot tell |
//! | `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{id}` | 201 / 200 / 200 `webhook`, custom `headers` kept as sent |
//! | `POST /build-triggers`, `GET /build-triggers`, `DELETE /build-triggers/{id}` | 201 / 200 / 200 `build_trigger`; `webhook_token` is an issued token (a canary), repeated in `webhook_url` |
//! | `POST /build-triggers/{id}/trigger` | 204, no body, no `content-type`; the trigger's `build_status` becomes `pending` |
//!
//! Ids are sequential, job ids 24 hex digits, and every timestamp comes from
//! a logical clock that ticks once per write, so two runs of one flow get
//! the same bodies except for issued tokens.

mod records;

use super::{ApiError, Reply};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Polls of a fork's job answered 404 before its result is ready: one, as
/// for a real fork of a small project (the client waits 1 s, then 2 s).
pub const FORK_POLLS_RUNNING: u32 = 1;

/// The resources, each a JSON:API resource object as the API renders it.
pub(super) struct Cma {
    next_id: u64,
    clock: u64,
    item_types: Vec<Value>,
    fields: Vec<Value>,
    items: Vec<Value>,
    environments: Vec<Value>,
    webhooks: Vec<Value>,
    build_triggers: Vec<Value>,
    jobs: HashMap<String, Job>,
}

struct Job {
    /// 404s still to answer before the result.
    running: u32,
    status: u16,
    payload: Value,
}

type Answer = Result<Reply, ApiError>;

impl Cma {
    /// A project with its primary environment `main` and nothing else.
    pub(super) fn new() -> Cma {
        let mut cma = Cma {
            next_id: 1000,
            clock: 0,
            item_types: Vec::new(),
            fields: Vec::new(),
            items: Vec::new(),
            environments: Vec::new(),
            webhooks: Vec::new(),
            build_triggers: Vec::new(),
            jobs: HashMap::new(),
        };
        let created = cma.tick();
        cma.environments
            .push(environment("main", true, None, &created));
        cma
    }

    /// `None` when no call here has this method and path. `issue` makes a
    /// new secret token (the fake's token generator).
    pub(super) fn route(
        &mut self,
        method: &Method,
        segments: &[&str],
        query: Option<&str>,
        body: &[u8],
        issue: &mut dyn FnMut() -> String,
    ) -> Option<Answer> {
        let answer = match (method, segments) {
            (&Method::POST, ["item-types"]) => self.create_item_type(body),
            (&Method::GET, ["item-types", id]) => {
                find(&self.item_types, "ItemType", id).cloned().map(ok)
            }
            (&Method::POST, ["item-types", id, "fields"]) => self.create_field(id, body),
            (&Method::GET, ["items"]) => self.list_items(query),
            (&Method::POST, ["items"]) => self.create_item(body),
            (&Method::PUT, ["items", id]) => self.update_item(id, body),
            (&Method::PUT, ["items", id, "publish"]) => self.publish_item(id),
            (&Method::POST, ["environments", id, "fork"]) => self.fork(id, body),
            (&Method::GET, ["job-results", id]) => self.job_result(id),
            (&Method::GET, ["webhooks"]) => Ok(list(&self.webhooks)),
            (&Method::POST, ["webhooks"]) => self.create_webhook(body),
            (&Method::DELETE, ["webhooks", id]) => remove(&mut self.webhooks, "Webhook", id),
            (&Method::GET, ["build-triggers"]) => Ok(list(&self.build_triggers)),
            (&Method::POST, ["build-triggers"]) => self.create_build_trigger(body, issue()),
            (&Method::POST, ["build-triggers", id, "trigger"]) => self.trigger(id),
            (&Method::DELETE, ["build-triggers", id]) => {
                remove(&mut self.build_triggers, "BuildTrigger", id)
            }
            _ => return None,
        };
        Some(answer)
    }

    /// The logical clock's next instant, as the API writes timestamps.
    fn tick(&mut self) -> String {
        self.clock += 1;
        let (minutes, seconds) = (self.clock / 60, self.clock % 60);
        format!("2026-01-01T10:{minutes:02}:{seconds:02}.000Z")
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Starts a job whose result is `status` and `payload`; answers 202.
    fn start_job(&mut self, running: u32, status: u16, payload: Value) -> Answer {
        let id = format!("5e1f0b7a{:016x}", self.jobs.len() + 1);
        self.jobs.insert(
            id.clone(),
            Job {
                running,
                status,
                payload,
            },
        );
        Ok(Reply::json(
            StatusCode::ACCEPTED,
            json!({ "data": { "type": "job", "id": id } }),
        ))
    }

    fn job_result(&mut self, id: &str) -> Answer {
        let job = self.jobs.get_mut(id).ok_or_else(|| not_found("Job", id))?;
        if job.running > 0 {
            job.running -= 1;
            return Err(not_found("Job", id));
        }
        Ok(ok(json!({
            "type": "job_result",
            "id": id,
            "attributes": { "status": job.status, "payload": job.payload }
        })))
    }

    /// Real forks answer 202 and their job result is 201 (2022 traffic).
    fn fork(&mut self, source: &str, body: &[u8]) -> Answer {
        find(&self.environments, "Environment", source)?;
        let data = document(body, "environment")?;
        let id = data
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid("id", "VALIDATION_REQUIRED"))?
            .to_owned();
        if find(&self.environments, "Environment", &id).is_ok() {
            return Err(invalid("id", "VALIDATION_UNIQUENESS"));
        }
        let now = self.tick();
        let forked = environment(&id, false, Some(source), &now);
        self.environments.push(forked.clone());
        self.start_job(FORK_POLLS_RUNNING, 201, json!({ "data": forked }))
    }

    fn create_webhook(&mut self, body: &[u8]) -> Answer {
        let input = attributes(body, "webhook", &["name", "url", "headers", "events"])?;
        let field = |name: &str, default: Value| input.get(name).cloned().unwrap_or(default);
        let webhook = json!({
            "type": "webhook",
            "id": self.id(),
            "attributes": {
                "name": input["name"],
                "enabled": field("enabled", json!(true)),
                "url": input["url"],
                "custom_payload": field("custom_payload", Value::Null),
                "http_basic_user": field("http_basic_user", Value::Null),
                "http_basic_password": field("http_basic_password", Value::Null),
                "headers": input["headers"],
                "events": input["events"],
                "payload_api_version": field("payload_api_version", json!("3")),
                "nested_items_in_payload": field("nested_items_in_payload", json!(false)),
                "auto_retry": field("auto_retry", json!(true))
            }
        });
        self.webhooks.push(webhook.clone());
        Ok(created(json!({ "data": webhook })))
    }

    fn create_build_trigger(&mut self, body: &[u8], token: String) -> Answer {
        let input = attributes(
            body,
            "build_trigger",
            &["name", "adapter", "adapter_settings"],
        )?;
        let field = |name: &str, default: Value| input.get(name).cloned().unwrap_or(default);
        let trigger = json!({
            "type": "build_trigger",
            "id": self.id(),
            "attributes": {
                "name": input["name"],
                "enabled": field("enabled", json!(true)),
                "adapter": input["adapter"],
                "adapter_settings": input["adapter_settings"],
                "last_build_completed_at": null,
                "build_status": "unstarted",
                "webhook_token": token,
                "webhook_url": format!("https://webhooks.datocms.com/{token}/deploy-results"),
                "indexing_status": "unstarted",
                "frontend_url": field("frontend_url", Value::Null),
                "autotrigger_on_scheduled_publications":
                    field("autotrigger_on_scheduled_publications", json!(false)),
                "indexing_enabled": field("indexing_enabled", json!(false))
            }
        });
        self.build_triggers.push(trigger.clone());
        Ok(created(json!({ "data": trigger })))
    }

    fn trigger(&mut self, id: &str) -> Answer {
        let trigger = find_mut(&mut self.build_triggers, "BuildTrigger", id)?;
        trigger["attributes"]["build_status"] = json!("pending");
        Ok(Reply::raw(StatusCode::NO_CONTENT, Default::default()))
    }
}

fn environment(id: &str, primary: bool, forked_from: Option<&str>, now: &str) -> Value {
    json!({
        "type": "environment",
        "id": id,
        "meta": {
            "status": "ready",
            "read_only_mode": false,
            "created_at": now,
            "last_data_change_at": now,
            "primary": primary,
            "forked_from": forked_from
        }
    })
}

fn ok(resource: Value) -> Reply {
    Reply::json(StatusCode::OK, json!({ "data": resource }))
}

fn created(document: Value) -> Reply {
    Reply::json(StatusCode::CREATED, document)
}

fn list(resources: &[Value]) -> Reply {
    Reply::json(StatusCode::OK, json!({ "data": resources }))
}

fn find<'a>(resources: &'a [Value], kind: &str, id: &str) -> Result<&'a Value, ApiError> {
    resources
        .iter()
        .find(|r| r["id"] == id)
        .ok_or_else(|| not_found(kind, id))
}

fn find_mut<'a>(
    resources: &'a mut [Value],
    kind: &str,
    id: &str,
) -> Result<&'a mut Value, ApiError> {
    resources
        .iter_mut()
        .find(|r| r["id"] == id)
        .ok_or_else(|| not_found(kind, id))
}

/// Destroys answer 200 with what was destroyed.
fn remove(resources: &mut Vec<Value>, kind: &str, id: &str) -> Answer {
    let index = resources
        .iter()
        .position(|r| r["id"] == id)
        .ok_or_else(|| not_found(kind, id))?;
    Ok(ok(resources.remove(index)))
}

/// `data` of a JSON:API request body, which must have `type`.
fn document(body: &[u8], kind: &str) -> Result<Value, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| invalid("body", "VALIDATION_FORMAT"))?;
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid("data", "VALIDATION_REQUIRED"))?;
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(invalid("type", "VALIDATION_INCLUSION"));
    }
    Ok(data.clone())
}

/// The attributes of a create body, with every one of `required` present.
fn attributes(body: &[u8], kind: &str, required: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let data = document(body, kind)?;
    let attributes = object(data.get("attributes")).clone();
    match required
        .iter()
        .find(|name| !attributes.contains_key(**name))
    {
        Some(name) => Err(invalid(name, "VALIDATION_REQUIRED")),
        None => Ok(attributes),
    }
}

fn object(value: Option<&Value>) -> &Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    value.and_then(Value::as_object).unwrap_or(&EMPTY)
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        json!({ "message": format!("Couldn't find {kind} with 'id'={id}") }),
    )
}

fn invalid(field: &str, code: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_FIELD",
        json!({ "field": field, "code": code }),
    )
}
