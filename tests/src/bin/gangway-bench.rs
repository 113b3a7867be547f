//! `make bench`: event-store append throughput against a pgbench baseline measured in the same
//! run, commit→publish lag through the relay, create-link API throughput and latency, and the
//! store's growth (appends and one stream's read on an empty store and on a full one).
//! Prints numbers; asserts nothing.

use anyhow::{bail, Context};
use chrono::Utc;
use futures::StreamExt;
use gangway_e2e::bench::relay::InProcessRelay;
use gangway_e2e::{bench_setting, wait_until, ChildProcess};
use gangway_event_store::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamRef};
use gangway_relay::RelayConfig;
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const WRITERS: usize = 16;
const SECONDS: u64 = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = bench_setting("BENCH_SECONDS", SECONDS);
    println!("Gangway benchmark ({seconds} s per phase, {WRITERS} concurrent writers/connections)\n");

    let phases = std::env::var("BENCH_PHASES").unwrap_or_else(|_| "lag,appends,api,growth".into());
    if phases.contains("lag") {
        // A fresh database, so the lag is not measured behind a vacuum of earlier phases' rows.
        let env = TestEnv::new().await;
        for rate in [200u64, 1_000] {
            let lag = publish_lag(&env, rate, seconds).await?;
            println!(
                "commit→publish lag at {rate:>5} appends/s:  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  (target p99 < 10 ms)",
                ms(lag.value_at_quantile(0.5)),
                ms(lag.value_at_quantile(0.99)),
                ms(lag.max())
            );
        }
    }
    if phases.contains("appends") {
        // Interleaved rounds, because this machine kind's disk swings a lot from minute to minute.
        let env = TestEnv::new().await;
        let (mut baseline_sum, mut new_sum, mut existing_sum) = (0.0, 0.0, 0.0);
        for round in 1..=2 {
            let baseline = pgbench_insert_tps(seconds).await?;
            let new_streams = append_throughput(&env, seconds, Streams::New).await?;
            let existing = append_throughput(&env, seconds, Streams::Existing).await?;
            println!(
                "round {round}: pgbench INSERT {baseline:>6.0} tx/s | appends to new streams {new_streams:>6.0}/s ({:.0} %) \
                 | to existing streams {existing:>6.0}/s ({:.0} %)",
                100.0 * new_streams / baseline,
                100.0 * existing / baseline
            );
            baseline_sum += baseline;
            new_sum += new_streams;
            existing_sum += existing;
        }
        println!(
            "pgbench single-row INSERT, {WRITERS} clients: {:>6.0} tx/s (baseline)",
            baseline_sum / 2.0
        );
        for (what, sum) in [("new streams", new_sum), ("existing streams", existing_sum)] {
            println!(
                "event appends to {what:<16} {:>6.0}/s = {:>3.0} % of baseline (target ≥ 60 %)",
                sum / 2.0,
                100.0 * sum / baseline_sum
            );
        }
    }
    if phases.contains("growth") {
        let events = bench_setting("BENCH_GROWTH_EVENTS", 10_000_000);
        store_growth(seconds, events).await?;
    }
    if phases.contains("api") {
        let (rps, latency) = create_link_load(seconds).await?;
        println!(
        "POST /v1/onboarding-links, {WRITERS} connections: {rps:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  (target ≥ 1,400 req/s, p99 < 20 ms)",
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.99))
    );
    }
    Ok(())
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// pgbench with a one-row INSERT script into a table shaped like a small event row.
async fn pgbench_insert_tps(seconds: u64) -> anyhow::Result<f64> {
    let env = TestEnv::new().await;
    sqlx::query("CREATE TABLE bench_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)")
        .execute(&env.pool)
        .await?;
    let script = std::env::temp_dir().join(format!("gangway-bench-{}.sql", Uuid::new_v4()));
    std::fs::write(
        &script,
        "INSERT INTO bench_rows (payload) VALUES ('{\"n\": 1}');\n",
    )?;
    let output = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &WRITERS.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(&env.database_url)
        .output()
        .await
        .context("running pgbench (install postgresql-contrib or postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("pgbench printed no tps line")
}

fn event(org: Uuid) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "bench.appended".into(),
        schema_version: 1,
        payload: serde_json::json!({"n": 1}),
        metadata: EventMetadata {
            organization_id: org.into(),
            causation_id: None,
            correlation_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
        },
    }
}

