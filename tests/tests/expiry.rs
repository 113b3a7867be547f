//! Link expiry: the sweep records `onboarding_link.expired` once, for pending links only.

use chrono::{Duration, Utc};
use gangway_app::expiry::expire_due_links;
use gangway_e2e::{spawn_projector, wait_for_projection, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_sweep_expires_pending_links_past_their_expiry_once() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let mut config = gangway_e2e::api_config(&env);
    config.expiry_sweep_seconds = 0; // this test drives the sweep itself
    let api = TestApi::spawn_with(config).await;
    let (_, key) = api.create_org("Expiring").await;
    let in_two_days = (Utc::now() + Duration::days(2)).to_rfc3339();
    let (_, soon) = api
        .create_link(&key, json!({"externalId": "a", "expiresAt": in_two_days}))
        .await;
    let (_, later) = api.create_link(&key, json!({"externalId": "b"})).await;
    let (_, revoked) = api
        .create_link(&key, json!({"externalId": "c", "expiresAt": in_two_days}))
        .await;
    api.create_link(
        &key,
        json!({"externalId": "c", "expiresAt": (Utc::now() + Duration::days(9)).to_rfc3339()}),
    )
    .await;
    wait_for_projection(&env, &bus).await;

    let three_days_on = Utc::now() + Duration::days(3);
    assert_eq!(
        expire_due_links(&api.state.app, Utc::now(), 100).await.unwrap(),
        0,
        "nothing is due yet"
    );
    assert_eq!(
        expire_due_links(&api.state.app, three_days_on, 100)
            .await
            .unwrap(),
        1,
        "only the pending one"
    );
    wait_for_projection(&env, &bus).await;
    assert_eq!(
        expire_due_links(&api.state.app, three_days_on, 100)
            .await
            .unwrap(),
        0,
        "once"
    );

    let id = soon["data"]["id"].as_str().unwrap();
    let (_, link) = api.get_link(&key, id).await;
    assert_eq!(
        link["data"]["status"], "expired",
        "recorded, not just derived from the clock"
    );
    let (_, trail) = api.link_events(&key, id).await;
    assert_eq!(trail["data"][1]["type"], "onboarding_link.expired");
    assert_eq!(
        trail["data"][1]["occurredAt"],
        soon["data"]["expiresAt"].as_str().unwrap().replace("+00:00", "Z")
    );
    let (_, listed) = api
        .call(Method::GET, "/v1/onboarding-links?status=expired", &key, None)
        .await;
    assert_eq!(listed["data"][0]["id"], id);

    for other in [&later, &revoked] {
        let id = other["data"]["id"].as_str().unwrap();
        let (_, trail) = api.link_events(&key, id).await;
        assert!(trail["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] != "onboarding_link.expired"));
    }
    projector.cancel();
}
