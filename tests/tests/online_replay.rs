//! `gangway replay` while everything runs: links created during a replay reach JetStream as
//! quickly as ever (no transaction holds the relay back), readers keep the old read models until
//! the swap, a replay killed with SIGKILL resumes from its place, and the result equals a rebuild.
//! Real api (with its relay), projector, Postgres and NATS.

use gangway_domain::link::LinkEvent;
use gangway_domain::{LinkId, OrganizationId};
use gangway_e2e::dispatch::append_links;
use gangway_e2e::{run_cli, spawn_projector, stream_message_count, wait_for_projection, wait_until, TestApi};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LINKS: usize = 3_000;

fn start_replay(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(gangway_testkit::binary("gangway"))
        .arg("replay")
        .args(args)
        .envs(env.process_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting gangway replay")
}

/// Events the running replay has saved in its shadow tables' place (0 before it has one).
async fn replayed_so_far(env: &TestEnv) -> i64 {
    let place: Option<String> = sqlx::query_scalar("SELECT to_regclass('gangway_replay.place')::text")
        .fetch_one(&env.pool)
        .await
        .expect("shadow");
    if place.is_none() {
        return 0;
    }
    sqlx::query_scalar("SELECT applied FROM gangway_replay.place")
        .fetch_optional(&env.pool)
        .await
        .unwrap_or_default()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_stops_nothing_resumes_after_a_kill_and_rebuilds_the_same_read_models() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let bus = env.bus().await;
    let _projector = spawn_projector(&env, bus.clone()).drop_guard();
    let (org, key) = api.create_org("Replay Co").await;
    let org = OrganizationId::from_uuid(org.parse().expect("org id"));
    let links: Vec<LinkId> = (0..LINKS).map(|_| LinkId::new()).collect();
    for chunk in links.chunks(500) {
        append_links(
            &api.state.app.store,
            org,
            chunk,
            Some("cus_old"),
            LinkEvent::Deleted {},
        )
        .await
        .expect("appending links");
    }
    wait_for_projection(&env, &bus).await;

    // Live traffic during a replay in small batches (small enough to outlast several links):
    // each new link is on JetStream at once.
    let mut replay = start_replay(&env, &["--batch-size", "3"]);
    let started = Instant::now();
    let mut waits = Vec::new();
    while replay.try_wait().expect("replay").is_none() {
        let before = stream_message_count(&bus).await;
        let created = Instant::now();
        let (status, _) = api.create_link(&key, json!({ "externalId": "cus_live" })).await;
        assert_eq!(status, 201);
        wait_until("the live link on JetStream", Duration::from_secs(30), || async {
            stream_message_count(&bus).await > before
        })
        .await;
        waits.push(created.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    assert!(replay.wait().expect("replay").success());
    let slowest = waits.iter().max().copied().unwrap_or_default();
    println!(
        "replay of {} events in {took:?}; {} links created meanwhile, slowest to JetStream {slowest:?}",
        LINKS * 2,
        waits.len()
    );
    assert!(
        waits.len() >= 5,
        "the replay must outlast several live links: {} in {took:?}",
        waits.len()
    );
    assert!(slowest < Duration::from_secs(1), "{waits:?}");

    // Killed half way, it resumes from its place.
    let mut killed = start_replay(&env, &["--batch-size", "10", "--restart"]);
    wait_until("the replay to make progress", Duration::from_secs(30), || async {
        replayed_so_far(&env).await > 500
    })
    .await;
    killed.kill().expect("SIGKILL");
    killed.wait().expect("reaped");
    let left: bool = sqlx::query_scalar("SELECT to_regclass('gangway_replay.place') IS NOT NULL")
        .fetch_one(&env.pool)
        .await
        .expect("shadow");
    assert!(left, "the killed replay's shadow tables and place are kept");
    let live_links: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_onboarding_links")
        .fetch_one(&env.pool)
        .await
        .expect("count");
    assert!(live_links > LINKS as i64, "readers still have the read models");
    let resumed = run_cli(&env, &["replay"]);
    assert!(resumed.contains("resumed a replay after"), "{resumed}");
    wait_for_projection(&env, &bus).await;
    let compared = run_cli(&env, &["replay", "--compare"]);
    assert!(!compared.contains("differ"), "{compared}");
}
