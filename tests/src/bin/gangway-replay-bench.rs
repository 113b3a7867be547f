//! `make bench` (phase `replay`): `gangway replay` at its default batch size over a generated
//! store, next to a raw commit-order scan of the same table (`COPY` to the client) measured in the
//! same run; then the live projector catching up on the whole store as a JetStream backlog; then
//! one more replay with live traffic on the running system: appended → webhook received.
//! Prints numbers; asserts nothing.
//!
//! The store holds onboarding links only (each created, then deleted, expired or revoked), not
//! the whole mix of event types: `BENCH_REPLAY_EVENTS` sets its size (default 1,000,000), and
//! `BENCH_REPLAY_LIVE_RATE` the live traffic (default 50 events/s).

use futures::StreamExt;
use gangway_domain::link::LinkEvent;
use gangway_domain::{LinkId, OrganizationId};
use gangway_e2e::bench::services::{wait_for_endpoints, Api, Service};
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::dispatch::{append_expired_links, append_links};
use gangway_e2e::{bench_setting, stream_message_count, wait_until};
use gangway_event_store::EventStore;
use gangway_projections::{replay, DEFAULT_REPLAY_BATCH};
use gangway_projector::Projector;
use gangway_relay::{Relay, RelayConfig};
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use sqlx::postgres::PgPoolCopyExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = bench_setting("BENCH_REPLAY_EVENTS", 1_000_000);
    let live_rate: u64 = bench_setting("BENCH_REPLAY_LIVE_RATE", 50);
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = OrganizationId::new();
    let endings = [
        LinkEvent::Deleted {},
        LinkEvent::Expired { customer: None },
        LinkEvent::Revoked {
            superseded_by: LinkId::new(),
        },
    ];
    let links: Vec<LinkId> = (0..events / 2).map(|_| LinkId::new()).collect();
    for (n, chunk) in links.chunks(1_000).enumerate() {
        let ending = endings[n % endings.len()].clone();
        append_links(&store, org, chunk, Some("cus_bench"), ending).await?;
    }
    sqlx::query("VACUUM ANALYZE events").execute(&env.pool).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await?;

    // Two rounds each, interleaved, because this machine kind's disk swings from minute to minute.
    let (mut scan_secs, mut replay_secs) = (0.0, 0.0);
    for _ in 0..2 {
        let started = Instant::now();
        let mut rows = env
            .pool
            .copy_out_raw("COPY (SELECT * FROM events ORDER BY transaction_id, position) TO STDOUT")
            .await?;
        let mut bytes = 0usize;
        while let Some(chunk) = rows.next().await {
            bytes += chunk?.len();
        }
        anyhow::ensure!(bytes > 0, "the scan read nothing");
        scan_secs += started.elapsed().as_secs_f64();

        let started = Instant::now();
        let replayed = replay(&env.pool, DEFAULT_REPLAY_BATCH, true, |_| {}).await?;
        replay_secs += started.elapsed().as_secs_f64();
        anyhow::ensure!(
            replayed as i64 == stored,
            "replayed {replayed} of {stored} events"
        );
    }
    let catch_up = projector_catch_up(&env, stored).await?;
    let scan_rate = 2.0 * stored as f64 / scan_secs;
    let replay_rate = 2.0 * stored as f64 / replay_secs;
    println!("raw commit-order scan (COPY) of {stored} events: {scan_rate:>9.0} events/s (baseline)");
    println!(
        "gangway replay, batch {DEFAULT_REPLAY_BATCH}:           {replay_rate:>9.0} events/s = {:.1} % of the scan \
         (targets ≥ 25,000 events/s and ≥ 15 %)",
        100.0 * replay_rate / scan_rate
    );
    println!(
        "live projector catching up a backlog of {stored} events: {:>9.0} events/s (target ≥ 20,000)",
        stored as f64 / catch_up
    );
    let live = live_during_replay(&env, stored, live_rate).await?;
    let ms = |micros: u64| micros as f64 / 1000.0;
    println!(
        "gangway replay with {live_rate} events/s of live traffic: {:.0} events/s; {} of {} live \
         events' webhooks received, appended (when due) → received p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms (target p99 < 1 s)",
        live.replayed as f64 / live.replay_seconds,
        live.latency.len(),
        live.sent,
        ms(live.latency.value_at_quantile(0.5)),
        ms(live.latency.value_at_quantile(0.99)),
        ms(live.latency.max()),
    );
    Ok(())
}

struct LiveRun {
    replayed: u64,
    replay_seconds: f64,
    sent: usize,
    /// Microseconds from when each live event was due to when its webhook arrived.
    latency: Histogram<u64>,
}

