//! After onboarding: Meta's inbound webhooks (signature, de-duplication, disconnections, message
//! relay) and the health monitor, from the sandbox sending what Meta sends to the webhooks an
//! integrator receives, and a disconnected number reconnected in a real browser. Real api,
//! dispatcher, projector, Postgres and NATS.

use gangway_e2e::dispatch::{dispatcher_config, spawn_dispatcher, wait_for_dispatcher, Receiver};
use gangway_e2e::hosted_signup::{assert_success, Choice, Signup};
use gangway_e2e::meta_traffic::{connect, hooks_for, meta_sends, subscribe, wait_for_webhooks};
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE, COFFEE_WABA};
use gangway_e2e::{spawn_projector, wait_until};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn phone(world: &SignupWorld, id: &str) -> Value {
    world.get(&format!("/v1/phones/{id}")).await["data"].clone()
}

async fn phone_event_types(world: &SignupWorld, id: &str) -> Vec<String> {
    world.get(&format!("/v1/phones/{id}/events")).await["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_notifications_count_and_a_removed_partner_disconnects_the_phone() {
    let world = SignupWorld::new().await;
    let (receiver, _dispatcher) = hooks_for(&world, &["phone_number.disconnected"]).await;
    let phone_id = connect(&world, "cus_partner").await;
    let events_before = phone_event_types(&world, &phone_id).await;

    // Meta's verification handshake.
    let verify = |token: &str| {
        world.api.http.get(world.api.url("/meta/webhooks")).query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", token),
            ("hub.challenge", "1158201444"),
        ])
    };
    let answer = verify("sandbox-verify-token").send().await.expect("verify");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("body"), "1158201444");
    let answer = verify("guess").send().await.expect("verify");
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.expect("json error");
    assert_eq!(body["error"]["field"], "hub.verify_token");

    // The same removal, unsigned or signed with another secret: refused, nothing changes.
    let removal = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": COFFEE_WABA, "time": 1764300000, "changes": [{
            "field": "account_update",
            "value": { "event": "PARTNER_REMOVED", "waba_info": { "waba_id": COFFEE_WABA } }
        }]}]
    })
    .to_string();
    for signature in [None, Some("sha256=00ff"), Some("sha1=abc")] {
        let mut request = world
            .api
            .http
            .post(world.api.url("/meta/webhooks"))
            .header("content-type", "application/json")
            .body(removal.clone());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let answer = request.send().await.expect("meta webhook");
        assert_eq!(answer.status(), 401, "{signature:?}");
        let body: Value = answer.json().await.expect("json error");
        assert_eq!(body["error"]["field"], "X-Hub-Signature-256");
    }
    assert_eq!(phone(&world, &phone_id).await["status"], "connected");
    assert_eq!(phone_event_types(&world, &phone_id).await, events_before);

    // Signed by Meta (the sandbox, with the app secret): the phone is disconnected at once.
    let sent = meta_sends(
        &world,
        json!({ "kind": "partner_removed", "waba_id": COFFEE_WABA }),
    )
    .await;
    assert_eq!(sent["status"], 200, "{sent}");
    let read = phone(&world, &phone_id).await;
    assert_eq!(read["status"], "disconnected", "{read}");
    assert_eq!(read["disconnection"]["reason"], "partner_removed");

    let hooks = wait_for_webhooks(&receiver, "/hooks", 1).await;
    assert_eq!(hooks[0]["event"], "phone_number.disconnected");
    assert_eq!(hooks[0]["data"]["phoneNumberId"], phone_id.as_str());
    assert_eq!(hooks[0]["data"]["reason"], "partner_removed");
    assert_eq!(hooks[0]["data"]["metaPhoneNumberId"], COFFEE_PHONE);
    assert_eq!(hooks[0]["data"]["externalId"], "cus_partner");

    // Meta delivers the same notification again: nothing more happens.
    let again = meta_sends(
        &world,
        json!({ "kind": "raw", "notification": sent["notification"] }),
    )
    .await;
    assert_eq!(again["status"], 200, "{again}");
    let reply: Value = serde_json::from_str(again["response"].as_str().expect("reply")).expect("json");
    assert_eq!(reply["applied"], 0, "{reply}");
    let types = phone_event_types(&world, &phone_id).await;
    let disconnections = types.iter().filter(|t| *t == "phone_number.disconnected").count();
    assert_eq!(disconnections, 1, "{types:?}");
    // Anything the redelivery led to would have been recorded and sent by now.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    assert_eq!(receiver.received_at("/hooks").len(), 1, "one webhook only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_statuses_reach_the_owning_organization_once() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let message_events = ["message.received", "message.sent"];
    subscribe(&world, &world.key, &receiver, "/ours", &message_events).await;
    let (_, other_key) = world.api.create_org("Someone Else").await;
    subscribe(&world, &other_key, &receiver, "/theirs", &message_events).await;

    // Before the number is connected, its traffic belongs to nobody.
    let early = meta_sends(
        &world,
        json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "anyone there?" }),
    )
    .await;
    assert_eq!(early["status"], 200, "{early}");
    // Connected through a link whose own webhook asks for the message traffic, as the
    // onboarding-links product's example does.
    let link = world
        .link(json!({
            "externalId": "cus_messages",
            "webhookUrl": receiver.url("/link"),
            "webhookEvents": ["message.received"],
        }))
        .await;
    let landing = world.finish(&link).await;
    let phone_id = landing.params["phone_number_id"].clone();

    let inbound = meta_sends(
        &world,
        json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "Is my order on its way?" }),
    )
    .await;
    let status = meta_sends(
        &world,
        json!({ "kind": "status", "phone_number_id": COFFEE_PHONE,
                "message_id": "wamid.OUTBOUND1", "status": "delivered" }),
    )
    .await;
    let hooks = wait_for_webhooks(&receiver, "/ours", 2).await;
    let received = hooks
        .iter()
        .find(|h| h["event"] == "message.received")
        .expect("message.received");
    let sent_message = &inbound["notification"]["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(
        received["data"]["message"], *sent_message,
        "Meta's message as sent"
    );
    assert_eq!(
        received["data"]["message"]["text"]["body"],
        "Is my order on its way?"
    );
    assert_eq!(received["data"]["contact"]["profile"]["name"], "Sandbox Customer");
    assert_eq!(received["data"]["phoneNumberId"], phone_id.as_str());
    assert_eq!(received["data"]["metaPhoneNumberId"], COFFEE_PHONE);
    let delivered = hooks
        .iter()
        .find(|h| h["event"] == "message.sent")
        .expect("message.sent");
    assert_eq!(delivered["data"]["status"]["id"], "wamid.OUTBOUND1");
    assert_eq!(delivered["data"]["status"]["status"], "delivered");

    // Redelivered by Meta: relayed once. The early message never is.
    for sent in [&inbound, &status] {
        let again = meta_sends(
            &world,
            json!({ "kind": "raw", "notification": sent["notification"] }),
        )
        .await;
        assert_eq!(again["status"], 200);
    }
    let from_link = wait_for_webhooks(&receiver, "/link", 1).await;
    assert_eq!(from_link[0]["event"], "message.received");
    assert_eq!(from_link[0]["data"]["message"], *sent_message);
    // The api put each redelivery on the message stream (or dropped it) before answering the
    // sandbox; once the dispatcher has consumed the stream and sent what it recorded, any
    // duplicate or misrouted webhook would be here.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    assert_eq!(receiver.received_at("/ours").len(), 2, "no duplicates");
    assert_eq!(
        receiver.received_at("/link").len(),
        1,
        "only the types the link asked for"
    );
    assert!(
        receiver.received_at("/theirs").is_empty(),
        "another organization never sees this number's traffic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_and_name_updates_are_kept_in_the_phone_history() {
    let world = SignupWorld::new().await;
    let phone_id = connect(&world, "cus_quality").await;
    meta_sends(
        &world,
        json!({ "kind": "quality_update", "phone_number_id": COFFEE_PHONE,
                "event": "UPGRADE", "current_limit": "TIER_10K" }),
    )
    .await;
    meta_sends(
        &world,
        json!({ "kind": "name_update", "phone_number_id": COFFEE_PHONE,
                "decision": "APPROVED", "requested_verified_name": "Coffee & Co" }),
    )
    .await;
    meta_sends(
        &world,
        json!({ "kind": "account_violation", "waba_id": COFFEE_WABA }),
    )
    .await;

    let types = phone_event_types(&world, &phone_id).await;
    assert_eq!(
        types[1..],
        [
            "phone_number.quality_updated",
            "phone_number.name_reviewed",
            "phone_number.account_updated"
        ],
        "{types:?}"
    );
    let read = phone(&world, &phone_id).await;
    assert_eq!(read["verifiedName"], "Coffee & Co");
    assert_eq!(
        read["status"], "connected",
        "a violation alone does not disconnect"
    );
    let health = world.get(&format!("/v1/phones/{phone_id}/health")).await["data"].clone();
    assert_eq!(health["messagingLimit"], "TIER_10K");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_monitor_reports_changes_and_disconnects_a_dead_token() {
    let world = SignupWorld::new_with(|config| config.health_check_seconds = 1).await;
    let _projector = spawn_projector(&world.env, world.api.state.bus.clone()).drop_guard();
    let (receiver, _dispatcher) = hooks_for(
        &world,
        &["phone_number.disconnected", "phone_number.health_changed"],
    )
    .await;
    let phone_id = connect(&world, "cus_health").await;
    let health_of = |refresh: bool| {
        let path = format!("/v1/phones/{phone_id}/health?refresh={refresh}");
        let world = &world;
        async move { world.get(&path).await["data"].clone() }
    };

    let checked = health_of(true).await;
    assert_eq!(checked["tokenStatus"], "healthy", "{checked}");
    assert_eq!(checked["capabilities"]["canSendMessages"], true);
    assert_eq!(checked["healthStatus"]["can_send_message"], "AVAILABLE");
    assert!(checked["checkedAt"].is_string());

    // Meta blocks sending: one health change, however often it is checked.
    let (status, _) = world
        .sandbox
        .post(
            &format!("/sandbox/phones/{COFFEE_PHONE}/state"),
            json!({ "can_send_message": "BLOCKED" }),
        )
        .await;
    assert_eq!(status, 200);
    let blocked = health_of(true).await;
    assert_eq!(blocked["capabilities"]["canSendMessages"], false, "{blocked}");
    assert_eq!(blocked["capabilities"]["canReceiveMessages"], true);
    health_of(true).await;
    let changes = |types: Vec<String>| {
        types
            .iter()
            .filter(|t| *t == "phone_number.health_changed")
            .count()
    };
    assert_eq!(
        changes(phone_event_types(&world, &phone_id).await),
        2,
        "healthy, then blocked"
    );
    // The integrator hears both, with what changed from what to what.
    // Deliveries to one endpoint may overlap, so they are told apart by what they say.
    let heard = wait_for_event(&receiver, "/hooks", "phone_number.health_changed", 2).await;
    let said = |previous_token: Value| {
        heard
            .iter()
            .map(|h| h["data"].clone())
            .find(|d| d["previous"]["tokenStatus"] == previous_token)
            .unwrap_or_else(|| panic!("no change from {previous_token}: {heard:?}"))
    };
    let (first, worse) = (&said(Value::Null), &said(json!("healthy")));
    assert_eq!(first["phoneNumberId"], phone_id.as_str(), "{first}");
    assert_eq!(first["current"]["tokenStatus"], "healthy", "{first}");
    assert_eq!(
        first["previous"]["tokenStatus"],
        Value::Null,
        "the first check: {first}"
    );
    assert_eq!(
        worse["changed"],
        json!(["canSendMessages", "metaHealthStatus"]),
        "{worse}"
    );
    assert_eq!(worse["previous"]["canSendMessages"], true, "{worse}");
    assert_eq!(worse["current"]["canSendMessages"], false, "{worse}");
    assert_eq!(
        worse["current"]["metaHealthStatus"]["can_send_message"],
        "BLOCKED"
    );
    assert_eq!(worse["metaPhoneNumberId"], COFFEE_PHONE);

    // The customer revokes the token in Meta: the monitor (every second) finds it down and
    // disconnects the number, and the integrator hears of it.
    let (status, _) = world
        .sandbox
        .post(
            &format!("/sandbox/wabas/{COFFEE_WABA}/tokens/invalidate"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let hooks = wait_for_event(&receiver, "/hooks", "phone_number.disconnected", 1).await;
    assert_eq!(hooks[0]["data"]["reason"], "token_invalid", "{}", hooks[0]);
    let heard = wait_for_event(&receiver, "/hooks", "phone_number.health_changed", 3).await;
    assert!(
        heard
            .iter()
            .any(|h| h["data"]["current"]["tokenStatus"] == "down"),
        "{heard:?}"
    );
    let down = health_of(false).await;
    assert_eq!(down["status"], "disconnected", "{down}");
    assert_eq!(down["tokenStatus"], "down");
    assert_eq!(down["capabilities"]["canSendMessages"], false);
    assert_eq!(down["capabilities"]["canReceiveMessages"], false);
    assert_eq!(down["disconnection"]["reason"], "token_invalid");
}

/// One tenant cannot spend the shared Meta app's call budget: an on-demand refresh asks Meta
/// about a number at most once per `GANGWAY_HEALTH_REFRESH_SECONDS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_health_asks_meta_at_most_once_per_interval() {
    let world = SignupWorld::new_with(|config| config.health_refresh_seconds = 30).await;
    let phone_id = connect(&world, "cus_refresh").await;
    let path = format!("/v1/phones/{phone_id}/health?refresh=true");
    let first = world.get(&path).await["data"].clone();
    assert_eq!(first["capabilities"]["canSendMessages"], true, "{first}");
    let (status, _) = world
        .sandbox
        .post(
            &format!("/sandbox/phones/{COFFEE_PHONE}/state"),
            json!({ "can_send_message": "BLOCKED" }),
        )
        .await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        let again = world.get(&path).await["data"].clone();
        assert_eq!(again["checkedAt"], first["checkedAt"], "not asked again: {again}");
        assert_eq!(
            again["capabilities"]["canSendMessages"], true,
            "the last check stands"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_number_comes_back_through_a_reconnect_link_in_the_browser() -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let lifecycle = ["phone_number.disconnected", "phone_number.reconnected"];
    let (receiver, _dispatcher) = hooks_for(&world, &lifecycle).await;
    let phone_id = connect(&world, "cus_back").await;
    meta_sends(
        &world,
        json!({ "kind": "partner_removed", "waba_id": COFFEE_WABA }),
    )
    .await;
    assert_eq!(phone(&world, &phone_id).await["status"], "disconnected");

    let mut signup = Signup::start(&world).await?;
    let link = signup
        .link(json!({ "externalId": "cus_back", "reconnectPhoneNumberId": phone_id }))
        .await;
    let landing = signup
        .sign_up(&link, "#continue", Choice::finish(COFFEE_PHONE))
        .await?;
    let reconnected = assert_success(
        &signup,
        &landing,
        &link,
        "cus_back",
        (COFFEE_PHONE, "+15550100001"),
    )
    .await;
    assert_eq!(reconnected, phone_id, "the same phone id");
    let read = phone(&world, &phone_id).await;
    assert_eq!(read["status"], "connected", "{read}");
    assert!(read["disconnection"].is_null(), "{read}");

    let hooks = wait_for_webhooks(&receiver, "/hooks", 2).await;
    let events: Vec<_> = hooks
        .iter()
        .map(|h| h["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(events, lifecycle, "disconnected, then reconnected");
    assert_eq!(hooks[1]["data"]["phoneNumberId"], phone_id.as_str());
    assert_eq!(hooks[1]["data"]["onboardingLinkId"], link.as_str());
    signup.browser.close().await
}

/// The webhooks of `event` at `path`, once there are `count` of them.
async fn wait_for_event(receiver: &Receiver, path: &str, event: &str, count: usize) -> Vec<Value> {
    let of_event = || -> Vec<Value> {
        receiver
            .received_at(path)
            .iter()
            .map(|r| r.json())
            .filter(|h| h["event"] == event)
            .collect()
    };
    wait_until(&format!("{count} {event} at {path}"), WAIT, || async {
        of_event().len() >= count
    })
    .await;
    of_event()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_belongs_to_the_organization_that_connected_it_last() {
    let world = SignupWorld::new().await;
    let events = ["phone_number.disconnected", "message.received"];
    let (receiver, _dispatcher) = hooks_for(&world, &events).await;
    let (_, other_key) = world.api.create_org("Second Platform").await;
    subscribe(&world, &other_key, &receiver, "/other", &events).await;
    let phone_here = connect(&world, "cus_moving").await;

    // The same number onboarded through the other organization: Meta still holds the PIN it was
    // registered with, so the move works only if the PIN belongs to the number.
    let (status, created) = world
        .api
        .create_link(
            &other_key,
            json!({ "externalId": "cus_moving", "redirectUrl": "https://other.example.com/done" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let landing = world.finish(created["data"]["id"].as_str().expect("id")).await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    let phone_there = landing.params["phone_number_id"].clone();

    let moved = wait_for_event(&receiver, "/hooks", "phone_number.disconnected", 1).await;
    assert_eq!(moved[0]["data"]["phoneNumberId"], phone_here.as_str());
    assert_eq!(moved[0]["data"]["reason"], "connected_elsewhere", "{}", moved[0]);
    let read = phone(&world, &phone_here).await;
    assert_eq!(read["status"], "disconnected", "{read}");
    assert_eq!(read["disconnection"]["reason"], "connected_elsewhere");

    let text = json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "where now?" });
    meta_sends(&world, text).await;
    let received = wait_for_event(&receiver, "/other", "message.received", 1).await;
    assert_eq!(received[0]["data"]["phoneNumberId"], phone_there.as_str());

    // Reconnected where it was first: the later connection wins again.
    let back = world
        .link(json!({ "externalId": "cus_moving", "reconnectPhoneNumberId": phone_here }))
        .await;
    let landing = world.finish(&back).await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    let moved = wait_for_event(&receiver, "/other", "phone_number.disconnected", 1).await;
    assert_eq!(moved[0]["data"]["phoneNumberId"], phone_there.as_str());
    assert_eq!(moved[0]["data"]["reason"], "connected_elsewhere");
    let text = json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "and back" });
    meta_sends(&world, text).await;
    let received = wait_for_event(&receiver, "/hooks", "message.received", 1).await;
    assert_eq!(received[0]["data"]["message"]["text"]["body"], "and back");
    // A copy of either message for the other organization would have been sent by now.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let bodies = |path: &str| -> Vec<Value> {
        receiver
            .received_at(path)
            .iter()
            .map(|r| r.json())
            .filter(|h| h["event"] == "message.received")
            .map(|h| h["data"]["message"]["text"]["body"].clone())
            .collect()
    };
    assert_eq!(
        bodies("/hooks"),
        [json!("and back")],
        "each message reaches one organization"
    );
    assert_eq!(bodies("/other"), [json!("where now?")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_metas_notifications_are_kept_only_for_their_retention() {
    let env = gangway_testkit::TestEnv::new().await;
    let mut config = gangway_e2e::api_config(&env);
    config.meta_webhook_receipt_days = 30;
    config.meta_webhook_receipt_sweep_seconds = 1;
    let api = gangway_e2e::TestApi::spawn_with(config).await;
    for (digest, days) in [("old", 31), ("recent", 29)] {
        sqlx::query(
            "INSERT INTO meta_webhook_receipts (digest, field, received_at) \
             VALUES ($1, 'messages', now() - make_interval(days => $2))",
        )
        .bind(digest.as_bytes())
        .bind(days)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    let kept = || async {
        let kept: Vec<Vec<u8>> = sqlx::query_scalar("SELECT digest FROM meta_webhook_receipts")
            .fetch_all(&env.pool)
            .await
            .unwrap();
        kept
    };
    wait_until("the pruning", WAIT, || async { kept().await.len() == 1 }).await;
    assert_eq!(kept().await, vec![b"recent".to_vec()]);
    api.stop().await;
}
