//! Fresh work does not wait for a poll: a commit in one api process wakes the relay leading in
//! another, a commit held back by an open transaction is published when that ends, and a message
//! retried through the api wakes the dispatcher. Both pollers run here
//! with a ten-minute interval, so only a wake-up can meet the tests' deadlines.

use futures::StreamExt;
use gangway_bus::Wake;
use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::{api_config, read_stream, wait_until, TestApi};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::time::Duration;

const POLL_MS: u64 = 600_000;
const DEADLINE: Duration = Duration::from_secs(10);

/// Whether an event of this type is on the test's stream.
async fn published(env: &TestEnv, event_type: &str) -> bool {
    let bus = env.bus().await;
    read_stream(&bus)
        .await
        .expect("reading the stream")
        .iter()
        .any(|(_, event)| event.event_type == event_type)
}

/// Waits for a link's creation to be on the stream, well before the next poll.
async fn wait_for_the_link(env: &TestEnv, what: &str) {
    wait_until(what, DEADLINE, || published(env, "onboarding_link.created")).await;
}

/// An api process with its relay polling every ten minutes, once the relay leads (only the
/// leading relay publishes, and it has published the new organization), with that
/// organization's key.
async fn leading_api(env: &TestEnv, organization: &str) -> (TestApi, String) {
    let mut config = api_config(env);
    config.relay_poll_ms = POLL_MS;
    let api = TestApi::spawn_with(config).await;
    let (_, key) = api.create_org(organization).await;
    wait_until("the organization is published", DEADLINE, || {
        published(env, "organization.created")
    })
    .await;
    (api, key)
}

/// An api process without a relay: its only way to the leading one is a wake-up over NATS.
async fn replica_api(env: &TestEnv) -> TestApi {
    let mut config = api_config(env);
    config.relay_enabled = false;
    TestApi::spawn_with(config).await
}

async fn create_link(api: &TestApi, key: &str) {
    let (status, link) = api
        .create_link(key, json!({ "redirectUrl": "https://app.example.com/done" }))
        .await;
    assert_eq!(status, 201, "{link}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_one_api_process_wakes_the_relay_leading_in_another() {
    let env = TestEnv::new().await;
    // Its organization is committed by the leading process itself, which wakes its relay in
    // process.
    let (leading, key) = leading_api(&env, "Wake Co").await;
    let replica = replica_api(&env).await;

    // Committed by the replica, whose only way to the relay is the wake-up over NATS.
    create_link(&replica, &key).await;
    wait_for_the_link(
        &env,
        "the replica's link is published within seconds, not at the next poll",
    )
    .await;
    replica.stop().await;
    leading.stop().await;
}

/// Only the leading relay publishes, so a process whose relay leads wakes it in process and sends
/// nothing over NATS; a process without the lead still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_relay_leads_sends_no_wakeups_over_nats() {
    let env = TestEnv::new().await;
    let (leading, key) = leading_api(&env, "Quiet Co").await;

    let bus = env.bus().await;
    let mut wakeups = bus
        .client()
        .subscribe(bus.wake_subject(Wake::Relay))
        .await
        .expect("subscribing to wake-ups");
    bus.client().flush().await.expect("flush");
    create_link(&leading, &key).await;
    wait_for_the_link(&env, "the leading process's link is published at once").await;
    // A wake-up would have left before the relay's publish, on the same connection, and so be
    // queued for this subscriber before this round trip's answer.
    bus.client().flush().await.expect("flush");
    let early = tokio::time::timeout(Duration::from_millis(200), wakeups.next()).await;
    assert!(early.is_err(), "the leading process sent a wake-up: {early:?}");

    let replica = replica_api(&env).await;
    create_link(&replica, &key).await;
    let woken = tokio::time::timeout(DEADLINE, wakeups.next()).await;
    assert!(
        matches!(woken, Ok(Some(_))),
        "a process without the lead wakes the leading relay over NATS"
    );
    replica.stop().await;
    leading.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_held_back_by_an_open_transaction_is_published_once_that_ends() {
    let env = TestEnv::new().await;
    let (leading, key) = leading_api(&env, "Held Co").await;

    // A transaction with an id, open while the link commits: the relay may not publish past it
    // (a later-committing older transaction could otherwise be skipped), so the wake-up finds
    // nothing to publish yet.
    let mut blocker = env.pool.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *blocker)
        .await
        .expect("an xid");
    create_link(&leading, &key).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !published(&env, "onboarding_link.created").await,
        "held back while the older transaction is open"
    );
    blocker.commit().await.expect("commit");
    // The horizon is the whole cluster's: other transactions anywhere may hold the link back
    // a little longer. 30 s is still far from the ten-minute poll.
    wait_until(
        "the link is published once the transaction ends, not at the next poll",
        Duration::from_secs(30),
        || published(&env, "onboarding_link.created"),
    )
    .await;
    leading.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_retried_through_the_api_is_sent_without_waiting_for_the_dispatchers_poll() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, key) = api.create_org("Retry Co").await;
    let org = OrganizationId::from_uuid(org.parse().expect("organization id"));
    let receiver = Receiver::start_with(vec![500], Duration::ZERO).await;
    let endpoint = create_endpoint(
        &api,
        org,
        &receiver.url("/hooks"),
        &["onboarding_link.expired"],
        None,
        "wake-secret-123456",
    )
    .await;
    let mut config = dispatcher_config(&env);
    config.poll_ms = POLL_MS;
    config.max_attempts = 1;
    config.attempt_timeout_ms = 30_000;
    let _dispatcher = spawn_dispatcher(config).await;

    // Sent at once by ingest (not by a poll), answered 500, and given up: one attempt allowed.
    expired_links(&api, org, 1).await;
    let get = |path: String| {
        let (api, key) = (&api, &key);
        async move { api.call(reqwest::Method::GET, &path, key, None).await.1 }
    };
    let failed = format!("/v1/webhooks/{endpoint}/messages?status=failed");
    wait_until("the first attempt fails", DEADLINE, || async {
        get(failed.clone()).await["pagination"]["total"] == 1
    })
    .await;
    let id = get(failed.clone()).await["data"][0]["id"]
        .as_str()
        .expect("message id")
        .to_owned();

    let (status, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/messages/{id}/retry"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 202);
    // The receiver keeps a request before it answers, and the outcome is recorded after that: wait
    // for the record, then count what arrived.
    wait_until(
        "the retried message is delivered within seconds, not at the next poll",
        DEADLINE,
        || async { get(format!("/v1/messages/{id}")).await["data"]["status"] == "delivered" },
    )
    .await;
    assert_eq!(receiver.received().len(), 2, "the first attempt and the retry");
}
