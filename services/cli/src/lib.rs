//! The `gangway` operations CLI. Every command can be run again safely: replays rebuild the same
//! read models, republished events are de-duplicated by JetStream and the consumers, re-delivered
//! webhooks keep their `webhook-id`, and a key rotation only touches secrets not yet under the
//! active key. Long work shows a progress bar on a terminal (on stderr); results go to stdout.

mod compare;
mod dead_letters;
pub mod doctor;
mod progress;
mod redeliver;
mod republish;
mod rotate;
mod show;
mod status;
mod tail;
mod time;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gangway_bus::{Bus, BusNames};
use gangway_config::runtime::connect_database;
use gangway_config::{Environment, InfraConfig, LogConfig, Secret};
use gangway_domain::values::bounded_text;
use gangway_event_store::{EventStore, MIGRATOR};
use sqlx::PgPool;
use uuid::Uuid;

pub use time::parse_time;

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
    /// Rebuild every read model from the Postgres event store while everything keeps running
    /// (resuming a replay that was killed), or (--compare) only report how the live read models
    /// differ from a rebuild.
    Replay {
        /// Start over instead of resuming a killed replay.
        #[arg(long, conflicts_with = "compare")]
        restart: bool,
        /// Events per transaction while rebuilding.
        #[arg(long, default_value_t = gangway_projections::DEFAULT_REPLAY_BATCH,
              value_parser = clap::value_parser!(i64).range(1..=100_000))]
        batch_size: i64,
        /// Rebuild into temporary tables and compare with the live read models, changing
        /// nothing. Exits with status 1 when they differ.
        #[arg(long)]
        compare: bool,
        /// With --compare: how many differing rows to list (all are counted).
        #[arg(long, default_value_t = 20)]
        show: usize,
        /// With --compare: print the report as one JSON object (matches, events, differingRows,
        /// tables, rows) for scripts.
        #[arg(long, requires = "compare")]
        json: bool,
    },
    /// Publish stored events to JetStream again, with `Nats-Msg-Id` = event id as the relay does.
    Republish {
        /// First global position to publish.
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        from: i64,
        /// Last global position to publish (default: the last stored event).
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        to: Option<i64>,
    },
    /// Put webhook messages back in the delivery queue; the running dispatcher sends them again
    /// with their original `webhook-id`.
    Redeliver(redeliver::RedeliverArgs),
    /// Print events from JetStream as JSON lines, live.
    Tail {
        /// Start from the first event in the stream instead of new ones only.
        #[arg(long)]
        all: bool,
        /// Only event types starting with this, e.g. `onboarding_link.`.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events of this organization.
        #[arg(long)]
        org: Option<Uuid>,
        /// Only events of this stream (a link, phone, customer, endpoint or organization id).
        #[arg(long)]
        stream: Option<Uuid>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Re-encrypt every secret in the vault under the active key (GANGWAY_ENCRYPTION_KEY_ID),
    /// while the system runs.
    RotateKey {
        #[command(flatten)]
        keys: KeyArgs,
        /// Secrets re-encrypted per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch_size: i64,
    },
    /// The deployment at a glance: relay leader, position and what holds it back; projections;
    /// the webhook queue and parked endpoints; dead letters; a running replay. Exit status 1 when
    /// something needs attention (no relay leading, publishing held back, dead letters).
    Status {
        /// One JSON object for scripts.
        #[arg(long)]
        json: bool,
        /// Publishing held back longer than this many seconds needs attention (the api's relay
        /// warns after the same setting).
        #[arg(long, env = "GANGWAY_RELAY_STALL_WARN_SECONDS", default_value_t = 5)]
        stall_seconds: u64,
    },
    /// Events the projector or the dispatcher could not process (dead letters), and retries.
    DeadLetters {
        #[command(subcommand)]
        command: dead_letters::DeadLettersCommand,
    },
    /// Check this deployment's configuration (Meta app, webhooks, production settings, keys,
    /// Postgres, NATS, relay) and print a checklist. Exit status 1 when an item fails.
    Doctor(Box<doctor::DoctorArgs>),
    /// Show an onboarding link: its current state and its full event history.
    Link {
        #[command(subcommand)]
        command: ShowCommand,
    },
    /// Show a phone number: its current state and its full event history.
    Phone {
        #[command(subcommand)]
        command: ShowCommand,
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

#[derive(Subcommand)]
pub enum ShowCommand {
    /// Print the entity as JSON (secrets appear only as references).
    Show {
        /// The entity's id.
        id: Uuid,
    },
}

/// The encryption keys, as the api and the dispatcher read them.
#[derive(Args, Clone, Debug)]
pub struct KeyArgs {
    /// `production` refuses the development key.
    #[arg(long, env = "GANGWAY_ENVIRONMENT", value_enum, default_value = "production")]
    pub environment: Environment,
    /// Encryption keys as `id:base64(32 bytes)[,id:key...]`: the active one and every old one
    /// still in use.
    #[arg(
        long,
        env = "GANGWAY_ENCRYPTION_KEYS",
        default_value = "",
        hide_env_values = true
    )]
    pub encryption_keys: Secret,
    /// The key every secret is re-encrypted under.
    #[arg(long, env = "GANGWAY_ENCRYPTION_KEY_ID", default_value = "")]
    pub encryption_key_id: String,
}

