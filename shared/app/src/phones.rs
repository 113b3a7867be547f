//! What Meta's webhooks change: connected numbers (disconnections, quality, names, account
//! notes), and the message traffic relayed to the owning organization (see [`whatsapp_relay`]).
//!
//! [`whatsapp_relay`]: crate::whatsapp_relay

use crate::whatsapp_relay::{relays, MessageOutbox};
use crate::{decide, load, lock_entity, lock_name, metadata, now, App, AppError, MAX_ATTEMPTS};
use gangway_domain::phone::{e164, DisconnectReason, Disconnection, Phone, PhoneCommand};
use gangway_domain::{OrganizationId, PhoneId};
use gangway_event_store::{AppendTransaction, StoreError, StreamAppend};
use gangway_meta_graph::inbound::{AccountUpdate, Update};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// One change of a Meta webhook, with what identifies it for de-duplication.
pub struct MetaChange<'a> {
    pub entry_id: &'a str,
    pub entry_time: Option<i64>,
    pub field: &'a str,
    pub value: &'a serde_json::Value,
    pub update: Update,
}

impl MetaChange<'_> {
    fn digest(&self) -> Vec<u8> {
        let mut hasher = Sha256::new();
        for part in [
            self.entry_id,
            &self.entry_time.unwrap_or_default().to_string(),
            self.field,
            &self.value.to_string(),
        ] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().to_vec()
    }
}

/// Applies one change at most once. Returns how many events it appended (0 for a redelivery, a
/// change for numbers Gangway does not hold, or a field Gangway does not act on), or for messages
/// and statuses how many it handed to `outbox` (they are not stored in the event store).
#[tracing::instrument(skip_all, fields(field = change.field))]
pub async fn apply_meta_change(
    app: &App,
    change: &MetaChange<'_>,
    outbox: &impl MessageOutbox,
) -> Result<usize, AppError> {
    match &change.update {
        Update::Ignored { .. } => Ok(0),
        // No receipt: a relay's id comes from Meta's message id, so a redelivery is dropped by
        // the message stream and the delivery log, and relays cost no write here.
        Update::Messages {
            meta_phone_number_id,
            messages,
            statuses,
        } => {
            let relays = relays(app, meta_phone_number_id, messages, statuses).await?;
            outbox.send(&relays).await?;
            Ok(relays.len())
        }
        update => apply_phone_change(app, update, &change.digest(), change.field).await,
    }
}

/// Records the receipt; whether it is new.
async fn note_received(conn: &mut PgConnection, digest: &[u8], field: &str) -> Result<bool, sqlx::Error> {
    let fresh = sqlx::query(
        "INSERT INTO meta_webhook_receipts (digest, field) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(digest)
    .bind(field)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(fresh == 1)
}

/// A change to numbers, appended in the transaction that records its receipt.
async fn apply_phone_change(
    app: &App,
    update: &Update,
    digest: &[u8],
    field: &str,
) -> Result<usize, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = app.store.begin().await?;
        if !note_received(tx.connection(), digest, field).await? {
            tracing::info!("Meta redelivered a change already applied");
            return Ok(0);
        }
        let appends = phone_changes(&mut tx, update).await?;
        let count = appends.iter().map(|a| a.events.len()).sum();
        match tx.append_all(appends).await {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return Ok(count);
    }
    Err(AppError::Unavailable(
        "the numbers kept changing concurrently".into(),
    ))
}

/// The phones Meta's change is about: (organization, phone) pairs, in a stable order so that
/// concurrent changes lock them in the same order.
pub(crate) async fn phones_where(
    conn: &mut PgConnection,
    column: &str,
    value: &str,
) -> Result<Vec<(OrganizationId, PhoneId)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
        "SELECT organization_id, phone_id FROM phone_number_ids WHERE {column} = $1 ORDER BY phone_id"
    ))
    .bind(value)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org, phone)| (OrganizationId::from_uuid(org), PhoneId::from_uuid(phone)))
        .collect())
}

