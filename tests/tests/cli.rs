//! The `gangway` CLI against a real database and stream.

use gangway_e2e::{run_cli, stream_message_count, wait_until, TestApi};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn org_create_prints_an_api_key_that_works() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let output = run_cli(&env, &["org", "create", "--name", "From the CLI"]);
    let created: Value = serde_json::from_str(output.trim()).unwrap();
    let key = created["apiKey"].as_str().unwrap();
    let (status, body) = api.create_link(key, json!({})).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn tail_prints_a_links_events_from_jetstream() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Tailed").await;
    let (_, link) = api.create_link(&key, json!({"externalId": "t"})).await;
    wait_until("the events on JetStream", Duration::from_secs(10), || async {
        stream_message_count(&bus).await >= 5
    })
    .await;
    let output = run_cli(
        &env,
        &["tail", "--all", "--type", "onboarding_link.", "--limit", "1"],
    );
    let event: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(event["eventType"], "onboarding_link.created");
    assert_eq!(event["streamId"], link["data"]["id"]);
}
