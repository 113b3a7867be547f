//! Secrets nothing needs any more are destroyed after their retention, and each destruction is
//! recorded: a failed attempt's token, a rotated-out webhook secret, a deleted endpoint's secret
//! and a disconnected number's token go; a connected number's token and PIN and an endpoint's
//! current secret stay. Real api, meta sandbox, Postgres.

use chrono::{Duration, Utc};
use gangway_app::vault_hygiene::destroy_released_secrets;
use gangway_e2e::signup::{SignupWorld, BAKERY_WABA};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn call(world: &SignupWorld, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = world.api.call(method, path, &world.key, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

async fn secrets(world: &SignupWorld) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM vault_secrets")
        .fetch_one(world.api.state.pool())
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_secrets_are_destroyed_after_their_retention_and_recorded() {
    let world = SignupWorld::new().await;
    // A connected number: its token and PIN stay.
    let link = world.link(json!({ "externalId": "cus_kept" })).await;
    let kept = world.finish(&link).await;
    assert_eq!(kept.params["status"], "success", "{kept:?}");
    // An attempt that fails after the code was exchanged: its token goes.
    let link = world
        .link(json!({ "externalId": "cus_failed", "allowedConnectionTypes": ["coexistence"] }))
        .await;
    let failed = world.finish(&link).await;
    assert_eq!(failed.params["status"], "error", "{failed:?}");
    // A number that is disconnected: its token goes (its PIN stays with the number).
    let link = world.link(json!({ "externalId": "cus_gone" })).await;
    let (_, gone) = world.finish_with_new_number(&link, BAKERY_WABA, "US").await;
    assert_eq!(gone.params["status"], "success", "{gone:?}");
    let removal = json!({ "kind": "partner_removed", "waba_id": BAKERY_WABA,
                          "callback_url": world.api.url("/meta/webhooks") });
    let (status, answer) = world.sandbox.post("/sandbox/webhooks", removal).await;
    assert_eq!(status, 200, "{answer}");
    // An endpoint whose secret is rotated with no grace, and one that is deleted.
    let hooks = json!({ "url": "https://hooks.example.com/in", "events": ["phone_number.connected"] });
    let rotated = call(&world, Method::POST, "/v1/webhooks", Some(hooks.clone())).await;
    let rotated = rotated["data"]["id"].as_str().expect("id").to_owned();
    let rotate = json!({ "gracePeriodSeconds": 0 });
    call(
        &world,
        Method::POST,
        &format!("/v1/webhooks/{rotated}/rotate-secret"),
        Some(rotate),
    )
    .await;
    let deleted = call(&world, Method::POST, "/v1/webhooks", Some(hooks)).await;
    let deleted = deleted["data"]["id"].as_str().expect("id").to_owned();
    call(&world, Method::DELETE, &format!("/v1/webhooks/{deleted}"), None).await;
    let current_secret = call(
        &world,
        Method::GET,
        &format!("/v1/webhooks/{rotated}/secret"),
        None,
    )
    .await;

    let app = &world.api.state.app;
    let before = secrets(&world).await;
    let within_retention = destroy_released_secrets(app, Utc::now(), Duration::days(1))
        .await
        .expect("sweep");
    assert_eq!(within_retention, 0, "nothing is destroyed before its retention");
    assert_eq!(secrets(&world).await, before);

    let destroyed = destroy_released_secrets(app, Utc::now() + Duration::seconds(1), Duration::zero())
        .await
        .expect("sweep");
    assert_eq!(destroyed, 4, "the failed attempt's token, the disconnected number's token, the rotated-out and the deleted endpoint's secrets");
    assert_eq!(secrets(&world).await, before - 4);
    let recorded: Vec<(String, Value)> = sqlx::query_as(
        "SELECT event_type, payload FROM events WHERE stream_type = 'vault_secret' ORDER BY position",
    )
    .fetch_all(app.pool())
    .await
    .expect("events");
    let reasons: BTreeSet<&str> = recorded
        .iter()
        .map(|(event_type, payload)| {
            assert_eq!(event_type, "vault_secret.destroyed");
            payload["reason"].as_str().expect("reason")
        })
        .collect();
    let expected = [
        "attempt_failed",
        "endpoint_deleted",
        "phone_disconnected",
        "rotation_grace_ended",
    ];
    assert_eq!(reasons, expected.into_iter().collect());

    // What is still in use works as before; a second round finds nothing more.
    let still = call(
        &world,
        Method::GET,
        &format!("/v1/webhooks/{rotated}/secret"),
        None,
    )
    .await;
    assert_eq!(still["data"]["secret"], current_secret["data"]["secret"]);
    let phone = call(
        &world,
        Method::GET,
        &format!(
            "/v1/phones/{}/health?refresh=true",
            kept.params["phone_number_id"]
        ),
        None,
    )
    .await;
    assert_eq!(
        phone["data"]["tokenStatus"], "healthy",
        "the connected number's token is intact: {phone}"
    );
    let again = destroy_released_secrets(app, Utc::now() + Duration::seconds(1), Duration::zero())
        .await
        .expect("sweep");
    assert_eq!(again, 0);
}
