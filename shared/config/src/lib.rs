//! Configuration shared by every Gangway process: one typed struct per concern, read from
//! `GANGWAY_*` environment variables (or the matching `--flags`) with local defaults, and the
//! tracing set-up.

pub mod runtime;

use clap::{Args, ValueEnum};
use std::fmt;
use std::str::FromStr;

/// A configuration value that must never be printed (tokens, keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Which rules a process starts under. The default is production: a binary started with no
/// settings is safe to expose; development conveniences are switched on explicitly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Local defaults allowed (dev admin token, dev encryption key, http webhook URLs, the meta
    /// sandbox). Only ever by `GANGWAY_ENVIRONMENT=development`.
    Development,
    /// Refuses to start on development defaults.
    #[default]
    Production,
}

impl Environment {
    pub fn is_development(self) -> bool {
        self == Self::Development
    }
}

/// Settings a process refuses to start with; `main` prints it and exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Exits with status 2 and the problem on stderr when a process cannot start with its settings.
pub fn exit_on_startup_error(checked: Result<(), StartupError>) {
    if let Err(problem) = checked {
        eprintln!("error: {problem}");
        std::process::exit(2);
    }
}

/// Refuses what is only for development, outside development: `problems` are the settings that
/// are missing or unsafe, each with how to fix it.
pub fn require_production_settings(
    environment: Environment,
    problems: Vec<String>,
) -> Result<(), StartupError> {
    if environment.is_development() || problems.is_empty() {
        return Ok(());
    }
    Err(StartupError(format!(
        "{} (or set GANGWAY_ENVIRONMENT=development for local use)",
        problems.join("; ")
    )))
}

/// The admin token of development, refused everywhere else.
pub const DEVELOPMENT_ADMIN_TOKEN: &str = "dev-admin-token";
/// The shortest admin token accepted outside development.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// The api's settings production has rules for (the api reads them; `gangway doctor` checks them).
pub struct ProductionSettings<'a> {
    pub admin_token: &'a str,
    pub encryption_keys: &'a str,
    pub webhook_allow_http: Option<bool>,
    pub webhook_allow_private: bool,
    pub meta_app_id: &'a str,
}

/// What production refuses in `settings` (development allows it), each saying how to fix it.
pub fn production_problems(settings: &ProductionSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let token = settings.admin_token;
    if token.is_empty() {
        problems.push(format!(
            "GANGWAY_ADMIN_TOKEN is not set: set it to a random string of at least {MIN_ADMIN_TOKEN_CHARS} characters"
        ));
    } else if token == DEVELOPMENT_ADMIN_TOKEN || token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        problems.push(format!(
            "GANGWAY_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters and not the development token"
        ));
    }
    if settings.encryption_keys.trim().is_empty() {
        problems.push(
            "GANGWAY_ENCRYPTION_KEYS is not set: set id:base64(32 random bytes) and GANGWAY_ENCRYPTION_KEY_ID".into(),
        );
    }
    if settings.webhook_allow_http == Some(true) {
        problems.push("GANGWAY_WEBHOOK_ALLOW_HTTP=true is for development only".into());
    }
    if settings.webhook_allow_private {
        problems.push("GANGWAY_WEBHOOK_ALLOW_PRIVATE=true is for development only".into());
    }
    if settings.meta_app_id.is_empty() {
        problems.push(
            "GANGWAY_META_APP_ID, GANGWAY_META_APP_SECRET and GANGWAY_META_CONFIG_ID are not set: the meta sandbox is for development only".into(),
        );
    }
    problems
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Postgres and NATS: what every process connects to.
#[derive(Args, Clone, Debug)]
pub struct InfraConfig {
    /// Postgres connection URL.
    #[arg(
        long,
        env = "GANGWAY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/gangway"
    )]
    pub database_url: String,
    /// Most Postgres connections this process opens.
    #[arg(long, env = "GANGWAY_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// How long a request waits for a Postgres connection before it fails (the api answers 503),
    /// in milliseconds. While Postgres is down every request waits this long.
    #[arg(long, env = "GANGWAY_DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 2_000)]
    pub database_acquire_timeout_ms: u64,
    /// NATS server URL.
    #[arg(long, env = "GANGWAY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// JetStream stream holding every event.
    #[arg(long, env = "GANGWAY_NATS_STREAM", default_value = "GANGWAY_EVENTS")]
    pub nats_stream: String,
    /// Subject prefix; events are published on `<prefix>.<event type>`.
    #[arg(long, env = "GANGWAY_NATS_SUBJECT_PREFIX", default_value = "gangway.events")]
    pub nats_subject_prefix: String,
    /// JetStream stream carrying relayed WhatsApp messages and statuses, which the event store
    /// does not keep.
    #[arg(long, env = "GANGWAY_NATS_MESSAGE_STREAM", default_value = "GANGWAY_MESSAGES")]
    pub nats_message_stream: String,
    /// Subject prefix of relayed messages: `<prefix>.<event type>`.
    #[arg(
        long,
        env = "GANGWAY_NATS_MESSAGE_SUBJECT_PREFIX",
        default_value = "gangway.messages"
    )]
    pub nats_message_subject_prefix: String,
}

/// Logging.
#[derive(Args, Clone, Debug)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    #[arg(long, env = "GANGWAY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Filter in `tracing` directive syntax, e.g. `info,gangway_relay=debug`.
    #[arg(long, env = "GANGWAY_LOG", default_value = "info")]
    pub log_filter: String,
}

impl LogConfig {
    /// Installs the global tracing subscriber. Safe to call more than once (later calls no-op).
    pub fn init(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log_filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Logs go to stderr, so a command's own output on stdout stays clean to pipe.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.log_format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
    }
}

/// Parses a configuration struct from the environment alone (no command-line flags), for
/// processes and tests that build it in code.
pub fn from_env<T: Args>() -> Result<T, clap::Error> {
    #[derive(clap::Parser)]
    struct Wrapper<T: Args> {
        #[command(flatten)]
        inner: T,
    }
    <Wrapper<T> as clap::Parser>::try_parse_from(["gangway"]).map(|w| w.inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret: Secret = "hunter2-hunter2".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn defaults_point_at_local_services() {
        let infra: InfraConfig = from_env().unwrap();
        assert!(infra.nats_url.starts_with("nats://"));
        assert!(infra.database_url.starts_with("postgres://"));
    }
}
