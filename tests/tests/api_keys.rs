//! API keys with a lifecycle: an organization issues, lists and revokes its keys; the operator can
//! issue one for an organization that lost its keys; a revoked key is refused by every api
//! process within a second.

use gangway_domain::organization::OrganizationEvent;
use gangway_domain::StreamEvent;
use gangway_e2e::{api_config, wait_until, TestApi, ADMIN_TOKEN};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn status_with(api: &TestApi, key: &str) -> u16 {
    api.call(Method::GET, "/v1/onboarding-links", key, None).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_issued_listed_and_revoked_and_the_history_keeps_them() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, first) = api.create_org("Keys Co").await;
    let (_, other_org_key) = api.create_org("Someone Else").await;

    let (status, created) = api
        .call(
            Method::POST,
            "/v1/api-keys",
            &first,
            Some(json!({ "name": "ci" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let second = created["data"]["apiKey"]
        .as_str()
        .expect("the key, once")
        .to_owned();
    let second_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["name"], "ci");
    assert_eq!(status_with(&api, &second).await, 200);

    let (status, listed) = api.call(Method::GET, "/v1/api-keys", &first, None).await;
    assert_eq!(status, 200, "{listed}");
    let keys = listed["data"].as_array().unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "ci"]);
    assert!(keys
        .iter()
        .all(|k| k.get("apiKey").is_none() && k["prefix"].is_string()));
    assert!(!listed.to_string().contains(&second), "the key is never listed");
    assert!(keys[1]["lastUsedAt"].is_string(), "used once: {}", keys[1]);

    // Another organization cannot revoke it (or tell it exists).
    let path = format!("/v1/api-keys/{second_id}");
    let (status, _) = api.call(Method::DELETE, &path, &other_org_key, None).await;
    assert_eq!(status, 404);
    let (status, _) = api.call(Method::DELETE, &path, &first, None).await;
    assert_eq!(status, 204);
    assert_eq!(status_with(&api, &second).await, 401, "refused at once");
    assert_eq!(status_with(&api, &first).await, 200, "the other key still works");
    let (status, _) = api.call(Method::DELETE, &path, &first, None).await;
    assert_eq!(status, 404, "revoked once");
    let (_, listed) = api.call(Method::GET, "/v1/api-keys", &first, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // The operator issues a key for an organization that lost its keys.
    let admin_path = format!("/admin/organizations/{org}/api-keys");
    let (status, issued) = api
        .call(
            Method::POST,
            &admin_path,
            ADMIN_TOKEN,
            Some(json!({ "name": "recovery" })),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(
        status_with(&api, issued["data"]["apiKey"].as_str().unwrap()).await,
        200
    );
    let (status, _) = api
        .call(Method::POST, &admin_path, &first, Some(json!({ "name": "x" })))
        .await;
    assert_eq!(status, 401, "admin only");
    let unknown = format!("/admin/organizations/{}/api-keys", uuid::Uuid::now_v7());
    let (status, _) = api
        .call(Method::POST, &unknown, ADMIN_TOKEN, Some(json!({ "name": "x" })))
        .await;
    assert_eq!(status, 404);
    let (status, refused) = api
        .call(Method::POST, "/v1/api-keys", &first, Some(json!({})))
        .await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (422, &json!("name")),
        "{refused}"
    );

    // Issuing and revoking are on the organization's stream.
    let events = api
        .state
        .app
        .store
        .read_stream(org.parse().unwrap())
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "organization.created",
            "organization.api_key_issued",
            "organization.api_key_issued",
            "organization.api_key_revoked",
            "organization.api_key_issued",
        ]
    );
    assert!(events.iter().all(|e| e.decode::<OrganizationEvent>().is_ok()));
    assert_eq!(OrganizationEvent::STREAM_TYPE, events[0].stream_type);
    assert!(!Value::Array(events.iter().map(|e| e.payload.clone()).collect())
        .to_string()
        .contains(&second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_another_api_process_within_a_second() {
    let env = TestEnv::new().await;
    let first = TestApi::spawn(&env).await;
    let mut config = api_config(&env);
    config.relay_enabled = false;
    let second = TestApi::spawn_with(config).await;
    let (_, key) = first.create_org("Two Replicas Co").await;
    let (_, created) = first
        .call(
            Method::POST,
            "/v1/api-keys",
            &key,
            Some(json!({ "name": "doomed" })),
        )
        .await;
    let doomed = created["data"]["apiKey"].as_str().unwrap().to_owned();
    // The second process has verified (and so cached) the key.
    assert_eq!(status_with(&second, &doomed).await, 200);
    assert_eq!(status_with(&second, &doomed).await, 200);

    let path = format!("/v1/api-keys/{}", created["data"]["id"].as_str().unwrap());
    let revoked_at = Instant::now();
    let (status, _) = first.call(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 204);
    wait_until(
        "the second process refuses the key",
        Duration::from_secs(5),
        || async { status_with(&second, &doomed).await == 401 },
    )
    .await;
    let took = revoked_at.elapsed();
    eprintln!("the second process refused the revoked key after {took:?}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
}
