use crate::http::{
    admin, api_keys, customers, health, links, messages, phone_health, phones, redirect_secret, webhooks,
};
use gangway_domain::phone_health::{HealthView, TokenStatus};
use gangway_domain::webhook_data::{
    CustomerOf, IdOf, LinkExpired, LinkFailed, MessageReceived, MessageStatus, NumberConnected,
    NumberDisconnected, NumberHealthChanged, NumberIds, PhoneNumberCreated, RelayedFor, TestEvent,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod deliveries;
mod operation_links;
mod request_rules;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gangway", description = "WhatsApp Business number onboarding for SaaS platforms."),
    paths(
        health::healthz, health::readyz,
        admin::create, api_keys::admin_create,
        api_keys::create, api_keys::list, api_keys::revoke,
        customers::create, customers::show, customers::find,
        links::create, links::show, links::list, links::remove, links::events,
        phones::list, phones::show, phones::events, phone_health::health,
        webhooks::create, webhooks::list, webhooks::show, webhooks::update, webhooks::remove,
        webhooks::secret, webhooks::rotate_secret, webhooks::disable, webhooks::enable,
        webhooks::events, webhooks::event_types,
        messages::list, messages::show, messages::retry, messages::recover, messages::send_test,
        redirect_secret::show, redirect_secret::rotate,
    ),
    components(schemas(
        NumberConnected, PhoneNumberCreated, IdOf, CustomerOf, NumberIds, NumberDisconnected,
        NumberHealthChanged, HealthView, TokenStatus, LinkFailed, LinkExpired, RelayedFor,
        MessageReceived, MessageStatus, TestEvent,
    )),
    modifiers(&Security, &IdempotencyKeys, &CommonErrors),
    tags(
        (name = "onboarding links", description = "One-time links your customers open to connect their number."),
        (name = "customers", description = "The businesses you onboard."),
        (name = "phones", description = "The WhatsApp Business numbers your customers connected."),
        (name = "webhooks", description = "Endpoints your events are delivered to, signed; the event catalog."),
        (name = "redirects", description = "The secret that signs redirects back to your pages."),
        (name = "api keys", description = "Your organization's API keys: issue, list, revoke."),
        (name = "admin", description = "Operator endpoints (admin token)."),
        (name = "health", description = "Liveness and readiness."),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .build(),
            )
        };
        components.add_security_scheme("api_key", bearer("sk_..."));
        components.add_security_scheme("admin_token", bearer("GANGWAY_ADMIN_TOKEN"));
    }
}

/// The optional `Idempotency-Key` header on every `/v1` POST (see [`crate::idempotency`]).
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Retry-safe creation: the same key with the same request within 24 hours answers \
                 the first answer again (with `Idempotent-Replayed: true`) and runs nothing; with \
                 another request, 422 `idempotency_key_reused`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(crate::idempotency::MAX_KEY_LEN))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        // What a key can answer besides the operation's own statuses.
        let reused = error_response(
            "`idempotency_key_reused` (the key came with another request), or the operation's own 422.",
        );
        let in_use =
            error_response("`idempotency_key_in_use`: the first request with the key has not finished.");
        for (path, item) in openapi.paths.paths.iter_mut() {
            if let (true, Some(post)) = (path.starts_with("/v1/"), item.post.as_mut()) {
                post.parameters.get_or_insert_with(Vec::new).push(key.clone());
                let responses = &mut post.responses.responses;
                responses
                    .entry("422".into())
                    .or_insert_with(|| reused.clone().into());
                responses
                    .entry("409".into())
                    .or_insert_with(|| in_use.clone().into());
            }
        }
    }
}

/// The answers any authenticated operation can give whatever it does: 401 without a working key,
/// 429 over the key's rate, 503 while Postgres is unreachable; with a body, 400 and 413 too.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let common = [
            ("401", "`unauthorized`: a missing, unknown or revoked API key."),
            (
                "429",
                "`rate_limited`: over the key's requests per second; `Retry-After` says when to retry.",
            ),
            (
                "503",
                "`service_unavailable`: Postgres is unreachable; retry after `Retry-After`.",
            ),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let with_body = operation.request_body.is_some();
                let body_errors = with_body.then_some(BODY_ERRORS).into_iter().flatten();
                for (status, description) in common.into_iter().chain(body_errors) {
                    operation
                        .responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

/// What an operation that takes a body can also answer.
const BODY_ERRORS: [(&str, &str); 2] = [
    ("400", "`invalid_json`: the body is not JSON."),
    (
        "413",
        "`payload_too_large`: the body is over `GANGWAY_MAX_BODY_BYTES`.",
    ),
];

fn error_response(description: &str) -> utoipa::openapi::Response {
    let body = utoipa::openapi::ContentBuilder::new()
        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
        .build();
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
}

/// The whole document: the paths, and the `webhooks` endpoints receive (utoipa describes paths
/// only, so they are added here).
pub fn document_json() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    document["webhooks"] = deliveries::webhooks();
    operation_links::add(&mut document);
    request_rules::add(&mut document);
    document
}

/// `GET /openapi.json`: the document is built on first use and served from memory after that.
pub async fn document() -> impl axum::response::IntoResponse {
    static DOCUMENT: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        serde_json::to_vec(&document_json())
            .expect("the OpenAPI document serialises")
            .into()
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
}