/// How a command ended, beyond success or error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; exit status 0.
    Done,
    /// The command ran but found something the operator must look at (read models that differ,
    /// secrets left under old keys); exit status 1.
    NeedsAttention,
}

async fn pool(infra: &InfraConfig) -> anyhow::Result<PgPool> {
    let pool = connect_database(infra, 4).await?;
    MIGRATOR.run(&pool).await.context("running database migrations")?;
    Ok(pool)
}

async fn bus(infra: &InfraConfig) -> anyhow::Result<Bus> {
    let names = BusNames::from(infra);
    Ok(Bus::connect(&infra.nats_url, names).await?)
}

pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
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
            let org = gangway_app::organizations::create_organization(&store, name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({"id": org.id, "name": org.name, "apiKey": org.api_key})
            );
        }
        Command::Replay {
            compare: false,
            restart,
            batch_size,
            ..
        } => {
            let pool = pool(&cli.infra).await?;
            let bar = progress::bar(0, "events");
            let report = progress::Report::start(pool.clone());
            let mut resumed = 0;
            let applied = gangway_projections::replay(&pool, batch_size, restart, |p| {
                bar.set_length(p.total);
                bar.set_position(p.applied);
                report.update(p.applied, p.total);
                resumed = p.resumed_from;
            })
            .await;
            report.finish(applied.is_ok()).await;
            let applied = applied?;
            bar.finish_and_clear();
            if resumed > 0 {
                println!("resumed a replay after {resumed} events");
            }
            println!("replayed {applied} events into the read models");
        }
        Command::Replay {
            compare: true,
            show,
            json,
            ..
        } => {
            let format = if json {
                compare::Format::Json
            } else {
                compare::Format::Text
            };
            return compare::run(&pool(&cli.infra).await?, show, format).await;
        }
        Command::Republish { from, to } => {
            if let Some(to) = to.filter(|to| *to < from) {
                anyhow::bail!("--to {to} is before --from {from}");
            }
            let pool = pool(&cli.infra).await?;
            republish::run(&pool, &bus(&cli.infra).await?, from, to).await?;
        }
        Command::Redeliver(args) => redeliver::run(&pool(&cli.infra).await?, args).await?,
        Command::Tail {
            all,
            event_type,
            org,
            stream,
            limit,
        } => {
            let filter = tail::Filter {
                event_type,
                organization: org,
                stream,
            };
            tail::run(&bus(&cli.infra).await?, all, &filter, limit).await?;
        }
        Command::RotateKey { keys, batch_size } => {
            let vault = rotate::vault(&keys)?;
            return rotate::run(&pool(&cli.infra).await?, &vault, batch_size).await;
        }
        Command::Status { json, stall_seconds } => {
            return status::run(&pool(&cli.infra).await?, json, stall_seconds as f64).await
        }
        Command::DeadLetters { command } => {
            if !dead_letters::run(&pool(&cli.infra).await?, command).await? {
                return Ok(Outcome::NeedsAttention);
            }
        }
        Command::Doctor(args) => return doctor::run(&cli.infra, *args).await,
        Command::Link {
            command: ShowCommand::Show { id },
        } => show::run(&pool(&cli.infra).await?, show::Kind::Link, id).await?,
        Command::Phone {
            command: ShowCommand::Show { id },
        } => show::run(&pool(&cli.infra).await?, show::Kind::Phone, id).await?,
    }
    Ok(Outcome::Done)
}
