//! Prometheus metrics for every Gangway process.
//!
//! Code records through the `metrics` facade (cheap atomic counters and histograms, no I/O); each
//! process installs one Prometheus recorder ([`install`]) and serves its text at `/metrics`:
//! the api on its own router ([`router`]), the projector and the dispatcher on a small listener of
//! their own ([`MetricsServer`], `GANGWAY_METRICS_ADDR`).
//!
//! Every metric Gangway records is named, described and recorded in this crate, one module per
//! area, so the catalog reads in one place and the README's list follows it:
//! [`http`], [`store`], [`projector`], [`dead_letters`], [`funnel`], [`webhooks`].
//!
//! Labels only ever take values from small fixed sets (event types, outcomes, route templates,
//! error codes): never an id, which would make a new time series per organization or link.

pub mod dead_letters;
pub mod funnel;
#[cfg(feature = "server")]
pub mod http;
pub mod projector;
pub mod store;
pub mod webhooks;

#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use server::{router, MetricsServer};

use clap::Args;
use gangway_config::Secret;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Settings every process with `/metrics` shares. Where it is served is per process
/// (`GANGWAY_METRICS_ADDR` for the projector and the dispatcher; the api's own port).
#[derive(Args, Clone, Debug)]
pub struct MetricsConfig {
    /// Bearer token `/metrics` requires. Empty (the default): open, like `/healthz`.
    #[arg(
        long,
        env = "GANGWAY_METRICS_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub metrics_token: Secret,
    /// How often gauges read from Postgres or NATS are refreshed, in milliseconds: the
    /// projector's backlog and the dispatcher's queue depth (the api has no such gauge).
    #[arg(long, env = "GANGWAY_METRICS_REFRESH_MS", default_value_t = 5_000)]
    pub metrics_refresh_ms: u64,
}

impl MetricsConfig {
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_millis(self.metrics_refresh_ms.max(10))
    }

    #[cfg(feature = "server")]
    fn token(&self) -> Option<String> {
        let token = self.metrics_token.expose();
        (!token.is_empty()).then(|| token.to_owned())
    }
}

/// Latency buckets, in seconds: sub-millisecond relay publishes up to a webhook attempt's
/// time limit.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Event to delivered webhook spans retries with backoff: up to a day.
const DELIVERY_LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1_800.0, 3_600.0, 14_400.0,
    43_200.0, 86_400.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes, so memory
/// stays bounded.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs this process's Prometheus recorder (once; later calls return the same handle),
/// describes every metric, and records `gangway_process_info{process}`.
///
/// Until it is called, recording is a no-op: the CLI and library tests pay nothing.
pub fn install(process: &'static str) -> PrometheusHandle {
    let handle = HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(webhooks::DELIVERY_LAG.into()), DELIVERY_LAG_BUCKETS)
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            // Only if something else installed a recorder first; /metrics then stays empty.
            tracing::warn!(%error, "a metrics recorder was already installed");
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread did not start; histograms drain on scrape only");
        }
        describe();
        handle
    });
    metrics::gauge!(PROCESS_INFO, "process" => process, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    handle.clone()
}

pub const PROCESS_INFO: &str = "gangway_process_info";

/// Gives every metric its HELP text. Descriptions of metrics a process never records are not
/// rendered.
fn describe() {
    metrics::describe_gauge!(
        PROCESS_INFO,
        "Always 1; labelled with the Gangway process and its version."
    );
    #[cfg(feature = "server")]
    http::describe();
    store::describe();
    projector::describe();
    dead_letters::describe();
    funnel::describe();
    webhooks::describe();
}

/// Seconds from `since` to now; 0 when `since` is in the future (clock skew between hosts).
fn seconds_since(since: chrono::DateTime<chrono::Utc>) -> f64 {
    (chrono::Utc::now() - since)
        .to_std()
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}
