//! Poison events: the projector binary, failing on one event every time, sets it aside after its
//! delivery limit, goes on projecting other streams, holds the later events of the same stream,
//! reports itself degraded, and catches the stream up after `gangway dead-letters retry`; the
//! dispatcher does the same with an event it cannot record. Real api (with its relay), projector
//! and dispatcher, Postgres and NATS.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::{run_cli, wait_until, ChildProcess, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The read model's links matching `filter`, as the integrator lists them.
async fn listed(api: &TestApi, key: &str, filter: &str) -> Vec<Value> {
    let path = format!("/v1/onboarding-links?{filter}");
    let (status, body) = api.call(Method::GET, &path, key, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("links").clone()
}

fn dead_letters(env: &TestEnv) -> Vec<Value> {
    run_cli(env, &["dead-letters", "list"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

async fn readyz(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let response = http.get(format!("{base}/readyz")).send().await.expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("readyz json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_projector_cannot_apply_waits_as_a_dead_letter_until_retried() {
    let env = TestEnv::new().await;
    // The cause: the read model refuses one customer's link (as a bad deploy or a broken
    // constraint would), the same way on every delivery.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.external_id = 'cus_poison' THEN \
             RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; \
           END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON rm_onboarding_links \
           FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&env.pool)
    .await
    .expect("installing the failure");
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Dead Letters").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut vars = env.process_env();
    vars.push(("GANGWAY_METRICS_ADDR".into(), format!("127.0.0.1:{port}")));
    let _projector = ChildProcess::start("gangway-projector", vars);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let (status, poison) = api.create_link(&key, json!({ "externalId": "cus_poison" })).await;
    assert_eq!(status, 201, "{poison}");
    let poison_id = poison["data"]["id"].as_str().expect("id").to_owned();
    let (status, healthy) = api
        .create_link(&key, json!({ "externalId": "cus_healthy" }))
        .await;
    assert_eq!(status, 201, "{healthy}");

    // Other streams are projected meanwhile.
    wait_until("the healthy link to be listed", WAIT, || async {
        listed(&api, &key, "externalId=cus_healthy").await.len() == 1
    })
    .await;
    wait_until("the poison event to be set aside", WAIT, || async {
        dead_letters(&env).iter().any(|d| d["held"] == false)
    })
    .await;
    // A later event of the same stream waits behind it.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/onboarding-links/{poison_id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 204, "delete");
    wait_until("the deletion to be held", WAIT, || async {
        dead_letters(&env).len() == 2
    })
    .await;
    let letters = dead_letters(&env);
    assert_eq!(
        letters.len(),
        2,
        "the dead event and the deletion held behind it: {letters:?}"
    );
    let (dead, held) = (&letters[0], &letters[1]);
    assert_eq!(dead["eventType"], "onboarding_link.created");
    assert_eq!(dead["streamId"], poison_id.as_str());
    assert_eq!(dead["deliveries"], 10, "the default limit: {dead}");
    assert!(
        dead["error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused by the test"),
        "{dead}"
    );
    assert_eq!(held["streamId"], poison_id.as_str());
    assert_eq!(held["held"], true);
    assert_eq!(held["streamVersion"], 2);
    assert!(listed(&api, &key, "externalId=cus_poison&status=deleted")
        .await
        .is_empty());
    let (status, ready) = readyz(&http, &base).await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (503, Some("degraded")),
        "{ready}"
    );
    let metrics = http.get(format!("{base}/metrics")).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("metrics text");
    assert!(
        metrics.contains("gangway_dead_letters_total{consumer=\"projector\"} 1"),
        "{metrics}"
    );

    // The cause fixed, one retry brings the stream up to date, in order.
    sqlx::query("DROP TRIGGER refuse_poison ON rm_onboarding_links")
        .execute(&env.pool)
        .await
        .expect("fixing the failure");
    let id = dead["id"].as_i64().expect("dead letter id").to_string();
    let answer = run_cli(&env, &["dead-letters", "retry", &id]);
    assert!(answer.contains("retry requested for 1"), "{answer}");
    wait_until("the poison link to be listed as deleted", WAIT, || async {
        listed(&api, &key, "externalId=cus_poison&status=deleted")
            .await
            .len()
            == 1
    })
    .await;
    assert!(dead_letters(&env).is_empty(), "resolved");
    wait_until("the projector to be ready again", WAIT, || async {
        readyz(&http, &base).await.0 == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_dispatcher_cannot_record_is_set_aside_and_delivered_after_a_retry() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Dead Letters").await;
    let org = OrganizationId::from_uuid(org.parse().expect("org id"));
    let receiver = Receiver::start().await;
    let types = ["onboarding_link.expired"];
    create_endpoint(
        &api,
        org,
        &receiver.url("/in"),
        &types,
        None,
        "dead-letter-secret-1",
    )
    .await;
    expired_links(&api, org, 3).await;
    let (poison, poison_link): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT event_id, stream_id FROM events WHERE event_type = 'onboarding_link.expired' ORDER BY position LIMIT 1",
    )
    .fetch_one(&env.pool)
    .await
    .expect("the first expiry");
    let poison_link = poison_link.to_string();
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.event_id = '{poison}' THEN \
             RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; \
           END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON webhook_messages \
           FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
    ))
    .execute(&env.pool)
    .await
    .expect("installing the failure");
    let mut config = dispatcher_config(&env);
    config.max_deliveries = 3;
    let _dispatcher = spawn_dispatcher(config).await;
    // Copies received of each link's expiry webhook, and the webhook-ids they came under.
    let copies = || {
        let mut copies: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in receiver.received() {
            let link = r.json()["data"]["onboardingLinkId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            copies
                .entry(link)
                .or_default()
                .push(r.header("webhook-id").to_owned());
        }
        copies
    };

    wait_until("the other expiries to be delivered", WAIT, || async {
        copies().keys().filter(|link| **link != poison_link).count() == 2
    })
    .await;
    wait_until("the poison event to be set aside", WAIT, || async {
        dead_letters(&env).len() == 1
    })
    .await;
    let dead = &dead_letters(&env)[0];
    assert_eq!(dead["consumer"], "dispatcher");
    assert_eq!(dead["eventId"], poison.to_string());
    assert_eq!(dead["deliveries"], 3, "the configured limit: {dead}");
    // On their first delivery messages are sent while their record is written, so the poison's
    // webhook may have gone out once before that record failed; never again until it is recorded.
    let early = copies().get(&poison_link).map_or(0, Vec::len);
    assert!(early <= 1, "sent unrecorded at most once: {:?}", copies());

    sqlx::query("DROP TRIGGER refuse_poison ON webhook_messages")
        .execute(&env.pool)
        .await
        .expect("fixing the failure");
    let answer = run_cli(&env, &["dead-letters", "retry", "--all"]);
    assert!(answer.contains("retry requested for 1"), "{answer}");
    wait_until("the set-aside expiry to be delivered", WAIT, || async {
        copies().get(&poison_link).map_or(0, Vec::len) > early
    })
    .await;
    let copies = copies();
    assert_eq!(copies.len(), 3, "each expiry delivered: {copies:?}");
    for (link, ids) in &copies {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "one webhook-id per message: {link} {ids:?}"
        );
        // At most once unrecorded (with the poison in their batch), then once recorded.
        assert!(ids.len() <= 2, "{link} {ids:?}");
    }
    assert!(dead_letters(&env).is_empty(), "resolved");
}
