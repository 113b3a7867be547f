//! Postgres goes away in the middle of traffic and comes back: meanwhile the api answers 503 with
//! a clear error, everything it accepted before is kept (in the store, on JetStream, in the read
//! models), and it serves again by itself, with no process restarted. Runs its own Postgres
//! cluster, so stopping it disturbs no other test.

use gangway_e2e::private_servers::PrivatePostgres;
use gangway_e2e::{read_stream, spawn_projector, wait_for_projection, TestApi};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Outcomes {
    accepted: Vec<String>,
    /// Each 503's body, its Retry-After header and how long it took.
    unavailable: Vec<(Value, Option<String>, Duration)>,
    other: Vec<(u16, Value)>,
}

/// Creates links without pause until `stop`, recording what each request got.
async fn keep_creating_links(
    api: Arc<TestApi>,
    key: String,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Outcomes>>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        let response = api
            .http
            .post(api.url("/v1/onboarding-links"))
            .bearer_auth(&key)
            .json(&json!({ "externalId": format!("pg-{n}") }))
            .send()
            .await
            .expect("api request");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        {
            let mut outcomes = outcomes.lock().expect("outcomes");
            match status {
                201 => outcomes
                    .accepted
                    .push(body["data"]["id"].as_str().expect("link id").to_owned()),
                503 => outcomes.unavailable.push((body, retry_after, started.elapsed())),
                other => outcomes.other.push((other, body)),
            }
        }
        if status == 503 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_503_while_postgres_is_down_loses_nothing_and_recovers_by_itself() {
    let postgres = PrivatePostgres::start();
    let env = TestEnv::on(&postgres.admin_url(), &gangway_testkit::nats_url()).await;
    let api = Arc::new(TestApi::spawn(&env).await);
    let _projector = spawn_projector(&env, env.bus().await).drop_guard();
    let (_, key) = api.create_org("Outage Co").await;

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(keep_creating_links(
                api.clone(),
                key.clone(),
                stop.clone(),
                outcomes.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_outage = outcomes.lock().expect("outcomes").accepted.len();
    postgres.stop_server();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let readiness = api.http.get(api.url("/readyz")).send().await.expect("readyz");
    assert_eq!(readiness.status(), 503, "not ready without Postgres");
    let during_outage = outcomes.lock().expect("outcomes").accepted.len();
    postgres.start_server();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }

    let outcomes = Arc::try_unwrap(outcomes)
        .ok()
        .expect("writers are done")
        .into_inner()
        .expect("outcomes");
    let slowest = outcomes.unavailable.iter().map(|(_, _, took)| *took).max();
    eprintln!(
        "accepted {} links ({before_outage} before the outage), {} answered 503, the slowest in {slowest:?}",
        outcomes.accepted.len(),
        outcomes.unavailable.len()
    );
    assert!(before_outage > 0, "links were created before the outage");
    assert!(
        outcomes.accepted.len() > during_outage,
        "links are created again after Postgres is back ({} before it came back, {} in all)",
        during_outage,
        outcomes.accepted.len()
    );
    assert!(!outcomes.unavailable.is_empty(), "the outage was seen");
    for (body, retry_after, _) in &outcomes.unavailable {
        assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    assert!(outcomes.other.is_empty(), "only 201 or 503: {:?}", outcomes.other);

    // Everything acknowledged is in the store, on JetStream and in the read model.
    let bus = env.bus().await;
    wait_for_projection(&env, &bus).await;
    let stored: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT stream_id FROM events WHERE event_type = 'onboarding_link.created'",
    )
    .fetch_all(&env.pool)
    .await
    .expect("events")
    .into_iter()
    .map(|id| id.to_string())
    .collect();
    let published: HashSet<String> = read_stream(&bus)
        .await
        .expect("stream")
        .into_iter()
        .filter(|(_, e)| e.event_type == "onboarding_link.created")
        .map(|(_, e)| e.stream_id.to_string())
        .collect();
    let projected: HashSet<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM rm_onboarding_links")
            .fetch_all(&env.pool)
            .await
            .expect("read model")
            .into_iter()
            .map(|id| id.to_string())
            .collect();
    for id in &outcomes.accepted {
        assert!(stored.contains(id), "accepted link {id} is in the store");
        assert!(published.contains(id), "accepted link {id} is on JetStream");
        assert!(projected.contains(id), "accepted link {id} is in the read model");
    }
}
