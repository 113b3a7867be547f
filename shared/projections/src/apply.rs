use crate::ProjectionError;
use gangway_domain::customer::{Customer, CustomerEvent};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::organization::{Organization, OrganizationEvent};
use gangway_domain::phone::{Phone, PhoneEvent};
use gangway_domain::webhook::{Endpoint, EndpointEvent};
use gangway_domain::{Aggregate, StreamEvent};
use gangway_event_store::{evolve_recorded, read_stream_after, RecordedEvent};
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The event (and any earlier ones of its stream that had not arrived) changed the model.
    Applied,
    /// The model already reflects this event: a redelivery.
    AlreadyApplied,
    /// No read model is built from this stream type.
    Ignored,
}

/// Applies one event to its read model. Call inside a transaction that also saves the checkpoint.
///
/// Idempotent: a row remembers the stream version it reflects, so a redelivered event is skipped.
/// If events of the stream are missing (arrived out of order), they are read from the event store,
/// which is the source of truth, and applied first.
#[tracing::instrument(skip_all, fields(event_id = %event.event_id, event_type = %event.event_type))]
pub async fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Applied, ProjectionError> {
    match event.stream_type.as_str() {
        OrganizationEvent::STREAM_TYPE => project_organization(conn, event).await,
        CustomerEvent::STREAM_TYPE => project_customer(conn, event).await,
        LinkEvent::STREAM_TYPE => project_link(conn, event).await,
        PhoneEvent::STREAM_TYPE => project_phone(conn, event).await,
        EndpointEvent::STREAM_TYPE => project_endpoint(conn, event).await,
        _ => Ok(Applied::Ignored),
    }
}

/// Records how far a projection has consumed; call in the same transaction as [`apply`].
pub async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    stream_sequence: u64,
    event_position: i64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, stream_sequence, event_position, updated_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (name) DO UPDATE SET \
             stream_sequence = GREATEST(projection_checkpoints.stream_sequence, EXCLUDED.stream_sequence), \
             event_position = GREATEST(projection_checkpoints.event_position, EXCLUDED.event_position), \
             updated_at = now()",
    )
    .bind(name)
    .bind(i64::try_from(stream_sequence).unwrap_or(i64::MAX))
    .bind(event_position)
    .execute(conn)
    .await?;
    Ok(())
}

/// What applying an event to a row comes to.
enum Next<S> {
    /// The row already reflects the event.
    AlreadyApplied,
    /// The stream does not make a state (it does not start with its creation event).
    NoState,
    /// The row's new state, as of the event's version.
    State(S),
}

/// Locks the row, and folds into its state the event, plus any earlier events of the stream the
/// row has not seen (read from the event store, which is the source of truth). A row that does not
/// exist yet cannot be locked: the upserts' version guard keeps a slower projector replica from
/// writing an older state over a newer one.
async fn next_state<A: Aggregate + DeserializeOwned>(
    conn: &mut PgConnection,
    table: &str,
    event: &RecordedEvent,
) -> Result<Next<A>, ProjectionError> {
    let sql = format!("SELECT stream_version, document FROM {table} WHERE id = $1 FOR UPDATE");
    let row: Option<(i64, serde_json::Value)> = sqlx::query_as(&sql)
        .bind(event.stream_id)
        .fetch_optional(&mut *conn)
        .await?;
    let (version, mut state) = match row {
        Some((version, document)) => (version, Some(serde_json::from_value(document)?)),
        None => (0, None),
    };
    if event.stream_version <= version {
        return Ok(Next::AlreadyApplied);
    }
    let events = if event.stream_version == version + 1 {
        vec![event.clone()]
    } else {
        let mut missing = read_stream_after(&mut *conn, event.stream_id, version).await?;
        missing.retain(|e| e.stream_version <= event.stream_version);
        if missing.len() as i64 != event.stream_version - version {
            return Err(ProjectionError::MissingEvents {
                stream_id: event.stream_id,
                missing: version + 1,
            });
        }
        missing
    };
    for recorded in &events {
        state = evolve_recorded::<A>(state, recorded)?;
    }
    Ok(state.map_or(Next::NoState, Next::State))
}

