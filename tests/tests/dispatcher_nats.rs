//! NATS restarted while events flow: the relay and the dispatcher reconnect by themselves and
//! every webhook arrives, with no process restarted. Runs its own nats-server, so restarting it
//! disturbs no other test.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::private_servers::PrivateNats;
use gangway_e2e::{wait_until, TestApi};
use gangway_testkit::TestEnv;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_resume_after_nats_restarts_without_restarting_anything_else() {
    let mut nats = PrivateNats::start();
    let mut env = TestEnv::new().await;
    env.nats_url = nats.url();
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Restart Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let receiver = Receiver::start().await;
    create_endpoint(
        &api,
        org,
        &receiver.url("/in"),
        &["onboarding_link.expired"],
        None,
        "restart-secret-1234",
    )
    .await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&env)).await;

    expired_links(&api, org, 50).await;
    wait_until("the first 50", Duration::from_secs(30), || async {
        receiver.received().len() >= 50
    })
    .await;

    nats.stop();
    // Appends keep being accepted while NATS is down: Postgres is the source of truth.
    expired_links(&api, org, 50).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.spawn();
    expired_links(&api, org, 50).await;

    let distinct = || {
        receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect::<HashSet<_>>()
    };
    wait_until("all 150 after the restart", Duration::from_secs(60), || async {
        distinct().len() >= 150
    })
    .await;
    assert_eq!(distinct().len(), 150);
}
