//! The dispatcher process: turns events into webhook messages and delivers them, signed, with
//! retries, to the organizations' endpoints.
//!
//! Two loops share the work: `consume` reads the event stream and the stream of relayed WhatsApp
//! messages (a durable JetStream consumer on each) and records webhook messages in Postgres
//! before acknowledging, several events per transaction, handing the messages it could lease
//! straight to senders; `deliver` sends what is due. Everything a restart needs is in Postgres.

pub mod attempt;
pub mod config;
pub mod deliver;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod outgoing;
pub mod record;
pub mod retention;
pub mod schedule;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind};
use attempt::Sender;
use config::DispatcherConfig;
use deliver::{Deliverer, DeliveryConfig};
use futures::StreamExt;
use gangway_bus::{ack, announce_commits, decode_received, split_received, Bus, BusNames, Wake};
use gangway_config::Environment;
use gangway_dead_letters::DeadLetters;
use gangway_event_store::EventStore;
use gangway_event_store::RecordedEvent;
use gangway_vault::{Keyring, Vault};
use keys::Keys;
use retention::Retention;
use schedule::RetrySchedule;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A dispatcher with its connections made.
pub struct Dispatcher {
    pool: PgPool,
    bus: Bus,
    consumer: String,
    deliverer: Arc<Deliverer>,
    retention: Retention,
    dead_letters: DeadLetters,
    /// Signalled after this process appends events (an endpoint disabled), to wake the relay.
    committed: Arc<Notify>,
}

impl Dispatcher {
    pub async fn build(config: DispatcherConfig) -> anyhow::Result<Self> {
        config.check()?;
        let keyring = Keyring::from_settings(
            config.encryption_keys.expose(),
            &config.encryption_key_id,
            config.environment == Environment::Production,
        )?;
        let pool =
            gangway_config::runtime::connect_database(&config.infra, config.infra.database_max_connections)
                .await?;
        let fast_pool = fast_pool(&config.infra).await?;
        gangway_event_store::MIGRATOR
            .run(&pool)
            .await
            .context("running database migrations")?;
        let names = BusNames::from(&config.infra);
        let bus = Bus::connect(&config.infra.nats_url, names).await?;
        let policy = gangway_webhook_signing::Policy {
            allow_http: config.http_allowed(),
            allow_private: config.allow_private,
        };
        let delivery = DeliveryConfig {
            concurrency: config.concurrency,
            endpoint_concurrency: config.endpoint_concurrency.max(1),
            attempt_timeout: config.attempt_timeout(),
            schedule: RetrySchedule {
                initial: Duration::from_millis(config.retry_initial_ms.max(1)),
                multiplier: config.retry_multiplier,
                max: Duration::from_millis(config.retry_max_ms.max(1)),
                max_attempts: config.max_attempts.max(1),
            },
            circuit_failures: config.circuit_failures,
            circuit_open: Duration::from_millis(config.circuit_open_ms),
            disable_after: Duration::from_secs(config.disable_after_seconds),
            poll_interval: config.poll_interval(),
        };
        let store = EventStore::new(pool.clone());
        let committed = store.appended_signal();
        let deliverer = Deliverer::new(
            pool.clone(),
            fast_pool,
            store,
            Sender::new(policy, config.attempt_timeout(), config.response_excerpt_bytes),
            Keys::new(pool.clone(), Vault::new(keyring)),
            delivery,
        );
        let dead_letters = DeadLetters::new(
            pool.clone(),
            config.consumer.clone(),
            "dispatcher",
            config.max_deliveries,
        );
        Ok(Self {
            pool,
            bus,
            dead_letters,
            retention: config.retention(),
            consumer: config.consumer,
            deliverer: Arc::new(deliverer),
            committed,
        })
    }

    /// Consumes and delivers until cancelled; then finishes the attempts under way.
    pub async fn run(self, cancel: CancellationToken) {
        tracing::info!(consumer = %self.consumer, "dispatcher running");
        let announcer = announce_commits(self.bus.clone(), self.committed.clone(), None, cancel.clone());
        let wakeups = self
            .bus
            .forward_wakeups(Wake::Dispatcher, self.deliverer.wake_signal(), cancel.clone())
            .await
            .inspect_err(|error| {
                tracing::warn!(%error, "no wake-ups from other processes; retried messages wait for the poll")
            })
            .ok();
        let delivering = tokio::spawn(self.deliverer.clone().run(cancel.clone()));
        let sweeping = tokio::spawn(retention::run(self.pool.clone(), self.retention, cancel.clone()));
        let retries = tokio::spawn({
            let (dead_letters, pool, deliverer) = (
                self.dead_letters.clone(),
                self.pool.clone(),
                self.deliverer.clone(),
            );
            let cancel = cancel.clone();
            async move {
                let handle = |event: RecordedEvent| {
                    let (pool, deliverer) = (pool.clone(), deliverer.clone());
                    async move { ingest(&pool, &deliverer, std::slice::from_ref(&event), false).await }
                };
                dead_letters.run_retries(handle, RETRY_POLL, cancel).await
            }
        });
        tokio::join!(
            self.keep_consuming(Feed::Events, &cancel),
            self.keep_consuming(Feed::Messages, &cancel)
        );
        let _ = tokio::join!(delivering, sweeping, retries, announcer);
        if let Some(wakeups) = wakeups {
            wakeups.await.ok();
        }
    }

