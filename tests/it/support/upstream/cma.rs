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

use super::{ApiError, Reply};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Polls of a fork's job answered 404 before its result is ready: one, as
/// for a real fork of a small project (the client waits 1 s, then 2 s).
pub const FORK_POLLS_RUNNING: u32 = 1;
/// `page[limit]` bounds of `GET /items` (the client's `defaultLimit` and `maxLimit`).
const DEFAULT_PAGE_LIMIT: usize = 30;
const MAX_PAGE_LIMIT: usize = 500;

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

    fn create_item_type(&mut self, body: &[u8]) -> Answer {
        let input = attributes(body, "item_type", &["name", "api_key"])?;
        let api_key = input["api_key"].clone();
        if self
            .item_types
            .iter()
            .any(|m| m["attributes"]["api_key"] == api_key)
        {
            return Err(invalid("api_key", "VALIDATION_UNIQUENESS"));
        }
        let flag = |name: &str| input.get(name).and_then(Value::as_bool).unwrap_or(false);
        let model = json!({
            "type": "item_type",
            "id": self.id(),
            "attributes": {
                "name": input["name"],
                "api_key": api_key,
                "collection_appearance": "compact",
                "singleton": flag("singleton"),
                "all_locales_required": flag("all_locales_required"),
                "sortable": flag("sortable"),
                "modular_block": flag("modular_block"),
                "draft_mode_active": flag("draft_mode_active"),
                "draft_saving_active": flag("draft_saving_active"),
                "tree": flag("tree"),
                "ordering_direction": null,
                "ordering_meta": null,
                "has_singleton_item": false,
                "hint": input.get("hint").cloned().unwrap_or(Value::Null),
                "inverse_relationships_enabled": flag("inverse_relationships_enabled")
            },
            "relationships": {
                "singleton_item": { "data": null },
                "fields": { "data": [] },
                "fieldsets": { "data": [] },
                "presentation_title_field": { "data": null },
                "presentation_image_field": { "data": null },
                "title_field": { "data": null },
                "image_preview_field": { "data": null },
                "excerpt_field": { "data": null },
                "ordering_field": { "data": null },
                "workflow": { "data": null }
            },
            "meta": { "has_singleton_item": false }
        });
        self.item_types.push(model.clone());
        Ok(created(json!({ "data": model })))
    }

    /// Real field creates answer 202 (2022 traffic: every one of them).
    fn create_field(&mut self, model_id: &str, body: &[u8]) -> Answer {
        find(&self.item_types, "ItemType", model_id)?;
        let input = attributes(body, "field", &["label", "field_type", "api_key"])?;
        let siblings = self.fields_of(model_id);
        if siblings
            .iter()
            .any(|f| f["attributes"]["api_key"] == input["api_key"])
        {
            return Err(invalid("api_key", "VALIDATION_UNIQUENESS"));
        }
        let position = siblings.len() + 1;
        let id = self.id();
        let field = json!({
            "type": "field",
            "id": id,
            "attributes": {
                "label": input["label"],
                "field_type": input["field_type"],
                "localized": input.get("localized").cloned().unwrap_or(json!(false)),
                "default_value": input.get("default_value").cloned().unwrap_or(Value::Null),
                "api_key": input["api_key"],
                "hint": input.get("hint").cloned().unwrap_or(Value::Null),
                "validators": input.get("validators").cloned().unwrap_or(json!({})),
                "appearance": input.get("appearance").cloned().unwrap_or_else(
                    || json!({ "editor": "single_line", "parameters": {}, "addons": [] })
                ),
                "position": position,
                "deep_filtering_enabled": false,
                "content_link_enabled": false
            },
            "relationships": {
                "item_type": { "data": { "type": "item_type", "id": model_id } },
                "fieldset": { "data": null }
            }
        });
        self.fields.push(field.clone());
        let model = find_mut(&mut self.item_types, "ItemType", model_id)?;
        model["relationships"]["fields"]["data"]
            .as_array_mut()
            .expect("fields linkage is an array")
            .push(json!({ "type": "field", "id": id }));
        self.start_job(0, 201, json!({ "data": field }))
    }

    fn fields_of(&self, model_id: &str) -> Vec<&Value> {
        self.fields
            .iter()
            .filter(|f| f["relationships"]["item_type"]["data"]["id"] == model_id)
            .collect()
    }

    /// The record's field values, checked against its model's fields.
    fn field_values(&self, model_id: &str, input: &Map<String, Value>) -> Result<Value, ApiError> {
        let known: Vec<&str> = self
            .fields_of(model_id)
            .into_iter()
            .filter_map(|f| f["attributes"]["api_key"].as_str())
            .collect();
        if let Some(unknown) = input.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_FIELD",
                json!({ "field": unknown, "code": "VALIDATION_INVALID", "message": "is not a field of the model" }),
            ));
        }
        Ok(Value::Object(input.clone()))
    }

    fn create_item(&mut self, body: &[u8]) -> Answer {
        let data = document(body, "item")?;
        let model_id = data
            .pointer("/relationships/item_type/data/id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("item_type", "VALIDATION_REQUIRED"))?
            .to_owned();
        let model = find(&self.item_types, "ItemType", &model_id)?.clone();
        let values = self.field_values(&model_id, object(data.get("attributes")))?;
        let draft_mode = model["attributes"]["draft_mode_active"] == true;
        let now = self.tick();
        let item = json!({
            "type": "item",
            "id": self.id(),
            "attributes": values,
            "relationships": { "item_type": { "data": { "type": "item_type", "id": model_id } } },
            "meta": {
                "created_at": now,
                "updated_at": now,
                "published_at": if draft_mode { Value::Null } else { json!(now) },
                "first_published_at": if draft_mode { Value::Null } else { json!(now) },
                "publication_scheduled_at": null,
                "unpublishing_scheduled_at": null,
                "status": if draft_mode { "draft" } else { "published" },
                "is_valid": true,
                "is_current_version_valid": true,
                "is_published_version_valid": if draft_mode { Value::Null } else { json!(true) },
                "current_version": self.id(),
                "stage": null,
                "has_children": null
            }
        });
        self.items.push(item.clone());
        Ok(created(json!({ "data": item, "included": [model] })))
    }

    fn update_item(&mut self, id: &str, body: &[u8]) -> Answer {
        let data = document(body, "item")?;
        let item = find(&self.items, "Item", id)?;
        let model_id = item["relationships"]["item_type"]["data"]["id"]
            .as_str()
            .expect("a record's model id")
            .to_owned();
        let values = self.field_values(&model_id, object(data.get("attributes")))?;
        let (now, version) = (self.tick(), self.id());
        let item = find_mut(&mut self.items, "Item", id)?;
        let attributes = item["attributes"].as_object_mut().expect("attributes");
        attributes.extend(values.as_object().expect("an object").clone());
        let meta = &mut item["meta"];
        meta["updated_at"] = json!(now);
        meta["current_version"] = json!(version);
        if meta["status"] == "published" {
            meta["status"] = json!("updated");
        }
        Ok(ok(item.clone()))
    }

    fn publish_item(&mut self, id: &str) -> Answer {
        let now = self.tick();
        let item = find_mut(&mut self.items, "Item", id)?;
        let meta = &mut item["meta"];
        meta["status"] = json!("published");
        meta["published_at"] = json!(now);
        meta["is_published_version_valid"] = json!(true);
        if meta["first_published_at"].is_null() {
            meta["first_published_at"] = json!(now);
        }
        Ok(ok(item.clone()))
    }

    fn list_items(&self, query: Option<&str>) -> Answer {
        let mut types: Option<Vec<String>> = None;
        let (mut offset, mut limit) = (0, DEFAULT_PAGE_LIMIT);
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| invalid(&key, "VALIDATION_FORMAT"))
            };
            match &*key {
                "filter[type]" => types = Some(value.split(',').map(str::to_owned).collect()),
                "page[offset]" => offset = number()?,
                "page[limit]" => limit = number()?,
                _ => {}
            }
        }
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(invalid("page[limit]", "VALIDATION_INVALID"));
        }
        // filter[type] names models by id or by api_key, as the API takes both.
        let wanted = |item: &&Value| {
            let model_id = &item["relationships"]["item_type"]["data"]["id"];
            types.as_ref().is_none_or(|types| {
                types.iter().any(|t| {
                    model_id == t.as_str()
                        || self.item_types.iter().any(|m| {
                            m["id"] == *model_id && m["attributes"]["api_key"] == t.as_str()
                        })
                })
            })
        };
        let matching: Vec<&Value> = self.items.iter().filter(wanted).collect();
        let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
        Ok(Reply::json(
            StatusCode::OK,
            json!({ "data": page, "meta": { "total_count": matching.len() } }),
        ))
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
