use crate::{decide, load, metadata, now, AppError, Loaded};
use gangway_domain::customer::{Customer, CustomerCommand, CustomerCreated};
use gangway_domain::{CustomerId, OrganizationId};
use gangway_event_store::{AppendTransaction, EventStore, StreamAppend};
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
    let meta = metadata(org, correlation_id, now());
    let decided = decide::<Customer>(None, id, &CustomerCommand::Create(created), &meta)?;
    let state = decided.state_after(None, id, &meta);
    match (state, decided.append) {
        (Some(state), Some(append)) => Ok(Some(NewCustomer { state, append })),
        _ => Err(anyhow::anyhow!("customer.created did not start a customer").into()),
    }
}

/// Creates a customer; an external id already in use is a conflict.
#[tracing::instrument(skip(store, created))]
pub async fn create_customer(
    store: &EventStore,
    org: OrganizationId,
    created: CustomerCreated,
) -> Result<Customer, AppError> {
    let mut tx = store.begin().await?;
    let Some(customer) = claim_new(&mut tx, org, created, Uuid::now_v7()).await? else {
        return Err(AppError::Conflict {
            code: "customer_exists",
            message: "a customer with this externalId already exists".into(),
        });
    };
    tx.append_all(vec![customer.append]).await?;
    tx.commit().await?;
    Ok(customer.state)
}

/// The customer holding `external_id` in `org`, read consistently (not from a read model). With
/// `lock`, it is also locked until the caller's transaction ends, so commands on one customer queue.
pub async fn find_by_external_id(
    conn: &mut PgConnection,
    org: OrganizationId,
    external_id: &str,
    lock: bool,
) -> Result<Option<Loaded<Customer>>, AppError> {
    // Finding and locking (as `lock_entity` does) take one round trip.
    let sql = if lock {
        "SELECT c.customer_id FROM customer_external_ids c \
         CROSS JOIN LATERAL pg_advisory_xact_lock(hashtextextended(c.customer_id::text, 0)) \
         WHERE c.organization_id = $1 AND c.external_id = $2"
    } else {
        "SELECT customer_id FROM customer_external_ids WHERE organization_id = $1 AND external_id = $2"
    };
    let id: Option<Uuid> = sqlx::query_scalar(sql)
        .bind(org.as_uuid())
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(id) = id else { return Ok(None) };
    Ok(load::<Customer>(conn, org, CustomerId::from_uuid(id)).await?)
}
