//! `/sandbox/*`: what the signup dialog and tests use to drive the sandbox: mint a code for the
//! assets a person picked, expire a code, invalidate tokens, queue failures, add or change phone
//! numbers, send Meta's webhooks, and change our app's secret and webhook subscriptions.

mod app;
mod phones;
mod webhooks;

use crate::graph::graph_error;
use crate::world::{random, Code, Fault, Grant};
use crate::Sandbox;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

/// A JSON body whose rejection is Meta's error object, like everything else the sandbox answers.
pub struct MetaJson<T>(pub T);

impl<T, S> FromRequest<S> for MetaJson<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(graph_error(400, 100, None, &rejection.body_text())),
        }
    }
}

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/sandbox/world", get(world))
        .route("/sandbox/codes", post(mint_code))
        .route("/sandbox/codes/{code}/expire", post(expire_code))
        .route("/sandbox/tokens/{token}/invalidate", post(invalidate_token))
        .route(
            "/sandbox/wabas/{waba}/tokens/invalidate",
            post(invalidate_waba_tokens),
        )
        .route("/sandbox/faults", post(add_fault))
        .merge(app::router())
        .merge(phones::router())
        .merge(webhooks::router())
}

/// Every WABA and phone number, as the popup lists them.
async fn world(State(sandbox): State<Sandbox>) -> Json<serde_json::Value> {
    let world = sandbox.world();
    let mut wabas: Vec<_> = world.wabas.values().cloned().collect();
    wabas.sort_by(|a, b| a.id.cmp(&b.id));
    let mut phones: Vec<_> = world.phones.values().cloned().collect();
    phones.sort_by(|a, b| a.id.cmp(&b.id));
    Json(json!({ "wabas": wabas, "phones": phones }))
}

#[derive(Deserialize)]
struct MintCode {
    waba_id: String,
    phone_number_id: Option<String>,
    /// For the full-page dialog: the exchange must repeat this `redirect_uri`.
    redirect_uri: Option<String>,
    /// `false` issues a token that `debug_token` reports invalid and Graph refuses (190).
    #[serde(default = "yes")]
    token_valid: bool,
}

fn yes() -> bool {
    true
}

/// Issues the code Embedded Signup would return for these assets.
async fn mint_code(State(sandbox): State<Sandbox>, MetaJson(body): MetaJson<MintCode>) -> Response {
    let mut world = sandbox.world();
    let Some(waba) = world.wabas.get(&body.waba_id).cloned() else {
        return graph_error(400, 100, None, "Unknown waba_id");
    };
    if let Some(phone) = &body.phone_number_id {
        if world.phones.get(phone).is_none_or(|p| p.waba_id != waba.id) {
            return graph_error(400, 100, None, "phone_number_id does not belong to waba_id");
        }
    }
    let code = random("AQ", 64);
    world.codes.insert(
        code.clone(),
        Code {
            grant: Grant {
                waba_id: waba.id.clone(),
            },
            issued: Instant::now(),
            used: false,
            expired: false,
            redirect_uri: body.redirect_uri,
            token_valid: body.token_valid,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({ "code": code, "business_id": waba.business_id, "waba_id": waba.id })),
    )
        .into_response()
}

async fn expire_code(State(sandbox): State<Sandbox>, Path(code): Path<String>) -> StatusCode {
    match sandbox.world().codes.get_mut(&code) {
        Some(record) => {
            record.expired = true;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn invalidate_token(State(sandbox): State<Sandbox>, Path(token): Path<String>) -> StatusCode {
    match sandbox.world().tokens.get_mut(&token) {
        Some(record) => {
            record.valid = false;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn add_fault(State(sandbox): State<Sandbox>, MetaJson(fault): MetaJson<Fault>) -> StatusCode {
    if fault.times > 0 {
        sandbox.world().faults.push(fault);
    }
    StatusCode::NO_CONTENT
}

/// Every token granted this WABA stops working, as when the customer revokes the business
/// integration in Meta's settings.
async fn invalidate_waba_tokens(State(sandbox): State<Sandbox>, Path(waba): Path<String>) -> Response {
    let mut world = sandbox.world();
    if !world.wabas.contains_key(&waba) {
        return graph_error(400, 100, Some(33), "Unknown waba_id");
    }
    let mut invalidated = 0;
    for token in world
        .tokens
        .values_mut()
        .filter(|t| t.grant.waba_id == waba && t.valid)
    {
        token.valid = false;
        invalidated += 1;
    }
    Json(json!({ "invalidated": invalidated })).into_response()
}
