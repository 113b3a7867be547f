//! `gangway dead-letters`: the events the projector or the dispatcher set aside, and retries.

use clap::Subcommand;
use gangway_dead_letters::{list, request_retry, RetryScope};
use sqlx::PgPool;

#[derive(Subcommand)]
pub enum DeadLettersCommand {
    /// List unresolved dead letters and the events held behind them, as JSON lines.
    List {
        /// Include the ones already resolved.
        #[arg(long)]
        all: bool,
    },
    /// Ask the consumers to process a dead letter again (once its cause is fixed), then the
    /// events of its stream held behind it, in order. The running projector or dispatcher picks
    /// the request up within about a second.
    Retry {
        /// The dead letter's id (from `list`); a held event's id names the one it waits behind.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every unresolved dead letter.
        #[arg(long)]
        all: bool,
    },
}

/// Runs the command; `Ok(false)` when a retry matched nothing.
pub async fn run(pool: &PgPool, command: DeadLettersCommand) -> anyhow::Result<bool> {
    match command {
        DeadLettersCommand::List { all } => {
            for letter in list(pool, all).await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
            Ok(true)
        }
        DeadLettersCommand::Retry { id, all: _ } => {
            let scope = id.map_or(RetryScope::All, RetryScope::One);
            let asked = request_retry(pool, scope).await?;
            match (asked, id) {
                (0, Some(id)) => {
                    eprintln!("no unresolved dead letter {id}");
                    Ok(false)
                }
                (asked, _) => {
                    println!("retry requested for {asked} dead letter(s)");
                    Ok(true)
                }
            }
        }
    }
}
