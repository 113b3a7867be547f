//! Event appended → webhook received at a steady rate to one endpoint, with the part before the
//! event is on JetStream (the api's relay) told apart from the part after (the dispatcher).

use crate::profile::Profile;
use futures::StreamExt;
use gangway_domain::LinkId;
use gangway_e2e::bench::services::{start_dispatcher, Api};
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::dispatch::append_expired_links;
use gangway_e2e::wait_until;
use gangway_event_store::EventStore;
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct Latency {
    pub sent: usize,
    /// Microseconds.
    pub end_to_end: Histogram<u64>,
    pub to_stream: Histogram<u64>,
    pub stream_to_sink: Histogram<u64>,
    pub profile: Profile,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn record(histogram: &mut Histogram<u64>, from: Instant, to: Instant) {
    let micros = to.saturating_duration_since(from).as_micros().max(1) as u64;
    histogram.saturating_record(micros);
}

pub async fn latency(sink: &Sink, rate: u64, seconds: u64, relay_poll_ms: u64) -> anyhow::Result<Latency> {
    let env = TestEnv::new().await;
    let api = Api::start(&env, Some(relay_poll_ms)).await?;
    let (org, key) = api.organization("bench latency").await?;
    api.endpoint(&key, &sink.url("/latency")).await?;
    let _dispatcher = start_dispatcher(&env, 1).await?;
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
    let total = (rate * seconds) as usize;
    let mut appended = HashMap::with_capacity(total);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for _ in 0..total {
        ticker.tick().await;
        let link = LinkId::new();
        append_expired_links(&store, org, &[link]).await?;
        appended.insert(link.as_uuid(), Instant::now());
    }
    wait_until(
        "every webhook of the latency run",
        Duration::from_secs(60),
        || async { sink.link_arrivals().len() >= total },
    )
    .await;
    sink.record_links(false);
    watcher.abort();

    let (arrivals, published) = (sink.link_arrivals(), published.lock().expect("lock").clone());
    let (mut end_to_end, mut to_stream, mut stream_to_sink) = (histogram(), histogram(), histogram());
    for (link, at) in &appended {
        let (Some(received), Some(on_stream)) = (arrivals.get(link), published.get(link)) else {
            continue;
        };
        record(&mut end_to_end, *at, *received);
        record(&mut to_stream, *at, *on_stream);
        record(&mut stream_to_sink, *on_stream, *received);
    }
    Ok(Latency {
        sent: total,
        end_to_end,
        to_stream,
        stream_to_sink,
        profile: Profile::read(&env.pool).await?,
    })
}
