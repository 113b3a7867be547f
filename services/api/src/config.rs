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
    /// `production` refuses development defaults (admin token, encryption key).
    #[arg(long, env = "GANGWAY_ENVIRONMENT", value_enum, default_value = "development")]
    pub environment: Environment,
    /// Address the HTTP server listens on. Port 0 picks a free port.
    #[arg(long, env = "GANGWAY_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    /// Public base URL of this api; hosted signup links are built from it.
    #[arg(long, env = "GANGWAY_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// Bearer token for `/admin/*`.
    #[arg(long, env = "GANGWAY_ADMIN_TOKEN", default_value = "dev-admin-token")]
    pub admin_token: Secret,
    /// Encryption keys as `id:base64(32 bytes)[,id:key...]`. Empty in development: a fixed dev key.
    #[arg(long, env = "GANGWAY_ENCRYPTION_KEYS", default_value = "")]
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
    /// How often pending links past their expiry are recorded as expired, in seconds (0: never).
    #[arg(long, env = "GANGWAY_EXPIRY_SWEEP_SECONDS", default_value_t = 60)]
    pub expiry_sweep_seconds: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "GANGWAY_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
}

impl ApiConfig {
    pub fn relay_poll_interval(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.max(1))
    }

    pub fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}
