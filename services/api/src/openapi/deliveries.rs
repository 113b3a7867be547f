//! The document's top-level `webhooks` (OpenAPI 3.1): what an endpoint receives for each event
//! type, its body with the `data` type the dispatcher sends, and the signature headers.

use gangway_domain::catalog::EventType;
use gangway_domain::webhook_data::schema_name;
use serde_json::{json, Map, Value};

/// One entry per event type, keyed by its name.
pub fn webhooks() -> Value {
    let mut webhooks = Map::new();
    for event_type in EventType::SENT {
        webhooks.insert(
            event_type.as_str().to_owned(),
            json!({ "post": delivery(event_type) }),
        );
    }
    Value::Object(webhooks)
}

fn delivery(event_type: EventType) -> Value {
    let header = |name: &str, description: &str| {
        json!({ "name": name, "in": "header", "required": true, "description": description,
                "schema": { "type": "string" } })
    };
    json!({
        "operationId": format!("webhook {}", event_type.as_str()),
        "summary": event_type.as_str(),
        "description": event_type.description(),
        "tags": ["webhooks"],
        "parameters": [
            header("webhook-id", "`msg_…`, the same on every attempt at one message: de-duplicate on it."),
            header("webhook-timestamp", "Unix seconds of this attempt."),
            header("webhook-signature", "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">`, one per secret during a rotation (Standard Webhooks)."),
        ],
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": body(event_type) } }
        },
        "responses": {
            "2XX": { "description": "Received. Any other answer, a timeout or a refused connection is retried." }
        }
    })
}

/// `{event, timestamp, organizationId, data}` with this event type's `data`.
fn body(event_type: EventType) -> Value {
    json!({
        "type": "object",
        "required": ["event", "timestamp", "organizationId", "data"],
        "additionalProperties": false,
        "properties": {
            "event": { "const": event_type.as_str() },
            "timestamp": { "type": "string", "format": "date-time" },
            "organizationId": { "type": "string", "format": "uuid" },
            "data": { "$ref": format!("#/components/schemas/{}", schema_name(event_type)) }
        }
    })
}
