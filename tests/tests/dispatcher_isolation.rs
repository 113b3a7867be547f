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
    let cap = config.endpoint_concurrency;
    let breaker = config.circuit_failures as usize;
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
    // The failing endpoint is parked once `breaker` (5, the default) consecutive failures are
    // recorded. What can still reach it, from how the dispatcher works:
    // - A request holds one of the endpoint's `cap` places (8) from its lease (ingest reserving
    //   it as it records the message, or a claim) until its outcome is recorded. Outcomes are
    //   written in batches (whatever finished within 5 ms of the first); the breaker opens in the
    //   transaction of the batch that brings the failures to 5.
    // - Recorded before that batch: at most `breaker - 1` (4) failures.
    // - Leased and not yet recorded when it commits: at most `cap` (8). Ingest reserves only
    //   while fewer than `cap` are in flight, and a claim holds the places it asks for in the
    //   same count before its statement runs, so the two never add up past `cap`.
    // - After it commits, claims and ingest batches that read the endpoint skip it. Only the one
    //   ingest batch under way, which read it before the commit, may still reserve, at most
    //   `cap` (8): its own reservations are not given back before it ends. (The one claim whose
    //   statement started before the commit is counted above.) The breaker stays open for 60 s,
    //   longer than this test.
    // So at most 4 + 8 + 8 = 20 requests, never its 1,000-message backlog.
    let bound = (breaker - 1) + cap + cap;
    assert!(
        failing.received().len() <= bound,
        "{} requests, more than the {bound} the breaker allows",
        failing.received().len()
    );
    println!(
        "{MESSAGES} healthy deliveries in {elapsed:?} beside a hanging endpoint ({} requests) and a failing one ({} requests)",
        hanging.received().len(),
        failing.received().len()
    );
}
