//! A replay on a running system, with live traffic for as long as it runs.

use gangway_domain::LinkId;
use gangway_e2e::bench::services::{Api, Service};
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::dispatch::append_expired_links;
use gangway_e2e::wait_until;
use gangway_event_store::EventStore;
use gangway_projections::{replay, DEFAULT_REPLAY_BATCH};
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct LiveRun {
    pub replayed: u64,
    pub replay_seconds: f64,
    pub sent: usize,
    /// Microseconds from when each live event was due to when its webhook arrived.
    pub latency: Histogram<u64>,
}

/// A replay on a running system: the release api (with its relay), projector and dispatcher
/// with their defaults, and live traffic for as long as the replay runs: an expired link of
/// another organization every `1/rate` s, open loop (appended on schedule, each timed from when
/// it was due), each a webhook to a sink in this process.
pub async fn live_during_replay(env: &TestEnv, stored: i64, rate: u64) -> anyhow::Result<LiveRun> {
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

    // The processes take in the whole store first (the dispatcher its endpoint after it); a
    // probe's webhook says they are through.
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
