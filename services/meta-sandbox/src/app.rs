//! The app's own Graph edges: app access tokens (`grant_type=client_credentials`) and the app's
//! webhook subscriptions (`/{app-id}/subscriptions`). Meta verifies a callback URL with a
//! challenge before it saves a subscription; so does the sandbox.

use crate::graph::{bearer, graph_error};
use crate::world::{random, AppSubscription};
use crate::Sandbox;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// `GET /oauth/access_token?client_id&client_secret&grant_type=client_credentials`, the
/// credentials already checked.
pub fn issue_app_token(sandbox: &Sandbox) -> Response {
    let token = format!("{}|{}", sandbox.config.app_id, random("", 27));
    sandbox.world().app.tokens.insert(token.clone());
    Json(json!({ "access_token": token, "token_type": "bearer" })).into_response()
}

/// The app's edges answer only to an app access token (an issued one, or `APP_ID|APP_SECRET`);
/// the refusal otherwise.
fn refuse_without_app_token(
    sandbox: &Sandbox,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Option<Response> {
    let Some(token) = q.get("access_token").cloned().or_else(|| bearer(headers)) else {
        return Some(graph_error(
            400,
            104,
            None,
            "An access token is required to request this resource.",
        ));
    };
    if sandbox.world().app.is_app_token(&token) {
        return None;
    }
    if token.starts_with(&format!("{}|", sandbox.config.app_id)) {
        // An app token from before the secret was reset, or a wrong secret.
        return Some(graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        ));
    }
    Some(graph_error(
        400,
        15,
        None,
        "(#15) This method must be called with an app access_token.",
    ))
}

/// `GET /{app-id}/subscriptions`.
pub fn subscriptions(sandbox: &Sandbox, q: &HashMap<String, String>, headers: &HeaderMap) -> Response {
    if let Some(refused) = refuse_without_app_token(sandbox, q, headers) {
        return refused;
    }
    let data: Vec<Value> = sandbox
        .world()
        .app
        .subscriptions
        .iter()
        .map(|(object, subscription)| {
            let fields: Vec<Value> = subscription
                .fields
                .iter()
                .map(|name| json!({ "name": name, "version": "v25.0" }))
                .collect();
            json!({
                "object": object,
                "callback_url": subscription.callback_url,
                "active": subscription.active,
                "fields": fields,
            })
        })
        .collect();
    Json(json!({ "data": data })).into_response()
}

/// `POST /{app-id}/subscriptions` with `object`, `callback_url`, `fields` (comma-separated) and
/// `verify_token`, in the query string or a form body. The fields are added to those the object
/// already has; the callback URL replaces its old one once it has answered the challenge.
pub async fn subscribe(
    sandbox: &Sandbox,
    mut params: HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !body.is_empty() {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            Ok(form) => params.extend(form),
            Err(_) => return graph_error(400, 100, None, "(#100) Parameters must be form-encoded"),
        }
    }
    if let Some(refused) = refuse_without_app_token(sandbox, &params, headers) {
        return refused;
    }
    let param = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (Some(object), Some(callback_url), Some(fields)) =
        (param("object"), param("callback_url"), param("fields"))
    else {
        return graph_error(
            400,
            100,
            None,
            "(#100) The parameters object, callback_url and fields are required",
        );
    };
    if let Some(refused) = refuse_unverified_callback(callback_url, param("verify_token").unwrap_or("")).await
    {
        return refused;
    }
    let mut world = sandbox.world();
    let subscription = world
        .app
        .subscriptions
        .entry(object.to_owned())
        .or_insert_with(|| AppSubscription {
            callback_url: callback_url.to_owned(),
            fields: Vec::new(),
            active: true,
        });
    subscription.callback_url = callback_url.to_owned();
    subscription.active = true;
    for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !subscription.fields.iter().any(|f| f == field) {
            subscription.fields.push(field.to_owned());
        }
    }
    subscription.fields.sort();
    Json(json!({ "success": true })).into_response()
}

/// Meta's verification request: `GET callback?hub.mode=subscribe&hub.challenge&hub.verify_token`,
/// to be answered with 200 and the challenge as the whole body; the refusal otherwise.
async fn refuse_unverified_callback(callback_url: &str, verify_token: &str) -> Option<Response> {
    let challenge = rand::random::<u32>().to_string();
    let answer = reqwest::Client::new()
        .get(callback_url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.challenge", challenge.as_str()),
            ("hub.verify_token", verify_token),
        ])
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let failed = |detail: String| {
        Some(graph_error(
            400,
            2200,
            None,
            &format!("(#2200) Callback verification failed with the following errors: {detail}"),
        ))
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return failed(format!("HTTP Status Code = 0; {}", error.without_url())),
    };
    let status = answer.status();
    if status.as_u16() != 200 {
        return failed(format!(
            "HTTP Status Code = {}; HTTP Message = {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    let received = answer.text().await.unwrap_or_default();
    if received != challenge {
        let received: String = received.chars().take(100).collect();
        return Some(graph_error(
            400,
            2201,
            None,
            &format!("(#2201) response does not match challenge, expected value=\"{challenge}\", received=\"{received}\""),
        ));
    }
    None
}
