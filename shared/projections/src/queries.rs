//! Read-model queries for the api. Every query takes the caller's organization.

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use gangway_domain::link::{Link, LinkStatus};
use gangway_domain::phone::{Phone, PhoneStatus};
use gangway_domain::webhook::{Endpoint, EndpointStatus};
use gangway_domain::{CustomerId, OrganizationId, PhoneId, WabaId};
use sqlx::{PgPool, Postgres, QueryBuilder};

#[derive(Clone, Debug, Default)]
pub struct LinkFilter {
    pub status: Option<LinkStatus>,
    pub customer_id: Option<CustomerId>,
    pub external_id: Option<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// 1-based.
    pub page: u32,
    pub limit: u32,
}

fn push_filter(
    q: &mut QueryBuilder<'_, Postgres>,
    org: OrganizationId,
    filter: &LinkFilter,
    now: DateTime<Utc>,
) {
    q.push(" WHERE organization_id = ").push_bind(org.as_uuid());
    // A pending link past its expiry is expired even before the sweep records it.
    match filter.status {
        None => {
            q.push(" AND status <> 'deleted'");
        }
        Some(open @ (LinkStatus::Pending | LinkStatus::Failed)) => {
            q.push(" AND status = ")
                .push_bind(open.as_str())
                .push(" AND expires_at > ")
                .push_bind(now);
        }
        Some(LinkStatus::Expired) => {
            q.push(" AND (status = 'expired' OR (status IN ('pending', 'failed') AND expires_at <= ")
                .push_bind(now)
                .push("))");
        }
        Some(other) => {
            q.push(" AND status = ").push_bind(other.as_str());
        }
    }
    if let Some(customer) = filter.customer_id {
        q.push(" AND customer_id = ").push_bind(customer.as_uuid());
    }
    if let Some(external) = &filter.external_id {
        q.push(" AND external_id = ").push_bind(external.clone());
    }
}

/// One page of an organization's links, newest first, and the total matching the filter.
pub async fn list_links(
    pool: &PgPool,
    org: OrganizationId,
    filter: &LinkFilter,
    page: Page,
    now: DateTime<Utc>,
) -> Result<(Vec<Link>, i64), ProjectionError> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM rm_onboarding_links");
    push_filter(&mut count, org, filter, now);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut rows = QueryBuilder::new("SELECT document FROM rm_onboarding_links");
    push_filter(&mut rows, org, filter, now);
    paginate(&mut rows, page);
    Ok((documents(rows, pool).await?, total))
}

/// Where a keyset page starts: after the row created at `created_at` with `id`, in the newest
/// first order every list here uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: uuid::Uuid,
}

impl Cursor {
    pub fn new(created_at: DateTime<Utc>, id: uuid::Uuid) -> Self {
        Self { created_at, id }
    }

    /// `<created_at as RFC 3339>~<id>`, for a URL's query.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.created_at.to_rfc3339(), self.id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (at, id) = raw.split_once('~')?;
        Some(Self {
            created_at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
            id: id.parse().ok()?,
        })
    }
}

/// A keyset page: up to `limit` rows of `rows` (a query with its `WHERE` clause) older than
/// `after`, newest first; each page costs the same however deep it is. One more row is read to
/// tell whether more follow.
async fn keyset_page<T: serde::de::DeserializeOwned>(
    pool: &PgPool,
    mut rows: QueryBuilder<'_, Postgres>,
    after: Option<Cursor>,
    limit: u32,
) -> Result<(Vec<T>, bool), ProjectionError> {
    if let Some(cursor) = after {
        rows.push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    rows.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let mut found: Vec<T> = documents(rows, pool).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    Ok((found, more))
}

/// A keyset page of an organization's links (see [`keyset_page`]).
pub async fn list_links_after(
    pool: &PgPool,
    org: OrganizationId,
    filter: &LinkFilter,
    after: Option<Cursor>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<Link>, bool), ProjectionError> {
    let mut rows = QueryBuilder::new("SELECT document FROM rm_onboarding_links");
    push_filter(&mut rows, org, filter, now);
    keyset_page(pool, rows, after, limit).await
}

fn paginate(q: &mut QueryBuilder<'_, Postgres>, page: Page) {
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(page.page.saturating_sub(1)) * i64::from(page.limit));
}

