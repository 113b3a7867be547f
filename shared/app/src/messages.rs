//! Putting webhook messages back in the delivery queue: the api's manual retry and recovery, and
//! the operators' `gangway redeliver`. The dispatcher picks re-queued messages up like any due
//! message and sends them with their original `webhook-id`.

use chrono::{DateTime, Utc};
use gangway_domain::catalog::EventType;
use gangway_domain::{EndpointId, MessageId, OrganizationId};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

/// Which messages to re-queue. Every condition that is set must hold.
#[derive(Clone, Debug, Default)]
pub struct Requeue {
    pub organization: Option<OrganizationId>,
    pub message: Option<MessageId>,
    pub endpoint: Option<EndpointId>,
    pub event_type: Option<EventType>,
    /// Only messages whose retries ran out.
    pub failed_only: bool,
    /// Messages recorded at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Messages recorded before this time.
    pub created_before: Option<DateTime<Utc>>,
}

/// A position in (created_at, id) order, for working through many messages in batches.
pub type MessageCursor = (DateTime<Utc>, Uuid);

/// What a re-queue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Messages touched.
    pub matched: u64,
    /// Of those, the ones that had been delivered or had failed and are pending again.
    pub requeued: u64,
    /// The last message touched, in (created_at, id) order (batches only).
    pub last: Option<MessageCursor>,
}

impl Requeue {
    fn push_conditions(&self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(" WHERE true");
        if let Some(org) = self.organization {
            q.push(" AND organization_id = ").push_bind(org.as_uuid());
        }
        if let Some(id) = self.message {
            q.push(" AND id = ").push_bind(id.as_uuid());
        }
        if let Some(endpoint) = self.endpoint {
            q.push(" AND endpoint_id = ").push_bind(endpoint.as_uuid());
        }
        if let Some(event_type) = self.event_type {
            q.push(" AND event_type = ").push_bind(event_type.as_str());
        }
        if self.failed_only {
            q.push(" AND status = 'failed'");
        }
        if let Some(from) = self.created_from {
            q.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(before) = self.created_before {
            q.push(" AND created_at < ").push_bind(before);
        }
    }

    /// How many messages match.
    pub async fn count(&self, db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
        let mut q = QueryBuilder::new("SELECT count(*) FROM webhook_messages");
        self.push_conditions(&mut q);
        q.build_query_scalar().fetch_one(db).await
    }

    /// Makes every matching message due now: a delivered or failed one becomes pending again,
    /// a pending one waiting for its next retry is tried at once. Attempts so far are kept.
    pub async fn run(&self, db: impl PgExecutor<'_>) -> Result<Requeued, sqlx::Error> {
        self.execute(db, None).await
    }

    /// [`Requeue::run`] for at most `limit` messages after `after`, oldest first, so a large
    /// re-queue holds its row locks briefly and can report progress.
    pub async fn run_batch(
        &self,
        db: impl PgExecutor<'_>,
        after: Option<MessageCursor>,
        limit: i64,
    ) -> Result<Requeued, sqlx::Error> {
        self.execute(db, Some((after, limit))).await
    }

    async fn execute(
        &self,
        db: impl PgExecutor<'_>,
        batch: Option<(Option<MessageCursor>, i64)>,
    ) -> Result<Requeued, sqlx::Error> {
        let mut q = QueryBuilder::new("WITH picked AS (SELECT id, status FROM webhook_messages");
        self.push_conditions(&mut q);
        if let Some((after, limit)) = batch {
            if let Some((created_at, id)) = after {
                q.push(" AND (created_at, id) > (")
                    .push_bind(created_at)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            q.push(" ORDER BY created_at, id LIMIT ").push_bind(limit);
        }
        q.push(
            " FOR UPDATE) \
             UPDATE webhook_messages m SET status = 'pending', \
                 next_attempt_at = CASE WHEN m.status = 'pending' THEN LEAST(m.next_attempt_at, now()) \
                                   ELSE now() END \
             FROM picked WHERE m.id = picked.id \
             RETURNING m.created_at, m.id, picked.status <> 'pending'",
        );
        let rows: Vec<(DateTime<Utc>, Uuid, bool)> = q.build_query_as().fetch_all(db).await?;
        Ok(Requeued {
            matched: rows.len() as u64,
            requeued: rows.iter().filter(|r| r.2).count() as u64,
            last: rows.iter().map(|r| (r.0, r.1)).max(),
        })
    }
}
