//! OpenAPI links: from each operation that creates something to the operations that take its id,
//! so generated clients and stateful testers can follow a created resource through the API.
//! Added to the serialised document: utoipa 5 writes a link's `operationId` as `operation_id`.

use serde_json::{json, Value};

/// (creating operation, its success status, the id's place in its body, operations taking it as `id`).
const LINKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "createOnboardingLink",
        "201",
        "/data/id",
        &[
            "getOnboardingLink",
            "listOnboardingLinkEvents",
            "deleteOnboardingLink",
        ],
    ),
    ("createCustomer", "201", "/data/id", &["getCustomer"]),
    (
        "createWebhook",
        "201",
        "/data/id",
        &[
            "getWebhook",
            "updateWebhook",
            "getWebhookSecret",
            "rotateWebhookSecret",
            "disableWebhook",
            "enableWebhook",
            "listWebhookEvents",
            "listWebhookMessages",
            "recoverWebhookMessages",
            "sendWebhookTest",
            "deleteWebhook",
        ],
    ),
    ("createApiKey", "201", "/data/id", &["revokeApiKey"]),
    (
        "createOrganization",
        "201",
        "/data/id",
        &["createOrganizationApiKey"],
    ),
];

/// Adds [`LINKS`] to the document's responses.
pub fn add(document: &mut Value) {
    for (source, status, pointer, targets) in LINKS {
        let Some(response) = response_of(document, source, status) else {
            panic!("OpenAPI link from {source} {status}: no such operation or response");
        };
        let links = &mut response["links"];
        for target in *targets {
            links[capitalised(target)] = json!({
                "operationId": target,
                "parameters": { "id": format!("$response.body#{pointer}") },
                "description": format!("The `id` of `{target}` is this answer's `{pointer}`."),
            });
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn response_of<'a>(document: &'a mut Value, operation_id: &str, status: &str) -> Option<&'a mut Value> {
    document["paths"]
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|operation| operation["operationId"] == operation_id)?
        .get_mut("responses")?
        .get_mut(status)
}