    async fn keep_consuming(&self, feed: Feed, cancel: &CancellationToken) {
        while !cancel.is_cancelled() {
            if let Err(error) = self.consume(feed, cancel).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    ?feed,
                    "dispatcher consumer failed; retrying"
                );
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    async fn consume(&self, feed: Feed, cancel: &CancellationToken) -> anyhow::Result<()> {
        let consumer = match feed {
            Feed::Events => self.bus.dispatcher_consumer(&self.consumer).await?,
            Feed::Messages => self.bus.dispatcher_message_consumer(&self.consumer).await?,
        };
        let messages = consumer
            .messages()
            .await
            .context("subscribing to the dispatcher consumer")?;
        // What has arrived is recorded together, up to a batch at a time.
        let mut batches = messages.ready_chunks(INGEST_BATCH);
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                next = batches.next() => next,
            };
            let Some(batch) = next else {
                anyhow::bail!("consumer stream ended");
            };
            let (received, failure) = split_received(batch);
            self.process(feed, received).await;
            if let Some(error) = failure {
                return Err(anyhow::Error::new(error).context("receiving from JetStream"));
            }
        }
    }

    /// Records the messages of `received` and acknowledges them; if the batch cannot be recorded
    /// together, each event is tried on its own, so one that fails holds back only itself. An
    /// event whose stream has a dead letter is held behind it.
    async fn process(&self, feed: Feed, received: Vec<jetstream::Message>) {
        let received = match feed {
            Feed::Events => self.without_unconcerned(received).await,
            Feed::Messages => received,
        };
        if received.is_empty() {
            return;
        }
        let decoded = decode_received(received).await;
        let decoded = match feed {
            Feed::Events => self.without_held(decoded).await,
            Feed::Messages => Ok(decoded),
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err((error, decoded)) => {
                tracing::warn!(%error, "checking for dead letters failed; will be redelivered");
                return redeliver(decoded).await;
            }
        };
        if feed == Feed::Messages {
            let orgs = decoded.iter().map(|(_, e)| e.organization_id);
            if let Err(error) = ingest::bring_endpoints_up_to_date(&self.pool, orgs).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reading the endpoints failed; relayed messages will be redelivered"
                );
                return redeliver(decoded).await;
            }
        }
        if decoded.len() > 1 {
            let events: Vec<_> = decoded.iter().map(|(_, e)| e.clone()).collect();
            match ingest(&self.pool, &self.deliverer, &events, first_delivery(&decoded)).await {
                Ok(()) => {
                    for (message, _) in &decoded {
                        ack(message, AckKind::Ack).await;
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(
                        error = format!("{error:#}"),
                        "recording a batch failed; one event at a time"
                    );
                }
            }
        }
        // After a failed batch, nothing goes before its record: it may have gone once already.
        let send_first = decoded.len() == 1 && first_delivery(&decoded);
        for (message, event) in decoded {
            let kind = match ingest(
                &self.pool,
                &self.deliverer,
                std::slice::from_ref(&event),
                send_first,
            )
            .await
            {
                Ok(()) => AckKind::Ack,
                Err(error) if feed == Feed::Messages => {
                    tracing::warn!(error = format!("{error:#}"), event_id = %event.event_id, "recording a relayed message failed; will be redelivered");
                    AckKind::Nak(Some(NAK_DELAY))
                }
                Err(error) => self.failed(&message, &event, &error).await,
            };
            ack(&message, kind).await;
        }
    }

    /// The messages of `received` whose events can concern the dispatcher (see
    /// [`outgoing::concerns`]); the others (most events: customers, link creations and visits)
    /// are acknowledged unread, with no dead-letter check and no connection taken.
    async fn without_unconcerned(&self, received: Vec<jetstream::Message>) -> Vec<jetstream::Message> {
        let mut concerned = Vec::with_capacity(received.len());
        for message in received {
            match self.bus.event_type_of(message.subject.as_str()) {
                Some(event_type) if !outgoing::concerns(event_type) => ack(&message, AckKind::Ack).await,
                _ => concerned.push(message),
            }
        }
        concerned
    }

    /// The events of `decoded` that do not wait behind a dead letter (those that do are held and
    /// acknowledged).
    async fn without_held(
        &self,
        decoded: Vec<Received>,
    ) -> Result<Vec<Received>, (sqlx::Error, Vec<Received>)> {
        let streams: Vec<_> = decoded.iter().map(|(_, e)| e.stream_id).collect();
        let blocked = match self.dead_letters.blocked_streams(&streams).await {
            Ok(blocked) if blocked.is_empty() => return Ok(decoded),
            Ok(blocked) => blocked,
            Err(error) => return Err((error, decoded)),
        };
        let mut free = Vec::with_capacity(decoded.len());
        for (message, event) in decoded {
            if !blocked.contains(&event.stream_id) {
                free.push((message, event));
                continue;
            }
            match self.dead_letters.hold(&event).await {
                Ok(true) => ack(&message, AckKind::Ack).await,
                Ok(false) => free.push((message, event)),
                Err(error) => {
                    tracing::warn!(%error, "holding an event failed; will be redelivered");
                    ack(&message, AckKind::Nak(Some(NAK_DELAY))).await;
                }
            }
        }
        Ok(free)
    }

    /// How to answer JetStream for an event that could not be recorded: again later, or (past the
    /// delivery limit, for a failure a redelivery cannot fix) set aside as a dead letter.
    async fn failed(
        &self,
        message: &jetstream::Message,
        event: &RecordedEvent,
        error: &anyhow::Error,
    ) -> AckKind {
        let delivered = message.info().map(|i| i.delivered.max(1) as u64).unwrap_or(1);
        if self.dead_letters.gives_up(delivered, error.as_ref()) {
            match self
                .dead_letters
                .bury(event, &format!("{error:#}"), delivered)
                .await
            {
                Ok(()) => return AckKind::Ack,
                Err(bury_error) => {
                    tracing::warn!(%bury_error, "recording a dead letter failed; will be redelivered");
                }
            }
        } else {
            tracing::warn!(error = format!("{error:#}"), event_id = %event.event_id, delivered, "recording webhook messages failed; will be redelivered");
        }
        AckKind::Nak(Some(NAK_DELAY))
    }
}

