//! The store to replay: one organization's onboarding traffic, driven through the api and the
//! meta sandbox as integrators and Meta drive it, then cloned with fresh ids until the store has
//! the size asked for. Each clone is an organization of its own with the same mix of event types.

use gangway_domain::{LinkId, OrganizationId};
use gangway_e2e::dispatch::{append_expired_links, Receiver};
use gangway_e2e::meta_traffic::{connect, meta_sends, subscribe};
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE, COFFEE_WABA};
use gangway_event_store::EventStore;
use gangway_testkit::TestEnv;
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// The columns an event is cloned with; the store assigns position and transaction.
const COLUMNS: &str = "event_id, stream_type, stream_id, stream_version, event_type, schema_version, \
                       payload, organization_id, causation_id, correlation_id, occurred_at";

/// Events of one organization, each a JSON object of [`COLUMNS`], in commit order: an endpoint;
/// a customer's link created, opened and completed, its number connected and provisioned; a
/// quality update; a link revoked by a newer one; a link whose signup was cancelled; and the
/// number disconnected when Meta reports the partner removed.
pub async fn template() -> anyhow::Result<Vec<String>> {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    subscribe(
        &world,
        &world.key,
        &receiver,
        "/hooks",
        &["phone_number.connected"],
    )
    .await;
    connect(&world, "cus_connected").await;
    meta_sends(
        &world,
        json!({ "kind": "quality_update", "phone_number_id": COFFEE_PHONE,
                "event": "UPGRADE", "current_limit": "TIER_10K" }),
    )
    .await;
    world.link(json!({ "externalId": "cus_revoked" })).await;
    world.link(json!({ "externalId": "cus_revoked" })).await;
    let cancelled = world.link(json!({ "externalId": "cus_cancelled" })).await;
    world.cancel(&cancelled, "PHONE_NUMBER_SETUP").await;
    meta_sends(
        &world,
        json!({ "kind": "partner_removed", "waba_id": COFFEE_WABA }),
    )
    .await;
    let rows = sqlx::query_scalar(&format!(
        "SELECT row_to_json(e)::text FROM (SELECT {COLUMNS} FROM events ORDER BY transaction_id, position) e"
    ))
    .fetch_all(&world.env.pool)
    .await?;
    world.api.stop().await;
    Ok(rows)
}

/// Writes clones of `template` into `env`'s store until it holds about `events` events: nine
/// tenths as clones, the rest as expired links, 100 clones a transaction.
pub async fn fill(env: &TestEnv, template: &[String], events: usize) -> anyhow::Result<()> {
    let clones = (events * 9 / 10 / template.len().max(1)).max(1);
    for first in (0..clones).step_by(100) {
        let mut rows = Vec::new();
        for _ in first..clones.min(first + 100) {
            let mut fresh = HashMap::new();
            rows.extend(template.iter().map(|row| with_fresh_ids(row, &mut fresh)));
        }
        sqlx::query(&format!(
            "INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} \
             FROM json_populate_recordset(NULL::events, $1::json)"
        ))
        .bind(format!("[{}]", rows.join(",")))
        .execute(&env.pool)
        .await?;
    }
    let store = EventStore::new(env.pool.clone());
    let org = OrganizationId::new();
    let expired = events.saturating_sub(clones * template.len()) / 2;
    let links: Vec<LinkId> = (0..expired).map(|_| LinkId::new()).collect();
    for chunk in links.chunks(1_000) {
        append_expired_links(&store, org, chunk).await?;
    }
    Ok(())
}

/// `row` with every UUID in it replaced by one fresh UUID per distinct old one (`fresh` keeps the
/// mapping, so the ids one clone's events share stay shared).
fn with_fresh_ids(row: &str, fresh: &mut HashMap<Uuid, Uuid>) -> String {
    let mut out = String::with_capacity(row.len());
    let mut rest = row;
    while rest.len() >= 36 {
        let candidate = rest.is_char_boundary(36).then(|| &rest[..36]);
        if let Some(old) = candidate.and_then(uuid_text) {
            let new = *fresh.entry(old).or_insert_with(Uuid::new_v4);
            out.push_str(&new.hyphenated().to_string());
            rest = &rest[36..];
        } else {
            let next = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    out.push_str(rest);
    out
}

/// A UUID written as JSON text holds it: 36 characters, hyphens at 8, 13, 18 and 23.
fn uuid_text(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    let shaped = bytes.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    if shaped {
        Uuid::parse_str(text).ok()
    } else {
        None
    }
}
