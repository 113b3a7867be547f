//! Graph API paths and shapes as reference/meta-embedded-signup.md §2-3 describes them, for any
//! `/vNN.0/` version.

use crate::world::{random, Grant, IssuedToken};
use crate::Sandbox;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

type Params = Query<HashMap<String, String>>;

pub fn router(sandbox: Sandbox) -> Router<Sandbox> {
    Router::new()
        .route("/{version}/oauth/access_token", get(exchange_code))
        .route("/{version}/debug_token", get(debug_token))
        .route("/{version}/{node}", get(read_node))
        .route("/{version}/{node}/{edge}", get(read_edge).post(post_edge))
        .layer(middleware::from_fn_with_state(sandbox, check_version_and_faults))
}

/// Meta's error object.
pub fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": random("A", 22),
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({ "error": error }))).into_response()
}

fn unsupported(node: &str) -> Response {
    graph_error(
        400,
        100,
        Some(33),
        &format!(
            "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing \
             permissions, or does not support this operation."
        ),
    )
}

fn invalid_token() -> Response {
    graph_error(
        400,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
    )
}

async fn check_version_and_faults(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let version = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !is_version(version) {
        return graph_error(400, 2635, None, &format!("Unknown API version '{version}'"));
    }
    if let Some(fault) = sandbox.world().take_fault(&path) {
        return graph_error(fault.status, fault.code, fault.error_subcode, &fault.message);
    }
    next.run(request).await
}

/// `vNN.0`, the only version form Meta answers.
pub fn is_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `GET /oauth/access_token?client_id&client_secret&code`: single use, short-lived, no
/// `redirect_uri` for codes from the popup and the identical one for codes from the full-page
/// dialog. With `grant_type=client_credentials` instead of a code: an app access token.
async fn exchange_code(State(sandbox): State<Sandbox>, Query(q): Params) -> Response {
    if q.get("client_id") != Some(&sandbox.config.app_id) {
        return graph_error(
            400,
            101,
            None,
            "Error validating application. Invalid application ID.",
        );
    }
    if q.get("client_secret") != Some(&sandbox.world().app.secret) {
        return graph_error(400, 1, None, "Error validating client secret.");
    }
    if q.get("grant_type").is_some_and(|g| g == "client_credentials") {
        return crate::app::issue_app_token(&sandbox);
    }
    let Some(code) = q.get("code") else {
        return graph_error(400, 100, None, "Missing authorization code");
    };
    let mut world = sandbox.world();
    let ttl = world.code_ttl;
    let Some(record) = world.codes.get_mut(code) else {
        return graph_error(400, 100, None, "Invalid verification code format.");
    };
    if record.used {
        return graph_error(400, 100, Some(36009), "This authorization code has been used.");
    }
    // Any exchange attempt burns the code, failed or not.
    record.used = true;
    if q.get("redirect_uri") != record.redirect_uri.as_ref() {
        return graph_error(
            400,
            100,
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you \
             used in the OAuth dialog request",
        );
    }
    if record.expired || record.issued.elapsed() > ttl {
        return graph_error(400, 100, Some(36007), "This authorization code has expired.");
    }
    let grant = record.grant.clone();
    let valid = record.token_valid;
    let token = random("EAAG", 48);
    world.tokens.insert(
        token.clone(),
        IssuedToken {
            grant,
            valid,
            issued_at: now_unix(),
        },
    );
    Json(json!({ "access_token": token, "token_type": "bearer" })).into_response()
}

/// `GET /debug_token?input_token&access_token=<app token>`, for business and app tokens alike.
async fn debug_token(State(sandbox): State<Sandbox>, Query(q): Params, headers: HeaderMap) -> Response {
    let presented = q.get("access_token").cloned().or_else(|| bearer(&headers));
    if !presented.is_some_and(|token| sandbox.world().app.is_app_token(&token)) {
        return invalid_token();
    }
    let Some(input) = q.get("input_token") else {
        return graph_error(400, 100, None, "The parameter input_token is required");
    };
    let world = sandbox.world();
    let data = match world.tokens.get(input) {
        Some(token) if token.valid => {
            let scope = |name: &str| json!({ "scope": name, "target_ids": [token.grant.waba_id] });
            json!({
                "app_id": sandbox.config.app_id,
                "type": "SYSTEM_USER",
                "application": APPLICATION,
                "data_access_expires_at": 0,
                "expires_at": 0,
                "is_valid": true,
                "issued_at": token.issued_at,
                "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
                "granular_scopes": [scope("whatsapp_business_management"), scope("whatsapp_business_messaging")],
                "user_id": "104169029247128"
            })
        }
        _ if world.app.is_app_token(input) => json!({
            "app_id": sandbox.config.app_id,
            "type": "APP",
            "application": APPLICATION,
            "is_valid": true,
            "scopes": []
        }),
        _ => json!({
            "app_id": sandbox.config.app_id,
            "is_valid": false,
            "scopes": [],
            "error": { "code": 190, "message": "Error validating access token: The session has been invalidated.", "subcode": 460 }
        }),
    };
    Json(json!({ "data": data })).into_response()
}

