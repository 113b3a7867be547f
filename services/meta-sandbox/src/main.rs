use clap::Parser;
use gangway_meta_sandbox::{SandboxConfig, SandboxServer};
use tokio_util::sync::CancellationToken;

/// Gangway's meta sandbox: a local stand-in for Meta's Graph API.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: SandboxConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().config;
    config.log.init();
    let cancel = CancellationToken::new();
    gangway_config::runtime::cancel_on_signal(cancel.clone());
    SandboxServer::build(config).await?.run(cancel).await
}
