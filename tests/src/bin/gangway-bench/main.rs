//! `make bench`: event-store append throughput against pgbench baselines measured in the same
//! run, commit→delivered lag through the relay to a JetStream consumer, create-link throughput
//! (closed loop) and latency (open loop) against the whole system, and the store's growth
//! (appends and one stream's read on an empty store and on a full one).
//! Prints numbers; asserts nothing.

mod api;

use anyhow::{bail, Context};
use chrono::Utc;
use futures::StreamExt;
use gangway_e2e::bench::relay::InProcessRelay;
use gangway_e2e::bench::{histogram, ms, quantiles};
use gangway_e2e::bench_setting;
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
        for rate in [200u64, 1_000] {
            // A fresh database and stream each, so the lag is measured behind nothing earlier.
            let env = TestEnv::new().await;
            let lag = publish_lag(&env, rate, seconds).await?;
            println!(
                "committed → delivered by a JetStream consumer at {rate:>5} appends/s:  {}  (target p99 < 10 ms)",
                quantiles(&lag)
            );
        }
    }
    if phases.contains("appends") {
        appends(seconds).await?;
    }
    if phases.contains("growth") {
        let events = bench_setting("BENCH_GROWTH_EVENTS", 10_000_000);
        store_growth(seconds, events).await?;
    }
    if phases.contains("api") {
        let rate = bench_setting("BENCH_API_RATE", 1_000);
        api::create_links(seconds, WRITERS, rate).await?;
    }
    Ok(())
}

/// Interleaved rounds, because this machine kind's disk swings a lot from minute to minute: each
/// round runs pgbench's plain INSERT, pgbench running the event store's append statement, and
/// the event store's appends to new and to existing streams.
async fn appends(seconds: u64) -> anyhow::Result<()> {
    const ROUNDS: usize = 2;
    let env = TestEnv::new().await;
    let mut sums = [0.0; 4];
    for round in 1..=ROUNDS {
        let insert = pgbench_tps(seconds, Script::PlainInsert).await?;
        let statement = pgbench_tps(seconds, Script::AppendStatement).await?;
        let new_streams = append_throughput(&env, seconds, Streams::New).await?;
        let existing = append_throughput(&env, seconds, Streams::Existing).await?;
        println!(
            "round {round}: pgbench INSERT {insert:>6.0} tx/s | pgbench append statement {statement:>6.0} tx/s ({:.0} %) \
             | appends to new streams {new_streams:>6.0}/s ({:.0} %) | to existing streams {existing:>6.0}/s ({:.0} %)",
            100.0 * statement / insert,
            100.0 * new_streams / insert,
            100.0 * existing / insert
        );
        for (sum, value) in sums.iter_mut().zip([insert, statement, new_streams, existing]) {
            *sum += value;
        }
    }
    let [insert, statement, new_streams, existing] = sums.map(|sum| sum / ROUNDS as f64);
    println!("pgbench single-row INSERT, {WRITERS} clients: {insert:>6.0} tx/s (baseline)");
    println!(
        "pgbench running the append statement (one new stream each, prepared): {statement:>6.0} tx/s = {:>3.0} % of baseline (Postgres's own cost of the statement)",
        100.0 * statement / insert
    );
    for (what, rate) in [("new streams", new_streams), ("existing streams", existing)] {
        println!(
            "event appends to {what:<16} {rate:>6.0}/s = {:>3.0} % of baseline, {:>3.0} % of the statement in pgbench (target ≥ 70 % of baseline)",
            100.0 * rate / insert,
            100.0 * rate / statement
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Script {
    /// A one-row INSERT into a table shaped like a small event row.
    PlainInsert,
    /// The event store's own append statement, one event to a new stream, with its parameters
    /// written in as values; prepared, as the event store's client sends it.
    AppendStatement,
}

/// The append statement with its twelve array parameters written in for one event.
fn append_statement_script(org: Uuid) -> String {
    let values = [
        "ARRAY['bench']".to_owned(),
        "ARRAY[gen_random_uuid()]".to_owned(),
        "ARRAY[0]".to_owned(),
        "ARRAY[1]".to_owned(),
        "ARRAY[gen_random_uuid()]".to_owned(),
        "ARRAY['bench.appended']".to_owned(),
        "ARRAY[1]".to_owned(),
        "ARRAY['{\"n\": 1}']".to_owned(),
        format!("ARRAY['{org}']"),
        "ARRAY[NULL]".to_owned(),
        "ARRAY[gen_random_uuid()]".to_owned(),
        "ARRAY[now()]".to_owned(),
    ];
    let mut script = gangway_event_store::APPEND_SQL.trim().to_owned();
    // From $12 down, so that $1 does not match the start of $10.
    for (n, value) in values.iter().enumerate().rev() {
        script = script.replace(&format!("${}::", n + 1), &format!("{value}::"));
    }
    script + ";\n"
}

async fn pgbench_tps(seconds: u64, script: Script) -> anyhow::Result<f64> {
    let env = TestEnv::new().await;
    let (text, mode) = match script {
        Script::PlainInsert => {
            sqlx::query("CREATE TABLE bench_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)")
                .execute(&env.pool)
                .await?;
            (
                "INSERT INTO bench_rows (payload) VALUES ('{\"n\": 1}');\n".to_owned(),
                "simple",
            )
        }
        Script::AppendStatement => (append_statement_script(Uuid::now_v7()), "prepared"),
    };
    let path = std::env::temp_dir().join(format!("gangway-bench-{}.sql", Uuid::new_v4()));
    std::fs::write(&path, text)?;
    let output = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-M",
            mode,
            "-c",
            &WRITERS.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&path)
        .arg(&env.database_url)
        .output()
        .await
        .context("running pgbench (install postgresql-contrib or postgresql-client)")?;
    let _ = std::fs::remove_file(&path);
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

/// Appends at a steady `rate` with the relay running in this process, as it runs in the api;
/// lag = committed → delivered to a durable pull consumer with the dispatcher's definition (the
/// way the projector and dispatcher receive events), acknowledged as they do.
async fn publish_lag(env: &TestEnv, rate: u64, seconds: u64) -> anyhow::Result<Histogram<u64>> {
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let committed: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let mut delivered = bus.dispatcher_consumer("bench-lag").await?.messages().await?;
    let relay = InProcessRelay::start(env, bus.clone(), &store, RelayConfig::default());

    let total = rate * seconds;
    // Arrival times are kept apart from commit times: a message can arrive before its writer
    // has noted its commit.
    let receiver = tokio::spawn(async move {
        let mut arrived = HashMap::with_capacity(total as usize);
        while (arrived.len() as u64) < total {
            let Some(message) = delivered.next().await else {
                break;
            };
            let at = Instant::now();
            let message = message?;
            message.ack().await.ok();
            if let Ok(event) = gangway_bus::decode_event(&message.payload) {
                arrived.insert(event.event_id, at);
            }
        }
        anyhow::Ok(arrived)
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
    let arrived = tokio::time::timeout(Duration::from_secs(30), receiver).await???;
    let mut lag = histogram();
    for (id, committed) in committed.lock().expect("lock").iter() {
        if let Some(arrived) = arrived.get(id) {
            lag.saturating_record(arrived.saturating_duration_since(*committed).as_micros().max(1) as u64);
        }
    }
    relay.stop().await?;
    Ok(lag)
}
