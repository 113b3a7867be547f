//! The meta sandbox: a local Meta for development and tests. It serves the Graph API paths and
//! shapes Gangway uses (reference/meta-embedded-signup.md), answers with Meta's error object, and
//! can be told to fail the ways Meta fails. For the browser it serves a stand-in JS SDK and the
//! Embedded Signup dialog (docs/embedded-signup.md).

mod app;
mod control;
mod countries;
mod dialog;
mod graph;
mod sdk;
mod world;

use clap::Args;
use gangway_config::LogConfig;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use world::World;

#[derive(Args, Clone, Debug)]
pub struct SandboxConfig {
    #[command(flatten)]
    pub log: LogConfig,
    /// Address the sandbox listens on.
    #[arg(long, env = "GANGWAY_SANDBOX_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,
    /// The Meta app id the sandbox accepts.
    #[arg(long, env = "GANGWAY_SANDBOX_APP_ID", default_value = "1234567890")]
    pub app_id: String,
    /// The Meta app secret the sandbox accepts (until `POST /sandbox/app/secret` resets it).
    #[arg(
        long,
        env = "GANGWAY_SANDBOX_APP_SECRET",
        default_value = "sandbox-app-secret"
    )]
    pub app_secret: String,
    /// Where `POST /sandbox/webhooks` sends Meta's webhooks unless told otherwise: the api's
    /// `/meta/webhooks`. The app starts subscribed there to every field Gangway needs.
    #[arg(
        long,
        env = "GANGWAY_SANDBOX_WEBHOOK_URL",
        default_value = "http://127.0.0.1:8080/meta/webhooks"
    )]
    pub webhook_url: String,
    /// Meta sends a webhook again when it does not get a 200, with growing delays; the sandbox
    /// does too, on a compressed schedule: first after this many milliseconds, then doubling.
    #[arg(long, env = "GANGWAY_SANDBOX_WEBHOOK_RETRY_MS", default_value_t = 1_000)]
    pub webhook_retry_ms: u64,
    /// How many times the sandbox sends a webhook again before giving up on it (0: never).
    #[arg(long, env = "GANGWAY_SANDBOX_WEBHOOK_REDELIVERIES", default_value_t = 5)]
    pub webhook_redeliveries: u32,
    /// How long an Embedded Signup code can be exchanged, in seconds (Meta: 30).
    #[arg(long, env = "GANGWAY_SANDBOX_CODE_TTL_SECONDS", default_value_t = 30)]
    pub code_ttl_seconds: u64,
}

#[derive(Clone)]
pub struct Sandbox {
    world: Arc<Mutex<World>>,
    config: Arc<SandboxConfig>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Self {
        let app = world::App::configured(&config.app_id, &config.app_secret, &config.webhook_url);
        let code_ttl = Duration::from_secs(config.code_ttl_seconds);
        Self {
            world: Arc::new(Mutex::new(World::seeded(code_ttl, app))),
            config: Arc::new(config),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub fn app(sandbox: Sandbox) -> axum::Router {
    // The dialog and SDK paths are static where the Graph routes have parameters, so they win
    // the match and never pass through the Graph version and fault layer.
    control::router()
        .merge(sdk::router())
        .merge(dialog::router())
        .merge(graph::router(sandbox.clone()))
        .fallback(unknown_path)
        .with_state(sandbox)
}

async fn unknown_path(uri: axum::http::Uri) -> axum::response::Response {
    graph::graph_error(
        400,
        2500,
        None,
        &format!("Unknown path components: {}", uri.path()),
    )
}

/// Binds the listener (port 0 picks a free one) and serves until `cancel`.
pub struct SandboxServer {
    listener: TcpListener,
    sandbox: Sandbox,
}

impl SandboxServer {
    pub async fn build(config: SandboxConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self {
            listener,
            sandbox: Sandbox::new(config),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "meta sandbox listening");
        axum::serve(self.listener, app(self.sandbox))
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await?;
        Ok(())
    }
}
