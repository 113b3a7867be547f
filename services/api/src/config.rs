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

/// The admin token of development, refused everywhere else.
pub const DEVELOPMENT_ADMIN_TOKEN: &str = "dev-admin-token";
/// The shortest admin token accepted outside development.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

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
        let mut problems = Vec::new();
        let token = self.admin_token.expose();
        if token.is_empty() {
            problems.push(format!(
                "GANGWAY_ADMIN_TOKEN is not set: set it to a random string of at least {MIN_ADMIN_TOKEN_CHARS} characters"
            ));
        } else if token == DEVELOPMENT_ADMIN_TOKEN || token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            problems.push(format!(
                "GANGWAY_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters and not the development token"
            ));
        }
        if self.encryption_keys.expose().trim().is_empty() {
            problems.push(
                "GANGWAY_ENCRYPTION_KEYS is not set: set id:base64(32 random bytes) and GANGWAY_ENCRYPTION_KEY_ID".into(),
            );
        }
        if self.webhook_allow_http == Some(true) {
            problems.push("GANGWAY_WEBHOOK_ALLOW_HTTP=true is for development only".into());
        }
        if self.webhook_allow_private {
            problems.push("GANGWAY_WEBHOOK_ALLOW_PRIVATE=true is for development only".into());
        }
        if self.meta.app_id.is_empty() {
            problems.push(
                "GANGWAY_META_APP_ID, GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID are not set: the meta sandbox is for development only".into(),
            );
        }
        problems
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

/// Meta's side of Embedded Signup. With no app id configured, everything points at the meta
/// sandbox, so the whole flow runs on one machine.
#[derive(Args, Clone, Debug)]
pub struct MetaConfig {
    /// The Meta app id. Empty: use the meta sandbox at GANGWAY_META_SANDBOX_URL.
    #[arg(long = "meta-app-id", env = "GANGWAY_META_APP_ID", default_value = "")]
    pub app_id: String,
    #[arg(
        long = "meta-app-secret",
        env = "GANGWAY_META_APP_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub app_secret: Secret,
    /// What Meta must send as `hub.verify_token` when it verifies `/meta/webhooks` (the value
    /// set in the app's webhook settings). Empty with the sandbox: `sandbox-verify-token`.
    #[arg(
        long = "meta-webhook-verify-token",
        env = "GANGWAY_META_WEBHOOK_VERIFY_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub webhook_verify_token: Secret,
    /// The Embedded Signup configuration id (Facebook Login for Business).
    #[arg(long = "meta-config-id", env = "GANGWAY_META_CONFIG_ID", default_value = "")]
    pub config_id: String,
    #[arg(
        long = "meta-api-version",
        env = "GANGWAY_META_API_VERSION",
        default_value = "v25.0"
    )]
    pub api_version: String,
    /// The meta sandbox, used when no app id is configured.
    #[arg(
        long = "meta-sandbox-url",
        env = "GANGWAY_META_SANDBOX_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub sandbox_url: String,
    /// Graph API base URL (default: Meta's, or the sandbox).
    #[arg(long = "meta-graph-url", env = "GANGWAY_META_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// The Facebook JS SDK the hosted page loads (default: Meta's, or the sandbox's).
    #[arg(long = "meta-sdk-url", env = "GANGWAY_META_SDK_URL")]
    pub sdk_url: Option<String>,
    /// Where the full-page signup dialog lives (default: https://www.facebook.com, or the sandbox).
    #[arg(long = "meta-dialog-url", env = "GANGWAY_META_DIALOG_URL")]
    pub dialog_url: Option<String>,
    /// Comma-separated origins whose `WA_EMBEDDED_SIGNUP` messages the hosted page accepts, matched
    /// exactly (default: www. and web.facebook.com, or the sandbox's origin).
    #[arg(
        long = "meta-message-origins",
        env = "GANGWAY_META_MESSAGE_ORIGINS",
        value_delimiter = ','
    )]
    pub message_origins: Option<Vec<String>>,
    /// Per-request timeout for Graph API calls, in seconds.
    #[arg(
        long = "meta-timeout-seconds",
        env = "GANGWAY_META_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub timeout_seconds: u64,
    /// How long rate-limited or transient Graph calls are retried, in seconds.
    #[arg(
        long = "meta-max-retry-seconds",
        env = "GANGWAY_META_MAX_RETRY_SECONDS",
        default_value_t = 20
    )]
    pub max_retry_seconds: u64,
}

