//! `make bench` (phase `replay`): `gangway replay` at its default batch size over a generated
//! store, next to a raw commit-order scan of the same table (`COPY` to the client) measured in the
//! same run; then the live projector catching up on the whole store as a JetStream backlog; then
//! one more replay with live traffic on the running system: appended → webhook received.
//! Prints numbers; asserts nothing.
//!
//! The store is real onboarding traffic cloned (see [`traffic`]): `BENCH_REPLAY_EVENTS` sets its
//! size (default 1,000,000), `BENCH_REPLAY_LIVE_RATE` the live traffic (default 50 events/s) and
//! `BENCH_REPLAY_BATCH` the replay's batch (default: `gangway replay`'s).

mod live;
mod traffic;

use futures::StreamExt;
use gangway_e2e::bench::relay::InProcessRelay;
use gangway_e2e::{bench_setting, stream_message_count, wait_until};
use gangway_event_store::EventStore;
use gangway_projections::{replay, DEFAULT_REPLAY_BATCH};
use gangway_projector::Projector;
use gangway_relay::RelayConfig;
use gangway_testkit::TestEnv;
use sqlx::postgres::PgPoolCopyExt;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = bench_setting("BENCH_REPLAY_EVENTS", 1_000_000);
    let live_rate: u64 = bench_setting("BENCH_REPLAY_LIVE_RATE", 50);
    let batch: i64 = bench_setting("BENCH_REPLAY_BATCH", DEFAULT_REPLAY_BATCH);
    let env = TestEnv::new().await;
    let template = traffic::template().await?;
    let filling = Instant::now();
    traffic::fill(&env, &template, events).await?;
    sqlx::query("VACUUM ANALYZE events").execute(&env.pool).await?;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await?;
    let mix: Vec<(String, i64)> =
        sqlx::query_as("SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY count(*) DESC")
            .fetch_all(&env.pool)
            .await?;
    println!(
        "store: {stored} events ({} from one organization's traffic, cloned) written in {:.0} s; by type:",
        template.len(),
        filling.elapsed().as_secs_f64()
    );
    for (event_type, n) in mix {
        println!("  {event_type:<40} {n:>9}");
    }

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
        let replayed = replay(&env.pool, batch, true, |_| {}).await?;
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
        "gangway replay, batch {batch}:           {replay_rate:>9.0} events/s = {:.1} % of the scan \
         (targets ≥ 25,000 events/s and ≥ 15 %)",
        100.0 * replay_rate / scan_rate
    );
    println!(
        "live projector catching up a backlog of {stored} events: {:>9.0} events/s (target ≥ 20,000)",
        stored as f64 / catch_up
    );
    let live = live::live_during_replay(&env, stored, live_rate).await?;
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

/// Publishes the whole store with a relay, then times a projector (with its default batches)
/// from start until its durable consumer has nothing pending; returns seconds.
async fn projector_catch_up(env: &TestEnv, stored: i64) -> anyhow::Result<f64> {
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let relay = InProcessRelay::start(env, bus.clone(), &store, RelayConfig::default());
    wait_until("the store on JetStream", Duration::from_secs(600), || async {
        stream_message_count(&bus).await as i64 >= stored
    })
    .await;
    relay.stop().await?;

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