async fn documents<T: serde::de::DeserializeOwned>(
    mut q: QueryBuilder<'_, Postgres>,
    pool: &PgPool,
) -> Result<Vec<T>, ProjectionError> {
    let documents: Vec<serde_json::Value> = q.build_query_scalar().fetch_all(pool).await?;
    Ok(documents
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<T>, _>>()?)
}

#[derive(Clone, Debug, Default)]
pub struct PhoneFilter {
    pub status: Option<PhoneStatus>,
    pub customer_id: Option<CustomerId>,
    pub waba_id: Option<WabaId>,
}

fn push_phone_filter(q: &mut QueryBuilder<'_, Postgres>, org: OrganizationId, filter: &PhoneFilter) {
    q.push(" WHERE organization_id = ").push_bind(org.as_uuid());
    if let Some(status) = filter.status {
        let status = match status {
            PhoneStatus::Connected => "connected",
            PhoneStatus::Disconnected => "disconnected",
        };
        q.push(" AND status = ").push_bind(status);
    }
    if let Some(customer) = filter.customer_id {
        q.push(" AND customer_id = ").push_bind(customer.as_uuid());
    }
    if let Some(waba) = filter.waba_id {
        q.push(" AND waba_id = ").push_bind(waba.as_uuid());
    }
}

/// One page of an organization's phone numbers, newest first, and the total matching the filter.
pub async fn list_phones(
    pool: &PgPool,
    org: OrganizationId,
    filter: &PhoneFilter,
    page: Page,
) -> Result<(Vec<Phone>, i64), ProjectionError> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM rm_phones");
    push_phone_filter(&mut count, org, filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut rows = QueryBuilder::new("SELECT document FROM rm_phones");
    push_phone_filter(&mut rows, org, filter);
    paginate(&mut rows, page);
    Ok((documents(rows, pool).await?, total))
}