#[derive(Clone, Copy)]
enum Streams {
    /// Every append starts a stream (link and customer creation).
    New,
    /// Every append extends the writer's stream at its expected version (link lifecycle events).
    Existing,
}

/// 16 writers, one event per append, each in its own transaction.
async fn append_throughput(env: &TestEnv, seconds: u64, streams: Streams) -> anyhow::Result<f64> {
    let store = EventStore::new(env.pool.clone());
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let org = Uuid::now_v7();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (store, count, stop) = (store.clone(), count.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = StreamRef::new("bench", Uuid::now_v7());
            let mut version = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Streams::New = streams {
                    stream = StreamRef::new("bench", Uuid::now_v7());
                    version = 0;
                }
                let expected = if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(version)
                };
                store.append(&stream, expected, vec![event(org)]).await?;
                version += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Rounds of the growth phase's append measurement on each store (even, so that each store goes
/// first as often as second).
const GROWTH_ROUNDS: usize = 4;

/// Appends/s (new streams, 16 writers) and the latency of reading one stream, on an empty store
/// and on one holding `events` more events (streams of 5, written in bulk). The two stores are
/// measured in alternating rounds after the fill, each empty round on a fresh database, so that
/// the disk's swings from minute to minute fall on both alike.
async fn store_growth(seconds: u64, events: u64) -> anyhow::Result<()> {
    let env = TestEnv::new().await;
    let filling = Instant::now();
    let org = Uuid::now_v7();
    let chunk = 500_000;
    for _ in 0..events.div_ceil(chunk) {
        sqlx::query(
            "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, payload, \
                 organization_id, correlation_id, occurred_at) \
             SELECT gen_random_uuid(), 'bench', s.id, v, 'bench.filled', \
                 jsonb_build_object('n', v, 'text', repeat('x', 160)), $2, gen_random_uuid(), now() \
             FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1 / 5)) s \
             CROSS JOIN generate_series(1, 5) v",
        )
        .bind(chunk as i64)
        .bind(org)
        .execute(&env.pool)
        .await?;
    }
    sqlx::query("VACUUM ANALYZE events").execute(&env.pool).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await?;
    println!(
        "store filled to {stored} events in {:.0} s",
        filling.elapsed().as_secs_f64()
    );
    let (mut empty_rates, mut full_rates, mut empty_read) = (Vec::new(), Vec::new(), None);
    for round in 0..GROWTH_ROUNDS {
        let empty = TestEnv::new().await;
        // Which store goes first alternates too, so a drift over the rounds favours neither.
        if round % 2 == 1 {
            full_rates.push(append_throughput(&env, seconds, Streams::New).await?);
        }
        empty_rates.push(append_throughput(&empty, seconds, Streams::New).await?);
        if empty_read.is_none() {
            empty_read = Some(stream_read_latency(&empty).await?);
        }
        if round % 2 == 0 {
            full_rates.push(append_throughput(&env, seconds, Streams::New).await?);
        }
    }
    let empty_read = empty_read.expect("at least one round");
    let full_read = stream_read_latency(&env).await?;
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let (empty_rate, full_rate) = (mean(&empty_rates), mean(&full_rates));
    let each = |rates: &[f64]| {
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "appends to new streams, {WRITERS} writers, {GROWTH_ROUNDS} alternating rounds: empty store {empty_rate:>6.0}/s ({}), {stored} events {full_rate:>6.0}/s ({}) = {:.1} % (target ≥ 90 %)",
        each(&empty_rates),
        each(&full_rates),
        100.0 * full_rate / empty_rate
    );
    for (what, h) in [("empty store", &empty_read), ("full store", &full_read)] {
        println!(
            "reading one stream (5 events), {what:<11}: p50 {:>6.3} ms  p99 {:>6.3} ms  max {:>6.2} ms  (target p99 < 1 ms)",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
    Ok(())
}

/// Reads 10,000 streams picked at random from the store, one after another, as a command loads
/// its entity.
async fn stream_read_latency(env: &TestEnv) -> anyhow::Result<Histogram<u64>> {
    let streams: Vec<Uuid> = sqlx::query_scalar(
        "SELECT stream_id FROM events WHERE stream_version = 1 ORDER BY random() LIMIT 10000",
    )
    .fetch_all(&env.pool)
    .await?;
    let mut latency = histogram();
    for stream in streams {
        let started = Instant::now();
        gangway_event_store::read_stream_after(&env.pool, stream, 0).await?;
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    Ok(latency)
}

/// Appends at a steady `rate` with the relay running; lag = committed → delivered by JetStream.
async fn publish_lag(env: &TestEnv, rate: u64, seconds: u64) -> anyhow::Result<Histogram<u64>> {
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    // Start from the end: earlier phases' events are not part of this measurement.
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, transaction_id, position) \
         SELECT $1, coalesce(max(transaction_id), '0'::xid8), coalesce(max(position), 0) FROM events",
    )
    .bind(format!("bench-{rate}"))
    .execute(&env.pool)
    .await?;
    let committed: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let mut subscription = bus
        .client()
        .subscribe(format!("{}.bench.>", env.names.subject_prefix))
        .await?;
    let config = RelayConfig {
        name: format!("bench-{rate}"),
        ..RelayConfig::default()
    };
    let relay = InProcessRelay::start(env, bus.clone(), &store, config);

    let total = rate * seconds;
    let receiver = tokio::spawn({
        let committed = committed.clone();
        async move {
            let mut lag = histogram();
            let mut seen = 0;
            while seen < total {
                let Some(message) = subscription.next().await else {
                    break;
                };
                let received = Instant::now();
                let Ok(event) = gangway_bus::decode_event(&message.payload) else {
                    continue;
                };
                let at = committed.lock().expect("lock").remove(&event.event_id);
                if let Some(at) = at {
                    lag.record(received.saturating_duration_since(at).as_micros().max(1) as u64)
                        .ok();
                }
                seen += 1;
            }
            lag
        }
    });

    // Writers spread over 4 tasks, paced to `rate` in total.
    let org = Uuid::now_v7();
    let per_task = rate / 4;
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (store, committed) = (store.clone(), committed.clone());
        writers.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / per_task));
            for _ in 0..per_task * seconds {
                ticker.tick().await;
                let e = event(org);
                let id = e.event_id;
                store
                    .append(
                        &StreamRef::new("bench", Uuid::now_v7()),
                        ExpectedVersion::NoStream,
                        vec![e],
                    )
                    .await?;
                committed.lock().expect("lock").insert(id, Instant::now());
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let lag = tokio::time::timeout(Duration::from_secs(30), receiver).await??;
    relay.stop().await?;
    Ok(lag)
}

/// The release api as its own process, loaded by 16 keep-alive connections.
async fn create_link_load(seconds: u64) -> anyhow::Result<(f64, Histogram<u64>)> {
    let env = TestEnv::new().await;
    let port = free_port()?;
    let mut process_env = env.process_env();
    process_env.push(("GANGWAY_API_ADDR".into(), format!("127.0.0.1:{port}")));
    process_env.push(("GANGWAY_ADMIN_TOKEN".into(), "bench-admin".into()));
    process_env.push(("GANGWAY_DATABASE_MAX_CONNECTIONS".into(), "32".into()));
    let _api = ChildProcess::start("gangway-api", process_env);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(WRITERS)
        .build()?;
    wait_until("the api to be ready", Duration::from_secs(30), || {
        let request = http.get(format!("{base}/readyz")).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let org: serde_json::Value = http
        .post(format!("{base}/admin/organizations"))
        .bearer_auth("bench-admin")
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let key = org["data"]["apiKey"].as_str().context("api key")?.to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..WRITERS {
        let (http, base, key, stop) = (http.clone(), base.clone(), key.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::json!({
                    "externalId": format!("customer-{worker}-{}", n % 50),
                    "redirectUrl": "https://app.example.com/done",
                    "webhookUrl": "https://hooks.example.com/whatsapp",
                    "webhookSecret": "bench-webhook-secret-value",
                    "webhookEvents": ["phone_number.connected"]
                });
                let started = Instant::now();
                let response = http
                    .post(format!("{base}/v1/onboarding-links"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                response.bytes().await?;
                if status != 201 {
                    bail!("create link answered {status}");
                }
                latency.record(started.elapsed().as_micros().max(1) as u64).ok();
                n += 1;
            }
            anyhow::Ok(latency)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = histogram();
    for task in tasks {
        all.add(task.await??)?;
    }
    Ok((all.len() as f64 / started.elapsed().as_secs_f64(), all))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
