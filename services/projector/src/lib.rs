//! The projector process: a durable JetStream consumer that applies each event to the read models
//! in one transaction together with its checkpoint.

mod health;
pub mod metrics;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind};
use clap::Args;
use futures::StreamExt;
use gangway_bus::{ack, decode_event, decode_received, split_received, Bus, BusNames};
use gangway_config::{InfraConfig, LogConfig};
use gangway_dead_letters::DeadLetters;
use gangway_event_store::RecordedEvent;
use gangway_projections::{apply, apply_all, save_checkpoint, Applied, ProjectionError};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args, Clone, Debug)]
pub struct ProjectorConfig {
    #[command(flatten)]
    pub infra: InfraConfig,
    #[command(flatten)]
    pub log: LogConfig,
    /// Durable consumer name; replicas with the same name share the work.
    #[arg(long, env = "GANGWAY_PROJECTOR_CONSUMER", default_value = "projector")]
    pub consumer: String,
    /// Where `/metrics` is served. Port 0 picks a free port.
    #[arg(long, env = "GANGWAY_METRICS_ADDR", default_value = "127.0.0.1:8081")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub metrics: gangway_telemetry::MetricsConfig,
    /// Deliveries of an event that fails the same way each time before it is set aside as a dead
    /// letter (`gangway dead-letters`); later events of its stream wait behind it.
    #[arg(long, env = "GANGWAY_MAX_DELIVERIES", default_value_t = gangway_dead_letters::DEFAULT_MAX_DELIVERIES)]
    pub max_deliveries: u64,
}

/// Applies events to the read models. `handle` is the step the loop and the tests call.
#[derive(Clone)]
pub struct Projector {
    pool: PgPool,
    name: String,
    dead_letters: DeadLetters,
}

impl Projector {
    pub fn new(pool: PgPool, name: impl Into<String>) -> Self {
        Self::with_max_deliveries(pool, name, gangway_dead_letters::DEFAULT_MAX_DELIVERIES)
    }