type Received = (jetstream::Message, RecordedEvent);

/// Asks JetStream for every one of `received` again after [`NAK_DELAY`].
async fn redeliver(received: Vec<Received>) {
    for (message, _) in received {
        ack(&message, AckKind::Nak(Some(NAK_DELAY))).await;
    }
}

/// The streams the dispatcher consumes. Relayed messages are not in the event store, so a dead
/// letter (retried from the store) cannot hold one: a relay that cannot be recorded is tried
/// again until it is, and the stream keeps it meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    Events,
    Messages,
}

/// Records the messages of `events` in one transaction, sending those there is room for. With
/// `send_first` they are sent while the record is written; otherwise once it is committed.
async fn ingest(
    pool: &PgPool,
    deliverer: &Arc<Deliverer>,
    events: &[RecordedEvent],
    send_first: bool,
) -> anyhow::Result<()> {
    let lease = deliverer.config().lease();
    let ingested = ingest::ingest_batch(pool, events, lease, |delivery, endpoint| {
        deliverer.start_leased(delivery, endpoint, send_first)
    })
    .await?;
    gangway_telemetry::webhooks::recorded(ingested.messages);
    // The rest waits for a claim.
    if ingested.messages > ingested.started {
        deliverer.messages_waiting();
    }
    Ok(())
}

/// Whether the messages of `received` may be sent before they are recorded: only on their
/// events' first delivery, and only by the first attempt to record them. So a message goes out
/// unrecorded at most once, however often its record fails: then its event comes again, and it is
/// recorded before it is sent.
fn first_delivery(received: &[Received]) -> bool {
    received
        .iter()
        .all(|(message, _)| message.info().is_ok_and(|info| info.delivered == 1))
}

/// How long a failed event waits before JetStream delivers it again.
const NAK_DELAY: Duration = Duration::from_secs(1);

/// How often the dispatcher looks for dead-letter retries operators asked for.
const RETRY_POLL: Duration = Duration::from_secs(1);

/// Events recorded in one transaction at most.
const INGEST_BATCH: usize = 64;

/// Connections whose commits do not wait for the disk: for leases and attempt outcomes, where a
/// commit lost in a Postgres crash only means a message is sent again. Messages themselves are
/// recorded through the ordinary pool, durably, before their events are acknowledged.
async fn fast_pool(infra: &gangway_config::InfraConfig) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(&infra.database_url)
        .context("parsing the database URL")?
        .options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_millis(infra.database_acquire_timeout_ms.max(1)))
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("connecting to Postgres")
}

/// The dispatcher process: serves `/metrics`, connects, and consumes and delivers until
/// cancelled.
pub async fn run(config: DispatcherConfig, cancel: CancellationToken) -> anyhow::Result<()> {
    let metrics_server =
        gangway_telemetry::MetricsServer::bind(config.metrics_addr, "dispatcher", &config.metrics).await?;
    gangway_telemetry::webhooks::register();
    let refresh = config.metrics.refresh_interval();
    let dispatcher = Dispatcher::build(config).await?;
    let serving = metrics_server.spawn(cancel.clone());
    let gauge = tokio::spawn(metrics::run_queue_gauge(
        dispatcher.pool.clone(),
        refresh,
        cancel.clone(),
    ));
    dispatcher.run(cancel).await;
    let _ = tokio::join!(serving, gauge);
    Ok(())
}
