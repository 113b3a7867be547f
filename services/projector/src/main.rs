use clap::Parser;
use gangway_projector::ProjectorConfig;
use tokio_util::sync::CancellationToken;

/// Gangway projector: builds the read models from JetStream.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: ProjectorConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().config;
    config.log.init();
    let cancel = CancellationToken::new();
    gangway_config::runtime::cancel_on_signal(cancel.clone());
    gangway_projector::run(config, cancel).await
}
