use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = gangway_cli::Cli::parse();
    cli.log.init();
    gangway_cli::run(cli).await
}
