//! The webhook bodies in the contract: the OpenAPI document's `webhooks` describe every event
//! type, the catalog's examples match them, and the independent validator every test receiver
//! uses (see `gangway_e2e::contract`) refuses bodies that stray from them.

use gangway_e2e::contract::check_webhook_body;
use gangway_e2e::TestApi;
use gangway_testkit::TestEnv;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_is_described_and_its_example_matches() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Contract Co").await;
    let document = api.public_json("/openapi.json").await;
    assert!(
        document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let (status, catalog) = api
        .call(reqwest::Method::GET, "/v1/webhook-event-types", &key, None)
        .await;
    assert_eq!(status, 200);
    let catalog = catalog["data"].as_array().expect("event types");
    let described = document["webhooks"].as_object().expect("webhooks");
    // The document also describes `webhook.test`, which is sent on request and nothing
    // subscribes to, so the catalog of subscribable types leaves it out.
    assert_eq!(described.len(), catalog.len() + 1);
    let test = &described["webhook.test"]["post"];
    assert!(test["description"]
        .as_str()
        .is_some_and(|d| d.contains("test event")));
    let example = gangway_domain::catalog::webhook_body(
        "webhook.test",
        "2026-12-07T10:00:00.000Z",
        "0193c8a1-0e00-7a1b-9c2d-3e4f5a6b7c04",
        gangway_domain::catalog::example_data(gangway_domain::catalog::EventType::WebhookTest),
    );
    check_webhook_body(&example.to_string()).unwrap_or_else(|problem| panic!("{problem}"));
    for entry in catalog {
        let event = entry["event"].as_str().unwrap();
        let body = &described[event]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["event"]["const"], event);
        check_webhook_body(&entry["example"].to_string()).unwrap_or_else(|problem| panic!("{problem}"));
    }
}

#[test]
fn bodies_that_stray_from_the_contract_are_refused() {
    let good = json!({
        "event": "onboarding_link.expired",
        "timestamp": "2026-12-07T10:00:00.000Z",
        "organizationId": "0193c8a1-0e00-7a1b-9c2d-3e4f5a6b7c04",
        "data": { "onboardingLinkId": "0193c8a2-5b1e-7c3d-9a4f-2e6b8d1c0f01", "externalId": null },
    });
    check_webhook_body(&good.to_string()).unwrap();
    let strays = [
        ("/data/onboardingLinkId", json!("not-a-uuid")),
        ("/data/externalId", json!(42)),
        ("/data/surprise", json!(true)),
        ("/timestamp", json!("yesterday")),
        ("/event", json!("onboarding_link.exploded")),
        ("/organizationId", Value::Null),
    ];
    for (pointer, value) in strays {
        let mut body = good.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        target[field] = value;
        assert!(
            check_webhook_body(&body.to_string()).is_err(),
            "{pointer} accepted: {body}"
        );
    }
    let mut missing = good.clone();
    missing["data"]
        .as_object_mut()
        .unwrap()
        .remove("onboardingLinkId");
    assert!(
        check_webhook_body(&missing.to_string()).is_err(),
        "a missing id accepted"
    );
}
