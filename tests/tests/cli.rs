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

#[test]
fn no_process_prints_a_secret_setting_in_its_help() {
    let secrets = [
        ("GANGWAY_ADMIN_TOKEN", "admin-secret-4f1c"),
        ("GANGWAY_ENCRYPTION_KEYS", "k9:c2VjcmV0LWtleS1tYXRlcmlhbA"),
        ("GANGWAY_META_APP_SECRET", "app-secret-77d2"),
        ("GANGWAY_META_WEBHOOK_VERIFY_TOKEN", "verify-secret-0b9e"),
        ("GANGWAY_METRICS_TOKEN", "metrics-secret-5a31"),
    ];
    for binary in [
        "gangway-api",
        "gangway-dispatcher",
        "gangway-projector",
        "gangway",
    ] {
        let output = std::process::Command::new(gangway_testkit::binary(binary))
            .arg("--help")
            .envs(secrets)
            .output()
            .expect("running --help");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Usage"), "{binary} --help: {help}");
        for (name, value) in secrets {
            assert!(!help.contains(value), "{binary} --help shows {name}");
        }
    }
}
