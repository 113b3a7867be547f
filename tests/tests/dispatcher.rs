//! Webhook delivery end to end: the api (with its relay), the dispatcher and a receiver on
//! loopback, over real Postgres, JetStream and HTTP.

use gangway_domain::link::{LinkCustomer, LinkEvent};
use gangway_domain::LinkId;
use gangway_domain::{OrganizationId, WabaId};
use gangway_e2e::dispatch::{
    append_links, create_endpoint, dispatcher_config, spawn_dispatcher, wait_for_dispatcher, Receiver,
};
use gangway_e2e::signup::{SignupWorld, COFFEE_WABA};
use gangway_e2e::standard_webhooks::{reference_verdict, ReceiverSecret};
use gangway_e2e::wait_until;
use gangway_webhook_signing::{verify, SigningKey, WebhookHeaders};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The Standard Webhooks reference library (Python, from PyPI) accepts this delivery.
fn reference_accepts(received: &gangway_e2e::dispatch::Received, secret: &str) -> bool {
    let headers =
        WebhookHeaders::from_lookup(|name| received.headers.get(name).and_then(|v| v.to_str().ok()))
            .expect("signature headers");
    reference_verdict(
        env!("CARGO_TARGET_TMPDIR"),
        ReceiverSecret::Whsec(secret),
        &headers,
        &received.body,
    )
    .is_ok()
}

fn verifies(received: &gangway_e2e::dispatch::Received, secret: &str) -> bool {
    let key = SigningKey::from_secret(secret).expect("key");
    let headers =
        WebhookHeaders::from_lookup(|name| received.headers.get(name).and_then(|v| v.to_str().ok()))
            .expect("signature headers");
    verify(&key, &headers, received.body.as_bytes()).is_ok()
}

