//! Traffic from Meta after onboarding, as the phone and message tests drive it: a connected
//! number, endpoints subscribed to it, and the sandbox sending Meta's webhooks to the api.

use crate::dispatch::{dispatcher_config, spawn_dispatcher, Receiver};
use crate::signup::SignupWorld;
use crate::wait_until;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Connects the coffee shop's first number and returns Gangway's phone id.
pub async fn connect(world: &SignupWorld, external_id: &str) -> String {
    let link = world.link(json!({ "externalId": external_id })).await;
    let landing = world.finish(&link).await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    landing.params["phone_number_id"].clone()
}

/// Subscribes `receiver`'s `path` to `events` for the organization behind `key`.
pub async fn subscribe(world: &SignupWorld, key: &str, receiver: &Receiver, path: &str, events: &[&str]) {
    let body = json!({ "url": receiver.url(path), "events": events });
    let (status, created) = world
        .api
        .call(reqwest::Method::POST, "/v1/webhooks", key, Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
}

/// A receiver whose `/hooks` gets `events` for the world's organization, and a dispatcher.
pub async fn hooks_for(world: &SignupWorld, events: &[&str]) -> (Receiver, tokio_util::sync::DropGuard) {
    let receiver = Receiver::start().await;
    let dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    subscribe(world, &world.key, &receiver, "/hooks", events).await;
    (receiver, dispatcher)
}

/// Has the sandbox send one of Meta's webhooks to the api; returns the sandbox's answer (the
/// api's status and reply, and the notification sent).
pub async fn meta_sends(world: &SignupWorld, request: Value) -> Value {
    let mut request = request;
    request["callback_url"] = json!(world.api.url("/meta/webhooks"));
    let (status, answer) = world.sandbox.post("/sandbox/webhooks", request).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

pub async fn wait_for_webhooks(receiver: &Receiver, path: &str, count: usize) -> Vec<Value> {
    wait_until(&format!("{count} webhook(s) at {path}"), WAIT, || async {
        receiver.received_at(path).len() >= count
    })
    .await;
    receiver.received_at(path).iter().map(|r| r.json()).collect()
}
