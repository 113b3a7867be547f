//! What the api's validation accepts, written into the request schemas: required fields, lengths,
//! patterns, formats and enums. The request types deserialise leniently (every field optional)
//! so that a missing or bad field gets a 422 naming it; these rules let generated clients and
//! testers know the same limits before they send anything. A rule naming a property the schema
//! lacks panics when the document is built, so a renamed field cannot leave a stale rule.

use gangway_domain::catalog::EventType;
use gangway_domain::countries::ISO_COUNTRY_CODES;
use gangway_domain::values::{WebhookSecret, MAX_URL_LEN};
use serde_json::{json, Value};

/// Trimmed, not blank, at most `max` characters.
fn text(max: usize) -> Value {
    json!({ "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

/// An absolute http(s) URL without credentials.
fn url() -> Value {
    json!({ "format": "uri", "maxLength": MAX_URL_LEN, "pattern": "^[hH][tT][tT][pP][sS]?://[^@/?#]+([/?#][^@]*)?$" })
}

fn secret() -> Value {
    json!({ "minLength": WebhookSecret::MIN_LEN, "maxLength": WebhookSecret::MAX_LEN })
}

fn one_of(values: &[&str]) -> Value {
    json!({ "enum": values })
}

fn event_types() -> Value {
    let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    json!({ "minItems": 1, "items": { "type": "string", "enum": names } })
}

/// (schema, property, rules merged into the property's schema).
fn rules() -> Vec<(&'static str, &'static str, Value)> {
    let hex_colour = json!({ "pattern": "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$" });
    let countries = json!({ "items": { "type": "string", "enum": ISO_COUNTRY_CODES.as_slice() } });
    vec![
        ("CreateOrganizationRequest", "name", text(200)),
        ("CreateCustomerRequest", "name", text(200)),
        ("CreateCustomerRequest", "externalId", text(255)),
        ("CreateApiKeyRequest", "name", text(100)),
        ("CreateLinkRequest", "name", text(200)),
        ("CreateLinkRequest", "externalId", text(255)),
        ("CreateLinkRequest", "redirectUrl", url()),
        ("CreateLinkRequest", "successRedirectUrl", url()),
        ("CreateLinkRequest", "failureRedirectUrl", url()),
        (
            "CreateLinkRequest",
            "allowedConnectionTypes",
            json!({ "items": { "type": "string", "enum": ["dedicated", "coexistence"] } }),
        ),
        ("CreateLinkRequest", "language", one_of(&["en", "es", "pt"])),
        ("CreateLinkRequest", "webhookUrl", url()),
        ("CreateLinkRequest", "webhookSecret", secret()),
        ("CreateLinkRequest", "webhookEvents", event_types()),
        ("ThemeRequest", "primaryColor", hex_colour),
        ("ThemeRequest", "backgroundImage", url()),
        ("ThemeRequest", "logoUrl", url()),
        ("ThemeRequest", "companyName", text(100)),
        ("PhoneProvisioningRequest", "countries", countries),
        ("CreateEndpointRequest", "url", url()),
        ("CreateEndpointRequest", "events", event_types()),
        ("CreateEndpointRequest", "description", text(500)),
        ("CreateEndpointRequest", "secret", secret()),
        ("CreateEndpointRequest", "wabaId", json!({ "format": "uuid" })),
        ("UpdateEndpointRequest", "url", url()),
        ("UpdateEndpointRequest", "events", event_types()),
        ("UpdateEndpointRequest", "description", text(500)),
        ("RotateSecretRequest", "secret", secret()),
        (
            "RotateSecretRequest",
            "gracePeriodSeconds",
            json!({ "minimum": 0, "maximum": 604_800 }),
        ),
        ("DisableEndpointRequest", "reason", text(500)),
    ]
}

/// Fields the api answers "is required" for, though their types allow them to be missing.
const REQUIRED: &[(&str, &str)] = &[
    ("CreateOrganizationRequest", "name"),
    ("CreateCustomerRequest", "name"),
];

/// A request that succeeds, per schema: what explicit-example tools send first.
fn examples() -> Vec<(&'static str, Value)> {
    vec![
        (
            "CreateLinkRequest",
            json!({ "name": "Acme Corp", "externalId": "acme-123", "redirectUrl": "https://app.example.com/whatsapp/done" }),
        ),
        (
            "CreateCustomerRequest",
            json!({ "name": "Acme Corp", "externalId": "acme-123" }),
        ),
        (
            "CreateEndpointRequest",
            json!({ "url": "https://hooks.example.com/gangway", "events": ["phone_number.connected"] }),
        ),
    ]
}

pub fn add(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    for (schema, property, rules) in rules() {
        let target = property_of(schemas, schema, property);
        let nullable = target["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")));
        for (key, mut value) in rules.as_object().cloned().unwrap_or_default() {
            // `null` stands for "not given" wherever the type allows it.
            if let (true, Some(values)) = (key == "enum" && nullable, value.as_array_mut()) {
                values.push(Value::Null);
            }
            target[key] = value;
        }
    }
    for (schema, property) in REQUIRED {
        property_of(schemas, schema, property)["type"] = json!("string");
        let required = schemas[schema]["required"].as_array_mut();
        match required {
            Some(list) => list.push(json!(property)),
            None => schemas[schema]["required"] = json!([property]),
        }
    }
    for (schema, example) in examples() {
        schemas[schema]["example"] = example;
    }
}

fn property_of<'a>(schemas: &'a mut Value, schema: &str, property: &str) -> &'a mut Value {
    let target = &mut schemas[schema]["properties"][property];
    assert!(
        target.is_object(),
        "request rule for {schema}.{property}: no such property"
    );
    target
}
