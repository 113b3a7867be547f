//! `POST /sandbox/webhooks`: makes the sandbox send one of Meta's webhooks (reference §4) to the
//! app's callback URL, signed like Meta signs them: `X-Hub-Signature-256: sha256=<hex
//! HMAC-SHA256(app secret, exact body bytes)>`. The answer tells what was sent and how the
//! receiver replied, so a test can send the very same notification again. Like Meta, the sandbox
//! sends a notification that did not get a 200 again by itself, on a compressed schedule.

use super::MetaJson;
use crate::graph::graph_error;
use crate::world::{random, Phone, World};
use crate::Sandbox;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn router() -> Router<Sandbox> {
    Router::new().route("/sandbox/webhooks", post(send))
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notify {
    /// The customer unshared the WABA: its tokens stop working too (so do they below).
    PartnerRemoved { waba_id: String },
    /// The customer removed the app's permissions.
    AppUninstalled { waba_id: String },
    AccountViolation {
        waba_id: String,
        #[serde(default = "violation")]
        violation_type: String,
    },
    QualityUpdate {
        phone_number_id: String,
        event: String,
        #[serde(default)]
        current_limit: Option<String>,
    },
    NameUpdate {
        phone_number_id: String,
        decision: String,
        requested_verified_name: String,
    },
    /// A person wrote to the number.
    Message {
        phone_number_id: String,
        #[serde(default = "sender")]
        from: String,
        text: String,
    },
    /// A status of a message the business sent.
    Status {
        phone_number_id: String,
        message_id: String,
        status: String,
    },
    /// Exactly this notification, e.g. one sent before (Meta redelivers until it gets a 200).
    Raw { notification: Value },
}

fn violation() -> String {
    "SPAM".into()
}
fn sender() -> String {
    "16315551181".into()
}

#[derive(Deserialize)]
struct Send {
    /// Where to send it (default: GANGWAY_SANDBOX_WEBHOOK_URL).
    callback_url: Option<String>,
    #[serde(flatten)]
    notify: Notify,
}

async fn send(State(sandbox): State<Sandbox>, MetaJson(request): MetaJson<Send>) -> Response {
    let notification = match notification(&sandbox, request.notify) {
        Ok(notification) => notification,
        Err(message) => return graph_error(400, 100, None, &message),
    };
    let url = request
        .callback_url
        .unwrap_or_else(|| sandbox.config.webhook_url.clone());
    let body = notification.to_string();
    let secret = sandbox.world().app.secret.clone();
    let delivery = Delivery {
        signature: sign(&secret, body.as_bytes()),
        body,
        url,
    };
    let answer = delivery.attempt().await;
    let redelivering =
        answer.as_ref().map_or(true, |(status, _)| *status != 200) && sandbox.config.webhook_redeliveries > 0;
    if redelivering {
        let first_delay = Duration::from_millis(sandbox.config.webhook_retry_ms);
        tokio::spawn(
            delivery
                .clone()
                .redeliver(first_delay, sandbox.config.webhook_redeliveries),
        );
    }
    match answer {
        Ok((status, text)) => Json(json!({
            "status": status,
            "response": text,
            "notification": notification,
            "redelivering": redelivering,
        }))
        .into_response(),
        Err(error) => graph_error(
            502,
            2,
            None,
            &format!(
                "the callback URL {} could not be reached: {error}{}",
                delivery.url,
                if redelivering {
                    " (it will be sent again)"
                } else {
                    ""
                }
            ),
        ),
    }
}

/// One signed notification on its way to the callback URL: the same bytes and signature on
/// every attempt, as Meta sends them.
#[derive(Clone)]
struct Delivery {
    url: String,
    body: String,
    signature: String,
}

impl Delivery {
    /// The receiver's status and body, or why it could not be reached.
    async fn attempt(&self) -> Result<(u16, String), reqwest::Error> {
        let answer = reqwest::Client::new()
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &self.signature)
            .body(self.body.clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = answer.status().as_u16();
        Ok((status, answer.text().await.unwrap_or_default()))
    }

    /// Sends again until a 200, waiting `delay` and then twice as long each time.
    async fn redeliver(self, mut delay: Duration, times: u32) {
        for attempt in 1..=times {
            tokio::time::sleep(delay).await;
            match self.attempt().await {
                Ok((200, _)) => return,
                Ok((status, _)) => {
                    tracing::info!(url = %self.url, status, attempt, "webhook refused; will retry")
                }
                Err(error) => {
                    tracing::info!(url = %self.url, %error, attempt, "webhook not delivered; will retry")
                }
            }
            delay = delay.saturating_mul(2);
        }
        tracing::warn!(url = %self.url, times, "webhook given up after its redeliveries");
    }
}

fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

/// Meta's envelope around one change.
fn envelope(entry_id: &str, field: &str, value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": entry_id, "time": unix_now(), "changes": [{ "field": field, "value": value }] }]
    })
}

