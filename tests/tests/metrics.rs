//! Prometheus metrics, scraped over HTTP from each process after real traffic: the api
//! (in this process), the projector and the dispatcher (their binaries, each with its own
//! recorder and `/metrics` listener). Every scrape must parse as the text exposition format,
//! with HELP text for every family.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_env, expired_links, Receiver};
use gangway_e2e::signup::SignupWorld;
use gangway_e2e::{api_config, wait_for_projection, wait_until, ChildProcess, TestApi};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[path = "metrics/exposition.rs"]
mod exposition;
use exposition::Exposition;

/// The api runs in this test process, and a process has one recorder: tests here take turns so
/// each sees only its own traffic.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SECRET: &str = "a-raw-secret-of-some-length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_counts_requests_by_route_template_appended_events_and_relay_publishes() {
    let _turn = TURN.lock().await;
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let url = api.url("/metrics");
    let before = scrape(&url, None).await;

    let (_, key) = api.create_org("Metrics Co").await;
    let mut links = Vec::new();
    for n in 0..3 {
        let (status, body) = api
            .create_link(&key, json!({ "externalId": format!("cus_{n}") }))
            .await;
        assert_eq!(status, 201, "{body}");
        links.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(api.get_link(&key, &links[0]).await.0, 200);
    assert_eq!(api.get_link(&key, &links[1]).await.0, 200);
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(api.get_link(&key, &missing).await.0, 404);
    let (status, _) = api
        .call(reqwest::Method::GET, "/v1/no-such-thing", &key, None)
        .await;
    assert_eq!(status, 404);

    // Everything appended is published; the relay counts after JetStream's acks.
    let appended: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let after = scrape_until(&url, None, "the relay to count every event", |m| {
        m.delta(&before, "gangway_relay_published_events_total", &[]) == appended as f64
    })
    .await;

    let requests = |method: &str, route: &str, status: &str| {
        after.delta(
            &before,
            "gangway_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("POST", "/admin/organizations", "2xx"), 1.0);
    assert_eq!(requests("POST", "/v1/onboarding-links", "2xx"), 3.0);
    assert_eq!(requests("GET", "/v1/onboarding-links/{id}", "2xx"), 2.0);
    assert_eq!(requests("GET", "/v1/onboarding-links/{id}", "4xx"), 1.0);
    assert_eq!(requests("GET", "unmatched", "4xx"), 1.0);
    assert_eq!(
        after.delta(
            &before,
            "gangway_http_request_duration_seconds_count",
            &[
                ("method", "POST"),
                ("route", "/v1/onboarding-links"),
                ("status", "2xx")
            ],
        ),
        3.0
    );
    // Route templates only: no id ever becomes a label value.
    for sample in &after.samples {
        for value in sample.labels.values() {
            assert!(
                !links
                    .iter()
                    .chain([&missing])
                    .any(|id| value.contains(id.as_str())),
                "an id in a label: {sample:?}"
            );
        }
    }

    let by_type: Vec<(String, i64)> =
        sqlx::query_as("SELECT event_type, count(*) FROM events GROUP BY event_type")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    for (event_type, count) in &by_type {
        assert_eq!(
            after.delta(
                &before,
                "gangway_events_appended_total",
                &[("event_type", event_type)]
            ),
            *count as f64,
            "{event_type}"
        );
    }
    assert_eq!(
        after.delta(
            &before,
            "gangway_events_appended_total",
            &[("event_type", "onboarding_link.created")]
        ),
        3.0
    );
    assert_eq!(
        after.delta(&before, "gangway_relay_lag_seconds_count", &[]),
        appended as f64
    );
    assert_eq!(after.value("gangway_relay_leading", &[]), 1.0);
    assert_eq!(after.value("gangway_process_info", &[("process", "api")]), 1.0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_require_the_bearer_token_when_one_is_configured() {
    let _turn = TURN.lock().await;
    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.metrics.metrics_token = "scrape-token-for-tests".parse().unwrap();
    let api = TestApi::spawn_with(config).await;
    let http = reqwest::Client::new();

    let anonymous = http.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .get(api.url("/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = scrape(&api.url("/metrics"), Some("scrape-token-for-tests")).await;
    assert_eq!(scraped.value("gangway_process_info", &[("process", "api")]), 1.0);
    // Health stays open.
    assert_eq!(http.get(api.url("/healthz")).send().await.unwrap().status(), 200);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_counts_applied_events_and_the_onboarding_funnel() {
    let _turn = TURN.lock().await;
    let world = SignupWorld::new().await;
    let port = free_port();
    let projector = ChildProcess::start(
        "gangway-projector",
        with_vars(
            world.env.process_env(),
            &[
                ("GANGWAY_METRICS_ADDR", &format!("127.0.0.1:{port}")),
                ("GANGWAY_METRICS_REFRESH_MS", "100"),
            ],
        ),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");

    // Three links: one completed, one cancelled in Embedded Signup, one never opened.
    let completed = world.link(json!({ "externalId": "cus_done" })).await;
    let cancelled = world.link(json!({ "externalId": "cus_cancel" })).await;
    world.link(json!({ "externalId": "cus_idle" })).await;
    let landing = world.finish(&completed).await;
    assert_eq!(landing.params["status"], "success", "{landing:?}");
    let landing = world.cancel(&cancelled, "PHONE_NUMBER_SETUP").await;
    assert_eq!(landing.params["error_code"], "facebook_auth_failed");

    let bus = world.env.bus().await;
    wait_for_projection(&world.env, &bus).await;
    let counts: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT event_type, count(*) FROM events GROUP BY event_type")
            .fetch_all(&world.env.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let total: i64 = counts.values().sum();
    let metrics = scrape_until(&url, None, "the projector to count every event", |m| {
        m.value("gangway_projector_events_total", &[]) == total as f64
            && m.value("gangway_projector_pending_events", &[]) == 0.0
    })
    .await;

    // Each event once, applied to its read model.
    for (event_type, count) in &counts {
        assert_eq!(
            metrics.value(
                "gangway_projector_events_total",
                &[("event_type", event_type.as_str()), ("outcome", "applied")]
            ),
            *count as f64,
            "{event_type}"
        );
    }
    assert_eq!(
        metrics.value("gangway_projector_lag_seconds_count", &[]),
        total as f64
    );

    let stage = |stage: &str| metrics.value("gangway_onboarding_funnel_total", &[("stage", stage)]);
    let failures = |code: &str| metrics.value("gangway_onboarding_failures_total", &[("error_code", code)]);
    assert_eq!(stage("created"), 3.0);
    assert_eq!(stage("opened"), 2.0);
    assert_eq!(
        stage("callback_received"),
        counts["onboarding_link.callback_received"] as f64
    );
    assert!(stage("callback_received") >= 1.0);
    assert_eq!(stage("completed"), 1.0);
    assert_eq!(failures("facebook_auth_failed"), 1.0);
    // Every code is present from the start, at 0 until it happens.
    assert_eq!(failures("token_exchange_failed"), 0.0);
    assert!(metrics
        .samples
        .iter()
        .any(|s| s.name == "gangway_onboarding_failures_total"
            && s.labels.get("error_code").map(String::as_str) == Some("link_revoked")));

    // Its own process: the projector's metrics, not the api's.
    assert_eq!(
        metrics.value("gangway_process_info", &[("process", "projector")]),
        1.0
    );
    assert!(!metrics
        .samples
        .iter()
        .any(|s| s.name.starts_with("gangway_http_")));

    // A replay, which serves no metrics itself, shows its progress on the projector's.
    let replay_env = world.env.process_env();
    tokio::task::spawn_blocking(move || {
        let replayed = std::process::Command::new(gangway_testkit::binary("gangway"))
            .arg("replay")
            .envs(replay_env)
            .output()
            .expect("gangway replay");
        assert!(replayed.status.success(), "{replayed:?}");
    })
    .await
    .expect("replay task");
    let replayed = scrape_until(&url, None, "the replay's progress", |m| {
        m.value("gangway_replay_applied_events", &[]) == total as f64
    })
    .await;
    assert_eq!(replayed.value("gangway_replay_total_events", &[]), total as f64);
    assert_eq!(replayed.value("gangway_replay_running", &[]), 0.0, "finished");
    drop(projector);

    // `gangway republish` onto a fresh stream, as after losing JetStream's data: a projector
    // there gets every event again as a first delivery. It handles each one (already applied)
    // and counts none of the links again.
    let fresh = TestEnv::new().await;
    let vars = world.env.process_env_on(&fresh.names);
    let republish_vars = vars.clone();
    let republished = tokio::task::spawn_blocking(move || {
        std::process::Command::new(gangway_testkit::binary("gangway"))
            .args(["republish", "--from", "1"])
            .envs(republish_vars)
            .output()
            .expect("running gangway republish")
    })
    .await
    .unwrap();
    assert!(republished.status.success(), "{republished:?}");
    let port = free_port();
    let again = ChildProcess::start(
        "gangway-projector",
        with_vars(vars, &[("GANGWAY_METRICS_ADDR", &format!("127.0.0.1:{port}"))]),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let metrics = scrape_until(
        &url,
        None,
        "the projector to handle every republished event",
        |m| m.value("gangway_projector_events_total", &[]) == total as f64,
    )
    .await;
    assert_eq!(
        metrics.value(
            "gangway_projector_events_total",
            &[("outcome", "already_applied")]
        ),
        total as f64
    );
    for stage in ["created", "opened", "callback_received", "completed"] {
        assert_eq!(
            metrics.value("gangway_onboarding_funnel_total", &[("stage", stage)]),
            0.0,
            "{stage}"
        );
    }
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_counts_deliveries_by_outcome_and_messages_recorded() {
    let _turn = TURN.lock().await;
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Hooks Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let ok = Receiver::start().await;
    let flaky = Receiver::start_with(vec![500], Duration::ZERO).await;
    let down = Receiver::start_with(vec![500; 10], Duration::ZERO).await;
    for receiver in [&ok, &flaky, &down] {
        create_endpoint(
            &api,
            org,
            &receiver.url("/in"),
            &["onboarding_link.expired"],
            None,
            SECRET,
        )
        .await;
    }
    let port = free_port();
    let _dispatcher = ChildProcess::start(
        "gangway-dispatcher",
        with_vars(
            dispatcher_env(&env),
            &[
                ("GANGWAY_METRICS_ADDR", &format!("127.0.0.1:{port}")),
                ("GANGWAY_METRICS_REFRESH_MS", "100"),
                ("GANGWAY_DISPATCH_MAX_ATTEMPTS", "2"),
            ],
        ),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    expired_links(&api, org, 1).await;

    // ok: 200. flaky: 500, then 200. down: 500 twice, and two attempts is all it gets.
    let outcome =
        |m: &Exposition, outcome: &str| m.value("gangway_webhook_deliveries_total", &[("outcome", outcome)]);
    let metrics = scrape_until(&url, None, "every attempt to be counted", |m| {
        outcome(m, "success") == 2.0 && outcome(m, "retry") == 2.0 && outcome(m, "failed") == 1.0
    })
    .await;
    assert_eq!(ok.received().len(), 1);
    assert_eq!(flaky.received().len(), 2);
    assert_eq!(down.received().len(), 2);
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM webhook_messages GROUP BY status ORDER BY status")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(statuses, [("delivered".to_owned(), 2), ("failed".to_owned(), 1)]);

    assert_eq!(outcome(&metrics, "parked"), 0.0);
    assert_eq!(metrics.value("gangway_webhook_messages_recorded_total", &[]), 3.0);
    let attempts = |outcome: &str| {
        metrics.value(
            "gangway_webhook_delivery_duration_seconds_count",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(
        (attempts("success"), attempts("retry"), attempts("failed")),
        (2.0, 2.0, 1.0)
    );
    assert_eq!(
        metrics.value("gangway_webhook_delivery_lag_seconds_count", &[]),
        2.0
    );
    assert_eq!(
        metrics.value("gangway_process_info", &[("process", "dispatcher")]),
        1.0
    );

    // Nothing left to deliver.
    scrape_until(&url, None, "an empty queue", |m| {
        ["due", "scheduled", "in_flight"].iter().all(|state| {
            m.samples.iter().any(|s| {
                s.name == "gangway_webhook_messages_pending"
                    && s.labels.get("state").map(String::as_str) == Some(*state)
                    && s.value == 0.0
            })
        })
    })
    .await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_reports_a_parked_endpoint_and_the_message_waiting_for_it() {
    let _turn = TURN.lock().await;
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Parked Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let down = Receiver::start_with(vec![500; 10], Duration::ZERO).await;
    create_endpoint(
        &api,
        org,
        &down.url("/in"),
        &["onboarding_link.expired"],
        None,
        SECRET,
    )
    .await;
    let port = free_port();
    let _dispatcher = ChildProcess::start(
        "gangway-dispatcher",
        with_vars(
            dispatcher_env(&env),
            &[
                ("GANGWAY_METRICS_ADDR", &format!("127.0.0.1:{port}")),
                ("GANGWAY_METRICS_REFRESH_MS", "100"),
                // The first failure parks the endpoint, for longer than this test runs.
                ("GANGWAY_DISPATCH_CIRCUIT_FAILURES", "1"),
                ("GANGWAY_DISPATCH_CIRCUIT_OPEN_MS", "600000"),
            ],
        ),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    expired_links(&api, org, 1).await;

    let pending =
        |m: &Exposition, state: &str| m.value("gangway_webhook_messages_pending", &[("state", state)]);
    // Its retry is due after the backoff, but waits for the breaker.
    let metrics = scrape_until(&url, None, "the parked message to be counted as due", |m| {
        m.value("gangway_webhook_deliveries_total", &[("outcome", "parked")]) == 1.0
            && pending(m, "due") == 1.0
    })
    .await;
    assert_eq!(down.received().len(), 1);
    for outcome in ["success", "retry", "failed"] {
        assert_eq!(
            metrics.value("gangway_webhook_deliveries_total", &[("outcome", outcome)]),
            0.0,
            "{outcome}"
        );
    }
    assert_eq!(pending(&metrics, "scheduled"), 0.0);
    assert_eq!(pending(&metrics, "in_flight"), 0.0);
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Scraping.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `vars` with `overrides` replacing any variable of the same name.
fn with_vars(mut vars: Vec<(String, String)>, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.retain(|(name, _)| !overrides.iter().any(|(o, _)| o == name));
    vars.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars
}

async fn try_scrape(url: &str, token: Option<&str>) -> Result<String, String> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content type {content_type}"
    );
    response.text().await.map_err(|e| e.to_string())
}

async fn scrape(url: &str, token: Option<&str>) -> Exposition {
    Exposition::parse(&try_scrape(url, token).await.expect("scraping /metrics"))
}

/// Scrapes until `done` holds (the process may still be starting, or still counting).
async fn scrape_until(
    url: &str,
    token: Option<&str>,
    what: &str,
    done: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let last = std::sync::Mutex::new(None);
    wait_until(what, Duration::from_secs(30), || {
        let (last, done) = (&last, &done);
        async move {
            let Ok(text) = try_scrape(url, token).await else {
                return false;
            };
            let exposition = Exposition::parse(&text);
            let ok = done(&exposition);
            *last.lock().unwrap() = Some(exposition);
            ok
        }
    })
    .await;
    last.into_inner().unwrap().expect("scraped")
}
