//! Models, their fields and their records: the part of the fake CMA whose
//! state hangs together (a record's attributes are its model's fields).

use super::{
    Answer, ApiError, Cma, Reply, attributes, created, document, find, find_mut, invalid, object,
    ok,
};
use http::StatusCode;
use serde_json::{Map, Value, json};

/// `page[limit]` bounds of `GET /items` (the client's `defaultLimit` and `maxLimit`).
const DEFAULT_PAGE_LIMIT: usize = 30;
const MAX_PAGE_LIMIT: usize = 500;

impl Cma {
    pub(super) fn create_item_type(&mut self, body: &[u8]) -> Answer {
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
    pub(super) fn create_field(&mut self, model_id: &str, body: &[u8]) -> Answer {
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

    pub(super) fn create_item(&mut self, body: &[u8]) -> Answer {
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

    pub(super) fn update_item(&mut self, id: &str, body: &[u8]) -> Answer {
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

    pub(super) fn publish_item(&mut self, id: &str) -> Answer {
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

    pub(super) fn list_items(&self, query: Option<&str>) -> Answer {
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
}
