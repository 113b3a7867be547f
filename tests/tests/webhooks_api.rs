//! The webhook endpoints API over real HTTP: secrets kept out of every body and event, validation,
//! tenant isolation, changes, rotation, deletion, listing and the event type catalog.

use gangway_e2e::{
    api_config, production_api_config, spawn_projector, wait_for_projection, wait_until, TestApi,
};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const GIVEN_SECRET: &str = "a-given-signing-secret-0123456789";

/// The api as tests run it: loopback receivers allowed.
async fn spawn_api(env: &TestEnv) -> TestApi {
    let mut config = api_config(env);
    config.webhook_allow_private = true;
    TestApi::spawn_with(config).await
}

fn endpoint_request() -> Value {
    json!({
        "url": "https://hooks.example.com/gangway",
        "events": ["phone_number.connected", "message.received"],
        "description": "Production receiver",
    })
}

async fn create(api: &TestApi, key: &str, body: Value) -> (u16, Value) {
    api.call(Method::POST, "/v1/webhooks", key, Some(body)).await
}

async fn create_ok(api: &TestApi, key: &str, body: Value) -> String {
    let (status, created) = create(api, key, body).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["id"].as_str().unwrap().to_owned()
}

async fn get(api: &TestApi, key: &str, path: &str) -> (u16, Value) {
    api.call(Method::GET, path, key, None).await
}

async fn post(api: &TestApi, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    api.call(Method::POST, path, key, body).await
}

/// How many stored events contain `text` anywhere in their payload.
async fn events_containing(env: &TestEnv, text: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'")
        .bind(text)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_endpoint_with_a_generated_secret_reveals_it_only_on_the_secret_route() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (org, key) = api.create_org("Generated").await;

    let (status, created) = create(&api, &key, endpoint_request()).await;
    assert_eq!(status, 201, "{created}");
    let endpoint = &created["data"];
    let id = endpoint["id"].as_str().unwrap();
    assert_eq!(endpoint["url"], "https://hooks.example.com/gangway");
    assert_eq!(
        endpoint["events"],
        json!(["phone_number.connected", "message.received"])
    );
    assert_eq!(endpoint["description"], "Production receiver");
    assert_eq!(endpoint["status"], "enabled");
    assert!(endpoint["wabaId"].is_null() && endpoint["disabledReason"].is_null());
    assert!(endpoint.get("secret").is_none());

    let (status, secret) = get(&api, &key, &format!("/v1/webhooks/{id}/secret")).await;
    assert_eq!(status, 200);
    let secret = secret["data"]["secret"].as_str().unwrap().to_owned();
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    assert_eq!(encoded.len(), 44, "base64 of 32 bytes");

    let (status, fetched) = get(&api, &key, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["data"], created["data"], "read back from the stream");

    let (status, trail) = get(&api, &key, &format!("/v1/webhooks/{id}/events")).await;
    assert_eq!(status, 200);
    assert_eq!(trail["data"][0]["type"], "webhook_endpoint.created");
    assert!(trail["data"][0]["data"]["secretRef"].is_string());
    for body in [&created, &fetched, &trail] {
        assert!(
            !body.to_string().contains(&secret),
            "the secret is never in {body}"
        );
    }
    assert_eq!(events_containing(&env, encoded).await, 0);
    let organization: String =
        sqlx::query_scalar("SELECT organization_id::text FROM events WHERE stream_id = $1::uuid")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(organization, org);
}

#[tokio::test]
async fn a_given_secret_and_waba_are_kept_and_the_secret_is_never_echoed() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Given").await;
    let waba = uuid::Uuid::now_v7().to_string();
    let mut body = endpoint_request();
    body["secret"] = json!(GIVEN_SECRET);
    body["wabaId"] = json!(waba);
    body["events"] = json!(["message.sent", "message.sent", "onboarding_link.failed"]);

    let (status, created) = create(&api, &key, body).await;
    assert_eq!(status, 201, "{created}");
    assert!(!created.to_string().contains(GIVEN_SECRET));
    assert_eq!(created["data"]["wabaId"], waba);
    assert_eq!(
        created["data"]["events"],
        json!(["message.sent", "onboarding_link.failed"]),
        "repeated types are listed once"
    );
    let id = created["data"]["id"].as_str().unwrap();
    let (_, secret) = get(&api, &key, &format!("/v1/webhooks/{id}/secret")).await;
    assert_eq!(secret["data"], json!({ "secret": GIVEN_SECRET }));
    assert_eq!(events_containing(&env, GIVEN_SECRET).await, 0);
}

