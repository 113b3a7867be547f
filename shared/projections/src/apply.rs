use crate::ProjectionError;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use gangway_domain::customer::{Customer, CustomerEvent};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::organization::{Organization, OrganizationEvent};
use gangway_domain::phone::{Phone, PhoneEvent};
use gangway_domain::webhook::{Endpoint, EndpointEvent};
use gangway_domain::{Aggregate, StreamEvent};
use gangway_event_store::{evolve_recorded, read_stream_after, RecordedEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

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
pub async fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Applied, ProjectionError> {
    Ok(apply_all(conn, std::slice::from_ref(event)).await?[0])
}

/// Applies a batch of events (in commit order) with one read and one write per read model table:
/// each stream's row is locked and read once, every event of the batch for it is folded in
/// memory, and the new rows are written in one statement per table. Returns what each event came
/// to, in the order given.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn apply_all(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<Vec<Applied>, ProjectionError> {
    let mut outcomes = vec![Applied::Ignored; events.len()];
    project::<Organization>(conn, &ORGANIZATIONS, events, &mut outcomes).await?;
    project::<Customer>(conn, &CUSTOMERS, events, &mut outcomes).await?;
    project::<Link>(conn, &LINKS, events, &mut outcomes).await?;
    project::<Phone>(conn, &PHONES, events, &mut outcomes).await?;
    project::<Endpoint>(conn, &ENDPOINTS, events, &mut outcomes).await?;
    Ok(outcomes)
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

/// A read model table: the stream type it is built from, the columns an update changes, and how
/// a state is written as its row (a JSON object keyed by column name, every column present).
struct Table<A> {
    name: &'static str,
    stream_type: &'static str,
    update: &'static str,
    row: fn(&A, i64, &mut Rows) -> serde_json::Result<()>,
}

/// Rows written straight as JSON text, for one `jsonb_populate_recordset` per table, rather than
/// built as a `serde_json::Value` per row and then serialised.
struct Rows(Vec<u8>);

impl Rows {
    fn new() -> Self {
        Self(b"[".to_vec())
    }

    fn is_empty(&self) -> bool {
        self.0.len() == 1
    }

    fn start_row(&mut self) {
        if !self.is_empty() {
            self.0.push(b',');
        }
        self.0.push(b'{');
    }

    fn column(&mut self, name: &str, value: &impl serde::Serialize) -> serde_json::Result<()> {
        if self.0.last() != Some(&b'{') {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
        serde_json::to_writer(&mut self.0, value)
    }

    fn end_row(&mut self) {
        self.0.push(b'}');
    }

    fn into_json(mut self) -> String {
        self.0.push(b']');
        String::from_utf8(self.0).expect("serde_json writes UTF-8")
    }
}

/// Writes one row: `row!(rows, "column" => value, ...)`.
macro_rules! row {
    ($rows:expr, $($column:literal => $value:expr),+ $(,)?) => {{
        $rows.start_row();
        $($rows.column($column, &$value)?;)+
        $rows.end_row();
        Ok(())
    }};
}

const ORGANIZATIONS: Table<Organization> = Table {
    name: "rm_organizations",
    stream_type: OrganizationEvent::STREAM_TYPE,
    update: "name = EXCLUDED.name",
    row: |org, version, rows| {
        row!(rows, "id" => org.id, "name" => org.name, "created_at" => timestamp(org.created_at),
             "stream_version" => version, "document" => org)
    },
};

const CUSTOMERS: Table<Customer> = Table {
    name: "rm_customers",
    stream_type: CustomerEvent::STREAM_TYPE,
    update: "external_id = EXCLUDED.external_id, name = EXCLUDED.name",
    row: |customer, version, rows| {
        row!(rows, "id" => customer.id, "organization_id" => customer.organization_id,
             "external_id" => customer.external_id, "name" => customer.name,
             "created_at" => timestamp(customer.created_at), "stream_version" => version,
             "document" => customer)
    },
};

const LINKS: Table<Link> = Table {
    name: "rm_onboarding_links",
    stream_type: LinkEvent::STREAM_TYPE,
    update: "status = EXCLUDED.status, expires_at = EXCLUDED.expires_at",
    row: |link, version, rows| {
        row!(rows, "id" => link.id, "organization_id" => link.organization_id,
             "customer_id" => link.spec.customer_id, "external_id" => link.spec.external_id,
             "status" => link.status.as_str(), "expires_at" => timestamp(link.spec.expires_at),
             "created_at" => timestamp(link.created_at), "stream_version" => version,
             "document" => link)
    },
};

const PHONES: Table<Phone> = Table {
    name: "rm_phones",
    stream_type: PhoneEvent::STREAM_TYPE,
    update: "status = EXCLUDED.status",
    row: |phone, version, rows| {
        row!(rows, "id" => phone.id, "organization_id" => phone.organization_id,
             "customer_id" => phone.details.customer_id,
             "phone_number_id" => phone.details.phone_number_id,
             "waba_id" => phone.details.waba_id, "status" => phone.status,
             "created_at" => timestamp(phone.created_at), "stream_version" => version,
             "document" => phone)
    },
};

const ENDPOINTS: Table<Endpoint> = Table {
    name: "rm_webhook_endpoints",
    stream_type: EndpointEvent::STREAM_TYPE,
    update: "status = EXCLUDED.status, waba_id = EXCLUDED.waba_id",
    row: |endpoint, version, rows| {
        row!(rows, "id" => endpoint.id, "organization_id" => endpoint.organization_id,
             "status" => endpoint.status, "waba_id" => endpoint.waba_id,
             "created_at" => timestamp(endpoint.created_at), "stream_version" => version,
             "document" => endpoint)
    },
};

/// Timestamps as Postgres stores them (microseconds, truncated as the driver's binding does), so
/// a row reads the same whichever way it was written.
fn timestamp(at: DateTime<Utc>) -> String {
    at.trunc_subsecs(6).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Applies the events of `table`'s stream type among `events`, writing each one's outcome.
///
/// Rows are locked in id order, so two projector replicas never wait on each other in a cycle. A
/// row that does not exist yet cannot be locked: the upsert's version guard keeps a slower replica
/// from writing an older state over a newer one.
async fn project<A: Aggregate + DeserializeOwned + serde::Serialize>(
    conn: &mut PgConnection,
    table: &Table<A>,
    events: &[RecordedEvent],
    outcomes: &mut [Applied],
) -> Result<(), ProjectionError> {
    let mut streams: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        if event.stream_type == table.stream_type {
            streams.entry(event.stream_id).or_default().push(index);
        }
    }
    if streams.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = streams.keys().copied().collect();
    // One index probe per id, in the ids' order (sorted), whatever the table's size when the
    // plan was cached: `id = ANY($1)` got a plan that scans the whole table when it was cached
    // while the table was small (a new deployment, read models being rebuilt), and kept it as the
    // table grew until the next ANALYZE (5-10 ms a batch at 30,000 links).
    let sql = format!(
        "SELECT r.id, r.stream_version, r.document FROM unnest($1::uuid[]) AS k(id) \
         CROSS JOIN LATERAL (SELECT id, stream_version, document FROM {} t \
                             WHERE t.id = k.id FOR UPDATE) r",
        table.name
    );
    let mut rows: HashMap<Uuid, (i64, Value)> = sqlx::query_as::<_, (Uuid, i64, Value)>(&sql)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, version, document)| (id, (version, document)))
        .collect();
    let mut written = Rows::new();
    for (stream_id, mut indexes) in streams {
        indexes.sort_by_key(|i| events[*i].stream_version);
        let (version, document) = rows.remove(&stream_id).unwrap_or((0, Value::Null));
        let newest = events[*indexes.last().expect("a stream has an event")].stream_version;
        for index in &indexes {
            outcomes[*index] = Applied::AlreadyApplied;
        }
        if newest <= version {
            continue;
        }
        let state: Option<A> = match document {
            Value::Null => None,
            document => Some(serde_json::from_value(document)?),
        };
        let fresh: Vec<&RecordedEvent> = indexes
            .iter()
            .map(|i| &events[*i])
            .filter(|e| e.stream_version > version)
            .collect();
        let contiguous = fresh
            .iter()
            .zip(version + 1..)
            .all(|(event, expected)| event.stream_version == expected);
        let state = if contiguous {
            fold_from(state, fresh.iter().copied())?
        } else {
            let mut missing = read_stream_after(&mut *conn, stream_id, version).await?;
            missing.retain(|e| e.stream_version <= newest);
            if missing.len() as i64 != newest - version {
                return Err(ProjectionError::MissingEvents {
                    stream_id,
                    missing: version + 1,
                });
            }
            fold_from(state, missing.iter())?
        };
        let outcome = match state {
            Some(state) => {
                (table.row)(&state, newest, &mut written)?;
                Applied::Applied
            }
            // The stream does not make a state (it does not start with its creation event).
            None => Applied::Ignored,
        };
        for index in indexes.iter().filter(|i| events[**i].stream_version > version) {
            outcomes[*index] = outcome;
        }
    }
    if written.is_empty() {
        return Ok(());
    }
    let name = table.name;
    sqlx::query(&format!(
        "INSERT INTO {name} SELECT * FROM jsonb_populate_recordset(NULL::{name}, $1::jsonb) \
         ON CONFLICT (id) DO UPDATE SET {}, stream_version = EXCLUDED.stream_version, \
             document = EXCLUDED.document \
         WHERE {name}.stream_version < EXCLUDED.stream_version",
        table.update
    ))
    .bind(written.into_json())
    .execute(conn)
    .await?;
    Ok(())
}

fn fold_from<'a, A: Aggregate + DeserializeOwned>(
    mut state: Option<A>,
    events: impl Iterator<Item = &'a RecordedEvent>,
) -> Result<Option<A>, ProjectionError> {
    for recorded in events {
        state = evolve_recorded::<A>(state, recorded)?;
    }
    Ok(state)
}
