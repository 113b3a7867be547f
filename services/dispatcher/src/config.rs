use clap::Args;
use gangway_config::{Environment, InfraConfig, LogConfig, Secret};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct DispatcherConfig {
    #[command(flatten)]
    pub infra: InfraConfig,
    #[command(flatten)]
    pub log: LogConfig,
    /// `production` (the default) needs the encryption keys and refuses http webhook URLs.
    #[arg(long, env = "GANGWAY_ENVIRONMENT", value_enum, default_value = "production")]
    pub environment: Environment,
    /// Durable consumer name; replicas with the same name share the work.
    #[arg(long, env = "GANGWAY_DISPATCHER_CONSUMER", default_value = "dispatcher")]
    pub consumer: String,
    /// Deliveries of an event that fails the same way each time before it is set aside as a dead
    /// letter (`gangway dead-letters`); later events of its stream wait behind it.
    #[arg(long, env = "GANGWAY_MAX_DELIVERIES", default_value_t = gangway_dead_letters::DEFAULT_MAX_DELIVERIES)]
    pub max_deliveries: u64,
    /// The same keys as the api's, to read webhook secrets.
    #[arg(
        long,
        env = "GANGWAY_ENCRYPTION_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub encryption_keys: Secret,
    #[arg(long, env = "GANGWAY_ENCRYPTION_KEY_ID", default_value = "")]
    pub encryption_key_id: String,
    /// Deliveries in flight at once, over all endpoints.
    #[arg(long, env = "GANGWAY_DISPATCH_CONCURRENCY", default_value_t = 256)]
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint. An integrator often has one endpoint for all
    /// of its numbers' traffic: at 64, a receiver answering in 50 ms takes 1,280 webhooks/s.
    #[arg(long, env = "GANGWAY_DISPATCH_ENDPOINT_CONCURRENCY", default_value_t = 64)]
    pub endpoint_concurrency: usize,
    /// How long one attempt may take, in milliseconds.
    #[arg(long, env = "GANGWAY_DISPATCH_TIMEOUT_MS", default_value_t = 15_000)]
    pub attempt_timeout_ms: u64,
    /// How much of a receiver's answer is read and kept with the attempt, in bytes; the rest of
    /// the body is never read.
    #[arg(long, env = "GANGWAY_WEBHOOK_RESPONSE_EXCERPT_BYTES", default_value_t = 4_096)]
    pub response_excerpt_bytes: usize,
    /// First retry delay, in milliseconds; each next one is `GANGWAY_DISPATCH_RETRY_MULTIPLIER`
    /// times longer, capped at `GANGWAY_DISPATCH_RETRY_MAX_MS`, with ±20% jitter.
    #[arg(long, env = "GANGWAY_DISPATCH_RETRY_INITIAL_MS", default_value_t = 5_000)]
    pub retry_initial_ms: u64,
    #[arg(long, env = "GANGWAY_DISPATCH_RETRY_MULTIPLIER", default_value_t = 4.0)]
    pub retry_multiplier: f64,
    #[arg(long, env = "GANGWAY_DISPATCH_RETRY_MAX_MS", default_value_t = 10 * 3_600_000)]
    pub retry_max_ms: u64,
    /// Attempts per message before it is marked failed (the default schedule spans about a day).
    #[arg(long, env = "GANGWAY_DISPATCH_MAX_ATTEMPTS", default_value_t = 10)]
    pub max_attempts: u32,
    /// Consecutive failures after which an endpoint's backlog is parked for a while.
    #[arg(long, env = "GANGWAY_DISPATCH_CIRCUIT_FAILURES", default_value_t = 5)]
    pub circuit_failures: u32,
    /// How long a parked endpoint waits before one probe delivery, in milliseconds.
    #[arg(long, env = "GANGWAY_DISPATCH_CIRCUIT_OPEN_MS", default_value_t = 30_000)]
    pub circuit_open_ms: u64,
    /// An endpoint failing without a single success for this long is disabled, in seconds.
    #[arg(long, env = "GANGWAY_DISPATCH_DISABLE_AFTER_SECONDS", default_value_t = 5 * 86_400)]
    pub disable_after_seconds: u64,
    /// How often due retries are looked for when nothing new arrives, in milliseconds.
    #[arg(long, env = "GANGWAY_DISPATCH_POLL_MS", default_value_t = 200)]
    pub poll_ms: u64,
    /// Allow http:// endpoint URLs: development only (where it is the default).
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_HTTP", action = clap::ArgAction::Set)]
    pub allow_http: Option<bool>,
    /// Allow endpoints on private, loopback and link-local addresses (tests).
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private: bool,
    /// Days a delivered or failed message (and its attempts) stays in the delivery log; 0 keeps
    /// them forever. Pending messages are never deleted.
    #[arg(long, env = "GANGWAY_WEBHOOK_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,
    /// How often the delivery log is swept for messages past retention, in seconds.
    #[arg(
        long,
        env = "GANGWAY_WEBHOOK_RETENTION_SWEEP_SECONDS",
        default_value_t = 3_600
    )]
    pub retention_sweep_seconds: u64,
    /// Where `/metrics` is served. Port 0 picks a free port.
    #[arg(long, env = "GANGWAY_METRICS_ADDR", default_value = "127.0.0.1:8082")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub metrics: gangway_telemetry::MetricsConfig,
}

impl DispatcherConfig {
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms.max(1))
    }

    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            keep: (self.retention_days > 0).then(|| Duration::from_secs(self.retention_days * 86_400)),
            sweep_every: Duration::from_secs(self.retention_sweep_seconds.max(1)),
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(1))
    }

    /// http is allowed in development unless configured otherwise, never elsewhere.
    pub fn http_allowed(&self) -> bool {
        self.environment.is_development() && self.allow_http.unwrap_or(true)
    }

    /// The settings that keep the dispatcher from starting, each saying how to fix it.
    pub fn check(&self) -> Result<(), gangway_config::StartupError> {
        let mut problems = Vec::new();
        if self.encryption_keys.expose().trim().is_empty() {
            problems.push(
                "GANGWAY_ENCRYPTION_KEYS is not set: set the api's keys and GANGWAY_ENCRYPTION_KEY_ID".into(),
            );
        }
        if self.allow_http == Some(true) {
            problems.push("GANGWAY_WEBHOOK_ALLOW_HTTP=true is for development only".into());
        }
        if self.allow_private {
            problems.push("GANGWAY_WEBHOOK_ALLOW_PRIVATE=true is for development only".into());
        }
        gangway_config::require_production_settings(self.environment, problems)?;
        gangway_vault::check_key_settings(self.encryption_keys.expose(), &self.encryption_key_id)
            .map_err(gangway_config::StartupError)
    }
}
