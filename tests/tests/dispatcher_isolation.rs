//! One endpoint hanging on every request and another answering 500 do not slow deliveries to a
//! healthy endpoint: the hanging one holds at most its own concurrency cap, and the failing one
//! is parked by the circuit breaker.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::{wait_until, TestApi};
use gangway_testkit::TestEnv;
use std::time::{Duration, Instant};

const MESSAGES: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_and_a_failing_endpoint_do_not_hold_up_a_healthy_one() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Isolation Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let hanging = Receiver::start_with(Vec::new(), Duration::from_secs(30)).await;
    let failing = Receiver::start_with(vec![500; 10_000], Duration::ZERO).await;
    let healthy = Receiver::start().await;
    let types = ["onboarding_link.expired"];
    for receiver in [&hanging, &failing, &healthy] {
        create_endpoint(
            &api,
            org,
            &receiver.url("/in"),
            &types,
            None,
            "isolation-secret-123",
        )
        .await;
    }
    let mut config = dispatcher_config(&env);
    config.attempt_timeout_ms = 30_000;
    config.endpoint_concurrency = 8;
    config.circuit_open_ms = 60_000;
    let _dispatcher = spawn_dispatcher(config).await;

    let started = Instant::now();
    expired_links(&api, org, MESSAGES).await;
    wait_until("every healthy delivery", Duration::from_secs(60), || async {
        healthy.received().len() >= MESSAGES
    })
    .await;
    let elapsed = started.elapsed();

    // The hanging endpoint holds its cap of 8 attempts, none of which has answered, so nothing
    // else of its 1,000-message backlog was sent.
    assert!(
        hanging.received().len() <= 8,
        "{} requests",
        hanging.received().len()
    );
    // The failing endpoint was parked after 5 consecutive failures. Attempts already handed to
    // senders before those failures were recorded (outcomes are written in batches) still went
    // out: 12-20 on this machine, depending on its load. Never its 1,000-message backlog.
    assert!(
        failing.received().len() <= 64,
        "{} requests",
        failing.received().len()
    );
    println!(
        "{MESSAGES} healthy deliveries in {elapsed:?} beside a hanging endpoint ({} requests) and a failing one ({} requests)",
        hanging.received().len(),
        failing.received().len()
    );
}
