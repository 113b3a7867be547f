//! The `gangway` operations CLI.

use anyhow::Context;
use async_nats::jetstream::{self, consumer::DeliverPolicy};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use gangway_bus::{decode_event, Bus, BusNames};
use gangway_config::runtime::connect_database;
use gangway_config::{InfraConfig, LogConfig};
use gangway_domain::values::bounded_text;
use gangway_event_store::{EventStore, MIGRATOR};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

#[derive(Parser)]
#[command(name = "gangway", version, about = "Operate a Gangway deployment.")]
pub struct Cli {
    #[command(flatten)]
    pub infra: InfraConfig,
    #[command(flatten)]
    pub log: LogConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply database migrations (idempotent).
    Migrate,
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Rebuild every read model from the Postgres event store.
    Replay,
    /// Print events from JetStream as JSON lines, live.
    Tail {
        /// Start from the first event in the stream instead of new ones only.
        #[arg(long)]
        all: bool,
        /// Only event types starting with this, e.g. `onboarding_link.`.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization and print its API key (shown once).
    Create {
        #[arg(long)]
        name: String,
    },
}

async fn pool(infra: &InfraConfig) -> anyhow::Result<PgPool> {
    let pool = connect_database(&infra.database_url, 4).await?;
    MIGRATOR.run(&pool).await.context("running database migrations")?;
    Ok(pool)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate => {
            pool(&cli.infra).await?;
            println!("migrations applied");
        }
        Command::Org {
            command: OrgCommand::Create { name },
        } => {
            let name = bounded_text(&name, 200).map_err(|m| anyhow::anyhow!("--name {m}"))?;
            let store = EventStore::new(pool(&cli.infra).await?);
            let org = gangway_api::commands::organizations::create_organization(&store, name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({"id": org.id, "name": org.name, "apiKey": org.api_key})
            );
        }
        Command::Replay => {
            let pool = pool(&cli.infra).await?;
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
                    .expect("valid progress template"),
            );
            let applied = gangway_projections::replay(&pool, |p| {
                bar.set_length(p.total);
                bar.set_position(p.applied);
            })
            .await?;
            bar.finish_and_clear();
            println!("replayed {applied} events into the read models");
        }
        Command::Tail {
            all,
            event_type,
            limit,
        } => tail(&cli.infra, all, event_type, limit).await?,
    }
    Ok(())
}

async fn tail(
    infra: &InfraConfig,
    all: bool,
    event_type: Option<String>,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let names = BusNames {
        stream: infra.nats_stream.clone(),
        subject_prefix: infra.nats_subject_prefix.clone(),
    };
    let bus = Bus::connect(&infra.nats_url, names).await?;
    let stream = bus.ensure_stream().await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: if all {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ..Default::default()
        })
        .await
        .context("creating an ordered consumer")?;
    let mut messages = consumer.messages().await.context("subscribing")?;
    let mut printed = 0;
    while limit.is_none_or(|l| printed < l) {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
        let event = decode_event(&message.payload)?;
        if event_type
            .as_ref()
            .is_some_and(|t| !event.event_type.starts_with(t.as_str()))
        {
            continue;
        }
        println!("{}", serde_json::to_string(&event)?);
        printed += 1;
    }
    Ok(())
}
