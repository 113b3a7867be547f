//! `make bench` (phase `backlog`): the release dispatcher, with its default settings, draining
//! backlogs of different sizes over the same endpoints (one of them dead: nothing listens on its
//! port). For each size: deliveries/s to a sink in this process, and how long each claim of due
//! messages took (the dispatcher's `gangway_webhook_claim_duration_seconds`), next to the first
//! (smallest) size as the baseline. Prints numbers; asserts nothing.
//!
//! The backlog is written straight into the delivery log (as if a dispatcher had recorded it
//! and stopped); the endpoints are created through the api, so their secrets are real.

use gangway_e2e::bench::services::Service;
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::bench_setting;
use gangway_e2e::{api_config, wait_until, TestApi};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::time::{Duration, Instant};

/// The release dispatcher with its defaults (http and loopback receivers allowed), and where its
/// metrics are.
struct Dispatcher {
    process: Service,
    metrics_url: String,
}

impl Dispatcher {
    fn start(env: &TestEnv) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut vars = env.process_env();
        vars.retain(|(k, _)| k != "GANGWAY_METRICS_ADDR");
        vars.extend(
            [
                ("GANGWAY_METRICS_ADDR", format!("127.0.0.1:{port}")),
                ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true".to_owned()),
                ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        Ok(Self {
            process: Service::start("gangway-dispatcher", vars)?,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    /// (claims, seconds spent claiming) so far.
    async fn claims(&self) -> anyhow::Result<(f64, f64)> {
        let text = reqwest::get(&self.metrics_url).await?.text().await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("gangway_webhook_claim_duration_seconds_count"),
            value("gangway_webhook_claim_duration_seconds_sum"),
        ))
    }
}

async fn scalar(env: &TestEnv, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&env.pool).await?)
}

/// Pending messages, spread evenly over every endpoint.
async fn fill(env: &TestEnv, messages: u64, endpoints: u64) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE webhook_messages CASCADE")
        .execute(&env.pool)
        .await?;
    sqlx::query("UPDATE dispatch_endpoints SET consecutive_failures = 0, failing_since = NULL, circuit_open_until = NULL")
        .execute(&env.pool)
        .await?;
    let per_endpoint = (messages / endpoints).max(1) as i64;
    sqlx::query(
        "INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, body, occurred_at) \
         SELECT gen_random_uuid(), e.organization_id, e.id, gen_random_uuid(), 'phone_number.connected', \
                '{\"event\":\"phone_number.connected\",\"data\":{}}', now() \
         FROM generate_series(1, $1) g CROSS JOIN dispatch_endpoints e",
    )
    .bind(per_endpoint)
    .execute(&env.pool)
    .await?;
    sqlx::query("VACUUM ANALYZE webhook_messages")
        .execute(&env.pool)
        .await?;
    Ok(())
}

struct Drained {
    pending: i64,
    delivered: u64,
    per_second: f64,
    claims: f64,
    mean_claim_ms: f64,
    /// Time spent claiming per message delivered: claims differ in size, so this is the cost.
    claim_us_per_message: f64,
}

async fn drain(env: &TestEnv, sink: &Sink, seconds: u64, live: u64) -> anyhow::Result<Drained> {
    let pending = scalar(env, "SELECT count(*) FROM webhook_messages").await?;
    sink.reset();
    let mut dispatcher = Dispatcher::start(env)?;
    let deliverable = pending as u64 * live / (live + 1);
    let window = Duration::from_secs(seconds);
    let _ = tokio::time::timeout(
        window,
        wait_until("the backlog delivered", window, || async {
            sink.requests() >= deliverable
        }),
    )
    .await;
    let (claims, claiming) = dispatcher.claims().await?;
    dispatcher.process.kill().await?;
    let delivered = sink.requests();
    let span = sink.span();
    Ok(Drained {
        pending,
        delivered,
        per_second: delivered as f64 / span.as_secs_f64().max(1e-3),
        claims,
        mean_claim_ms: 1000.0 * claiming / claims.max(1.0),
        claim_us_per_message: 1e6 * claiming / (delivered as f64).max(1.0),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let endpoints: u64 = bench_setting("BENCH_BACKLOG_ENDPOINTS", 1_000);
    let seconds: u64 = bench_setting("BENCH_BACKLOG_SECONDS", 60);
    let sizes: Vec<u64> = std::env::var("BENCH_BACKLOG_SIZES")
        .unwrap_or_else(|_| "1000,10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("Gangway dispatcher backlog benchmark\n");

    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.webhook_allow_private = true;
    let api = TestApi::spawn_with(config).await;
    let (_, key) = api.create_org("Backlog Co").await;
    let sink = Sink::start().await?;
    for n in 0..endpoints {
        // The last one is dead: nothing listens on port 9.
        let target = if n + 1 == endpoints {
            "http://127.0.0.1:9/dead".to_owned()
        } else {
            sink.url(&format!("/e{n}"))
        };
        let body = json!({ "url": target, "events": ["phone_number.connected"] });
        let (status, created) = api
            .call(reqwest::Method::POST, "/v1/webhooks", &key, Some(body))
            .await;
        anyhow::ensure!(status == 201, "creating an endpoint: {created}");
    }
    // A dispatcher folds the endpoints in, then stops: each size starts from the same state.
    let mut dispatcher = Dispatcher::start(&env)?;
    wait_until(
        "the dispatcher knows every endpoint",
        Duration::from_secs(60),
        || async {
            scalar(&env, "SELECT count(*) FROM dispatch_endpoints")
                .await
                .unwrap_or_default()
                == endpoints as i64
        },
    )
    .await;
    dispatcher.process.kill().await?;

    let mut results = Vec::new();
    for size in &sizes {
        let filling = Instant::now();
        fill(&env, *size, endpoints).await?;
        let filled_in = filling.elapsed();
        let drained = drain(&env, &sink, seconds, endpoints - 1).await?;
        println!(
            "{:>9} pending over {endpoints} endpoints (written in {:.1} s): {} delivered in the first {seconds} s at most, {:.0}/s; {} claims, {:.2} ms each on average, {:.1} µs per message delivered",
            drained.pending,
            filled_in.as_secs_f64(),
            drained.delivered,
            drained.per_second,
            drained.claims,
            drained.mean_claim_ms,
            drained.claim_us_per_message
        );
        results.push(drained);
    }
    let Some(base) = results.first() else {
        return Ok(());
    };
    println!(
        "\n| pending | deliveries/s | vs {0} pending | mean claim | claiming per message | vs {0} pending |",
        base.pending
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.0} % | {:.2} ms | {:.1} µs | {:.2}× |",
            r.pending,
            r.per_second,
            100.0 * r.per_second / base.per_second,
            r.mean_claim_ms,
            r.claim_us_per_message,
            r.claim_us_per_message / base.claim_us_per_message.max(1e-6)
        );
    }
    api.stop().await;
    Ok(())
}
