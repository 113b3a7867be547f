//! Relayed WhatsApp traffic travels on its own JetStream stream, not through the event store:
//! every message reaches its endpoints once, the store does not grow with it, a relay waits in
//! its stream for a dispatcher, and a notification the stream could not take is refused so that
//! Meta sends it again. Real api, dispatcher, Postgres and NATS; the sandbox sends what Meta
//! sends.

use gangway_e2e::dispatch::{dispatcher_config, spawn_dispatcher, wait_for_dispatcher, Receiver};
use gangway_e2e::meta_traffic::{connect, hooks_for, meta_sends, subscribe, wait_for_webhooks};
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const TRAFFIC: [&str; 2] = ["message.received", "message.sent"];

async fn stored_events(world: &SignupWorld) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&world.env.pool)
        .await
        .expect("counting events")
}

async fn inbound(world: &SignupWorld, text: &str) -> Value {
    let sent = meta_sends(
        world,
        json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": text }),
    )
    .await;
    assert_eq!(sent["status"], 200, "{sent}");
    sent
}

fn message_of(sent: &Value) -> Value {
    sent["notification"]["entry"][0]["changes"][0]["value"]["messages"][0].clone()
}

/// What the webhooks at `path` carried: Meta's message ids, and status ids with their status.
fn relayed_ids(receiver: &Receiver, path: &str) -> Vec<String> {
    receiver
        .received_at(path)
        .iter()
        .map(|r| {
            let data = &r.json()["data"];
            match data["message"]["id"].as_str() {
                Some(id) => id.to_owned(),
                None => format!("{}:{}", data["status"]["id"], data["status"]["status"]),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_traffic_reaches_endpoints_once_and_the_event_store_keeps_none_of_it() {
    let world = SignupWorld::new().await;
    let (receiver, _dispatcher) = hooks_for(&world, &TRAFFIC).await;
    connect(&world, "cus_traffic").await;
    let stored_before = stored_events(&world).await;

    let mut expected = BTreeSet::new();
    let mut first = None;
    for n in 0..10 {
        let sent = inbound(&world, &format!("message {n}")).await;
        expected.insert(message_of(&sent)["id"].as_str().expect("id").to_owned());
        first.get_or_insert(sent);
    }
    for (id, status) in [
        ("wamid.OUT1", "sent"),
        ("wamid.OUT1", "delivered"),
        ("wamid.OUT2", "read"),
    ] {
        let sent = meta_sends(
            &world,
            json!({ "kind": "status", "phone_number_id": COFFEE_PHONE,
                    "message_id": id, "status": status }),
        )
        .await;
        assert_eq!(sent["status"], 200, "{sent}");
        expected.insert(format!("\"{id}\":\"{status}\""));
    }
    // Meta batching an already relayed message with a new one: a notification never seen
    // before, so only the message's own id can tell that the first one was relayed.
    let first = first.expect("a message");
    let mut batch = first["notification"].clone();
    let mut newer = message_of(&first);
    newer["id"] = json!("wamid.BATCHED_LATER");
    batch["entry"][0]["changes"][0]["value"]["messages"] = json!([message_of(&first), newer]);
    batch["entry"][0]["time"] = json!(1_900_000_000);
    let again = meta_sends(&world, json!({ "kind": "raw", "notification": batch })).await;
    assert_eq!(again["status"], 200, "{again}");
    expected.insert("wamid.BATCHED_LATER".to_owned());

    wait_for_webhooks(&receiver, "/hooks", expected.len()).await;
    // The api put each notification's messages on the stream before answering; once the
    // dispatcher has consumed it and sent what it recorded, a second copy would be here.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let relayed = relayed_ids(&receiver, "/hooks");
    assert_eq!(relayed.len(), expected.len(), "each once: {relayed:?}");
    assert_eq!(relayed.into_iter().collect::<BTreeSet<_>>(), expected);
    let webhook_ids: BTreeSet<String> = receiver
        .received_at("/hooks")
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(webhook_ids.len(), expected.len(), "one webhook-id per message");
    assert_eq!(
        stored_events(&world).await,
        stored_before,
        "message traffic adds nothing to the event store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_wait_in_their_stream_and_follow_endpoints_created_before_them() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    subscribe(&world, &world.key, &receiver, "/hooks", &TRAFFIC).await;
    connect(&world, "cus_waiting").await;
    // Accepted while no dispatcher runs.
    let mut expected = BTreeSet::new();
    for n in 0..5 {
        let sent = inbound(&world, &format!("while nobody listens {n}")).await;
        expected.insert(message_of(&sent)["id"].as_str().expect("id").to_owned());
    }
    // A dispatcher that reads no domain events at all (an empty events stream): it learns of the
    // endpoint only from the store, as when relays run ahead of the endpoint's events.
    let elsewhere = TestEnv::new().await;
    let mut config = dispatcher_config(&world.env);
    config.infra.nats_stream = elsewhere.names.stream.clone();
    config.infra.nats_subject_prefix = elsewhere.names.subject_prefix.clone();
    let _dispatcher = spawn_dispatcher(config).await;

    wait_for_webhooks(&receiver, "/hooks", expected.len()).await;
    let relayed = relayed_ids(&receiver, "/hooks");
    assert_eq!(relayed.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_the_message_stream_cannot_take_is_refused_and_taken_when_meta_sends_it_again() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    subscribe(&world, &world.key, &receiver, "/hooks", &TRAFFIC).await;
    connect(&world, "cus_refused").await;
    let jetstream = world.env.bus().await.jetstream().clone();
    jetstream
        .delete_stream(&world.env.names.message_stream)
        .await
        .expect("deleting the message stream");

    let refused = meta_sends(
        &world,
        json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "lost?" }),
    )
    .await;
    assert_eq!(refused["status"], 503, "Meta is told to send it again: {refused}");

    // The dispatcher creates the stream again when it starts; Meta's next delivery is taken.
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let again = meta_sends(
        &world,
        json!({ "kind": "raw", "notification": refused["notification"] }),
    )
    .await;
    assert_eq!(again["status"], 200, "{again}");
    let hooks = wait_for_webhooks(&receiver, "/hooks", 1).await;
    assert_eq!(hooks[0]["data"]["message"], message_of(&refused));
    wait_for_dispatcher(&world.env, "dispatcher").await;
    assert_eq!(receiver.received_at("/hooks").len(), 1);
}