async fn project_organization(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Applied, ProjectionError> {
    let org = match next_state::<Organization>(conn, "rm_organizations", event).await? {
        Next::State(org) => org,
        Next::AlreadyApplied => return Ok(Applied::AlreadyApplied),
        Next::NoState => return Ok(Applied::Ignored),
    };
    sqlx::query(
        "INSERT INTO rm_organizations (id, name, created_at, stream_version, document) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, \
             stream_version = EXCLUDED.stream_version, document = EXCLUDED.document \
         WHERE rm_organizations.stream_version < EXCLUDED.stream_version",
    )
    .bind(org.id.as_uuid())
    .bind(&org.name)
    .bind(org.created_at)
    .bind(event.stream_version)
    .bind(serde_json::to_value(&org)?)
    .execute(conn)
    .await?;
    Ok(Applied::Applied)
}

async fn project_customer(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Applied, ProjectionError> {
    let customer = match next_state::<Customer>(conn, "rm_customers", event).await? {
        Next::State(customer) => customer,
        Next::AlreadyApplied => return Ok(Applied::AlreadyApplied),
        Next::NoState => return Ok(Applied::Ignored),
    };
    sqlx::query(
        "INSERT INTO rm_customers (id, organization_id, external_id, name, created_at, stream_version, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET external_id = EXCLUDED.external_id, name = EXCLUDED.name, \
             stream_version = EXCLUDED.stream_version, document = EXCLUDED.document \
         WHERE rm_customers.stream_version < EXCLUDED.stream_version",
    )
    .bind(customer.id.as_uuid())
    .bind(customer.organization_id.as_uuid())
    .bind(&customer.external_id)
    .bind(&customer.name)
    .bind(customer.created_at)
    .bind(event.stream_version)
    .bind(serde_json::to_value(&customer)?)
    .execute(conn)
    .await?;
    Ok(Applied::Applied)
}

async fn project_link(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Applied, ProjectionError> {
    let link = match next_state::<Link>(conn, "rm_onboarding_links", event).await? {
        Next::State(link) => link,
        Next::AlreadyApplied => return Ok(Applied::AlreadyApplied),
        Next::NoState => return Ok(Applied::Ignored),
    };
    sqlx::query(
        "INSERT INTO rm_onboarding_links (id, organization_id, customer_id, external_id, status, \
             expires_at, created_at, stream_version, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, expires_at = EXCLUDED.expires_at, \
             stream_version = EXCLUDED.stream_version, document = EXCLUDED.document \
         WHERE rm_onboarding_links.stream_version < EXCLUDED.stream_version",
    )
    .bind(link.id.as_uuid())
    .bind(link.organization_id.as_uuid())
    .bind(link.spec.customer_id.map(|c| c.as_uuid()))
    .bind(&link.spec.external_id)
    .bind(link.status.as_str())
    .bind(link.spec.expires_at)
    .bind(link.created_at)
    .bind(event.stream_version)
    .bind(serde_json::to_value(&link)?)
    .execute(conn)
    .await?;
    Ok(Applied::Applied)
}

async fn project_phone(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Applied, ProjectionError> {
    let phone = match next_state::<Phone>(conn, "rm_phones", event).await? {
        Next::State(phone) => phone,
        Next::AlreadyApplied => return Ok(Applied::AlreadyApplied),
        Next::NoState => return Ok(Applied::Ignored),
    };
    let status = serde_json::to_value(phone.status)?;
    sqlx::query(
        "INSERT INTO rm_phones (id, organization_id, customer_id, phone_number_id, waba_id, status, \
             created_at, stream_version, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, \
             stream_version = EXCLUDED.stream_version, document = EXCLUDED.document \
         WHERE rm_phones.stream_version < EXCLUDED.stream_version",
    )
    .bind(phone.id.as_uuid())
    .bind(phone.organization_id.as_uuid())
    .bind(phone.details.customer_id.map(|c| c.as_uuid()))
    .bind(&phone.details.phone_number_id)
    .bind(phone.details.waba_id.as_uuid())
    .bind(status.as_str().unwrap_or_default())
    .bind(phone.created_at)
    .bind(event.stream_version)
    .bind(serde_json::to_value(&phone)?)
    .execute(conn)
    .await?;
    Ok(Applied::Applied)
}

async fn project_endpoint(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Applied, ProjectionError> {
    let endpoint = match next_state::<Endpoint>(conn, "rm_webhook_endpoints", event).await? {
        Next::State(endpoint) => endpoint,
        Next::AlreadyApplied => return Ok(Applied::AlreadyApplied),
        Next::NoState => return Ok(Applied::Ignored),
    };
    let status = serde_json::to_value(endpoint.status)?;
    sqlx::query(
        "INSERT INTO rm_webhook_endpoints (id, organization_id, status, waba_id, created_at, \
             stream_version, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, waba_id = EXCLUDED.waba_id, \
             stream_version = EXCLUDED.stream_version, document = EXCLUDED.document \
         WHERE rm_webhook_endpoints.stream_version < EXCLUDED.stream_version",
    )
    .bind(endpoint.id.as_uuid())
    .bind(endpoint.organization_id.as_uuid())
    .bind(status.as_str().unwrap_or_default())
    .bind(endpoint.waba_id.map(|w| w.as_uuid()))
    .bind(endpoint.created_at)
    .bind(event.stream_version)
    .bind(serde_json::to_value(&endpoint)?)
    .execute(conn)
    .await?;
    Ok(Applied::Applied)
}