/// The app's name as Graph reports it.
pub const APPLICATION: &str = "Gangway Sandbox";

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// The grant behind the request's valid access token (header or `access_token` parameter).
fn granted(sandbox: &Sandbox, headers: &HeaderMap, q: &HashMap<String, String>) -> Option<Grant> {
    let token = bearer(headers).or_else(|| q.get("access_token").cloned())?;
    let world = sandbox.world();
    world
        .tokens
        .get(&token)
        .filter(|t| t.valid)
        .map(|t| t.grant.clone())
}

fn phone_json(sandbox: &Sandbox, id: &str) -> Option<Value> {
    let world = sandbox.world();
    let phone = world.phones.get(id)?;
    let registered = !phone.registrations.is_empty();
    Some(json!({
        "id": phone.id,
        "display_phone_number": phone.display_phone_number,
        "verified_name": phone.verified_name,
        "code_verification_status": if phone.verified { "VERIFIED" } else { "NOT_VERIFIED" },
        "quality_rating": phone.quality_rating,
        "platform_type": if registered || phone.is_on_biz_app { "CLOUD_API" } else { "NOT_APPLICABLE" },
        "throughput": { "level": "STANDARD" },
        "name_status": "APPROVED",
        "status": if registered || phone.is_on_biz_app { "CONNECTED" } else { "PENDING" },
        "account_mode": "LIVE",
        "is_official_business_account": false,
        "is_pin_enabled": phone.pin.is_some(),
        "is_on_biz_app": phone.is_on_biz_app,
        "messaging_limit_tier": "TIER_1K",
        "health_status": {
            "can_send_message": phone.can_send_message,
            "entities": [{ "entity_type": "PHONE_NUMBER", "id": phone.id, "can_send_message": phone.can_send_message }]
        }
    }))
}

/// `GET /{waba-id}` or `GET /{phone-number-id}`, visible only with a token granted that WABA.
async fn read_node(
    State(sandbox): State<Sandbox>,
    Path((_, node)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let Some(grant) = granted(&sandbox, &headers, &q) else {
        return invalid_token();
    };
    let waba = sandbox.world().wabas.get(&node).cloned();
    if let Some(waba) = waba {
        if waba.id != grant.waba_id {
            return unsupported(&node);
        }
        return Json(json!({
            "id": waba.id,
            "name": waba.name,
            "currency": "USD",
            "timezone_id": "1",
            "message_template_namespace": format!("ns_{}", waba.id),
            "account_review_status": "APPROVED",
            "business_verification_status": "verified",
            "owner_business_info": { "id": waba.business_id, "name": waba.business_name }
        }))
        .into_response();
    }
    let phone_waba = sandbox.world().phones.get(&node).map(|p| p.waba_id.clone());
    match phone_waba {
        Some(waba_id) if waba_id == grant.waba_id => {
            phone_json(&sandbox, &node).map_or_else(|| unsupported(&node), |p| Json(p).into_response())
        }
        _ => unsupported(&node),
    }
}

/// Graph's default page size for an edge, and the most a `limit` gets.
const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

/// One page of a WABA's numbers, paged like Graph's edges: `limit`, an opaque `after` cursor,
/// and `paging.next` only while more numbers follow.
fn phone_numbers_page(
    sandbox: &Sandbox,
    waba: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(limit)) if limit > 0 => limit.min(MAX_PAGE),
        Some(_) => return graph_error(400, 100, None, "(#100) Param limit must be a positive integer"),
    };
    let after = match q.get("after").map(|c| hex::decode(c).map(String::from_utf8)) {
        None => None,
        Some(Ok(Ok(id))) => Some(id),
        Some(_) => return graph_error(400, 100, None, "Invalid cursor: after"),
    };
    let mut ids: Vec<String> = sandbox
        .world()
        .phones
        .values()
        .filter(|p| p.waba_id == waba && after.as_ref().is_none_or(|after| p.id > *after))
        .map(|p| p.id.clone())
        .collect();
    ids.sort();
    let more = ids.len() > limit;
    ids.truncate(limit);
    let data: Vec<Value> = ids.iter().filter_map(|id| phone_json(sandbox, id)).collect();
    let cursor = |id: Option<&String>| id.map(hex::encode);
    let mut paging = json!({ "cursors": { "before": cursor(ids.first()), "after": cursor(ids.last()) } });
    if more {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let after = cursor(ids.last()).unwrap_or_default();
        paging["next"] = json!(format!(
            "http://{host}/v25.0/{waba}/phone_numbers?limit={limit}&after={after}"
        ));
    }
    Json(json!({ "data": data, "paging": paging })).into_response()
}

