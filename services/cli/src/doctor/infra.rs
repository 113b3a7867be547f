//! What Gangway runs on: Postgres and its migrations, NATS with the streams and the consumers the
//! processes create, and the relay that publishes from one to the other.

use super::{DoctorArgs, Item};
use gangway_config::InfraConfig;
use gangway_event_store::MIGRATOR;
use gangway_relay::relay_status;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;

/// The relay the api runs (`RelayConfig::default`).
const RELAY: &str = "default";

pub async fn check(infra: &InfraConfig, args: &DoctorArgs, pool: Result<&PgPool, &str>) -> Vec<Item> {
    let mut items = vec![postgres(pool).await];
    items.extend(nats(infra, args).await);
    items.push(relay(args, pool.ok()).await);
    items
}

async fn postgres(pool: Result<&PgPool, &str>) -> Item {
    const ID: &str = "postgres";
    let pool = match pool {
        Ok(pool) => pool,
        Err(error) => return Item::failed(ID, error, "check GANGWAY_DATABASE_URL and that Postgres runs"),
    };
    let applied: Result<Vec<i64>, _> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await;
    let applied: HashSet<i64> = match applied {
        Ok(versions) => versions.into_iter().collect(),
        Err(_) => HashSet::new(),
    };
    let pending: Vec<String> = MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| m.description.to_string())
        .collect();
    if pending.is_empty() {
        Item::passed(
            ID,
            format!("reachable; all {} migrations applied", MIGRATOR.iter().count()),
        )
    } else {
        Item::failed(
            ID,
            format!(
                "{} migration(s) not applied: {}",
                pending.len(),
                pending.join(", ")
            ),
            "run `gangway migrate` (the api also applies them when it starts)",
        )
    }
}

async fn nats(infra: &InfraConfig, args: &DoctorArgs) -> Vec<Item> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(&infra.nats_url)
        .await;
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            return vec![Item::failed(
                "nats",
                format!("cannot connect to NATS: {error}"),
                "check GANGWAY_NATS_URL and that NATS runs with JetStream (-js)",
            )]
        }
    };
    let jetstream = async_nats::jetstream::new(client);
    let mut items = Vec::new();
    let streams = [
        (
            "nats-events",
            &infra.nats_stream,
            vec![
                (args.projector_consumer.as_str(), "projector"),
                (args.dispatcher_consumer.as_str(), "dispatcher"),
            ],
        ),
        (
            "nats-messages",
            &infra.nats_message_stream,
            vec![(args.dispatcher_consumer.as_str(), "dispatcher")],
        ),
    ];
    for (id, stream_name, consumers) in streams {
        let mut stream = match jetstream.get_stream(stream_name).await {
            Ok(stream) => stream,
            Err(error) => {
                items.push(Item::failed(
                    id,
                    format!("stream {stream_name}: {error}"),
                    "start the api once (it creates the streams), with GANGWAY_NATS_* as here",
                ));
                continue;
            }
        };
        let mut missing = Vec::new();
        for (consumer, process) in &consumers {
            if stream.consumer_info(*consumer).await.is_err() {
                missing.push(format!("{consumer} (created by the {process})"));
            }
        }
        let messages = stream.info().await.map(|i| i.state.messages).unwrap_or(0);
        if missing.is_empty() {
            let names: Vec<&str> = consumers.iter().map(|(c, _)| *c).collect();
            items.push(Item::passed(
                id,
                format!(
                    "stream {stream_name} ({messages} messages) with consumers {}",
                    names.join(", ")
                ),
            ));
        } else {
            items.push(Item::failed(
                id,
                format!("stream {stream_name} lacks consumers: {}", missing.join(", ")),
                "start those processes with the same GANGWAY_NATS_* and consumer names",
            ));
        }
    }
    items
}

async fn relay(args: &DoctorArgs, pool: Option<&PgPool>) -> Item {
    const ID: &str = "relay";
    let Some(pool) = pool else {
        return Item::not_checkable(ID, "needs Postgres", "fix postgres first");
    };
    let status = match pool.acquire().await {
        Ok(mut conn) => relay_status(&mut conn, RELAY).await.map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            return Item::failed(
                ID,
                format!("reading the relay's state failed: {error}"),
                "see postgres",
            )
        }
    };
    let Some(leader) = &status.leader else {
        return Item::failed(
            ID,
            "no api process leads the relay: nothing is published to NATS, so no webhook goes out",
            "run at least one api replica with GANGWAY_RELAY_ENABLED=true (the default)",
        );
    };
    let limit = args.relay_stall_warn_seconds as f64;
    if let Some(held) = status.held_back_seconds.filter(|h| *h > limit) {
        let blocker = status
            .blocker
            .as_ref()
            .map(|b| {
                format!(
                    "pid {} in {} ({}), open {:.0} s",
                    b.pid,
                    b.database.as_deref().unwrap_or("?"),
                    b.application.as_deref().unwrap_or("?"),
                    b.age_seconds
                )
            })
            .unwrap_or_else(|| "an open transaction".into());
        return Item::failed(
            ID,
            format!("publishing held back {held:.0} s by {blocker}"),
            "end that transaction; `gangway status` shows it as it happens",
        );
    }
    let oldest = status.oldest_unpublished_seconds.unwrap_or(0.0);
    if oldest > limit {
        return Item::failed(
            ID,
            format!(
                "{} events wait to be published, the oldest for {oldest:.0} s",
                status.unpublished_events
            ),
            "check the leading api's logs for NATS errors",
        );
    }
    Item::passed(
        ID,
        format!(
            "led by pid {} ({}); {} events unpublished",
            leader.pid,
            leader.application.as_deref().unwrap_or("?"),
            status.unpublished_events
        ),
    )
}