    pub fn with_max_deliveries(pool: PgPool, name: impl Into<String>, max_deliveries: u64) -> Self {
        let name = name.into();
        let dead_letters = DeadLetters::new(pool.clone(), name.clone(), "projector", max_deliveries);
        Self {
            pool,
            name,
            dead_letters,
        }
    }

    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Applies one event and records the checkpoint, atomically. A redelivered event is a no-op.
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, seq = stream_sequence))]
    pub async fn handle(
        &self,
        event: &RecordedEvent,
        stream_sequence: u64,
    ) -> Result<Applied, ProjectionError> {
        let mut tx = self.pool.begin().await?;
        let applied = apply(&mut tx, event).await?;
        save_checkpoint(&mut tx, &self.name, stream_sequence, event.position).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Consumes until cancelled, re-subscribing after NATS errors, and processes the dead-letter
    /// retries operators ask for.
    pub async fn run(&self, bus: &Bus, cancel: CancellationToken) {
        let retries = tokio::spawn({
            let projector = self.clone();
            let cancel = cancel.clone();
            async move {
                let handle = |event: RecordedEvent| {
                    let projector = projector.clone();
                    async move { projector.handle(&event, 0).await.map(|_| ()) }
                };
                projector
                    .dead_letters
                    .run_retries(handle, RETRY_POLL, cancel)
                    .await
            }
        });
        self.consume_until(bus, &cancel).await;
        let _ = retries.await;
    }

    async fn consume_until(&self, bus: &Bus, cancel: &CancellationToken) {
        while !cancel.is_cancelled() {
            if let Err(error) = self.consume(bus, cancel).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "projector consumer failed; retrying"
                );
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    async fn consume(&self, bus: &Bus, cancel: &CancellationToken) -> anyhow::Result<()> {
        let consumer = bus.projector_consumer(&self.name).await?;
        let messages = consumer
            .messages()
            .await
            .context("subscribing to the projector consumer")?;
        // What has arrived is applied together: one event at a time when live, whole batches
        // when catching up on a backlog.
        let mut batches = messages.ready_chunks(PROJECT_BATCH);
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                next = batches.next() => next,
            };
            let Some(batch) = next else {
                anyhow::bail!("consumer stream ended");
            };
            let (received, failure) = split_received(batch);
            self.process_batch(received).await;
            if let Some(error) = failure {
                return Err(anyhow::Error::new(error).context("receiving from JetStream"));
            }
        }
    }

    /// Applies `received` in one transaction; if that fails, or a stream among them waits behind a
    /// dead letter, each event goes its own way.
    async fn process_batch(&self, received: Vec<jetstream::Message>) {
        if received.len() == 1 {
            return self.process(&received[0]).await;
        }
        let (messages, events): (Vec<_>, Vec<_>) = decode_received(received).await.into_iter().unzip();
        let streams: Vec<_> = events.iter().map(|e| e.stream_id).collect();
        let blocked = match self.dead_letters.blocked_streams(&streams).await {
            Ok(blocked) => blocked,
            Err(error) => {
                tracing::warn!(%error, "checking for dead letters failed; will be redelivered");
                for message in &messages {
                    ack(message, AckKind::Nak(Some(NAK_DELAY))).await;
                }
                return;
            }
        };
        if blocked.is_empty() {
            match self.handle_batch(&messages, &events).await {
                Ok(outcomes) => {
                    for ((message, event), applied) in messages.iter().zip(&events).zip(outcomes) {
                        metrics::observe(event, Some(applied), metrics::first_delivery(message));
                        ack(message, AckKind::Ack).await;
                    }
                    return;
                }
                Err(error) => tracing::debug!(%error, "applying a batch failed; one event at a time"),
            }
        }
        for message in &messages {
            self.process(message).await;
        }
    }

    /// Applies a batch of events with one checkpoint, atomically.
    async fn handle_batch(
        &self,
        messages: &[jetstream::Message],
        events: &[RecordedEvent],
    ) -> Result<Vec<Applied>, ProjectionError> {
        let sequence = messages
            .iter()
            .filter_map(|m| m.info().ok().map(|i| i.stream_sequence))
            .max()
            .unwrap_or(0);
        let position = events.iter().map(|e| e.position).max().unwrap_or(0);
        let mut tx = self.pool.begin().await?;
        let outcomes = apply_all(&mut tx, events).await?;
        save_checkpoint(&mut tx, &self.name, sequence, position).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn process(&self, message: &jetstream::Message) {
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        let event = match decode_event(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                // Not ours or corrupt: redelivering cannot fix it.
                tracing::error!(%error, sequence, "dropping undecodable message");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        match self.dead_letters.held_back(&event).await {
            Ok(false) => {}
            Ok(true) => return ack(message, AckKind::Ack).await,
            Err(error) => {
                tracing::warn!(%error, "checking for dead letters failed; will be redelivered");
                return ack(message, AckKind::Nak(Some(NAK_DELAY))).await;
            }
        }
        let handled = self.handle(&event, sequence).await;
        metrics::observe(
            &event,
            handled.as_ref().ok().copied(),
            metrics::first_delivery(message),
        );
        let delivered = message.info().map(|i| i.delivered.max(1) as u64).unwrap_or(1);
        let kind = match handled {
            Ok(_) => AckKind::Ack,
            Err(error) if self.dead_letters.gives_up(delivered, &error) => {
                match self
                    .dead_letters
                    .bury(&event, &error.to_string(), delivered)
                    .await
                {
                    Ok(()) => AckKind::Ack,
                    Err(bury_error) => {
                        tracing::warn!(%bury_error, "recording a dead letter failed; will be redelivered");
                        AckKind::Nak(Some(NAK_DELAY))
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, event_id = %event.event_id, delivered, "projection failed; will be redelivered");
                AckKind::Nak(Some(NAK_DELAY))
            }
        };
        ack(message, kind).await;
    }
}

/// Events applied in one transaction at most.
const PROJECT_BATCH: usize = 500;

/// How long a failed event waits before JetStream delivers it again.
const NAK_DELAY: Duration = Duration::from_secs(1);

/// How often the projector looks for dead-letter retries operators asked for.
const RETRY_POLL: Duration = Duration::from_secs(1);

/// Connects to Postgres and NATS and runs until cancelled.
pub async fn run(config: ProjectorConfig, cancel: CancellationToken) -> anyhow::Result<()> {
    let metrics_server =
        gangway_telemetry::MetricsServer::bind(config.metrics_addr, "projector", &config.metrics).await?;
    gangway_telemetry::funnel::register();
    let pool =
        gangway_config::runtime::connect_database(&config.infra, config.infra.database_max_connections)
            .await?;
    gangway_event_store::MIGRATOR
        .run(&pool)
        .await
        .context("running database migrations")?;
    let names = BusNames::from(&config.infra);
    let bus = Bus::connect(&config.infra.nats_url, names).await?;
    tracing::info!(consumer = %config.consumer, "projector running");
    let backlog = tokio::spawn(metrics::refresh_backlog(
        bus.clone(),
        pool.clone(),
        config.consumer.clone(),
        config.metrics.refresh_interval(),
        cancel.clone(),
    ));
    let projector = Projector::with_max_deliveries(pool, config.consumer, config.max_deliveries);
    let serving = metrics_server
        .merge(health::routes(projector.dead_letters().clone()))
        .spawn(cancel.clone());
    projector.run(&bus, cancel).await;
    let _ = tokio::join!(serving, backlog);
    Ok(())
}
