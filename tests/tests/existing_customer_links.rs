//! A link for a customer that exists is created without a transaction or the customer's lock: the
//! customer and its previous link are read, and one statement revokes that link, records the new
//! one on the customer and creates it, only if neither moved on meanwhile. A concurrent creation
//! makes it fall back to the general path, which queues on the customer's lock.

use gangway_e2e::TestApi;
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn link_body(external_id: &str) -> Value {
    json!({
        "externalId": external_id,
        "webhookUrl": "https://hooks.example.com/in",
        "webhookSecret": "a-secret-of-twenty-chars",
        "webhookEvents": ["phone_number.connected"],
    })
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_for_an_existing_customer_does_not_wait_for_the_customers_lock() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Returning Co").await;
    let (status, first) = api.create_link(&key, link_body("returning")).await;
    assert_eq!(status, 201, "{first}");
    let customer = first["data"]["customerId"].as_str().unwrap().to_owned();

    // The lock every transaction that changes this customer takes, held elsewhere.
    let mut holder = env.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1::text, 0))")
        .bind(uuid::Uuid::parse_str(&customer).unwrap())
        .execute(&mut *holder)
        .await
        .unwrap();
    let within = |what: &'static str| move |elapsed| panic!("{what} waited for the lock: {elapsed}");
    let (status, by_external_id) = tokio::time::timeout(
        Duration::from_secs(10),
        api.create_link(&key, link_body("returning")),
    )
    .await
    .unwrap_or_else(within("a link by external id"));
    assert_eq!(status, 201, "{by_external_id}");
    let (status, by_customer_id) = tokio::time::timeout(
        Duration::from_secs(10),
        api.create_link(&key, json!({"customerId": customer})),
    )
    .await
    .unwrap_or_else(within("a link by customer id"));
    assert_eq!(status, 201, "{by_customer_id}");
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *holder)
        .await
        .unwrap();

    // Each new link revoked the one before it, as the general path does.
    let chain = [&first, &by_external_id, &by_customer_id];
    for pair in chain.windows(2) {
        let (_, before) = api.get_link(&key, pair[0]["data"]["id"].as_str().unwrap()).await;
        assert_eq!(before["data"]["status"], "revoked");
        assert_eq!(before["data"]["supersededBy"], pair[1]["data"]["id"]);
        assert_eq!(pair[1]["data"]["customerId"], customer.as_str());
    }
    let (_, last) = api
        .get_link(&key, by_customer_id["data"]["id"].as_str().unwrap())
        .await;
    assert_eq!(last["data"]["status"], "pending");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM vault_secrets WHERE purpose = 'link_webhook_secret'"
        )
        .await,
        2,
        "the two links with a webhook secret sealed one each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_links_for_an_existing_customer_all_succeed_and_leave_one_pending_and_no_stray_secret() {
    let env = TestEnv::new().await;
    let api = Arc::new(TestApi::spawn(&env).await);
    let (_, key) = api.create_org("Racing Returners").await;
    let (status, first) = api.create_link(&key, link_body("racer")).await;
    assert_eq!(status, 201, "{first}");

    // The statements of all but one find the customer moved on; those links go the general way.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (api, key) = (api.clone(), key.clone());
            tokio::spawn(async move { api.create_link(&key, link_body("racer")).await })
        })
        .collect();
    let mut ids = vec![first["data"]["id"].as_str().unwrap().to_owned()];
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["customerId"], first["data"]["customerId"]);
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut pending = 0;
    for id in &ids {
        let (_, link) = api.get_link(&key, id).await;
        match link["data"]["status"].as_str().unwrap() {
            "pending" => pending += 1,
            "revoked" => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(pending, 1, "one pending link per customer");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM vault_secrets WHERE purpose = 'link_webhook_secret'"
        )
        .await,
        ids.len() as i64,
        "one sealed secret per link: a statement that found the customer moved on sealed none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_link_for_an_existing_customer_is_created_once_and_its_retry_answered_the_same() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Keyed Returners").await;
    let (status, first) = api.create_link(&key, link_body("keyed")).await;
    assert_eq!(status, 201, "{first}");
    let keyed = || async {
        let response = api
            .http
            .post(api.url("/v1/onboarding-links"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "returning-customer-link-1")
            .json(&link_body("keyed"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    let (status, second) = keyed().await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["data"]["customerId"], first["data"]["customerId"]);
    let (status, again) = keyed().await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["data"]["id"], second["data"]["id"],
        "the retry gets the same link"
    );
    let (_, before) = api.get_link(&key, first["data"]["id"].as_str().unwrap()).await;
    assert_eq!(before["data"]["status"], "revoked");
    assert_eq!(before["data"]["supersededBy"], second["data"]["id"]);
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM vault_secrets WHERE purpose = 'link_webhook_secret'"
        )
        .await,
        2
    );
}
