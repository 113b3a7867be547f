//! Webhook bodies checked against the contract, the OpenAPI document's `webhooks`, by an
//! independent JSON Schema validator (the `jsonschema` crate) rather than by the code that wrote
//! them. Every body a test [`crate::dispatch::Receiver`] hands out is checked.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Whether `body` is a webhook body as the document describes its event type; why not if not.
pub fn check_webhook_body(body: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    let event = value["event"]
        .as_str()
        .ok_or_else(|| format!("no `event`: {body}"))?;
    let validator = validators()
        .get(event)
        .ok_or_else(|| format!("`{event}` is not in the document's webhooks: {body}"))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|error| format!("{} at {}", error, error.instance_path))
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!("{event}: {}\n  body: {body}", problems.join("; "))),
    }
}

/// One validator per event type: the whole document as the schema resource (so its
/// `#/components/schemas/...` references resolve), pointed at that type's request body.
fn validators() -> &'static HashMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let document = gangway_api::openapi::document_json();
        let events: Vec<String> = document["webhooks"]
            .as_object()
            .expect("the document has webhooks")
            .keys()
            .cloned()
            .collect();
        events
            .into_iter()
            .map(|event| {
                let mut schema = document.clone();
                schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
                schema["$ref"] = json!(format!(
                    "#/webhooks/{event}/post/requestBody/content/application~1json/schema"
                ));
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("the schema of {event} does not compile: {e}"));
                (event, validator)
            })
            .collect()
    })
}
