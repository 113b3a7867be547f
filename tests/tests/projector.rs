//! The projector: crash recovery, idempotency, out-of-order delivery, and replay equivalence.

use gangway_e2e::{run_cli, wait_for_projection, ChildProcess, TestApi};
use gangway_event_store::EventStore;
use gangway_projections::{snapshot, Applied};
use gangway_projector::Projector;
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

/// Drives a mix of link traffic: new customers, superseding links, deletions.
async fn traffic(api: &TestApi, key: &str, rounds: usize) {
    for i in 0..rounds {
        let (status, body) = api
            .create_link(
                key,
                json!({"externalId": format!("c{}", i % 25), "name": format!("Customer {i}")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        if i % 7 == 0 {
            let id = body["data"]["id"].as_str().unwrap();
            let (status, _) = api
                .call(Method::DELETE, &format!("/v1/onboarding-links/{id}"), key, None)
                .await;
            assert_eq!(status, 204);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_and_restarted_ends_equal_to_a_replay_from_scratch() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let api = Arc::new(TestApi::spawn(&env).await);
    let (_, key) = api.create_org("Projected").await;
    let mut projector = ChildProcess::start("gangway-projector", env.process_env());

    let load = tokio::spawn({
        let (api, key) = (api.clone(), key.clone());
        async move { traffic(&api, &key, 400).await }
    });
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        projector.restart(); // SIGKILL mid-stream, then start again
    }
    load.await.unwrap();
    wait_for_projection(&env, &bus).await;
    let live = snapshot(&env.pool).await.unwrap();
    projector.kill();

    let output = run_cli(&env, &["replay"]);
    assert!(output.contains("replayed"), "{output}");
    let replayed = snapshot(&env.pool).await.unwrap();
    let links = live["rm_onboarding_links"].as_array().unwrap();
    assert!(links.len() >= 400, "every link projected");
    assert!(links.iter().any(|l| l["status"] == "revoked") && links.iter().any(|l| l["status"] == "deleted"));
    assert_eq!(
        live, replayed,
        "the live projection equals a replay from the event store"
    );
}

#[tokio::test]
async fn redelivered_and_out_of_order_events_are_applied_once_in_stream_order() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Redelivery").await;
    let (_, first) = api.create_link(&key, json!({"externalId": "x"})).await;
    api.create_link(&key, json!({"externalId": "x"})).await;
    let first_id: uuid::Uuid = first["data"]["id"].as_str().unwrap().parse().unwrap();
    let store = EventStore::new(env.pool.clone());
    let link_events = store.read_stream(first_id).await.unwrap();
    assert_eq!(link_events.len(), 2, "created, then revoked");

    let projector = Projector::new(env.pool.clone(), "test");
    // The revocation arrives first: the projector fetches the missing creation from the store.
    assert_eq!(
        projector.handle(&link_events[1], 2).await.unwrap(),
        Applied::Applied
    );
    let after_gap = snapshot(&env.pool).await.unwrap();
    assert_eq!(after_gap["rm_onboarding_links"][0]["status"], "revoked");
    // Then the creation and the revocation again, as redeliveries: nothing changes.
    assert_eq!(
        projector.handle(&link_events[0], 1).await.unwrap(),
        Applied::AlreadyApplied
    );
    assert_eq!(
        projector.handle(&link_events[1], 2).await.unwrap(),
        Applied::AlreadyApplied
    );
    assert_eq!(snapshot(&env.pool).await.unwrap(), after_gap);
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT stream_sequence FROM projection_checkpoints WHERE name = 'test'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(checkpoint, 2);
}