#[tokio::test]
async fn every_validation_rule_answers_422_naming_the_field() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Validation").await;
    let with = |field: &str, value: Value| {
        let mut body = endpoint_request();
        body[field] = value;
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("url", json!("not a url")), "url"),
        (with("url", json!("ftp://hooks.example.com")), "url"),
        (with("url", json!("https://user:pw@hooks.example.com")), "url"),
        (with("url", json!(42)), "url"),
        (json!({"events": ["message.sent"]}), "url"),
        (with("events", json!([])), "events"),
        (
            with("events", json!(["message.sent", "phone_number.exploded"])),
            "events[1]",
        ),
        (with("events", json!("message.sent")), "events"),
        (json!({"url": "https://hooks.example.com"}), "events"),
        (with("secret", json!("too-short")), "secret"),
        (with("secret", json!("s".repeat(257))), "secret"),
        (with("wabaId", json!("not-a-uuid")), "wabaId"),
        (with("description", json!("   ")), "description"),
        (with("description", json!("d".repeat(501))), "description"),
    ];
    for (body, field) in cases {
        let (status, error) = create(&api, &key, body.clone()).await;
        assert_eq!(status, 422, "{body} → {error}");
        assert_eq!(error["error"]["code"], "validation_failed", "{body}");
        assert_eq!(error["error"]["field"], field, "{body} → {error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let id = create_ok(&api, &key, endpoint_request()).await;
    let patches: Vec<(Value, &str)> = vec![
        (json!({"url": "nope"}), "url"),
        (json!({"events": []}), "events"),
        (json!({"events": ["message.exploded"]}), "events[0]"),
        (json!({"description": ""}), "description"),
    ];
    for (body, field) in patches {
        let (status, error) = api
            .call(
                Method::PATCH,
                &format!("/v1/webhooks/{id}"),
                &key,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    let rotations: Vec<(Value, &str)> = vec![
        (json!({"gracePeriodSeconds": -1}), "gracePeriodSeconds"),
        (json!({"gracePeriodSeconds": 604_801}), "gracePeriodSeconds"),
        (json!({"gracePeriodSeconds": "1h"}), "gracePeriodSeconds"),
        (json!({"secret": "short"}), "secret"),
    ];
    for (body, field) in rotations {
        let path = format!("/v1/webhooks/{id}/rotate-secret");
        let (status, error) = post(&api, &key, &path, Some(body.clone())).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    let (status, error) = post(
        &api,
        &key,
        &format!("/v1/webhooks/{id}/disable"),
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("reason")));
    let (status, error) = get(&api, &key, "/v1/webhooks?status=deleted").await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("status")));

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'webhook_endpoint'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the one valid creation left an event");
}

#[tokio::test]
async fn private_and_loopback_hosts_are_refused_unless_allowed() {
    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.webhook_allow_private = false;
    let strict = TestApi::spawn_with(config).await;
    let (_, key) = strict.create_org("Strict").await;
    let private = [
        "http://localhost:9000/in",
        "https://hooks.localhost/in",
        "https://127.0.0.1/in",
        "https://10.0.0.8/in",
        "https://192.168.1.20/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[fe80::1]/in",
    ];
    for url in private {
        let (status, error) = create(&strict, &key, json!({"url": url, "events": ["message.sent"]})).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (422, Some("url")),
            "{url}"
        );
    }
    let (status, _) = create(
        &strict,
        &key,
        json!({"url": "http://hooks.example.com/in", "events": ["message.sent"]}),
    )
    .await;
    assert_eq!(status, 201, "http is allowed in development");
    let id = create_ok(&strict, &key, endpoint_request()).await;
    let (status, error) = strict
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            &key,
            Some(json!({"url": "https://127.0.0.1/in"})),
        )
        .await;
    assert_eq!((status, error["error"]["field"].as_str()), (422, Some("url")));
    // A link's webhookUrl becomes an endpoint when its number connects: the same rules apply
    // when the link is created, not only at delivery.
    for url in ["https://10.0.0.8/in", "http://localhost:9000/in"] {
        let link = json!({"webhookUrl": url, "webhookEvents": ["phone_number.connected"]});
        let (status, error) = strict.create_link(&key, link).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (422, Some("webhookUrl")),
            "{url}"
        );
    }
    let link =
        json!({"webhookUrl": "https://hooks.example.com/in", "webhookEvents": ["phone_number.connected"]});
    assert_eq!(strict.create_link(&key, link).await.0, 201);
    strict.stop().await;

    let allowing = spawn_api(&env).await;
    for url in ["http://127.0.0.1:9000/in", "http://localhost:9000/in"] {
        let (status, body) = create(&allowing, &key, json!({"url": url, "events": ["message.sent"]})).await;
        assert_eq!(status, 201, "{url}: {body}");
    }
}

