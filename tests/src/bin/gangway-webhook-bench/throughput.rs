//! Deliveries/s, at the shipped defaults: while the events are still arriving (ingest and
//! delivery together, with the CPU it took), and draining a backlog (events recorded and
//! published while the dispatcher is down, then the dispatcher started), with the processes'
//! memory idle and while draining. Deliveries are distinct `webhook-id`s at the sink.

use crate::profile::Profile;
use anyhow::bail;
use gangway_bus::announce_commits;
use gangway_domain::{LinkId, OrganizationId};
use gangway_e2e::bench::cpu::CpuTimes;
use gangway_e2e::bench::services::{max_rss, start_dispatcher, Api, Service, Tuning};
use gangway_e2e::bench::sink::Sink;
use gangway_e2e::dispatch::append_expired_links;
use gangway_e2e::{stream_message_count, wait_until};
use gangway_event_store::EventStore;
use gangway_testkit::TestEnv;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Throughput {
    pub deliveries: u64,
    pub span: Duration,
    /// The same messages again, already recorded: delivery alone, without ingest.
    pub redelivery_span: Duration,
    /// Resident memory in MiB: (dispatcher, api).
    pub idle: (f64, f64),
    pub draining: (f64, f64),
    pub after: (f64, f64),
    pub profile: Profile,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.deliveries as f64 / self.span.as_secs_f64()
    }

    pub fn redelivered_per_second(&self) -> f64 {
        self.deliveries as f64 / self.redelivery_span.as_secs_f64()
    }
}

/// A fresh store; the api and the dispatcher at their defaults; an organization whose
/// `endpoints` endpoints (`/e0`, `/e1`, …) point at the sink.
struct Deployment {
    env: TestEnv,
    api: Api,
    org: OrganizationId,
    dispatcher: Service,
}

async fn deploy(sink: &Sink, endpoints: usize) -> anyhow::Result<Deployment> {
    let env = TestEnv::new().await;
    let api = Api::start(&env, None).await?;
    let (org, key) = api.organization("bench").await?;
    for i in 0..endpoints {
        api.endpoint(&key, &sink.url(&format!("/e{i}"))).await?;
    }
    let dispatcher = start_dispatcher(&env, endpoints as i64, Tuning::Defaults).await?;
    Ok(Deployment {
        env,
        api,
        org,
        dispatcher,
    })
}

pub async fn throughput(sink: &Sink, events: usize, endpoints: usize) -> anyhow::Result<Throughput> {
    let Deployment {
        env,
        api,
        org,
        mut dispatcher,
    } = deploy(sink, endpoints).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = tokio::join!(
        max_rss(&dispatcher, Duration::from_secs(1)),
        max_rss(&api.process, Duration::from_secs(1))
    );

    // The backlog: recorded and on the stream while no dispatcher runs.
    dispatcher.kill().await?;
    let store = EventStore::new(env.pool.clone());
    let links: Vec<LinkId> = (0..events).map(|_| LinkId::new()).collect();
    for chunk in links.chunks(100) {
        append_expired_links(&store, org, chunk).await?;
    }
    let bus = env.bus().await;
    wait_until(
        "the relay to publish the backlog",
        Duration::from_secs(120),
        || async {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&env.pool)
                .await
                .unwrap_or(i64::MAX);
            stream_message_count(&bus).await as i64 >= stored
        },
    )
    .await;

    let expected = (events * endpoints) as u64;
    let mut draining: (f64, f64) = (0.0, 0.0);
    let span = drain(sink, &mut dispatcher, &api, expected, &mut draining).await?;
    let deliveries = sink.distinct();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = (
        dispatcher.rss_mib().unwrap_or(0.0),
        api.process.rss_mib().unwrap_or(0.0),
    );
    let profile = Profile::read(&env.pool).await?;

    // Every message due again, with the dispatcher down: what delivery alone manages.
    dispatcher.kill().await?;
    sqlx::query(
        "UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = now(), \
             leased_until = NULL, delivered_at = NULL",
    )
    .execute(&env.pool)
    .await?;
    sqlx::query("VACUUM ANALYZE webhook_messages")
        .execute(&env.pool)
        .await?;
    let redelivery_span = drain(sink, &mut dispatcher, &api, expected, &mut draining).await?;
    Ok(Throughput {
        deliveries,
        span,
        redelivery_span,
        idle,
        draining,
        after,
        profile,
    })
}

/// Starts the stopped dispatcher and waits for `expected` deliveries, noting the most memory
/// (dispatcher, api) on the way; returns the time from the first delivery to the last.
async fn drain(
    sink: &Sink,
    dispatcher: &mut Service,
    api: &Api,
    expected: u64,
    max_rss: &mut (f64, f64),
) -> anyhow::Result<Duration> {
    sink.reset();
    let started = Instant::now();
    dispatcher.start_again()?;
    while sink.distinct() < expected {
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "only {} of {expected} deliveries within 10 minutes",
                sink.distinct()
            );
        }
        max_rss.0 = max_rss.0.max(dispatcher.rss_mib().unwrap_or(0.0));
        max_rss.1 = max_rss.1.max(api.process.rss_mib().unwrap_or(0.0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(sink.span())
}

/// Ingest and delivery together: the dispatcher running, `events` events appended by this
/// process as fast as it can (in transactions of 100), each delivered to every endpoint.
pub struct Live {
    pub deliveries: u64,
    /// From the first append to the last delivery.
    pub span: Duration,
    /// From the first append to the last commit.
    pub appending: Duration,
    pub cpu: CpuTimes,
}

impl Live {
    pub fn per_second(&self) -> f64 {
        self.deliveries as f64 / self.span.as_secs_f64()
    }

    /// CPU of Gangway's processes, Postgres and NATS per delivery, in microseconds.
    pub fn cpu_per_delivery_us(&self) -> f64 {
        self.cpu.total().as_secs_f64() * 1e6 / self.deliveries as f64
    }
}

pub async fn live(sink: &Sink, events: usize, endpoints: usize) -> anyhow::Result<Live> {
    // Named, not `..`: the processes must live until the end of the phase.
    let Deployment {
        env,
        org,
        api: _api,
        dispatcher: _dispatcher,
    } = deploy(sink, endpoints).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let store = EventStore::new(env.pool.clone());
    let announcing = CancellationToken::new();
    announce_commits(env.bus().await, store.appended_signal(), None, announcing.clone());

    sink.reset();
    let expected = (events * endpoints) as u64;
    let cpu = CpuTimes::now();
    let started = Instant::now();
    let links: Vec<LinkId> = (0..events).map(|_| LinkId::new()).collect();
    for chunk in links.chunks(100) {
        append_expired_links(&store, org, chunk).await?;
    }
    let appending = started.elapsed();
    wait_until("every delivery", Duration::from_secs(600), || async {
        sink.distinct() >= expected
    })
    .await;
    let cpu = CpuTimes::now().since(&cpu);
    let span = sink
        .last_request()
        .map_or_else(|| started.elapsed(), |last| last - started);
    announcing.cancel();
    Ok(Live {
        deliveries: sink.distinct(),
        span,
        appending,
        cpu,
    })
}