/// A replay on a running system: the release api (with its relay), projector and dispatcher
/// with their defaults, and live traffic for as long as the replay runs: an expired link of
/// another organization every `1/rate` s, open loop (appended on schedule, each timed from when
/// it was due), each a webhook to a sink in this process.
async fn live_during_replay(env: &TestEnv, stored: i64, rate: u64) -> anyhow::Result<LiveRun> {
    let sink = Sink::start().await?;
    let api = Api::start(env, None).await?;
    let (org, key) = api.organization("live traffic").await?;
    api.endpoint(&key, &sink.url("/live")).await?;
    let mut vars = env.process_env();
    vars.extend(
        [
            ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true"),
            ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let _dispatcher = Service::start("gangway-dispatcher", vars.clone())?;
    let _projector = Service::start("gangway-projector", vars)?;
    wait_for_endpoints(env, 1).await;

    // The processes take in the store first; a probe's webhook says they are through.
    let store = EventStore::new(env.pool.clone());
    sink.record_links(true);
    let probe = LinkId::new();
    append_expired_links(&store, org, &[probe]).await?;
    wait_until("the probe's webhook", Duration::from_secs(600), || async {
        sink.link_arrivals().contains_key(&probe.as_uuid())
    })
    .await;

    let started = Instant::now();
    let replayed = CancellationToken::new();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let traffic = async {
        let mut due: HashMap<uuid::Uuid, Instant> = HashMap::new();
        let mut appends = tokio::task::JoinSet::new();
        while !replayed.is_cancelled() {
            let at = started + period * due.len() as u32;
            tokio::select! {
                _ = replayed.cancelled() => break,
                _ = tokio::time::sleep_until(at.into()) => {}
            }
            let link = LinkId::new();
            due.insert(link.as_uuid(), at);
            let store = store.clone();
            appends.spawn(async move { append_expired_links(&store, org, &[link]).await });
        }
        (due, appends)
    };
    let replaying = async {
        let result = replay(&env.pool, DEFAULT_REPLAY_BATCH, true, |_| {}).await;
        replayed.cancel();
        result
    };
    let ((due, mut appends), replay_result) = tokio::join!(traffic, replaying);
    let replay_seconds = started.elapsed().as_secs_f64();
    let replayed = replay_result?;
    anyhow::ensure!(replayed as i64 > stored, "replayed {replayed} events");
    while let Some(appended) = appends.join_next().await {
        appended??;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        wait_until("every live webhook", Duration::from_secs(60), || async {
            let arrivals = sink.link_arrivals();
            due.keys().all(|link| arrivals.contains_key(link))
        }),
    )
    .await;
    let arrivals = sink.link_arrivals();
    let mut latency = Histogram::new_with_bounds(1, 600_000_000, 3)?;
    for (link, at) in &due {
        if let Some(received) = arrivals.get(link) {
            latency.saturating_record(received.saturating_duration_since(*at).as_micros().max(1) as u64);
        }
    }
    Ok(LiveRun {
        replayed,
        replay_seconds,
        sent: due.len(),
        latency,
    })
}

/// Publishes the whole store with a relay, then times a projector (with its default batches)
/// from start until its durable consumer has nothing pending; returns seconds.
async fn projector_catch_up(env: &TestEnv, stored: i64) -> anyhow::Result<f64> {
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let relay = Relay::new(
        (*env.pool.connect_options()).clone(),
        bus.clone(),
        store.appended_signal(),
        RelayConfig::default(),
    );
    let cancel = CancellationToken::new();
    let relay_task = tokio::spawn({
        let cancel = cancel.clone();
        async move { relay.run(cancel).await }
    });
    wait_until("the store on JetStream", Duration::from_secs(600), || async {
        stream_message_count(&bus).await as i64 >= stored
    })
    .await;
    cancel.cancel();
    relay_task.await?;

    let started = Instant::now();
    let cancel = CancellationToken::new();
    let projector = Projector::new(env.pool.clone(), "catch-up");
    let running = tokio::spawn({
        let (cancel, bus) = (cancel.clone(), bus.clone());
        async move { projector.run(&bus, cancel).await }
    });
    wait_until(
        "the projector to catch up",
        Duration::from_secs(1_800),
        || async {
            let Ok(mut consumer) = bus.projector_consumer("catch-up").await else {
                return false;
            };
            consumer.info().await.is_ok_and(|info| {
                info.num_pending == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence > 0
            })
        },
    )
    .await;
    let took = started.elapsed().as_secs_f64();
    cancel.cancel();
    running.await?;
    Ok(took)
}