/// A keyset page of an organization's phone numbers (see [`keyset_page`]).
pub async fn list_phones_after(
    pool: &PgPool,
    org: OrganizationId,
    filter: &PhoneFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<(Vec<Phone>, bool), ProjectionError> {
    let mut rows = QueryBuilder::new("SELECT document FROM rm_phones");
    push_phone_filter(&mut rows, org, filter);
    keyset_page(pool, rows, after, limit).await
}

/// The stream version of the phone the read model holds, if it holds the phone.
pub async fn projected_phone_version(pool: &PgPool, id: PhoneId) -> Result<Option<i64>, ProjectionError> {
    Ok(
        sqlx::query_scalar("SELECT stream_version FROM rm_phones WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?,
    )
}

#[derive(Clone, Debug, Default)]
pub struct EndpointFilter {
    /// Any status but deleted when `None`.
    pub status: Option<EndpointStatus>,
}

fn push_endpoint_filter(q: &mut QueryBuilder<'_, Postgres>, org: OrganizationId, filter: &EndpointFilter) {
    q.push(" WHERE organization_id = ").push_bind(org.as_uuid());
    let status = match filter.status {
        None => {
            q.push(" AND status <> 'deleted'");
            return;
        }
        Some(EndpointStatus::Enabled) => "enabled",
        Some(EndpointStatus::Disabled) => "disabled",
        Some(EndpointStatus::Deleted) => "deleted",
    };
    q.push(" AND status = ").push_bind(status);
}

/// One page of an organization's webhook endpoints, newest first, and the total matching.
pub async fn list_endpoints(
    pool: &PgPool,
    org: OrganizationId,
    filter: &EndpointFilter,
    page: Page,
) -> Result<(Vec<Endpoint>, i64), ProjectionError> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM rm_webhook_endpoints");
    push_endpoint_filter(&mut count, org, filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut rows = QueryBuilder::new("SELECT document FROM rm_webhook_endpoints");
    push_endpoint_filter(&mut rows, org, filter);
    paginate(&mut rows, page);
    Ok((documents(rows, pool).await?, total))
}

/// A keyset page of an organization's webhook endpoints (see [`keyset_page`]).
pub async fn list_endpoints_after(
    pool: &PgPool,
    org: OrganizationId,
    filter: &EndpointFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<(Vec<Endpoint>, bool), ProjectionError> {
    let mut rows = QueryBuilder::new("SELECT document FROM rm_webhook_endpoints");
    push_endpoint_filter(&mut rows, org, filter);
    keyset_page(pool, rows, after, limit).await
}

/// How far an organization's links created since a time got through signup.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Funnel {
    pub created: i64,
    /// The customer opened the hosted page.
    pub opened: i64,
    /// Meta's signup came back with a code (an attempt began), whatever happened next.
    pub callback: i64,
    pub completed: i64,
    /// Links whose last attempt failed, by error code and by the step Meta reported.
    pub failures_by_code: Vec<(String, i64)>,
    pub failures_by_step: Vec<(String, i64)>,
}

/// The signup funnel of the links created since `since` (deleted links left out): `org`'s, or
/// every organization's when `None`.
pub async fn link_funnel(
    pool: &PgPool,
    org: Option<OrganizationId>,
    since: DateTime<Utc>,
) -> Result<Funnel, ProjectionError> {
    let org = org.map(|o| o.as_uuid());
    let scope = "FROM rm_onboarding_links WHERE ($1::uuid IS NULL OR organization_id = $1) \
                 AND created_at >= $2 AND status <> 'deleted'";
    let (created, opened, callback, completed): (i64, i64, i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), \
                count(*) FILTER (WHERE document->>'usedAt' IS NOT NULL), \
                count(*) FILTER (WHERE document->>'firstCallbackAt' IS NOT NULL), \
                count(*) FILTER (WHERE status = 'completed') {scope}"
    ))
    .bind(org)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let grouped = |field: &'static str| {
        format!(
            "SELECT coalesce(document->'lastFailure'->>'{field}', 'unknown'), count(*) {scope} \
             AND document->'lastFailure' IS NOT NULL AND document->'lastFailure' <> 'null' \
             AND status <> 'completed' GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    };
    let failures_by_code = sqlx::query_as(&grouped("errorCode"))
        .bind(org)
        .bind(since)
        .fetch_all(pool)
        .await?;
    let failures_by_step = sqlx::query_as(&grouped("step"))
        .bind(org)
        .bind(since)
        .fetch_all(pool)
        .await?;
    Ok(Funnel {
        created,
        opened,
        callback,
        completed,
        failures_by_code,
        failures_by_step,
    })
}

/// An organization's numbers by status.
pub async fn phone_counts(pool: &PgPool, org: OrganizationId) -> Result<Vec<(String, i64)>, ProjectionError> {
    Ok(sqlx::query_as(
        "SELECT status, count(*) FROM rm_phones WHERE organization_id = $1 GROUP BY 1 ORDER BY 1",
    )
    .bind(org.as_uuid())
    .fetch_all(pool)
    .await?)
}

/// A keyset page of every organization, newest first, with how many links and numbers each has.
pub async fn list_organizations_after(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: u32,
) -> Result<(Vec<OrganizationSummary>, bool), ProjectionError> {
    let rows = QueryBuilder::new(
        "SELECT to_jsonb(o) FROM ( \
             SELECT o.id, o.name, o.created_at, \
                 (SELECT count(*) FROM rm_onboarding_links l WHERE l.organization_id = o.id) AS links, \
                 (SELECT count(*) FROM rm_phones p WHERE p.organization_id = o.id) AS numbers \
             FROM rm_organizations o) o WHERE true",
    );
    keyset_page(pool, rows, after, limit).await
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OrganizationSummary {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub links: i64,
    pub numbers: i64,
}
