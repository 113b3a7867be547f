//! What the api's validation accepts, written into the request schemas: required fields, lengths,
//! patterns, formats and enums. The request types deserialise leniently (every field optional)
//! so that a missing or bad field gets a 422 naming it; these rules let generated clients and
//! testers know the same limits before they send anything. A rule naming a property the schema
//! lacks panics when the document is built, so a renamed field cannot leave a stale rule.

use gangway_domain::catalog::EventType;
use gangway_domain::countries::ISO_COUNTRY_CODES;
use gangway_domain::link::LinkStatus;
use gangway_domain::phone::PhoneStatus;
use gangway_domain::values::{WebhookSecret, MAX_URL_LEN};
use gangway_domain::webhook::MessageStatus;
use serde_json::{json, Value};

/// Trimmed, not blank, at most `max` characters, no NUL (Postgres cannot store it).
fn text(max: usize) -> Value {
    json!({ "minLength": 1, "maxLength": max, "pattern": "^[^\\u0000]*\\S[^\\u0000]*$" })
}

/// An absolute http(s) URL without credentials.
fn url() -> Value {
    json!({
        "format": "uri",
        "maxLength": MAX_URL_LEN,
        "pattern": "^[hH][tT][tT][pP][sS]?://[^@/?#\\u0000]+([/?#][^@\\u0000]*)?$",
    })
}

/// The hyphenated form; the api reads other spellings of a UUID too.
fn uuid() -> Value {
    json!({ "format": "uuid", "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$" })
}

fn statuses<S: Copy>(all: &[S], name: fn(S) -> &'static str) -> Value {
    json!({ "type": "string", "enum": all.iter().map(|s| name(*s)).collect::<Vec<_>>() })
}

/// Query parameters by name, except `status`, which is per operation. Every query parameter is
/// read as text so that a bad value gets a 422 naming it; these say what the text must hold.
fn parameter_rules(operation: &str, name: &str) -> Option<Value> {
    match (operation, name) {
        (_, "page") => Some(json!({ "type": "integer", "minimum": 1, "maximum": 1_000_000 })),
        (_, "limit") => Some(json!({ "type": "integer", "minimum": 1, "maximum": 100 })),
        (_, "customerId" | "wabaId") => Some(json!({ "type": "string" }).merged(uuid())),
        ("listCustomers", "externalId") => Some(json!({ "type": "string" }).merged(text(255))),
        ("listOnboardingLinks", "status") => Some(statuses(LinkStatus::ALL, LinkStatus::as_str)),
        ("listPhones", "status") => Some(statuses(PhoneStatus::ALL, PhoneStatus::as_str)),
        ("listWebhooks", "status") => Some(json!({ "type": "string", "enum": ["enabled", "disabled"] })),
        ("listWebhookMessages", "status") => Some(statuses(MessageStatus::ALL, MessageStatus::as_str)),
        _ => None,
    }
}

trait Merged {
    fn merged(self, other: Value) -> Value;
}

impl Merged for Value {
    fn merged(mut self, other: Value) -> Value {
        for (key, value) in other.as_object().cloned().unwrap_or_default() {
            self[key] = value;
        }
        self
    }
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
        ("CreateLinkRequest", "customerId", uuid()),
        ("CreateLinkRequest", "reconnectPhoneNumberId", uuid()),
        ("CreateLinkRequest", "redirectUrl", url()),
        ("CreateLinkRequest", "successRedirectUrl", url()),
        ("CreateLinkRequest", "failureRedirectUrl", url()),
        (
            "CreateLinkRequest",
            "allowedConnectionTypes",
            json!({ "minItems": 1, "items": { "type": "string", "enum": ["dedicated", "coexistence"] } }),
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
        ("CreateEndpointRequest", "wabaId", uuid()),
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
    ("CreateApiKeyRequest", "name"),
];

/// Rules between fields: (schema, keywords merged into the schema itself).
fn object_rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "CreateLinkRequest",
            json!({ "dependentRequired": {
                "webhookUrl": ["webhookEvents"],
                "webhookEvents": ["webhookUrl"],
                "webhookSecret": ["webhookUrl"],
            } }),
        ),
        (
            "PhoneProvisioningRequest",
            json!({
                "if": { "properties": { "enabled": { "const": true } }, "required": ["enabled"] },
                "then": { "properties": { "countries": { "minItems": 1 } }, "required": ["countries"] },
            }),
        ),
    ]
}

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
    for (schema, rules) in object_rules() {
        let target = schemas[schema].take();
        schemas[schema] = target.merged(rules);
    }
    for (schema, example) in examples() {
        schemas[schema]["example"] = example;
    }
    add_parameter_rules(document);
}

fn add_parameter_rules(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
        let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for parameter in parameters.iter_mut().filter(|p| p["in"] == "query") {
            let name = parameter["name"].as_str().unwrap_or_default();
            if let Some(schema) = parameter_rules(&id, name) {
                parameter["schema"] = schema;
            }
            if (id.as_str(), parameter["name"].as_str()) == ("listCustomers", Some("externalId")) {
                parameter["required"] = json!(true);
            }
        }
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