/// The meta sandbox's app credentials (services/meta-sandbox has the same defaults).
const SANDBOX_APP_ID: &str = "1234567890";
const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";
const SANDBOX_CONFIG_ID: &str = "sandbox-config";
const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

/// Where Meta is, resolved from [`MetaConfig`].
#[derive(Clone, Debug)]
pub struct MetaEndpoints {
    pub graph: gangway_meta_graph::GraphConfig,
    pub config_id: String,
    pub sdk_url: String,
    pub dialog_url: String,
    pub message_origins: Vec<String>,
    /// `None`: Meta's verification requests are refused (no verify token configured).
    pub webhook_verify_token: Option<Secret>,
    pub sandbox: bool,
}

impl MetaConfig {
    pub fn resolve(&self, environment: Environment) -> anyhow::Result<MetaEndpoints> {
        let sandbox = self.app_id.is_empty();
        if sandbox && environment == Environment::Production {
            anyhow::bail!("set GANGWAY_META_APP_ID, GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID: the meta sandbox is refused in production");
        }
        let sandbox_url = self.sandbox_url.trim_end_matches('/').to_owned();
        let pick = |configured: &Option<String>, meta: &str, local: String| {
            configured
                .clone()
                .unwrap_or_else(|| if sandbox { local } else { meta.to_owned() })
                .trim_end_matches('/')
                .to_owned()
        };
        let (app_id, app_secret, config_id) = if sandbox {
            (
                SANDBOX_APP_ID.into(),
                SANDBOX_APP_SECRET.into(),
                SANDBOX_CONFIG_ID.into(),
            )
        } else {
            if self.app_secret.expose().is_empty() || self.config_id.is_empty() {
                anyhow::bail!("GANGWAY_META_APP_ID is set: GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID are required too");
            }
            (
                self.app_id.clone(),
                self.app_secret.expose().to_owned(),
                self.config_id.clone(),
            )
        };
        let message_origins = match &self.message_origins {
            Some(origins) => origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .collect(),
            None if sandbox => vec![origin_of(&sandbox_url)?],
            None => vec![
                "https://www.facebook.com".into(),
                "https://web.facebook.com".into(),
            ],
        };
        Ok(MetaEndpoints {
            graph: gangway_meta_graph::GraphConfig {
                base_url: pick(&self.graph_url, "https://graph.facebook.com", sandbox_url.clone()),
                api_version: self.api_version.clone(),
                app_id,
                app_secret,
                timeout: Duration::from_secs(self.timeout_seconds.max(1)),
                max_retry: Duration::from_secs(self.max_retry_seconds),
            },
            config_id,
            sdk_url: pick(
                &self.sdk_url,
                "https://connect.facebook.net/en_US/sdk.js",
                format!("{sandbox_url}/en_US/sdk.js"),
            ),
            dialog_url: pick(&self.dialog_url, "https://www.facebook.com", sandbox_url.clone()),
            message_origins,
            webhook_verify_token: match self.webhook_verify_token.expose() {
                "" if sandbox => Some(Secret::new(SANDBOX_VERIFY_TOKEN)),
                "" => None,
                _ => Some(self.webhook_verify_token.clone()),
            },
            sandbox,
        })
    }
}

/// `scheme://host[:port]` of a URL, as a browser reports `event.origin`.
fn origin_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("{url} is not a URL: {e}"))?;
    Ok(parsed.origin().ascii_serialization())
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