/// A number belongs to one organization at a time: when `keep` is connected with
/// `meta_phone_number_id`, every other phone of that number (in any organization) is disconnected
/// as `connected_elsewhere`, in the caller's transaction. The number's lock makes two connections
/// of the same number take turns, so the later one always wins.
pub(crate) async fn disconnect_elsewhere(
    tx: &mut AppendTransaction,
    meta_phone_number_id: &str,
    keep: PhoneId,
) -> Result<Vec<StreamAppend>, AppError> {
    lock_name(
        tx.connection(),
        &format!("meta-phone-number:{meta_phone_number_id}"),
    )
    .await?;
    let moved = PhoneCommand::Disconnect(Disconnection {
        reason: DisconnectReason::ConnectedElsewhere,
        detail: None,
        initiated_by: None,
    });
    let at = now();
    let mut appends = Vec::new();
    for (org, id) in phones_where(tx.connection(), "meta_phone_number_id", meta_phone_number_id).await? {
        if id == keep {
            continue;
        }
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let Some(loaded) = load::<Phone>(&mut *tx.connection(), org, id).await? else {
            continue;
        };
        let meta = metadata(org, Uuid::now_v7(), at);
        appends.extend(decide(Some(&loaded), id, &moved, &meta)?.append);
    }
    Ok(appends)
}

async fn phone_changes(tx: &mut AppendTransaction, update: &Update) -> Result<Vec<StreamAppend>, AppError> {
    let (waba, number) = match update {
        Update::Account(account) => (&account.meta_waba_id, account.phone_number.as_deref()),
        Update::Quality {
            meta_waba_id,
            display_phone_number,
            ..
        }
        | Update::Name {
            meta_waba_id,
            display_phone_number,
            ..
        } => (meta_waba_id, Some(display_phone_number.as_str())),
        Update::Messages { .. } | Update::Ignored { .. } => return Ok(Vec::new()),
    };
    let Some(command) = phone_command(update) else {
        return Ok(Vec::new());
    };
    let number = number.filter(|n| !n.is_empty()).map(e164);
    let mut appends = Vec::new();
    let at = now();
    for (org, id) in phones_where(tx.connection(), "meta_waba_id", waba).await? {
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let Some(loaded) = load::<Phone>(&mut *tx.connection(), org, id).await? else {
            continue;
        };
        if number
            .as_ref()
            .is_some_and(|n| *n != loaded.state.details.phone_number)
        {
            continue;
        }
        let meta = metadata(org, Uuid::now_v7(), at);
        appends.extend(decide(Some(&loaded), id, &command, &meta)?.append);
    }
    Ok(appends)
}

/// What a Meta change asks of the numbers it is about, in Gangway's words, if anything.
fn phone_command(update: &Update) -> Option<PhoneCommand> {
    match update {
        Update::Account(account) => match disconnect_reason(account) {
            Some(reason) => Some(PhoneCommand::Disconnect(Disconnection {
                reason,
                detail: account
                    .disconnection_reason
                    .clone()
                    .or(Some(account.event.clone())),
                initiated_by: account.initiated_by.clone(),
            })),
            None if is_noteworthy(&account.event) => Some(PhoneCommand::NoteAccountUpdate {
                event: account.event.clone(),
                info: account.value.clone(),
            }),
            None => None,
        },
        Update::Quality {
            event, current_limit, ..
        } => Some(PhoneCommand::UpdateQuality {
            event: event.clone(),
            current_limit: current_limit.clone(),
        }),
        Update::Name {
            decision,
            requested_name,
            rejection_reason,
            ..
        } => Some(PhoneCommand::ReviewName {
            decision: decision.clone(),
            requested_name: requested_name.clone(),
            rejection_reason: rejection_reason.clone(),
        }),
        Update::Messages { .. } | Update::Ignored { .. } => None,
    }
}

fn disconnect_reason(account: &AccountUpdate) -> Option<DisconnectReason> {
    match account.event.as_str() {
        "PARTNER_REMOVED" => Some(DisconnectReason::PartnerRemoved),
        "PARTNER_APP_UNINSTALLED" => Some(DisconnectReason::AppUninstalled),
        "ACCOUNT_DELETED" => Some(DisconnectReason::AccountDeleted),
        "DISABLED_UPDATE" if account.value["ban_info"]["waba_ban_state"].as_str() == Some("DISABLE") => {
            Some(DisconnectReason::AccountDisabled)
        }
        _ => None,
    }
}

/// Account updates support wants in a number's history; the rest (pricing tiers, partner added,
/// ...) change nothing about the number.
fn is_noteworthy(event: &str) -> bool {
    matches!(
        event,
        "ACCOUNT_VIOLATION"
            | "ACCOUNT_RESTRICTION"
            | "DISABLED_UPDATE"
            | "ACCOUNT_OFFBOARDED"
            | "ACCOUNT_RECONNECTED"
    )
}
