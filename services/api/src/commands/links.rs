use super::customers::{claim_new, find_by_external_id};
use super::{load_customer, load_link, lock_entity, metadata, new_event, now, Loaded, MAX_ATTEMPTS};
use crate::error::ApiError;
use crate::state::AppState;
use gangway_domain::customer::{Customer, CustomerCreated, CustomerEvent};
use gangway_domain::link::{Link, LinkCreated, LinkEvent, LinkStatus};
use gangway_domain::values::WebhookSecret;
use gangway_domain::{CustomerId, LinkId, OrganizationId};
use gangway_event_store::{
    AppendTransaction, EventMetadata, ExpectedVersion, StoreError, StreamAppend, StreamRef,
};
use uuid::Uuid;

/// Which customer a new link is for.
#[derive(Clone, Debug)]
pub enum CustomerChoice {
    Existing(CustomerId),
    /// Found by external id, or created with this name if there is none yet.
    ByExternalId {
        external_id: String,
        name: String,
    },
    None,
}

pub struct NewLink {
    /// The link as requested; `customer_id` and the webhook's `secret_ref` are filled in here.
    pub spec: LinkCreated,
    pub customer: CustomerChoice,
    pub webhook_secret: Option<WebhookSecret>,
}

enum Outcome<T> {
    Done(T),
    /// A concurrent writer changed a stream this command read; run it again.
    Retry,
}

fn retry_on_conflict<T>(result: Result<T, StoreError>) -> Result<Outcome<T>, ApiError> {
    match result {
        Ok(value) => Ok(Outcome::Done(value)),
        Err(StoreError::Conflict { .. }) => Ok(Outcome::Retry),
        Err(other) => Err(other.into()),
    }
}

/// Creates a link. If it is for a customer whose previous link is still pending, that link is
/// revoked in the same transaction. Appending `customer.link_issued` at the customer's expected
/// version serialises concurrent creations for one customer; the loser retries.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create_link(state: &AppState, org: OrganizationId, request: NewLink) -> Result<Link, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        if let Outcome::Done(link) = try_create_link(state, org, &request).await? {
            return Ok(link);
        }
    }
    Err(StoreError::Conflict {
        stream_id: Uuid::nil(),
        expected: ExpectedVersion::NoStream,
    }
    .into())
}

async fn try_create_link(
    state: &AppState,
    org: OrganizationId,
    request: &NewLink,
) -> Result<Outcome<Link>, ApiError> {
    let now = now();
    let link_id = LinkId::new();
    let meta = metadata(org, Uuid::now_v7(), now);
    let mut tx = state.store.begin().await?;

    // Every event of the command is collected first and appended in one statement at the end.
    let mut appends = Vec::new();
    let customer_id = match resolve_customer(&mut tx, org, &request.customer, &meta).await? {
        Outcome::Retry => return Ok(Outcome::Retry),
        Outcome::Done(None) => None,
        Outcome::Done(Some(customer)) => {
            let id = customer.id;
            appends.extend(supersede_previous(&mut tx, org, customer, link_id, &meta).await?);
            Some(id)
        }
    };

    let mut spec = request.spec.clone();
    spec.customer_id = customer_id;
    if let (Some(webhook), Some(secret)) = (spec.webhook.as_mut(), &request.webhook_secret) {
        webhook.secret_ref = Some(
            state
                .vault
                .store(tx.connection(), org, "link_webhook_secret", secret.expose())
                .await?,
        );
    }
    let created = LinkEvent::Created(Box::new(spec));
    appends.push(StreamAppend {
        stream: StreamRef::of::<LinkEvent>(link_id.as_uuid()),
        expected: ExpectedVersion::NoStream,
        events: vec![new_event(&created, &meta)?],
    });
    if let Outcome::Retry = retry_on_conflict(tx.append_all(appends).await)? {
        return Ok(Outcome::Retry);
    }
    tx.commit().await?;
    Ok(Outcome::Done(
        Link::evolve(None, link_id, org, &created, now).expect("created starts a link"),
    ))
}

