use clap::Parser;
use gangway_api::config::ApiConfig;
use gangway_api::Application;
use gangway_config::runtime::cancel_on_signal;
use tokio_util::sync::CancellationToken;

/// Many small, short-lived allocations per request: glibc's malloc took about a fifth of the api's
/// CPU under load, and mimalloc cut CPU per link created by about 13 % (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gangway api: management API, hosted pages and the event relay.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: ApiConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().config;
    config.log.init();
    gangway_config::exit_on_startup_error(config.check());
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    Application::build(config).await?.run(cancel).await
}