async fn org_id(world: &SignupWorld) -> OrganizationId {
    let id: Uuid = sqlx::query_scalar("SELECT DISTINCT organization_id FROM api_keys")
        .fetch_one(world.api.state.pool())
        .await
        .expect("the world's organization");
    OrganizationId::from_uuid(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_webhook_is_registered_on_connect_and_receives_signed_events() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let link = world
        .link(json!({
            "externalId": "cus_9",
            "webhookUrl": receiver.url("/hooks"),
            "webhookSecret": SECRET,
            "webhookEvents": ["phone_number.connected", "whatsapp.phone_number.created"]
        }))
        .await;
    let landing = world.finish(&link).await;
    assert_eq!(landing.params["status"], "success");

    wait_until("both webhooks arrive", Duration::from_secs(15), || async {
        receiver.received().len() >= 2
    })
    .await;
    // The completion's onboarding_link.completed, not subscribed, would have been recorded and
    // sent by now.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "only the subscribed types: {received:#?}");
    let connected = received
        .iter()
        .find(|r| r.json()["event"] == "phone_number.connected")
        .expect("phone_number.connected");
    assert!(verifies(connected, SECRET));
    assert!(!verifies(
        connected,
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    ));
    let body = connected.json();
    assert_eq!(body["organizationId"], org_id(&world).await.to_string());
    let data = &body["data"];
    assert_eq!(data["onboardingLinkId"], link.as_str());
    assert_eq!(data["externalId"], "cus_9");
    assert_eq!(data["phoneNumberId"], landing.params["phone_number_id"].as_str());
    assert_eq!(data["wabaId"], landing.params["waba_id"].as_str());
    assert_eq!(data["metaWabaId"], COFFEE_WABA);
    assert_eq!(data["phoneNumber"], "+15550100001");
    assert_eq!(data["isPhoneRegistered"], true);
    assert_eq!(connected.header("ce-specversion"), "1.0");
    assert_eq!(connected.header("ce-type"), "phone_number.connected");
    assert_eq!(connected.header("ce-id"), connected.header("webhook-id"));
    assert_eq!(
        connected.header("ce-source"),
        format!(
            "/gangway/organizations/{}",
            body["organizationId"].as_str().unwrap()
        )
    );
    let time = chrono::DateTime::parse_from_rfc3339(connected.header("ce-time")).expect("ce-time");
    let timestamp = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(time, timestamp, "ce-time is when the event happened");
    assert!(connected.header("webhook-id").starts_with("msg_"));
    assert_eq!(connected.header("content-type"), "application/json");

    let created = received
        .iter()
        .find(|r| r.json()["event"] == "whatsapp.phone_number.created")
        .expect("whatsapp.phone_number.created");
    assert!(verifies(created, SECRET));
    assert_eq!(created.json()["data"]["phone_number_id"], "106540352242922");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_with_the_same_webhook_url_share_one_endpoint_per_waba() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let first = world
        .link(json!({
            "externalId": "cus_first",
            "webhookUrl": receiver.url("/shared"),
            "webhookSecret": SECRET,
            "webhookEvents": ["phone_number.connected"]
        }))
        .await;
    assert_eq!(world.finish(&first).await.params["status"], "success");
    wait_until("the first number's webhook", Duration::from_secs(15), || async {
        !receiver.received().is_empty()
    })
    .await;

    // A second number of the same WABA, through a link with the same URL and secret and one
    // more event type.
    let second = world
        .link(json!({
            "externalId": "cus_second",
            "webhookUrl": receiver.url("/shared"),
            "webhookSecret": SECRET,
            "webhookEvents": ["phone_number.connected", "whatsapp.phone_number.created"]
        }))
        .await;
    let (_, landing) = world.finish_with_new_number(&second, COFFEE_WABA, "US").await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    let second_phone = landing.params["phone_number_id"].clone();

    wait_until(
        "the second number's webhooks",
        Duration::from_secs(15),
        || async { receiver.received().len() >= 3 },
    )
    .await;
    // A message per link would have been recorded and sent by now.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let received = receiver.received();
    let events: Vec<(String, String)> = received
        .iter()
        .map(|r| {
            let body = r.json();
            let phone = body["data"]["phoneNumberId"].as_str().unwrap_or("-").to_owned();
            (body["event"].as_str().unwrap_or_default().to_owned(), phone)
        })
        .collect();
    assert_eq!(
        received.len(),
        3,
        "each webhook once, not once per link: {events:?}"
    );
    let connected_second = events
        .iter()
        .filter(|(event, phone)| event == "phone_number.connected" && *phone == second_phone)
        .count();
    assert_eq!(connected_second, 1, "{events:?}");
    assert!(events
        .iter()
        .any(|(event, _)| event == "whatsapp.phone_number.created"));
    assert!(received.iter().all(|r| verifies(r, SECRET)));

    let endpoints: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT stream_id FROM events WHERE stream_type = 'webhook_endpoint'")
            .fetch_all(world.api.state.pool())
            .await
            .unwrap();
    assert_eq!(endpoints.len(), 1, "one endpoint for both links");
    let endpoint = world.get(&format!("/v1/webhooks/{}", endpoints[0])).await;
    assert_eq!(
        endpoint["data"]["events"],
        json!(["phone_number.connected", "whatsapp.phone_number.created"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_same_message_until_it_answers_2xx() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start_with(vec![500, 500], Duration::ZERO).await;
    let org = org_id(&world).await;
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/r"),
        &["phone_number.connected"],
        None,
        SECRET,
    )
    .await;
    // Leases longer than the wait: a retry must be found on its schedule, not when the lease of
    // its earlier attempt runs out.
    let mut config = dispatcher_config(&world.env);
    config.attempt_timeout_ms = 30_000;
    let _dispatcher = spawn_dispatcher(config).await;
    let link = world.link(json!({})).await;
    world.finish(&link).await;

    wait_until("three attempts", Duration::from_secs(15), || async {
        receiver.received().len() >= 3
    })
    .await;
    // Once the 200 is recorded the message is no longer pending: nothing more is due.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let received = receiver.received();
    assert_eq!(received.len(), 3, "delivered once it answered 200: {received:#?}");
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "one webhook-id across retries: {ids:?}"
    );
    assert!(received.iter().all(|r| verifies(r, SECRET)));

    let pool = world.api.state.pool();
    let (status, attempts): (String, i32) = sqlx::query_as("SELECT status, attempts FROM webhook_messages")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("delivered", 3));
    let codes: Vec<Option<i32>> = sqlx::query_scalar("SELECT status_code FROM webhook_attempts ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(codes, [Some(500), Some(500), Some(200)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_get_only_their_types_their_waba_and_their_organization() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let org = org_id(&world).await;
    let coffee = WabaId::for_meta(org, COFFEE_WABA);
    let types = ["phone_number.connected"];
    create_endpoint(&world.api, org, &receiver.url("/all"), &types, None, SECRET).await;
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/coffee"),
        &types,
        Some(coffee),
        SECRET,
    )
    .await;
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/other-waba"),
        &types,
        Some(WabaId::new()),
        SECRET,
    )
    .await;
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/failures"),
        &["onboarding_link.failed"],
        None,
        SECRET,
    )
    .await;
    let (other_org, _) = world.api.create_org("Other").await;
    let other_org = OrganizationId::from_uuid(other_org.parse().unwrap());
    create_endpoint(
        &world.api,
        other_org,
        &receiver.url("/other-org"),
        &types,
        None,
        SECRET,
    )
    .await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;

    let link = world.link(json!({})).await;
    world.finish(&link).await;
    wait_until(
        "the two connected deliveries",
        Duration::from_secs(15),
        || async { receiver.received().len() >= 2 },
    )
    .await;
    // Whatever went to the wrong WABA, type or organization would have been sent by now.
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let mut paths: Vec<_> = receiver.received().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/all", "/coffee"]);
}