#[tokio::test]
async fn http_urls_are_refused_in_production_mode() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn_with(production_api_config(&env)).await;
    let (_, key) = api.create_org("Production").await;
    let http = json!({"url": "http://hooks.example.com/in", "events": ["message.sent"]});
    let (status, error) = create(&api, &key, http).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("url")),
        "{error}"
    );
    assert!(error["error"]["message"].as_str().unwrap().contains("https"));
    create_ok(&api, &key, endpoint_request()).await;
}

#[tokio::test]
async fn another_organizations_endpoint_is_not_found_anywhere() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let api = spawn_api(&env).await;
    let (_, owner) = api.create_org("Owner").await;
    let (_, other) = api.create_org("Other").await;
    let id = create_ok(&api, &owner, endpoint_request()).await;

    let base = format!("/v1/webhooks/{id}");
    let attempts = [
        (Method::GET, base.clone(), None),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"description": "mine now"})),
        ),
        (Method::DELETE, base.clone(), None),
        (Method::GET, format!("{base}/secret"), None),
        (Method::POST, format!("{base}/rotate-secret"), Some(json!({}))),
        (Method::POST, format!("{base}/disable"), None),
        (Method::POST, format!("{base}/enable"), None),
        (Method::GET, format!("{base}/events"), None),
        (Method::GET, "/v1/webhooks/not-a-uuid".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let (status, error) = api.call(method.clone(), &path, &other, body).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(error["error"]["code"], "not_found");
    }

    wait_for_projection(&env, &bus).await;
    let (_, list) = get(&api, &other, "/v1/webhooks").await;
    assert_eq!(list["pagination"]["total"], 0);
    let (_, fetched) = get(&api, &owner, &base).await;
    assert_eq!(fetched["data"]["description"], "Production receiver");
    assert_eq!(fetched["data"]["status"], "enabled");
    let (_, trail) = get(&api, &owner, &format!("{base}/events")).await;
    assert_eq!(trail["data"].as_array().unwrap().len(), 1, "nothing was recorded");
    projector.cancel();
}

#[tokio::test]
async fn a_patch_changes_what_it_names_and_null_clears_the_description() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Patch").await;
    let id = create_ok(&api, &key, endpoint_request()).await;
    let path = format!("/v1/webhooks/{id}");

    let (status, patched) = api
        .call(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"url": "https://hooks.example.com/v2", "events": ["onboarding_link.expired"]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["data"]["url"], "https://hooks.example.com/v2");
    assert_eq!(patched["data"]["events"], json!(["onboarding_link.expired"]));
    assert_eq!(patched["data"]["description"], "Production receiver", "untouched");

    let (_, cleared) = api
        .call(Method::PATCH, &path, &key, Some(json!({"description": null})))
        .await;
    assert!(cleared["data"]["description"].is_null());
    let (_, unchanged) = api.call(Method::PATCH, &path, &key, Some(json!({}))).await;
    assert_eq!(
        unchanged["data"], cleared["data"],
        "an empty patch changes nothing"
    );

    let (_, fetched) = get(&api, &key, &path).await;
    assert_eq!(fetched["data"], cleared["data"]);
    let (_, trail) = get(&api, &key, &format!("{path}/events")).await;
    let types: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "webhook_endpoint.created",
            "webhook_endpoint.updated",
            "webhook_endpoint.updated"
        ]
    );
    assert_eq!(trail["data"][2]["data"]["description"], Value::Null);
}

#[tokio::test]
async fn an_endpoint_is_disabled_with_its_reason_and_enabled_again() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Toggle").await;
    let id = create_ok(&api, &key, endpoint_request()).await;
    let path = format!("/v1/webhooks/{id}");

    let (status, disabled) = post(
        &api,
        &key,
        &format!("{path}/disable"),
        Some(json!({"reason": "receiver migration"})),
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["data"]["status"], "disabled");
    assert_eq!(disabled["data"]["disabledReason"], "receiver migration");
    let (status, again) = post(&api, &key, &format!("{path}/disable"), None).await;
    assert_eq!(status, 200, "disabling needs no body: {again}");
    assert_eq!(
        again["data"]["disabledReason"], "receiver migration",
        "already disabled"
    );

    let (status, enabled) = post(&api, &key, &format!("{path}/enable"), None).await;
    assert_eq!(status, 200);
    assert_eq!(enabled["data"]["status"], "enabled");
    assert!(enabled["data"]["disabledReason"].is_null());
    let (_, trail) = get(&api, &key, &format!("{path}/events")).await;
    let types: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "webhook_endpoint.created",
            "webhook_endpoint.disabled",
            "webhook_endpoint.enabled"
        ]
    );
}

