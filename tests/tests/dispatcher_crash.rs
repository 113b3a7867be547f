//! The dispatcher killed with SIGKILL in the middle of 1,000 deliveries and restarted: every
//! message arrives at least once, under the webhook-id it was recorded with.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_env, expired_links, Receiver};
use gangway_e2e::{wait_until, ChildProcess, TestApi};
use gangway_testkit::TestEnv;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

const MESSAGES: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dispatcher_loses_nothing_and_keeps_webhook_ids() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Crash Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    // Slow enough that the kill lands mid-way.
    let receiver = Receiver::start_with(Vec::new(), Duration::from_millis(5)).await;
    create_endpoint(
        &api,
        org,
        &receiver.url("/in"),
        &["onboarding_link.expired"],
        None,
        "a-raw-secret-of-some-length",
    )
    .await;
    let mut env_vars = dispatcher_env(&env);
    env_vars.push(("GANGWAY_DISPATCH_ENDPOINT_CONCURRENCY".into(), "4".into()));
    let mut dispatcher = ChildProcess::start("gangway-dispatcher", env_vars);
    expired_links(&api, org, MESSAGES).await;

    wait_until("a third delivered", Duration::from_secs(60), || async {
        receiver.received().len() >= MESSAGES / 3
    })
    .await;
    dispatcher.kill();
    let at_kill = receiver.received().len();
    assert!(at_kill < MESSAGES, "the kill must land mid-way ({at_kill})");
    dispatcher.restart();

    let distinct = || {
        receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect::<HashSet<_>>()
    };
    wait_until("every message delivered", Duration::from_secs(90), || async {
        distinct().len() >= MESSAGES
    })
    .await;

    let recorded: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM webhook_messages")
        .fetch_all(api.state.pool())
        .await
        .unwrap();
    assert_eq!(recorded.len(), MESSAGES, "one message per event and endpoint");
    let expected: HashSet<String> = recorded.iter().map(|id| format!("msg_{}", id.simple())).collect();
    assert_eq!(distinct(), expected, "no message lost, no webhook-id invented");
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_messages WHERE status <> 'delivered'")
            .fetch_one(api.state.pool())
            .await
            .unwrap();
    let received = receiver.received().len();
    println!("killed after {at_kill} deliveries; {received} requests for {MESSAGES} messages; {pending} not yet marked delivered");
}
