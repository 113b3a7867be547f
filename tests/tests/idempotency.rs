//! `Idempotency-Key` on the API's POSTs, judged by what clients are answered: a retry gets the
//! first answer and creates nothing, another request under the same key is refused, concurrent
//! requests under one key create one thing, and keys are scoped to the organization.

use gangway_e2e::TestApi;
use gangway_testkit::TestEnv;
use serde_json::{json, Value};

struct Answer {
    status: u16,
    replayed: bool,
    body: Value,
}

async fn post(api: &TestApi, api_key: &str, path: &str, key: &str, body: Value) -> Answer {
    let response = api
        .http
        .post(api.url(path))
        .bearer_auth(api_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("api request");
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let text = response.text().await.expect("body");
    Answer {
        status,
        replayed,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn link_status(api: &TestApi, api_key: &str, id: &str) -> String {
    let (status, link) = api
        .call(
            reqwest::Method::GET,
            &format!("/v1/onboarding-links/{id}"),
            api_key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    link["data"]["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_gets_the_first_answer_and_creates_nothing() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Retry Co").await;
    let body =
        json!({ "externalId": "cus_retry", "name": "Retry", "redirectUrl": "https://app.example.com/done" });

    let first = post(
        &api,
        &key,
        "/v1/onboarding-links",
        "create-cus_retry-1",
        body.clone(),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(!first.replayed);
    let again = post(
        &api,
        &key,
        "/v1/onboarding-links",
        "create-cus_retry-1",
        body.clone(),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert!(again.replayed, "a replay says so");
    assert_eq!(again.body, first.body, "the same answer, byte for byte as JSON");
    // Without the key, a second link for the customer would have revoked the first.
    let id = first.body["data"]["id"].as_str().expect("link id");
    assert_eq!(link_status(&api, &key, id).await, "pending");

    // The same key with another body, or on another path, is refused and creates nothing.
    let changed = json!({ "externalId": "cus_retry", "name": "Someone else" });
    let reused = post(&api, &key, "/v1/onboarding-links", "create-cus_retry-1", changed).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
    let elsewhere = post(
        &api,
        &key,
        "/v1/customers",
        "create-cus_retry-1",
        json!({ "name": "X" }),
    )
    .await;
    assert_eq!(elsewhere.status, 422, "{}", elsewhere.body);
    assert_eq!(link_status(&api, &key, id).await, "pending");

    // Keys belong to the organization: another one's same key is its own.
    let (_, other) = api.create_org("Other Co").await;
    let theirs = post(
        &api,
        &other,
        "/v1/onboarding-links",
        "create-cus_retry-1",
        body.clone(),
    )
    .await;
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    assert!(!theirs.replayed);
    assert_ne!(theirs.body["data"]["id"], first.body["data"]["id"]);

    // After 24 hours the key is free again, swept or not: here its clock is turned back.
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1")
        .bind("create-cus_retry-1")
        .execute(&env.pool)
        .await
        .unwrap();
    let later = post(
        &api,
        &key,
        "/v1/onboarding-links",
        "create-cus_retry-1",
        body.clone(),
    )
    .await;
    assert_eq!(later.status, 201, "{}", later.body);
    assert!(!later.replayed, "an expired key runs the request again");
    assert_ne!(later.body["data"]["id"], first.body["data"]["id"]);

    // A request that failed validation stored nothing: the corrected one runs under a new key.
    let invalid = post(&api, &key, "/v1/customers", "customer-1", json!({ "name": "" })).await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert!(!invalid.replayed);
    let again = post(&api, &key, "/v1/customers", "customer-1", json!({ "name": "" })).await;
    assert_eq!(
        (again.status, again.body["error"]["field"].clone()),
        (422, json!("name"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_under_one_key_create_one_link() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Race Co").await;
    let body = json!({ "externalId": "cus_race", "name": "Race" });
    let answers = futures::future::join_all(
        (0..12).map(|_| post(&api, &key, "/v1/onboarding-links", "race-key", body.clone())),
    )
    .await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.body);
            a.body["data"]["id"].as_str().expect("link id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every answer names the same link: {ids:?}");
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1, "one ran");
    let id = ids.first().unwrap();
    assert_eq!(
        link_status(&api, &key, id).await,
        "pending",
        "no second link revoked it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_creating_post_honours_the_key() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Everything Co").await;
    let cases = [
        ("/v1/customers", json!({ "name": "Acme", "externalId": "cus_1" })),
        (
            "/v1/webhooks",
            json!({ "url": "https://hooks.example.com/in", "events": ["phone_number.connected"] }),
        ),
        ("/v1/api-keys", json!({ "name": "ci" })),
        ("/v1/redirect-secret/rotate", json!({})),
    ];
    for (path, body) in cases {
        let first = post(&api, &key, path, &format!("key-{path}"), body.clone()).await;
        assert!(first.status < 300, "{path}: {}", first.body);
        let again = post(&api, &key, path, &format!("key-{path}"), body.clone()).await;
        assert_eq!(again.status, first.status, "{path}");
        assert!(again.replayed, "{path}");
        assert_eq!(again.body, first.body, "{path}");
        let fresh = post(&api, &key, path, &format!("other-key-{path}"), body).await;
        // A new key runs the command again: a second customer with that external id conflicts,
        // the others create a second thing.
        match path {
            "/v1/customers" => assert_eq!(fresh.status, 409, "{}", fresh.body),
            _ => assert_ne!(fresh.body, first.body, "{path}"),
        }
    }
    // The replayed API key is the issued one, and it works.
    let issued = post(
        &api,
        &key,
        "/v1/api-keys",
        "key-/v1/api-keys",
        json!({ "name": "ci" }),
    )
    .await;
    let new_key = issued.body["data"]["apiKey"]
        .as_str()
        .expect("the key, once more");
    let (status, _) = api
        .call(reqwest::Method::GET, "/v1/onboarding-links", new_key, None)
        .await;
    assert_eq!(status, 200);

    for bad in ["", "has space", &"k".repeat(256)] {
        let refused = post(&api, &key, "/v1/customers", bad, json!({ "name": "A" })).await;
        assert_eq!(refused.status, 422, "{bad:?}: {}", refused.body);
        assert_eq!(refused.body["error"]["field"], "Idempotency-Key");
    }
    let unauthenticated = post(&api, "sk_nope", "/v1/customers", "k1", json!({ "name": "A" })).await;
    assert_eq!(unauthenticated.status, 401);

    // The contract says so on every POST.
    let document = api.public_json("/openapi.json").await;
    for (path, item) in document["paths"].as_object().expect("paths") {
        if let Some(post) = item.get("post").filter(|_| path.starts_with("/v1/")) {
            let names: Vec<_> = post["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| &p["name"])
                .collect();
            assert!(names.contains(&&json!("Idempotency-Key")), "{path}: {names:?}");
        }
    }
}