#[tokio::test]
async fn a_rotated_secret_is_readable_as_the_previous_one_until_its_grace_ends() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Rotate").await;
    let mut body = endpoint_request();
    body["secret"] = json!(GIVEN_SECRET);
    let id = create_ok(&api, &key, body).await;
    let rotate = format!("/v1/webhooks/{id}/rotate-secret");
    let secret_path = format!("/v1/webhooks/{id}/secret");

    // No body: a generated secret, the old one kept for the default 24 hours.
    let (status, rotated) = post(&api, &key, &rotate, None).await;
    assert_eq!(status, 200, "{rotated}");
    let generated = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("whsec_"));
    assert_eq!(rotated["data"]["previousSecret"], GIVEN_SECRET);
    let until: chrono::DateTime<chrono::Utc> = rotated["data"]["previousSecretExpiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = chrono::Utc::now() + chrono::Duration::hours(24);
    assert!((until - expected).num_seconds().abs() < 60, "{until}");
    let (_, read) = get(&api, &key, &secret_path).await;
    assert_eq!(read["data"], rotated["data"]);

    // A short grace: the previous secret disappears once it ends.
    let (_, rotated) = post(
        &api,
        &key,
        &rotate,
        Some(json!({"secret": "the-second-given-secret", "gracePeriodSeconds": 1})),
    )
    .await;
    assert_eq!(rotated["data"]["secret"], "the-second-given-secret");
    assert_eq!(rotated["data"]["previousSecret"], generated.as_str());
    wait_until("the grace period to end", Duration::from_secs(10), || async {
        let (_, read) = get(&api, &key, &secret_path).await;
        read["data"] == json!({ "secret": "the-second-given-secret" })
    })
    .await;
    let (_, endpoint) = get(&api, &key, &format!("/v1/webhooks/{id}")).await;
    assert!(endpoint["data"]["previousSecretExpiresAt"].is_null());

    // No grace at all: the previous secret is dropped at once.
    let (_, rotated) = post(
        &api,
        &key,
        &rotate,
        Some(json!({"secret": "the-third-given-secret", "gracePeriodSeconds": 0})),
    )
    .await;
    assert_eq!(rotated["data"], json!({ "secret": "the-third-given-secret" }));

    for secret in [
        GIVEN_SECRET,
        generated.as_str(),
        "the-second-given-secret",
        "the-third-given-secret",
    ] {
        assert_eq!(
            events_containing(&env, secret).await,
            0,
            "{secret} is not in any event"
        );
    }
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone_but_its_audit_trail_remains() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Delete").await;
    let id = create_ok(&api, &key, endpoint_request()).await;
    let path = format!("/v1/webhooks/{id}");

    let (status, body) = api.call(Method::DELETE, &path, &key, None).await;
    assert_eq!((status, body), (204, Value::Null));
    for (method, path) in [
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::GET, format!("{path}/secret")),
        (Method::POST, format!("{path}/enable")),
    ] {
        let (status, _) = api.call(method.clone(), &path, &key, None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, trail) = get(&api, &key, &format!("{path}/events")).await;
    assert_eq!(status, 200);
    assert_eq!(trail["data"][1]["type"], "webhook_endpoint.deleted");

    wait_for_projection(&env, &bus).await;
    let (_, list) = get(&api, &key, "/v1/webhooks").await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    projector.cancel();
}

