//! `gangway link show` / `gangway phone show`: one entity for support, as JSON: its state folded
//! from its stream (what the api answers), whether the read model has caught up, and every event.
//! Secrets live in the vault and appear here only as references.

use gangway_app::views::AuditEvent;
use gangway_app::{load, load_any};
use gangway_domain::link::Link;
use gangway_domain::link::LinkEvent;
use gangway_domain::phone::Phone;
use gangway_domain::phone::PhoneEvent;
use gangway_domain::{LinkId, PhoneId, StreamEvent};
use gangway_event_store::read_stream_after;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Link,
    Phone,
}

impl Kind {
    fn stream_type(self) -> &'static str {
        match self {
            Self::Link => LinkEvent::STREAM_TYPE,
            Self::Phone => PhoneEvent::STREAM_TYPE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Link => "onboarding link",
            Self::Phone => "phone number",
        }
    }

    fn read_model(self) -> &'static str {
        match self {
            Self::Link => "rm_onboarding_links",
            Self::Phone => "rm_phones",
        }
    }
}

pub async fn run(pool: &PgPool, kind: Kind, id: Uuid) -> anyhow::Result<()> {
    let shown = describe(pool, kind, id).await?;
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

/// The entity as printed.
pub async fn describe(pool: &PgPool, kind: Kind, id: Uuid) -> anyhow::Result<Value> {
    let events = read_stream_after(pool, id, 0).await?;
    let Some(first) = events.first() else {
        anyhow::bail!("no {} with id {id}", kind.name());
    };
    if first.stream_type != kind.stream_type() {
        anyhow::bail!(
            "{id} is not a {} (its stream is a {})",
            kind.name(),
            first.stream_type
        );
    }
    let org = first.organization_id;
    let (state, version, status) = match kind {
        Kind::Link => {
            let loaded = load_any::<Link>(pool, LinkId::from_uuid(id))
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stream of link {id} does not fold to a link"))?;
            let status = loaded.state.status_at(chrono::Utc::now()).as_str();
            (
                serde_json::to_value(&loaded.state)?,
                loaded.version,
                json!(status),
            )
        }
        Kind::Phone => {
            let loaded = load::<Phone>(pool, org, PhoneId::from_uuid(id))
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stream of phone {id} does not fold to a phone"))?;
            let state = serde_json::to_value(&loaded.state)?;
            (state.clone(), loaded.version, state["status"].clone())
        }
    };
    let row: Option<(i64, Value)> = sqlx::query_as(&format!(
        "SELECT stream_version, document FROM {} WHERE id = $1",
        kind.read_model()
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let read_model = row.map(|(row_version, document)| {
        json!({
            "streamVersion": row_version,
            "matchesStream": row_version == version && document == state,
        })
    });
    let history: Vec<Value> = events
        .iter()
        .map(|e| serde_json::to_value(AuditEvent::from(e)))
        .collect::<Result<_, _>>()?;
    let mut shown = json!({
        "id": id,
        "kind": kind.stream_type(),
        "organizationId": org,
        "status": status,
        "version": version,
        "state": state,
        "readModel": read_model,
        "events": history,
    });
    redact(&mut shown);
    Ok(shown)
}

/// Field names that would hold a secret itself rather than a reference to it. Nothing Gangway
/// records has them (the vault holds secrets; events and states carry `...Ref` ids); this is a
/// second line, so a future field cannot leak through a support command.
const SECRET_FIELDS: [&str; 9] = [
    "token",
    "accessToken",
    "access_token",
    "secret",
    "webhookSecret",
    "pin",
    "password",
    "apiKey",
    "code",
];

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if field.is_string() && SECRET_FIELDS.contains(&key.as_str()) {
                    *field = json!("[redacted]");
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_are_redacted_and_references_kept() {
        let mut value = json!({
            "tokenRef": "0194c3a0-0000-7000-8000-000000000001",
            "data": {"token": "EAAB...", "items": [{"webhookSecret": "whsec_abc", "pin": "123456"}]},
            "errorCode": "link_expired",
        });
        redact(&mut value);
        let text = value.to_string();
        assert!(!text.contains("EAAB") && !text.contains("whsec_abc") && !text.contains("123456"));
        assert_eq!(value["tokenRef"], "0194c3a0-0000-7000-8000-000000000001");
        assert_eq!(value["errorCode"], "link_expired");
    }
}
