use crate::idempotency::{claim, IdempotencyKey};
use crate::one_statement::OneStatement;
use crate::{decide, load, metadata, now, AppError, Loaded};
use gangway_domain::customer::{Customer, CustomerCommand, CustomerCreated};
use gangway_domain::{CustomerId, OrganizationId};
use gangway_event_store::{
    fold_owned, AppendTransaction, EventStore, RecordedEvent, StoreError, StreamAppend, EVENT_COLUMNS,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// A customer about to be created: its state, and the stream append that creates it.
pub(crate) struct NewCustomer {
    pub state: Customer,
    pub append: StreamAppend,
}

/// Claims `external_id` for a new customer inside `tx` and prepares its creation. Returns `None`
/// if the external id already belongs to a customer (possibly one being created concurrently).
pub(crate) async fn claim_new(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    created: CustomerCreated,
    correlation_id: Uuid,
) -> Result<Option<NewCustomer>, AppError> {
    let id = CustomerId::new();
    if let Some(external_id) = &created.external_id {
        let claimed = sqlx::query(
            "INSERT INTO customer_external_ids (organization_id, external_id, customer_id) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(org.as_uuid())
        .bind(external_id)
        .bind(id.as_uuid())
        .execute(tx.connection())
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
    }
    prepare(org, id, created, correlation_id).map(Some)
}

/// The creation of customer `id`, decided but not appended.
pub(crate) fn prepare(
    org: OrganizationId,
    id: CustomerId,
    created: CustomerCreated,
    correlation_id: Uuid,
) -> Result<NewCustomer, AppError> {
    let meta = metadata(org, correlation_id, now());
    let decided = decide::<Customer>(None, id, &CustomerCommand::Create(created), &meta)?;
    let state = decided.state_after(None, id, &meta);
    match (state, decided.append) {
        (Some(state), Some(append)) => Ok(NewCustomer { state, append }),
        _ => Err(anyhow::anyhow!("customer.created did not start a customer").into()),
    }
}

/// Who holds an external id, as [`claim_or_find`] found out.
pub(crate) enum Claimed {
    /// Nobody did: it is now claimed for this new customer, whose creation is still to be appended.
    New(NewCustomer),
    /// This customer, locked for the rest of the transaction.
    Existing(Loaded<Customer>),
    /// A customer being created concurrently holds it, or held it a moment ago; start over.
    Contended,
}

/// Claims `external_id` for a new customer or finds and locks the customer holding it, in one
/// round trip either way (a new customer, the common case of a link, needs no lookup first).
pub(crate) async fn claim_or_find(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    created: CustomerCreated,
    correlation_id: Uuid,
) -> Result<Claimed, AppError> {
    let id = CustomerId::new();
    let external_id = created.external_id.clone().unwrap_or_default();
    // The insert waits for a concurrent claim of the same id and does nothing if that commits; the
    // lookup then reads with the statement's snapshot, which may predate that commit, so finding
    // nothing means "contended", not "free".
    let found: Option<(Uuid, bool)> = sqlx::query_as(
        "WITH claim AS ( \
             INSERT INTO customer_external_ids (organization_id, external_id, customer_id) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING customer_id) \
         SELECT customer_id, true FROM claim \
         UNION ALL \
         SELECT c.customer_id, false FROM customer_external_ids c \
         CROSS JOIN LATERAL pg_advisory_xact_lock(hashtextextended(c.customer_id::text, 0)) \
         WHERE c.organization_id = $1 AND c.external_id = $2 AND NOT EXISTS (SELECT 1 FROM claim)",
    )
    .bind(org.as_uuid())
    .bind(&external_id)
    .bind(id.as_uuid())
    .fetch_optional(tx.connection())
    .await?;
    match found {
        Some((_, true)) => Ok(Claimed::New(prepare(org, id, created, correlation_id)?)),
        Some((existing, false)) => {
            match load::<Customer>(tx.connection(), org, CustomerId::from_uuid(existing)).await? {
                Some(customer) => Ok(Claimed::Existing(customer)),
                None => Ok(Claimed::Contended),
            }
        }
        None => Ok(Claimed::Contended),
    }
}

/// Creates a customer; an external id already in use is a conflict.
#[tracing::instrument(skip(store, created))]
pub async fn create_customer(
    store: &EventStore,
    org: OrganizationId,
    created: CustomerCreated,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Customer, AppError> {
    // One statement: the key and the external id claimed and the creation appended together.
    let id = CustomerId::new();
    let mut statement = OneStatement::new();
    statement.claim_idempotency_key(idempotency);
    if let Some(external_id) = &created.external_id {
        statement.claim_external_id(org, external_id, id);
    }
    let new = prepare(org, id, created.clone(), Uuid::now_v7())?;
    match statement.append(store, vec![new.append]).await? {
        Some(_) => return Ok(new.state),
        // Only the external id was claimed: it is taken.
        None if idempotency.is_none() => return Err(customer_exists()),
        // Which claim failed is for the transaction below to find out.
        None => {}
    }
    let mut tx = store.begin().await?;
    claim(tx.connection(), idempotency).await?;
    let Some(customer) = claim_new(&mut tx, org, created, Uuid::now_v7()).await? else {
        return Err(customer_exists());
    };
    tx.append_all(vec![customer.append]).await?;
    tx.commit().await?;
    Ok(customer.state)
}

fn customer_exists() -> AppError {
    AppError::Conflict {
        code: "customer_exists",
        message: "a customer with this externalId already exists".into(),
    }
}

/// The customer holding `external_id` in `org`, read consistently (not from a read model), in
/// one round trip.
pub async fn find_by_external_id(
    conn: &mut PgConnection,
    org: OrganizationId,
    external_id: &str,
) -> Result<Option<Loaded<Customer>>, AppError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = \
             (SELECT customer_id FROM customer_external_ids \
              WHERE organization_id = $1 AND external_id = $2) \
         ORDER BY stream_version"
    );
    let events: Vec<RecordedEvent> = sqlx::query_as(&sql)
        .bind(org.as_uuid())
        .bind(external_id)
        .fetch_all(conn)
        .await?;
    Ok(fold_owned::<Customer>(&events, org).map_err(StoreError::from)?)
}