/// The customer took the WABA away from our app: its tokens stop working, and Meta says so.
fn partner_left(
    world: &mut World,
    waba_id: &str,
    event: &str,
    app_id: Option<&str>,
) -> Result<Value, String> {
    let waba = world.wabas.get(waba_id).cloned().ok_or("Unknown waba_id")?;
    for token in world.tokens.values_mut().filter(|t| t.grant.waba_id == waba.id) {
        token.valid = false;
    }
    let mut waba_info = json!({ "waba_id": waba.id, "owner_business_id": waba.business_id });
    if let Some(app_id) = app_id {
        waba_info["partner_app_id"] = json!(app_id);
    }
    Ok(envelope(
        &waba.id,
        "account_update",
        json!({ "event": event, "waba_info": waba_info }),
    ))
}

fn notification(sandbox: &Sandbox, notify: Notify) -> Result<Value, String> {
    let mut world = sandbox.world();
    let phone = |id: &str| {
        world
            .phones
            .get(id)
            .cloned()
            .ok_or(format!("Unknown phone_number_id {id}"))
    };
    Ok(match notify {
        Notify::Raw { notification } => notification,
        Notify::PartnerRemoved { waba_id } => partner_left(&mut world, &waba_id, "PARTNER_REMOVED", None)?,
        Notify::AppUninstalled { waba_id } => partner_left(
            &mut world,
            &waba_id,
            "PARTNER_APP_UNINSTALLED",
            Some(&sandbox.config.app_id),
        )?,
        Notify::AccountViolation {
            waba_id,
            violation_type,
        } => envelope(
            &waba_id,
            "account_update",
            json!({ "event": "ACCOUNT_VIOLATION", "violation_info": { "violation_type": violation_type } }),
        ),
        Notify::QualityUpdate {
            phone_number_id,
            event,
            current_limit,
        } => {
            let phone = phone(&phone_number_id)?;
            envelope(
                &phone.waba_id,
                "phone_number_quality_update",
                json!({
                    "display_phone_number": digits(&phone.display_phone_number),
                    "event": event,
                    "current_limit": current_limit.unwrap_or_else(|| "TIER_1K".into())
                }),
            )
        }
        Notify::NameUpdate {
            phone_number_id,
            decision,
            requested_verified_name,
        } => {
            let phone = phone(&phone_number_id)?;
            envelope(
                &phone.waba_id,
                "phone_number_name_update",
                json!({
                    "display_phone_number": digits(&phone.display_phone_number),
                    "decision": decision,
                    "requested_verified_name": requested_verified_name,
                    "rejection_reason": Value::Null
                }),
            )
        }
        Notify::Message {
            phone_number_id,
            from,
            text,
        } => messages_change(
            &phone(&phone_number_id)?,
            json!({
                "contacts": [{ "profile": { "name": "Sandbox Customer" }, "wa_id": from }],
                "messages": [{
                    "from": from,
                    "id": format!("wamid.{}", random("HBgL", 40)),
                    "timestamp": unix_now().to_string(),
                    "type": "text",
                    "text": { "body": text }
                }]
            }),
        ),
        Notify::Status {
            phone_number_id,
            message_id,
            status,
        } => messages_change(
            &phone(&phone_number_id)?,
            json!({
                "statuses": [{
                    "id": message_id,
                    "status": status,
                    "timestamp": unix_now().to_string(),
                    "recipient_id": sender()
                }]
            }),
        ),
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Meta's webhooks carry display numbers as bare digits.
fn digits(display: &str) -> String {
    display.chars().filter(char::is_ascii_digit).collect()
}

/// A `messages` change for `phone`: Meta's metadata, plus the messages or statuses in `content`.
fn messages_change(phone: &Phone, content: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": digits(&phone.display_phone_number),
            "phone_number_id": phone.id
        }
    });
    if let (Some(value), Value::Object(content)) = (value.as_object_mut(), content) {
        value.extend(content);
    }
    envelope(&phone.waba_id, "messages", value)
}
