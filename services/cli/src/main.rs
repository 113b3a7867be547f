use clap::Parser;
use gangway_cli::Outcome;
use std::process::ExitCode;

/// Exit status: 0 done, 1 done but something needs the operator's attention (read models that
/// differ, secrets left under old keys), 2 the command failed.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = gangway_cli::Cli::parse();
    cli.log.init();
    match gangway_cli::run(cli).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NeedsAttention) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