#[tokio::test]
async fn endpoints_are_listed_newest_first_with_pagination_and_a_status_filter() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let projector = spawn_projector(&env, bus.clone());
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("List").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = endpoint_request();
        body["url"] = json!(format!("https://hooks.example.com/{i}"));
        body["secret"] = json!(GIVEN_SECRET);
        ids.push(create_ok(&api, &key, body).await);
    }
    post(&api, &key, &format!("/v1/webhooks/{}/disable", ids[1]), None).await;

    wait_for_projection(&env, &bus).await;
    let (status, page) = get(&api, &key, "/v1/webhooks?limit=2&page=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["pagination"], json!({"page": 1, "limit": 2, "total": 5}));
    let listed: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[4].as_str(), ids[3].as_str()]);
    let (_, fetched) = get(&api, &key, &format!("/v1/webhooks/{}", ids[4])).await;
    assert_eq!(
        page["data"][0], fetched["data"],
        "listed and fetched endpoints are identical"
    );
    let (_, last) = get(&api, &key, "/v1/webhooks?limit=2&page=3").await;
    assert_eq!(last["data"][0]["id"], ids[0].as_str());

    let (_, disabled) = get(&api, &key, "/v1/webhooks?status=disabled").await;
    assert_eq!(disabled["pagination"]["total"], 1);
    assert_eq!(disabled["data"][0]["id"], ids[1].as_str());
    let (_, enabled) = get(&api, &key, "/v1/webhooks?status=enabled").await;
    assert_eq!(enabled["pagination"]["total"], 4);

    let (_, everything) = get(&api, &key, "/v1/webhooks?limit=100").await;
    assert!(!everything.to_string().contains(GIVEN_SECRET));
    let documents: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_webhook_endpoints WHERE document::text LIKE '%' || $1 || '%'",
    )
    .bind(GIVEN_SECRET)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(documents, 0, "the read model holds references only");
    projector.cancel();
}

#[tokio::test]
async fn the_event_type_catalog_lists_every_type_with_an_example_body() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (org, key) = api.create_org("Catalog").await;
    let (status, catalog) = get(&api, &key, "/v1/webhook-event-types").await;
    assert_eq!(status, 200);
    let entries = catalog["data"].as_array().unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "phone_number.connected",
            "whatsapp.phone_number.created",
            "phone_number.disconnected",
            "phone_number.reconnected",
            "phone_number.health_changed",
            "onboarding_link.completed",
            "onboarding_link.failed",
            "onboarding_link.expired",
            "message.received",
            "message.sent",
        ]
    );
    for entry in entries {
        let example = &entry["example"];
        assert!(entry["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(example["event"], entry["event"]);
        assert_eq!(example["organizationId"], org.as_str());
        assert!(example["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()));
        assert!(example["data"].is_object(), "{entry}");
    }
    let connected = &entries[0]["example"]["data"];
    for field in [
        "onboardingLinkId",
        "externalId",
        "phoneNumberId",
        "phoneNumber",
        "wabaId",
        "metaWabaId",
        "isPhoneRegistered",
    ] {
        assert!(!connected[field].is_null(), "{field}");
    }
    let created = &entries[1]["example"]["data"];
    assert!(created["phone_number_id"].is_string());
    assert!(created["project"]["id"].is_string() && created["customer"]["id"].is_string());

    let (status, _) = get(&api, "sk_not_a_key", "/v1/webhook-event-types").await;
    assert_eq!(status, 401);

    let doc = api.public_json("/openapi.json").await;
    for path in [
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/secret",
        "/v1/webhooks/{id}/rotate-secret",
        "/v1/webhooks/{id}/disable",
        "/v1/webhooks/{id}/enable",
        "/v1/webhooks/{id}/events",
        "/v1/webhook-event-types",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(doc["paths"]["/v1/webhooks"]["post"]["tags"], json!(["webhooks"]));
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["EndpointResponse"]["properties"]["secret"].is_null());
    assert!(schemas["SecretResponse"]["properties"]["previousSecret"].is_object());
    let create = &schemas["CreateEndpointRequest"];
    assert!(create["properties"]["wabaId"].is_object());
    assert_eq!(create["required"], json!(["url", "events"]));
}

/// The document gives these actions an optional body: no body, an empty one and `null` all mean
/// "the defaults".
#[tokio::test]
async fn actions_with_an_optional_body_take_none_empty_or_null() {
    let env = TestEnv::new().await;
    let api = spawn_api(&env).await;
    let (_, key) = api.create_org("Optional bodies").await;
    let id = create_ok(&api, &key, endpoint_request()).await;
    for body in [None, Some(json!({})), Some(Value::Null)] {
        for action in ["rotate-secret", "disable"] {
            let (status, answer) =
                post(&api, &key, &format!("/v1/webhooks/{id}/{action}"), body.clone()).await;
            assert_eq!(status, 200, "{action} with {body:?}: {answer}");
        }
        let (status, answer) = post(&api, &key, "/v1/redirect-secret/rotate", body.clone()).await;
        assert_eq!(status, 200, "redirect secret rotation with {body:?}: {answer}");
    }
}
