use clap::Args;
use gangway_config::{Environment, InfraConfig, LogConfig, Secret};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything the api process is configured with.
#[derive(Args, Clone, Debug)]
pub struct ApiConfig {
    #[command(flatten)]
    pub infra: InfraConfig,
    #[command(flatten)]
    pub log: LogConfig,
    /// `production` (the default) refuses development defaults: it needs an admin token of at
    /// least 32 characters, encryption keys and a Meta app, and refuses http webhook URLs.
    #[arg(long, env = "GANGWAY_ENVIRONMENT", value_enum, default_value = "production")]
    pub environment: Environment,
    /// Address the HTTP server listens on. Port 0 picks a free port.
    #[arg(long, env = "GANGWAY_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    /// Public base URL of this api; hosted signup links are built from it.
    #[arg(long, env = "GANGWAY_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// Bearer token for `/admin/*`: at least 32 characters. Empty in development:
    /// `dev-admin-token`.
    #[arg(long, env = "GANGWAY_ADMIN_TOKEN", hide_env_values = true, default_value = "")]
    pub admin_token: Secret,
    /// Encryption keys as `id:base64(32 bytes)[,id:key...]`. Empty in development: a fixed dev key.
    #[arg(
        long,
        env = "GANGWAY_ENCRYPTION_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub encryption_keys: Secret,
    /// Which of the encryption keys seals new secrets.
    #[arg(long, env = "GANGWAY_ENCRYPTION_KEY_ID", default_value = "")]
    pub encryption_key_id: String,
    /// Run the relay (event store → JetStream) in this process.
    #[arg(long, env = "GANGWAY_RELAY_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_enabled: bool,
    /// How often the relay looks for events appended by other processes, in milliseconds.
    #[arg(long, env = "GANGWAY_RELAY_POLL_MS", default_value_t = 10)]
    pub relay_poll_ms: u64,
    /// Seconds committed events may wait behind another open transaction of the cluster before
    /// the relay logs a warning naming it (pid, database, age, statement).
    #[arg(long, env = "GANGWAY_RELAY_STALL_WARN_SECONDS", default_value_t = 5)]
    pub relay_stall_warn_seconds: u64,
    /// How often pending links past their expiry are recorded as expired, in seconds (0: never).
    #[arg(long, env = "GANGWAY_EXPIRY_SWEEP_SECONDS", default_value_t = 60)]
    pub expiry_sweep_seconds: u64,
    /// Accept `http://` webhook endpoint URLs: development only (where it is the default).
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_HTTP", action = clap::ArgAction::Set)]
    pub webhook_allow_http: Option<bool>,
    /// Accept webhook endpoint URLs whose host is `localhost` or a private, loopback or link-local
    /// address.
    #[arg(long, env = "GANGWAY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// How often each connected number's token and health are checked with Meta, in seconds
    /// (0: never; `GET /v1/phones/{id}/health?refresh=true` still checks on demand).
    #[arg(long, env = "GANGWAY_HEALTH_CHECK_SECONDS", default_value_t = 900)]
    pub health_check_seconds: u64,
    /// `?refresh=true` asks Meta about a number at most once per this many seconds; within it, the
    /// last check is the answer.
    #[arg(long, env = "GANGWAY_HEALTH_REFRESH_SECONDS", default_value_t = 30)]
    pub health_refresh_seconds: u64,
    /// Days the receipt of a Meta notification is kept, to recognise Meta's redeliveries of it
    /// (0: forever).
    #[arg(long, env = "GANGWAY_META_WEBHOOK_RECEIPT_DAYS", default_value_t = 30)]
    pub meta_webhook_receipt_days: u64,
    /// How often receipts past that are deleted, in seconds.
    #[arg(
        long,
        env = "GANGWAY_META_WEBHOOK_RECEIPT_SWEEP_SECONDS",
        default_value_t = 3_600
    )]
    pub meta_webhook_receipt_sweep_seconds: u64,
    /// Days a secret nothing needs any more (a failed attempt's token, a replaced or disconnected
    /// number's token, a rotated-out or deleted endpoint's secret) is kept before it is destroyed
    /// (0: kept forever).
    #[arg(long, env = "GANGWAY_SECRET_RETENTION_DAYS", default_value_t = 30)]
    pub secret_retention_days: u64,
    /// How often secrets past that are destroyed, in seconds.
    #[arg(long, env = "GANGWAY_VAULT_SWEEP_SECONDS", default_value_t = 3_600)]
    pub vault_sweep_seconds: u64,
    /// Requests per second one API key may make to this process (0: no limit).
    #[arg(long, env = "GANGWAY_RATE_LIMIT_PER_SECOND", default_value_t = 100)]
    pub rate_limit_per_second: u32,
    /// How many requests one API key may make at once above that rate.
    #[arg(long, env = "GANGWAY_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "GANGWAY_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    #[command(flatten)]
    pub meta: MetaConfig,
    #[command(flatten)]
    pub metrics: gangway_telemetry::MetricsConfig,
}

pub use gangway_config::{DEVELOPMENT_ADMIN_TOKEN, MIN_ADMIN_TOKEN_CHARS};
pub use gangway_meta_graph::settings::{MetaConfig, MetaEndpoints};

impl ApiConfig {
    /// The settings that keep the api from starting, each saying how to fix it.
    pub fn check(&self) -> Result<(), gangway_config::StartupError> {
        gangway_config::require_production_settings(self.environment, self.production_problems())?;
        gangway_vault::check_key_settings(self.encryption_keys.expose(), &self.encryption_key_id)
            .map_err(gangway_config::StartupError)
    }

    /// What production refuses in these settings (development allows it), each saying how to
    /// fix it.
    pub fn production_problems(&self) -> Vec<String> {
        gangway_config::production_problems(&gangway_config::ProductionSettings {
            admin_token: self.admin_token.expose(),
            encryption_keys: self.encryption_keys.expose(),
            webhook_allow_http: self.webhook_allow_http,
            webhook_allow_private: self.webhook_allow_private,
            meta_app_id: &self.meta.app_id,
        })
    }

    /// The encryption keys, as the vault uses them.
    pub fn keyring(&self) -> Result<gangway_vault::Keyring, gangway_vault::VaultError> {
        gangway_vault::Keyring::from_settings(
            self.encryption_keys.expose(),
            &self.encryption_key_id,
            self.environment == Environment::Production,
        )
    }

    /// The admin token `/admin/*` wants: the configured one, or in development the development
    /// token when none is set.
    pub fn admin_token(&self) -> &str {
        match self.admin_token.expose() {
            "" if self.environment.is_development() => DEVELOPMENT_ADMIN_TOKEN,
            token => token,
        }
    }
}

impl ApiConfig {
    pub fn relay_poll_interval(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.max(1))
    }

    /// http webhook URLs: in development unless configured otherwise, never elsewhere.
    pub fn webhook_allow_http(&self) -> bool {
        self.environment.is_development() && self.webhook_allow_http.unwrap_or(true)
    }

    pub fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}