/// The customer a link is for, with its stream version (0 and its creation pending when new).
struct ChosenCustomer {
    id: CustomerId,
    latest_link_id: Option<LinkId>,
    version: i64,
    /// The creation of a customer made for this link, still to be appended.
    creation: Option<StreamAppend>,
}

async fn resolve_customer(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    choice: &CustomerChoice,
    meta: &EventMetadata,
) -> Result<Outcome<Option<ChosenCustomer>>, ApiError> {
    let existing = |loaded: Loaded<Customer>| ChosenCustomer {
        id: loaded.state.id,
        latest_link_id: loaded.state.latest_link_id,
        version: loaded.version,
        creation: None,
    };
    match choice {
        CustomerChoice::None => Ok(Outcome::Done(None)),
        CustomerChoice::Existing(id) => {
            lock_entity(tx.connection(), id.as_uuid()).await?;
            match load_customer(tx.connection(), org, *id).await? {
                Some(customer) => Ok(Outcome::Done(Some(existing(customer)))),
                None => Err(ApiError::validation("customerId", "no customer with this id")),
            }
        }
        CustomerChoice::ByExternalId { external_id, name } => {
            if let Some(customer) = find_by_external_id(tx.connection(), org, external_id, true).await? {
                return Ok(Outcome::Done(Some(existing(customer))));
            }
            let created = CustomerCreated {
                name: name.clone(),
                external_id: Some(external_id.clone()),
                metadata: Default::default(),
            };
            match claim_new(tx, org, created, meta.correlation_id).await? {
                Some(new) => Ok(Outcome::Done(Some(ChosenCustomer {
                    id: new.state.id,
                    latest_link_id: None,
                    version: 0,
                    creation: Some(new.append),
                }))),
                // Another request created this customer a moment ago; start over to use it.
                None => Ok(Outcome::Retry),
            }
        }
    }
}

/// The appends that record the new link on the customer and revoke the customer's previous link
/// if it is still pending.
async fn supersede_previous(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    customer: ChosenCustomer,
    new_link: LinkId,
    meta: &EventMetadata,
) -> Result<Vec<StreamAppend>, StoreError> {
    let mut appends = Vec::new();
    if let Some(previous) = customer.latest_link_id {
        if let Some(link) = load_link(tx.connection(), org, previous).await? {
            if let Some(revoked) = link.state.revoke(new_link, meta.occurred_at) {
                appends.push(StreamAppend {
                    stream: StreamRef::of::<LinkEvent>(previous.as_uuid()),
                    expected: ExpectedVersion::Exact(link.version),
                    events: vec![new_event(&revoked, meta)?],
                });
            }
        }
    }
    let issued = new_event(&CustomerEvent::LinkIssued { link_id: new_link }, meta)?;
    match customer.creation {
        Some(mut creation) => {
            creation.events.push(issued);
            appends.push(creation);
        }
        None => appends.push(StreamAppend {
            stream: StreamRef::of::<CustomerEvent>(customer.id.as_uuid()),
            expected: ExpectedVersion::Exact(customer.version),
            events: vec![issued],
        }),
    }
    Ok(appends)
}

/// Deletes a pending link.
#[tracing::instrument(skip(state))]
pub async fn delete_link(state: &AppState, org: OrganizationId, id: LinkId) -> Result<(), ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let link = load_link(state.pool(), org, id).await?;
        let Some(link) = link.filter(|l| l.state.status != LinkStatus::Deleted) else {
            return Err(ApiError::NotFound("onboarding link"));
        };
        let now = now();
        let deleted = link.state.delete(now)?;
        let meta = metadata(org, Uuid::now_v7(), now);
        let result = state
            .store
            .append(
                &StreamRef::of::<LinkEvent>(id.as_uuid()),
                ExpectedVersion::Exact(link.version),
                vec![new_event(&deleted, &meta)?],
            )
            .await;
        if let Outcome::Done(_) = retry_on_conflict(result)? {
            return Ok(());
        }
    }
    Err(ApiError::Conflict {
        code: "concurrent_modification",
        message: "the link kept changing; retry the request".into(),
    })
}
