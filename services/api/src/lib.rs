//! The Gangway api process: management API, admin API, health and OpenAPI, plus the relay that
//! publishes the event store to JetStream.

pub mod config;
mod console;
pub mod error;
pub mod extract;
pub mod http;
pub mod idempotency;
pub mod message_outbox;
pub mod openapi;
pub mod rate_limit;
pub mod state;
pub mod workers;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::Router;
use config::ApiConfig;
use error::ApiError;
use gangway_app::App;
use gangway_bus::{Bus, BusNames, LocalRelay, Wake};
use gangway_config::runtime::connect_database;
use gangway_event_store::{EventStore, MIGRATOR};
use gangway_relay::{Relay, RelayConfig};
use gangway_vault::Vault;
use state::{AppState, SharedState};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router with every route and middleware; serving is separate so tests can drive it.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(http::health::router())
        .merge(gangway_telemetry::router(
            gangway_telemetry::install("api"),
            &state.config.metrics,
        ))
        .merge(http::admin::router())
        .merge(http::api_keys::router())
        .merge(http::customers::router())
        .merge(http::links::router())
        .merge(http::phones::router())
        .merge(http::phone_health::router())
        .merge(http::messages::router())
        .merge(http::signup::router())
        .merge(console::router())
        .merge(http::webhooks::router())
        .merge(http::redirect_secret::router())
        .merge(http::meta_webhooks::router())
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(DefaultBodyLimit::max(max_body))
        // Inside the routes (Router::layer), so it sees the matched route template.
        .layer(axum::middleware::from_fn(gangway_telemetry::http::track))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// A built api: dependencies connected, migrations applied, listener bound.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The relay, if this process runs one, and what wakes it.
    relay: Option<(Relay, Arc<Notify>)>,
}

impl Application {
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        config.check()?;
        let vault = Vault::new(config.keyring()?);
        // Before the relay starts, so its first publishes are counted.
        gangway_telemetry::install("api");
        let meta = config.meta.resolve(config.environment)?;
        if meta.sandbox {
            tracing::warn!(url = %config.meta.sandbox_url, "no GANGWAY_META_APP_ID set: Embedded Signup uses the meta sandbox");
        }
        let graph = gangway_meta_graph::GraphClient::new(meta.graph.clone())?;
        let pool = connect_database(&config.infra, config.infra.database_max_connections).await?;
        MIGRATOR.run(&pool).await.context("running database migrations")?;
        let names = BusNames::from(&config.infra);
        let bus = Bus::connect(&config.infra.nats_url, names).await?;
        let store = EventStore::new(pool.clone());
        let relay_wake = Arc::new(Notify::new());
        let relay = config.relay_enabled.then(|| {
            let relay_config = RelayConfig {
                poll_interval: config.relay_poll_interval(),
                stall_warning: std::time::Duration::from_secs(config.relay_stall_warn_seconds),
                ..RelayConfig::default()
            };
            Relay::new(
                (*pool.connect_options()).clone(),
                bus.clone(),
                relay_wake.clone(),
                relay_config,
            )
        });
        let listener = TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.api_addr))?;
        let rate_limits = rate_limit::RateLimits::new(config.rate_limit_per_second, config.rate_limit_burst);
        let state = AppState::new(SharedState {
            app: App {
                store,
                vault,
                graph,
                known_customers: Default::default(),
            },
            bus,
            config,
            verified_keys: Default::default(),
            rate_limits,
            meta,
        });
        Ok(Self {
            listener,
            state,
            relay: relay.map(|relay| (relay, relay_wake)),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `cancel` fires, then drains in-flight requests and stops the relay.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        let bus = &self.state.bus;
        let relay_wake = self.relay.as_ref().map(|(_, wake)| wake.clone());
        let local_relay = self.relay.as_ref().map(|(relay, wake)| LocalRelay {
            wake: wake.clone(),
            leading: relay.leading(),
        });
        // Commits wake this process's relay; over NATS they wake the leading one, unless that is
        // this process's own.
        let announcer = gangway_bus::announce_commits(
            bus.clone(),
            self.state.app.store.appended_signal(),
            local_relay,
            cancel.clone(),
        );
        let wakeups = match relay_wake {
            Some(wake) => Some(
                bus.forward_wakeups(Wake::Relay, wake, cancel.clone())
                    .await
                    .context("subscribing to relay wake-ups")?,
            ),
            None => None,
        };
        let relay_task = self.relay.map(|(relay, _)| {
            let cancel = cancel.clone();
            tokio::spawn(async move { relay.run(cancel).await })
        });
        let sweep_every = self.state.config.expiry_sweep_seconds;
        let sweeper = (sweep_every > 0).then(|| {
            let interval = std::time::Duration::from_secs(sweep_every);
            tokio::spawn(workers::expiry::run_expiry_sweeper(
                self.state.app.clone(),
                interval,
                cancel.clone(),
            ))
        });
        let config = &self.state.config;
        let pruner = (config.meta_webhook_receipt_days > 0).then(|| {
            tokio::spawn(workers::receipts::run_receipt_pruner(
                self.state.pool().clone(),
                std::time::Duration::from_secs(config.meta_webhook_receipt_days * 86_400),
                std::time::Duration::from_secs(config.meta_webhook_receipt_sweep_seconds.max(1)),
                cancel.clone(),
            ))
        });
        let idempotency_pruner = tokio::spawn(workers::receipts::run_idempotency_pruner(
            self.state.pool().clone(),
            std::time::Duration::from_secs(config.meta_webhook_receipt_sweep_seconds.max(1)),
            cancel.clone(),
        ));
        let vault_sweeper = (config.secret_retention_days > 0).then(|| {
            let retention = chrono::Duration::days(config.secret_retention_days.min(36_500) as i64);
            tokio::spawn(workers::vault_hygiene::run_vault_sweeper(
                self.state.app.clone(),
                retention,
                std::time::Duration::from_secs(config.vault_sweep_seconds.max(1)),
                cancel.clone(),
            ))
        });
        let check_every = self.state.config.health_check_seconds;
        let monitor = (check_every > 0).then(|| {
            tokio::spawn(workers::health::run_health_monitor(
                self.state.app.clone(),
                std::time::Duration::from_secs(check_every),
                cancel.clone(),
            ))
        });
        let revocations = tokio::spawn(workers::key_revocations::run(
            self.state.bus.clone(),
            self.state.verified_keys.clone(),
            cancel.clone(),
        ));
        let shutdown = cancel.clone();
        axum::serve(self.listener, app(self.state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        cancel.cancel();
        revocations.await.ok();
        announcer.await.ok();
        for task in [
            relay_task,
            wakeups,
            sweeper,
            pruner,
            Some(idempotency_pruner),
            vault_sweeper,
            monitor,
        ]
        .into_iter()
        .flatten()
        {
            task.await.ok();
        }
        Ok(())
    }
}