/// `GET /{waba-id}/phone_numbers` and `GET /{waba-id}/subscribed_apps`, and the app's own
/// `GET /{app-id}/subscriptions`.
async fn read_edge(
    State(sandbox): State<Sandbox>,
    Path((_, node, edge)): Path<(String, String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    if node == sandbox.config.app_id && edge == "subscriptions" {
        return crate::app::subscriptions(&sandbox, &q, &headers);
    }
    let Some(grant) = granted(&sandbox, &headers, &q) else {
        return invalid_token();
    };
    if node != grant.waba_id {
        return unsupported(&node);
    }
    match edge.as_str() {
        "phone_numbers" => phone_numbers_page(&sandbox, &node, &q, &headers),
        "subscribed_apps" => {
            let apps = sandbox
                .world()
                .wabas
                .get(&node)
                .map(|w| w.subscribed_apps.clone())
                .unwrap_or_default();
            let data: Vec<Value> = apps
                .iter()
                .map(|id| json!({ "whatsapp_business_api_data": { "id": id, "name": APPLICATION } }))
                .collect();
            Json(json!({ "data": data })).into_response()
        }
        _ => unsupported(&format!("{node}/{edge}")),
    }
}

/// `POST /{waba-id}/subscribed_apps`, `POST /{phone-number-id}/register` and `/smb_app_data`, and
/// the app's own `POST /{app-id}/subscriptions`.
async fn post_edge(
    State(sandbox): State<Sandbox>,
    Path((_, node, edge)): Path<(String, String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if node == sandbox.config.app_id && edge == "subscriptions" {
        return crate::app::subscribe(&sandbox, q, &headers, &body).await;
    }
    let Some(grant) = granted(&sandbox, &headers, &q) else {
        return invalid_token();
    };
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(error) => return graph_error(400, 100, None, &format!("Invalid JSON body: {error}")),
        }
    };
    match edge.as_str() {
        "subscribed_apps" if node == grant.waba_id => {
            let app_id = sandbox.config.app_id.clone();
            if let Some(waba) = sandbox.world().wabas.get_mut(&node) {
                if !waba.subscribed_apps.contains(&app_id) {
                    waba.subscribed_apps.push(app_id);
                }
            }
            Json(json!({ "success": true })).into_response()
        }
        "register" => register(&sandbox, &grant, &node, &body),
        "smb_app_data" => sync_smb_app_data(&sandbox, &grant, &node, &body),
        _ => unsupported(&format!("{node}/{edge}")),
    }
}

/// Coexistence sync (reference §5): only for Business-app numbers, each sync type once (2593107).
/// The 24-hour window after onboarding (2593108) is not modelled.
fn sync_smb_app_data(sandbox: &Sandbox, grant: &Grant, phone_id: &str, body: &Value) -> Response {
    let sync_type = body.get("sync_type").and_then(Value::as_str).unwrap_or("");
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp")
        || !matches!(sync_type, "smb_app_state_sync" | "history")
    {
        return graph_error(
            400,
            100,
            None,
            "(#100) Param sync_type must be one of {smb_app_state_sync, history} and messaging_product must be whatsapp",
        );
    }
    let mut world = sandbox.world();
    let Some(phone) = world
        .phones
        .get_mut(phone_id)
        .filter(|p| p.waba_id == grant.waba_id)
    else {
        return unsupported(&format!("{phone_id}/smb_app_data"));
    };
    if !phone.is_on_biz_app {
        return graph_error(
            400,
            100,
            None,
            "(#100) This phone number is not onboarded through the WhatsApp Business app",
        );
    }
    if phone.synced.iter().any(|t| t == sync_type) {
        return graph_error(
            400,
            2593107,
            None,
            "Synchronization of WhatsApp Business app data was already requested for this phone number",
        );
    }
    phone.synced.push(sync_type.to_owned());
    Json(json!({ "messaging_product": "whatsapp", "request_id": random("", 24) })).into_response()
}

/// Registration rules: a six-digit PIN that must match an existing two-step PIN, at most 10
/// register calls per number per 72 hours, only verified numbers, and never a number on the
/// Business app.
fn register(sandbox: &Sandbox, grant: &Grant, phone_id: &str, body: &Value) -> Response {
    let pin = body.get("pin").and_then(Value::as_str).unwrap_or("");
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameter messaging_product is required.",
        );
    }
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return graph_error(400, 100, None, "(#100) Param pin must be 6 digits.");
    }
    let mut world = sandbox.world();
    let Some(phone) = world
        .phones
        .get_mut(phone_id)
        .filter(|p| p.waba_id == grant.waba_id)
    else {
        return unsupported(phone_id);
    };
    if phone.is_on_biz_app {
        return graph_error(
            400,
            100,
            None,
            "(#100) This number is on the WhatsApp Business app (coexistence); it is synced, not registered.",
        );
    }
    if !phone.verified {
        return graph_error(
            400,
            133006,
            None,
            "(#133006) Phone number needs to be verified before registering",
        );
    }
    let window = std::time::Duration::from_secs(72 * 3600);
    phone.registrations.retain(|at| at.elapsed() < window);
    if phone.registrations.len() >= 10 {
        return graph_error(
            400,
            133016,
            None,
            "Account register deregister rate limit exceeded: 10 register or deregister requests in 72 hours.",
        );
    }
    phone.registrations.push(Instant::now());
    match &phone.pin {
        Some(existing) if existing != pin => {
            graph_error(400, 133005, None, "Two step verification PIN Mismatch")
        }
        _ => {
            phone.pin = Some(pin.to_owned());
            Json(json!({ "success": true })).into_response()
        }
    }
}
