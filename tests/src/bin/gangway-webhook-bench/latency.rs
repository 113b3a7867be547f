//! Event appended → webhook received at a steady rate to one endpoint, with the part before the
//! event is on JetStream (the api's relay) told apart from the part after (the dispatcher).

use crate::profile::Profile;
use futures::StreamExt;
use gangway_bus::announce_commits;
use gangway_domain::LinkId;
use gangway_e2e::bench::histogram;
use gangway_e2e::bench::open_loop::sleep_until_exactly;
use gangway_e2e::bench::services::{start_dispatcher, Api, Tuning};
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::dispatch::append_expired_links;
use gangway_e2e::wait_until;
use gangway_event_store::EventStore;
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct Latency {
    pub sent: usize,
    /// Microseconds from when each event was due (the schedule) to when its webhook arrived.
    pub end_to_end: Histogram<u64>,
    /// Due → the append sent: how late this process's own timer woke it.
    pub to_send: Histogram<u64>,
    /// Due → the append committed (this process's schedule and the append's round trip).
    pub to_commit: Histogram<u64>,
    pub to_stream: Histogram<u64>,
    pub stream_to_sink: Histogram<u64>,
    pub profile: Profile,
}

fn record(histogram: &mut Histogram<u64>, from: Instant, to: Instant) {
    let micros = to.saturating_duration_since(from).as_micros().max(1) as u64;
    histogram.saturating_record(micros);
}

/// `rate` events/s for `seconds`, appended by this process on a fixed schedule, each timed from
/// when it was due. This process announces its commits as every writer process does, so the
/// api's relay is woken as it is for another api replica's commits.
pub async fn latency(sink: &Sink, rate: u64, seconds: u64, tuning: Tuning) -> anyhow::Result<Latency> {
    let env = TestEnv::new().await;
    let api = Api::start(&env, tuning.relay_poll_ms()).await?;
    let (org, key) = api.organization("bench latency").await?;
    api.endpoint(&key, &sink.url("/latency")).await?;
    let _dispatcher = start_dispatcher(&env, 1, tuning).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // When each link's expiry is on the stream, as any subscriber sees it.
    let published: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let bus = env.bus().await;
    let mut subscription = bus
        .client()
        .subscribe(format!("{}.onboarding_link.expired", env.names.subject_prefix))
        .await?;
    let watcher = tokio::spawn({
        let published = published.clone();
        async move {
            while let Some(message) = subscription.next().await {
                let at = Instant::now();
                if let Ok(event) = gangway_bus::decode_event(&message.payload) {
                    published.lock().expect("lock").insert(event.stream_id, at);
                }
            }
        }
    });

    sink.reset();
    sink.record_links(true);
    let store = EventStore::new(env.pool.clone());
    let announcing = CancellationToken::new();
    announce_commits(bus.clone(), store.appended_signal(), None, announcing.clone());
    let total = (rate * seconds) as usize;
    let mut due_at = HashMap::with_capacity(total);
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    for i in 0..total {
        let due = start + period * i as u32;
        sleep_until_exactly(due).await;
        let sent = Instant::now();
        let link = LinkId::new();
        append_expired_links(&store, org, &[link]).await?;
        due_at.insert(link.as_uuid(), (due.into_std(), sent, Instant::now()));
    }
    announcing.cancel();
    wait_until(
        "every webhook of the latency run",
        Duration::from_secs(60),
        || async { sink.link_arrivals().len() >= total },
    )
    .await;
    sink.record_links(false);
    watcher.abort();

    let (arrivals, published) = (sink.link_arrivals(), published.lock().expect("lock").clone());
    let (mut end_to_end, mut to_send, mut to_commit, mut to_stream, mut stream_to_sink) =
        (histogram(), histogram(), histogram(), histogram(), histogram());
    for (link, (at, sent, committed)) in &due_at {
        let (Some(received), Some(on_stream)) = (arrivals.get(link), published.get(link)) else {
            continue;
        };
        record(&mut end_to_end, *at, *received);
        record(&mut to_send, *at, *sent);
        record(&mut to_commit, *at, *committed);
        record(&mut to_stream, *at, *on_stream);
        record(&mut stream_to_sink, *on_stream, *received);
    }
    Ok(Latency {
        sent: total,
        end_to_end,
        to_send,
        to_commit,
        to_stream,
        stream_to_sink,
        profile: Profile::read(&env.pool).await?,
    })
}