/// An expiry names whom the link is for, so the dispatcher builds its webhook from the event
/// alone; one recorded before expiries did still gets the externalId, from the link's creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_webhooks_name_the_external_id_whenever_the_expiry_was_recorded() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let org = org_id(&world).await;
    let types = ["onboarding_link.expired"];
    create_endpoint(&world.api, org, &receiver.url("/expired"), &types, None, SECRET).await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let store = &world.api.state.app.store;
    let (older, current) = (LinkId::new(), LinkId::new());
    let before_customers = LinkEvent::Expired { customer: None };
    append_links(store, org, &[older], Some("cus_older"), before_customers)
        .await
        .unwrap();
    let named = LinkEvent::Expired {
        customer: Some(LinkCustomer {
            customer_id: None,
            external_id: Some("cus_named".into()),
        }),
    };
    // The creation says otherwise: the webhook follows the expiry event.
    append_links(store, org, &[current], Some("cus_created"), named)
        .await
        .unwrap();
    wait_until("both expiry webhooks", Duration::from_secs(15), || async {
        receiver.received().len() >= 2
    })
    .await;
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let mut seen: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let data = &r.json()["data"];
            (
                data["onboardingLinkId"].as_str().unwrap().to_owned(),
                data["externalId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (older.to_string(), "cus_older".to_owned()),
        (current.to_string(), "cus_named".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_targets_are_refused_unless_allowed() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let org = org_id(&world).await;
    let port = receiver.base_url.rsplit(':').next().unwrap().to_owned();
    // A hostname that resolves to loopback is refused like the literal address.
    create_endpoint(
        &world.api,
        org,
        &format!("http://localhost:{port}/name"),
        &["phone_number.connected"],
        None,
        SECRET,
    )
    .await;
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/literal"),
        &["phone_number.connected"],
        None,
        SECRET,
    )
    .await;
    let mut config = dispatcher_config(&world.env);
    config.allow_private = false;
    config.max_attempts = 1;
    let _dispatcher = spawn_dispatcher(config).await;
    let link = world.link(json!({})).await;
    world.finish(&link).await;

    let pool = world.api.state.pool().clone();
    wait_until("both messages fail", Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            let failed: i64 =
                sqlx::query_scalar("SELECT count(*) FROM webhook_messages WHERE status = 'failed'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            failed == 2
        }
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
    let errors: Vec<String> = sqlx::query_scalar("SELECT error FROM webhook_attempts")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(errors.iter().all(|e| e.contains("loopback")), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_shows_attempts_and_failed_messages_can_be_retried_and_recovered() {
    let world = SignupWorld::new().await;
    // Two failures, then the receiver accepts.
    let receiver = Receiver::start_with(vec![503, 500], Duration::ZERO).await;
    let org = org_id(&world).await;
    let endpoint = create_endpoint(
        &world.api,
        org,
        &receiver.url("/log"),
        &["phone_number.connected", "onboarding_link.completed"],
        None,
        SECRET,
    )
    .await;
    let mut config = dispatcher_config(&world.env);
    config.max_attempts = 1;
    // Leases longer than the waits: a message retried by hand must be found at once, not when
    // the lease of its failed attempt runs out.
    config.attempt_timeout_ms = 30_000;
    let _dispatcher = spawn_dispatcher(config).await;
    let link = world.link(json!({})).await;
    world.finish(&link).await;

    let messages_path = format!("/v1/webhooks/{endpoint}/messages");
    wait_until("both messages fail once", Duration::from_secs(15), || async {
        let (_, body) = world
            .api
            .call(
                reqwest::Method::GET,
                &format!("{messages_path}?status=failed"),
                &world.key,
                None,
            )
            .await;
        body["pagination"]["total"] == 2
    })
    .await;
    let failed = world.get(&format!("{messages_path}?status=failed")).await;
    let first = failed["data"][0].clone();
    assert!(first["webhookId"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(first["attempts"], 1);
    let message_id = first["id"].as_str().unwrap().to_owned();
    let detail = world.get(&format!("/v1/messages/{message_id}")).await["data"].clone();
    assert_eq!(detail["status"], "failed");
    let log = detail["attemptsLog"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert!(
        log[0]["statusCode"] == 503 || log[0]["statusCode"] == 500,
        "{log:?}"
    );
    assert!(log[0]["latencyMs"].is_number());

    // Manual retry of one message: the receiver now answers 200.
    let (status, _) = world
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/messages/{message_id}/retry"),
            &world.key,
            None,
        )
        .await;
    assert_eq!(status, 202);
    wait_until(
        "the retried message is delivered",
        Duration::from_secs(15),
        || async { world.get(&format!("/v1/messages/{message_id}")).await["data"]["status"] == "delivered" },
    )
    .await;

    // Recovery re-queues every failed message since a time: the other one.
    let (status, body) = world
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{endpoint}/recover"),
            &world.key,
            Some(json!({ "since": "2020-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!((status, body["data"]["recovered"].clone()), (202, json!(1)));
    wait_until("everything delivered", Duration::from_secs(15), || async {
        world.get(&format!("{messages_path}?status=delivered")).await["pagination"]["total"] == 2
    })
    .await;
    let ids: std::collections::HashSet<_> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "retries keep their webhook-id");

    // Another organization sees none of it.
    let (_, other_key) = world.api.create_org("Other").await;
    let (status, _) = world
        .api
        .call(
            reqwest::Method::GET,
            &format!("/v1/messages/{message_id}"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = world
        .api
        .call(reqwest::Method::GET, &messages_path, &other_key, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_reaches_only_the_endpoint_asked_signed_whatever_it_subscribes_to() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let org = org_id(&world).await;
    // Neither endpoint subscribes to anything a test event could match.
    let tested = create_endpoint(
        &world.api,
        org,
        &receiver.url("/tested"),
        &["message.sent"],
        None,
        SECRET,
    )
    .await;
    let _other = create_endpoint(
        &world.api,
        org,
        &receiver.url("/other"),
        &["message.sent"],
        None,
        SECRET,
    )
    .await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let call = |path: String| {
        let world = &world;
        async move {
            world
                .api
                .call(reqwest::Method::POST, &path, &world.key, None)
                .await
        }
    };

    let (status, queued) = call(format!("/v1/webhooks/{tested}/test")).await;
    assert_eq!(status, 202, "{queued}");
    let message = queued["data"].clone();
    assert_eq!(message["eventType"], "webhook.test");
    assert_eq!(message["eventId"], message["id"], "no stored event caused it");
    wait_until("the test event arrives", Duration::from_secs(15), || async {
        !receiver.received_at("/tested").is_empty()
    })
    .await;
    wait_for_dispatcher(&world.env, "dispatcher").await;
    let received = receiver.received_at("/tested");
    assert_eq!(received.len(), 1);
    let body = received[0].json();
    assert_eq!(body["event"], "webhook.test");
    assert_eq!(body["data"]["endpointId"], tested.to_string());
    assert_eq!(body["organizationId"], org.to_string());
    assert_eq!(
        received[0].header("webhook-id"),
        message["webhookId"].as_str().unwrap()
    );
    assert!(
        verifies(&received[0], SECRET),
        "signed with the endpoint's secret"
    );
    assert!(
        receiver.received_at("/other").is_empty(),
        "only the endpoint asked"
    );
    let logged = world
        .get(&format!("/v1/messages/{}", message["id"].as_str().unwrap()))
        .await;
    assert_eq!(logged["data"]["status"], "delivered", "{logged}");
    assert_eq!(logged["data"]["attemptsLog"][0]["statusCode"], 200);

    // A disabled endpoint is not sent one; another organization's is not found.
    let (status, _) = call(format!("/v1/webhooks/{tested}/disable")).await;
    assert_eq!(status, 200);
    let (status, refused) = call(format!("/v1/webhooks/{tested}/test")).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("endpoint_disabled")),
        "{refused}"
    );
    let (_, other_key) = world.api.create_org("Other").await;
    let (status, _) = world
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{tested}/test"),
            &other_key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, log) = world
        .api
        .call(
            reqwest::Method::GET,
            &format!("/v1/webhooks/{tested}/messages"),
            &world.key,
            None,
        )
        .await;
    assert_eq!(
        log["pagination"]["total"], 1,
        "refused tests queue nothing: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_grace_period_both_secrets_verify_and_afterwards_only_the_new_one() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&world.env)).await;
    let (status, created) = world
        .api
        .call(
            reqwest::Method::POST,
            "/v1/webhooks",
            &world.key,
            Some(json!({ "url": receiver.url("/rotating"), "events": ["phone_number.connected"], "secret": SECRET })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let endpoint = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, rotated) = world
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{endpoint}/rotate-secret"),
            &world.key,
            Some(json!({ "gracePeriodSeconds": 3600 })),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, SECRET);

    let link = world.link(json!({})).await;
    world.finish(&link).await;
    wait_until("the delivery", Duration::from_secs(15), || async {
        !receiver.received().is_empty()
    })
    .await;
    let delivery = &receiver.received()[0];
    assert_eq!(delivery.header("webhook-signature").split(' ').count(), 2);
    assert!(
        verifies(delivery, SECRET),
        "the old secret still verifies during the grace period"
    );
    assert!(verifies(delivery, &new_secret), "the new secret verifies");
    assert!(reference_accepts(delivery, SECRET) && reference_accepts(delivery, &new_secret));

    // Without a grace period the old secret stops signing at once.
    let (status, rotated) = world
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{endpoint}/rotate-secret"),
            &world.key,
            Some(json!({ "gracePeriodSeconds": 0 })),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let newest = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let second = world.link(json!({ "externalId": "second" })).await;
    // Another number, so the second signup is a new connection.
    let state = world.state(&second).await;
    let code = world
        .code(json!({ "waba_id": COFFEE_WABA, "phone_number_id": "106540352242923" }))
        .await;
    let landing = world
        .callback(
            &second,
            &[
                ("state", &state),
                ("code", &code),
                ("event", "FINISH"),
                ("waba_id", COFFEE_WABA),
                ("phone_number_id", "106540352242923"),
            ],
        )
        .await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    wait_until("the second delivery", Duration::from_secs(15), || async {
        receiver.received().len() >= 2
    })
    .await;
    let later = &receiver.received()[1];
    assert_eq!(later.header("webhook-signature").split(' ').count(), 1);
    assert!(verifies(later, &newest));
    assert!(!verifies(later, &new_secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_messages_past_retention_are_deleted_with_their_attempts() {
    let env = gangway_testkit::TestEnv::new().await;
    let mut config = dispatcher_config(&env);
    config.retention_days = 30;
    config.retention_sweep_seconds = 1;
    let _dispatcher = spawn_dispatcher(config).await;

    // (status, age in days); the pending one is not due, so nothing delivers it meanwhile.
    let rows = [
        ("delivered", 40),
        ("failed", 31),
        ("pending", 40),
        ("delivered", 29),
    ];
    let mut ids = Vec::new();
    for (status, days) in rows {
        let id = Uuid::now_v7();
        // One statement: the sweep may run between two.
        sqlx::query(
            "WITH message AS ( \
                 INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, \
                     body, occurred_at, created_at, status, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, 'phone_number.connected', '{}', now(), \
                     now() - make_interval(days => $5), $6, now() + interval '1 day') \
                 RETURNING id) \
             INSERT INTO webhook_attempts (message_id, attempted_at, status_code, latency_ms) \
             SELECT id, now(), 500, 3 FROM message",
        )
        .bind(id)
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(days)
        .bind(status)
        .execute(&env.pool)
        .await
        .unwrap();
        ids.push(id);
    }

    let remaining = || async {
        let kept: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM webhook_messages ORDER BY id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
        kept
    };
    wait_until("the sweep", Duration::from_secs(15), || async {
        remaining().await.len() == 2
    })
    .await;
    assert_eq!(
        remaining().await,
        vec![ids[2], ids[3]],
        "an old pending message and a recent delivered one stay"
    );
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "the deleted messages' attempts went with them");
}
