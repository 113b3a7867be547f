//! `gangway status`: the deployment at a glance (see [`gangway_app::system_status`]), as text or
//! JSON.

use crate::Outcome;
use gangway_app::system_status::{system_status, SystemStatus};
use sqlx::PgPool;

pub async fn run(pool: &PgPool, json: bool, stall_seconds: f64) -> anyhow::Result<Outcome> {
    let status = system_status(pool).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    let attention = status.relay.leader.is_none()
        || status.relay.held_back_seconds.unwrap_or(0.0) > stall_seconds
        || status.dead_letters.values().any(|n| *n > 0);
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Done
    })
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("-".into(), |s| format!("{s:.1} s"))
}

fn print_text(status: &SystemStatus) {
    let relay = &status.relay;
    match &relay.leader {
        Some(leader) => println!(
            "relay       leading: pid {} ({}{})",
            leader.pid,
            leader.application.as_deref().unwrap_or("?"),
            leader
                .client
                .as_deref()
                .map(|c| format!(" from {c}"))
                .unwrap_or_default()
        ),
        None => println!("relay       NOT LEADING: no api process holds the publishing lock"),
    }
    println!(
        "            position {} of {}, {} unpublished (oldest {})",
        relay.checkpoint_position,
        relay.latest_position.unwrap_or(0),
        relay.unpublished_events,
        seconds(relay.oldest_unpublished_seconds)
    );
    if let Some(held) = relay.held_back_seconds {
        println!("            held back {held:.1} s by an open transaction:");
        if let Some(b) = &relay.blocker {
            println!(
                "            pid {} in {} ({}), {}, open {:.1} s: {}",
                b.pid,
                b.database.as_deref().unwrap_or("?"),
                b.application.as_deref().unwrap_or("?"),
                b.state.as_deref().unwrap_or("?"),
                b.age_seconds,
                b.query.as_deref().unwrap_or("")
            );
        }
    }
    for p in &status.projections {
        println!(
            "projection  {}: position {}, {} events behind (oldest {}), checkpoint {} ago",
            p.name,
            p.event_position,
            p.events_behind,
            seconds(p.oldest_unapplied_seconds),
            seconds(p.updated_seconds_ago)
        );
    }
    let q = &status.webhook_queue;
    println!(
        "webhooks    {} due, {} scheduled for retry, {} in flight; {} endpoint(s) parked",
        q.due,
        q.scheduled,
        q.in_flight,
        status.parked_endpoints.len()
    );
    for e in &status.parked_endpoints {
        println!(
            "            parked {} (organization {}): {} failures in a row, probe in {}",
            e.id,
            e.organization_id,
            e.consecutive_failures,
            seconds(e.parked_for_seconds)
        );
    }
    if status.dead_letters.is_empty() {
        println!("dead letters none");
    }
    for (consumer, count) in &status.dead_letters {
        println!("dead letters {consumer}: {count} unresolved (gangway dead-letters list)");
    }
    if let Some(r) = &status.replay {
        let state = match (r.running, r.finished) {
            (_, true) => "finished",
            (true, _) => "running",
            _ => "stopped without finishing",
        };
        println!(
            "replay      {state}: {} of {} events, {:.0} events/s, ETA {}",
            r.applied,
            r.total,
            r.events_per_second,
            seconds(r.eta_seconds)
        );
    }
}
