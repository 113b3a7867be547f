use clap::Parser;
use gangway_dispatcher::config::DispatcherConfig;
use tokio_util::sync::CancellationToken;

/// Gangway dispatcher: delivers signed webhooks with retries.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: DispatcherConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().config;
    config.log.init();
    gangway_config::exit_on_startup_error(config.check());
    let cancel = CancellationToken::new();
    gangway_config::runtime::cancel_on_signal(cancel.clone());
    gangway_dispatcher::run(config, cancel).await
}
