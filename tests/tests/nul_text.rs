//! Text holding U+0000 (which Postgres cannot store) never reaches it: API input is refused with
//! 422 naming the field, a browser callback gets the error page, and a Meta notification is
//! stored with the character replaced, the rest of it applied.

use gangway_e2e::dispatch::{dispatcher_config, spawn_dispatcher, Receiver};
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE};
use gangway_e2e::{api_config, wait_until, TestApi, ADMIN_TOKEN};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const NUL: &str = "a\u{0}b";

async fn refused(api: &TestApi, key: &str, method: Method, path: &str, body: Option<Value>, field: &str) {
    let (status, answer) = api.call(method.clone(), path, key, body.clone()).await;
    assert_eq!(status, 422, "{method} {path} {body:?}: {answer}");
    assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
    assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_nul_is_refused_naming_the_field_and_nothing_is_kept() {
    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.webhook_allow_private = true;
    let api = TestApi::spawn_with(config).await;
    let (_, key) = api.create_org("Careful Co").await;
    let deep = json!({ "a": { "b": { "c": NUL } } });

    let links = [
        (json!({ "name": NUL }), "name"),
        (json!({ "externalId": NUL }), "externalId"),
        (
            json!({ "redirectUrl": format!("https://app.example.com/{NUL}") }),
            "redirectUrl",
        ),
        (json!({ "theme": { "companyName": NUL } }), "theme.companyName"),
        (json!({ "language": NUL }), "language"),
        (
            json!({ "allowedConnectionTypes": ["dedicated", NUL] }),
            "allowedConnectionTypes[1]",
        ),
        (json!({ "metadata": deep }), "metadata.a.b.c"),
        (
            json!({ "webhookUrl": "http://127.0.0.1:9/in", "webhookEvents": ["onboarding_link.expired"],
                    "webhookSecret": format!("0123456789abcdef{NUL}") }),
            "webhookSecret",
        ),
    ];
    for (body, field) in links {
        refused(
            &api,
            &key,
            Method::POST,
            "/v1/onboarding-links",
            Some(body),
            field,
        )
        .await;
    }
    let customers = [
        (json!({ "name": NUL }), "name"),
        (json!({ "name": "Acme", "externalId": NUL }), "externalId"),
        (json!({ "name": "Acme", "metadata": deep }), "metadata.a.b.c"),
    ];
    for (body, field) in customers {
        refused(&api, &key, Method::POST, "/v1/customers", Some(body), field).await;
    }
    let endpoint = json!({ "url": "http://127.0.0.1:9/in", "events": ["onboarding_link.expired"] });
    let with = |field: &str, value: Value| {
        let mut body = endpoint.clone();
        body[field] = value;
        body
    };
    refused(
        &api,
        &key,
        Method::POST,
        "/v1/webhooks",
        Some(with("description", json!(NUL))),
        "description",
    )
    .await;
    refused(
        &api,
        &key,
        Method::POST,
        "/v1/webhooks",
        Some(with("events", json!([NUL]))),
        "events[0]",
    )
    .await;
    let (status, created) = api.call(Method::POST, "/v1/webhooks", &key, Some(endpoint)).await;
    assert_eq!(status, 201, "{created}");
    let patch = format!("/v1/webhooks/{}", created["data"]["id"].as_str().unwrap());
    refused(
        &api,
        &key,
        Method::PATCH,
        &patch,
        Some(json!({ "description": NUL })),
        "description",
    )
    .await;
    refused(
        &api,
        &key,
        Method::GET,
        "/v1/onboarding-links?externalId=%00",
        None,
        "externalId",
    )
    .await;
    refused(
        &api,
        ADMIN_TOKEN,
        Method::POST,
        "/admin/organizations",
        Some(json!({ "name": NUL })),
        "name",
    )
    .await;

    // Nothing of the refused requests was kept; what was accepted still is.
    let (_, listed) = api.call(Method::GET, "/v1/onboarding-links", &key, None).await;
    assert_eq!(listed["pagination"]["total"], 0, "{listed}");
    let (status, found) = api
        .call(Method::GET, "/v1/customers?externalId=Acme", &key, None)
        .await;
    assert_eq!((status, &found["data"]), (200, &json!([])), "{found}");
    let (status, kept) = api.call(Method::GET, &patch, &key, None).await;
    assert_eq!(
        (status, &kept["data"]["description"]),
        (200, &Value::Null),
        "{kept}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_nul_gets_the_error_page() {
    let world = SignupWorld::new().await;
    let link = world.link(json!({ "externalId": "cus_nul" })).await;
    let state = world.state(&link).await;
    let landing = world
        .callback(&link, &[("state", &state), ("event", "FINISH"), ("code", NUL)])
        .await;
    assert_eq!(landing.status, 400, "{}", landing.body);
    assert!(
        landing.body.contains("<html"),
        "a page for the person: {}",
        landing.body
    );
    // The link is untouched and can still be completed.
    let done = world.finish(&link).await;
    assert_eq!(done.params["status"], "success", "{:?}", done.params);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meta_notification_with_nul_is_stored_with_it_replaced_and_the_rest_applied() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let body = json!({ "url": receiver.url("/messages"), "events": ["message.received"] });
    let (status, created) = world
        .api
        .call(Method::POST, "/v1/webhooks", &world.key, Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let link = world.link(json!({ "externalId": "cus_nul_messages" })).await;
    world.finish(&link).await;

    let (_, first) = send(
        &world,
        json!({ "kind": "message", "phone_number_id": COFFEE_PHONE, "text": "hello" }),
    )
    .await;
    assert_eq!(first["status"], 200, "{first}");
    // One notification, two changes: a message whose text holds U+0000, then another one.
    let mut notification = first["notification"].clone();
    let template = notification["entry"][0]["changes"][0].clone();
    let mut hostile = template.clone();
    hostile["value"]["messages"][0]["id"] = json!("wamid.WITH_NUL");
    hostile["value"]["messages"][0]["text"]["body"] = json!("before\u{0}after");
    let mut after = template;
    after["value"]["messages"][0]["id"] = json!("wamid.AFTER_NUL");
    after["value"]["messages"][0]["text"]["body"] = json!("still here");
    notification["entry"][0]["changes"] = json!([hostile, after]);
    let (_, answer) = send(&world, json!({ "kind": "raw", "notification": notification })).await;
    assert_eq!(answer["status"], 200, "Meta is told it arrived: {answer}");

    wait_until("the three messages relayed", Duration::from_secs(20), || async {
        receiver.received_at("/messages").len() >= 3
    })
    .await;
    let texts: Vec<String> = receiver
        .received_at("/messages")
        .iter()
        .map(|r| {
            r.json()["data"]["message"]["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(texts.contains(&"before\u{FFFD}after".to_owned()), "{texts:?}");
    assert!(texts.contains(&"still here".to_owned()), "{texts:?}");
}

/// Has the sandbox send one of Meta's webhooks to the api; returns its answer.
async fn send(world: &SignupWorld, mut request: Value) -> (u16, Value) {
    request["callback_url"] = json!(world.api.url("/meta/webhooks"));
    world.sandbox.post("/sandbox/webhooks", request).await
}
