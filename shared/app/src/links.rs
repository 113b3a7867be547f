use crate::customers::{claim_or_find, find_by_external_id, prepare, Claimed};
use crate::idempotency::{claim, IdempotencyKey};
use crate::one_statement::OneStatement;
use crate::{decide, execute, load, lock_entity, metadata, now, App, AppError, Loaded, MAX_ATTEMPTS};
use gangway_domain::customer::{Customer, CustomerCommand, CustomerCreated};
use gangway_domain::link::{Link, LinkCommand, LinkRequest, LinkStatus};
use gangway_domain::values::WebhookSecret;
use gangway_domain::{Aggregate, CustomerId, LinkId, OrganizationId, SecretRef};
use gangway_event_store::{AppendTransaction, EventMetadata, StoreError, StreamAppend};
use sqlx::PgConnection;
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
    /// The link as requested; `customer_id` and `webhook_secret_ref` are filled in here.
    pub request: LinkRequest,
    pub customer: CustomerChoice,
    pub webhook_secret: Option<WebhookSecret>,
}

enum Outcome<T> {
    Done(T),
    /// A concurrent writer changed a stream this command read; run it again.
    Retry,
}

fn retry_on_conflict<T>(result: Result<T, StoreError>) -> Result<Outcome<T>, AppError> {
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
pub async fn create_link(
    app: &App,
    org: OrganizationId,
    request: NewLink,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Link, AppError> {
    // The rules between fields first, before any lock or lookup: an invalid request costs nothing.
    let mut probe = request.request.clone();
    probe.webhook_secret_ref = request.webhook_secret.as_ref().map(|_| SecretRef::new());
    Link::decide(None, &LinkCommand::Create(Box::new(probe)))?;
    let returning = app.known_customers.seen_held(org, &request.customer);
    if !returning {
        if let Some(link) = create_in_one_statement(app, org, &request, idempotency).await? {
            return Ok(link);
        }
    }
    if let Some(link) = create_for_existing_customer(app, org, &request, idempotency).await? {
        app.known_customers.remember_held(org, &request.customer);
        return Ok(link);
    }
    if returning {
        if let Some(link) = create_in_one_statement(app, org, &request, idempotency).await? {
            return Ok(link);
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        if let Outcome::Done(link) = try_create_link(app, org, &request, idempotency).await? {
            return Ok(link);
        }
    }
    Err(AppError::concurrent_modification("customer"))
}

async fn try_create_link(
    app: &App,
    org: OrganizationId,
    request: &NewLink,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Outcome<Link>, AppError> {
    let now = now();
    let link_id = LinkId::new();
    let meta = metadata(org, Uuid::now_v7(), now);
    let mut tx = app.store.begin().await?;
    claim(tx.connection(), idempotency).await?;

    // Every event of the command is collected first and appended in one statement at the end.
    let mut appends = Vec::new();
    let customer_id = match resolve_customer(&mut tx, org, &request.customer, &meta).await? {
        Outcome::Retry => return Ok(Outcome::Retry),
        Outcome::Done(None) => None,
        Outcome::Done(Some(customer)) => {
            let id = customer.customer.state.id;
            appends.extend(supersede_previous(tx.connection(), org, customer, link_id, &meta).await?);
            Some(id)
        }
    };

    let secret_ref = match &request.webhook_secret {
        Some(secret) => Some(
            app.vault
                .store(tx.connection(), org, LINK_WEBHOOK_SECRET, secret.expose())
                .await?,
        ),
        None => None,
    };
    let (created, link) = new_link(request, customer_id, secret_ref, link_id, &meta)?;
    appends.extend(created);
    if let Outcome::Retry = retry_on_conflict(tx.append_all(appends).await)? {
        return Ok(Outcome::Retry);
    }
    tx.commit().await?;
    Ok(Outcome::Done(link))
}

/// A link for a new customer (or for none) in one statement outside any transaction, one round
/// trip: the customer's external id claimed, the webhook secret sealed into the vault, and every
/// event appended, all only if the claim succeeds. `None` when the external id is already held
/// (the customer exists, or is being created) or the idempotency key is on record: then nothing
/// was written, and the general path, which reads the customer and revokes its previous link (or
/// answers for the key), takes over.
async fn create_in_one_statement(
    app: &App,
    org: OrganizationId,
    request: &NewLink,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Option<Link>, AppError> {
    let now = now();
    let link_id = LinkId::new();
    let meta = metadata(org, Uuid::now_v7(), now);
    let mut statement = OneStatement::new();
    statement.claim_idempotency_key(idempotency);
    let mut appends = Vec::new();
    let customer_id = match &request.customer {
        CustomerChoice::Existing(_) => return Ok(None),
        CustomerChoice::None => None,
        CustomerChoice::ByExternalId { external_id, name } => {
            let id = CustomerId::new();
            let created = CustomerCreated {
                name: name.clone(),
                external_id: Some(external_id.clone()),
                metadata: Default::default(),
            };
            let new = prepare(org, id, created, meta.correlation_id)?;
            statement.claim_external_id(org, external_id, id);
            let customer = ChosenCustomer {
                customer: Loaded {
                    state: new.state,
                    version: 0,
                },
                creation: Some(new.append),
            };
            appends.extend(issue_link(customer, link_id, &meta)?);
            Some(id)
        }
    };
    let (created, link) = prepare_link(app, org, request, customer_id, link_id, &meta, &mut statement)?;
    appends.extend(created);
    let appended = statement.append(&app.store, appends).await?;
    Ok(appended.map(|_| link))
}

/// A link for a customer that exists, with no transaction and no lock: the customer and its
/// previous link read, then one statement that revokes that link if it is still pending, records
/// the new link on the customer and creates it, the webhook secret sealed with it, all only if
/// neither stream moved on since they were read (and the idempotency key, if any, is free). `None`
/// when one did (a concurrent creation for this customer), when the customer is still being
/// created, or when the key is on record: the general path, which queues on the customer's lock
/// (or answers for the key), takes over.
async fn create_for_existing_customer(
    app: &App,
    org: OrganizationId,
    request: &NewLink,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Option<Link>, AppError> {
    let mut conn = app.pool().acquire().await.map_err(StoreError::from)?;
    let customer = match &request.customer {
        CustomerChoice::None => return Ok(None),
        CustomerChoice::Existing(id) => match load::<Customer>(&mut *conn, org, *id).await? {
            Some(customer) => customer,
            None => return Err(AppError::validation("customerId", "no customer with this id")),
        },
        CustomerChoice::ByExternalId { external_id, .. } => {
            match find_by_external_id(&mut conn, org, external_id).await? {
                Some(customer) => customer,
                None => return Ok(None),
            }
        }
    };
    let customer_id = customer.state.id;
    let link_id = LinkId::new();
    let meta = metadata(org, Uuid::now_v7(), now());
    let chosen = ChosenCustomer {
        customer,
        creation: None,
    };
    let mut appends = supersede_previous(&mut conn, org, chosen, link_id, &meta).await?;
    drop(conn);
    let mut statement = OneStatement::new();
    statement.claim_idempotency_key(idempotency);
    let (created, link) = prepare_link(
        app,
        org,
        request,
        Some(customer_id),
        link_id,
        &meta,
        &mut statement,
    )?;
    appends.extend(created);
    match statement.append(&app.store, appends).await {
        Ok(appended) => Ok(appended.map(|_| link)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The creation of link `link_id` for `customer_id`, its webhook secret (if any) sealed into
/// `statement`: the append, and the link it makes.
fn prepare_link(
    app: &App,
    org: OrganizationId,
    request: &NewLink,
    customer_id: Option<CustomerId>,
    link_id: LinkId,
    meta: &EventMetadata,
    statement: &mut OneStatement,
) -> Result<(Option<StreamAppend>, Link), AppError> {
    let secret_ref = request.webhook_secret.as_ref().map(|secret| {
        let sealed = app.vault.seal_new(org, LINK_WEBHOOK_SECRET, secret.expose());
        let id = sealed.id;
        statement.store_secret(org, LINK_WEBHOOK_SECRET, sealed);
        id
    });
    new_link(request, customer_id, secret_ref, link_id, meta)
}

/// The creation of link `link_id` for `customer_id`, its webhook secret stored as `secret_ref`:
/// the append, and the link it makes.
fn new_link(
    request: &NewLink,
    customer_id: Option<CustomerId>,
    secret_ref: Option<SecretRef>,
    link_id: LinkId,
    meta: &EventMetadata,
) -> Result<(Option<StreamAppend>, Link), AppError> {
    let mut link_request = request.request.clone();
    link_request.customer_id = customer_id;
    link_request.now = meta.occurred_at;
    link_request.webhook_secret_ref = secret_ref;
    let created = decide::<Link>(None, link_id, &LinkCommand::Create(Box::new(link_request)), meta)?;
    let link = created
        .state_after(None, link_id, meta)
        .ok_or_else(|| anyhow::anyhow!("onboarding_link.created did not start a link"))?;
    Ok((created.append, link))
}

/// The vault purpose of a link's webhook secret.
const LINK_WEBHOOK_SECRET: &str = "link_webhook_secret";

/// The customer a link is for, with its stream version (0 and its creation pending when new).
struct ChosenCustomer {
    customer: Loaded<Customer>,
    /// The creation of a customer made for this link, still to be appended.
    creation: Option<StreamAppend>,
}

async fn resolve_customer(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    choice: &CustomerChoice,
    meta: &EventMetadata,
) -> Result<Outcome<Option<ChosenCustomer>>, AppError> {
    let existing = |customer: Loaded<Customer>| ChosenCustomer {
        customer,
        creation: None,
    };
    match choice {
        CustomerChoice::None => Ok(Outcome::Done(None)),
        CustomerChoice::Existing(id) => {
            lock_entity(tx.connection(), id.as_uuid()).await?;
            match load::<Customer>(tx.connection(), org, *id).await? {
                Some(customer) => Ok(Outcome::Done(Some(existing(customer)))),
                None => Err(AppError::validation("customerId", "no customer with this id")),
            }
        }
        CustomerChoice::ByExternalId { external_id, name } => {
            let created = CustomerCreated {
                name: name.clone(),
                external_id: Some(external_id.clone()),
                metadata: Default::default(),
            };
            match claim_or_find(tx, org, created, meta.correlation_id).await? {
                Claimed::Existing(customer) => Ok(Outcome::Done(Some(existing(customer)))),
                Claimed::New(new) => Ok(Outcome::Done(Some(ChosenCustomer {
                    customer: Loaded {
                        state: new.state,
                        version: 0,
                    },
                    creation: Some(new.append),
                }))),
                // Another request is creating this customer; start over to use it.
                Claimed::Contended => Ok(Outcome::Retry),
            }
        }
    }
}

/// The appends that record the new link on the customer and revoke the customer's previous link
/// if it is still pending.
async fn supersede_previous(
    conn: &mut PgConnection,
    org: OrganizationId,
    customer: ChosenCustomer,
    new_link: LinkId,
    meta: &EventMetadata,
) -> Result<Vec<StreamAppend>, AppError> {
    let mut appends = Vec::new();
    if let Some(previous) = customer.customer.state.latest_link_id {
        let previous_link = load::<Link>(&mut *conn, org, previous).await?;
        if let Some(link) = previous_link.filter(|l| l.state.status != LinkStatus::Deleted) {
            let revoke = LinkCommand::Revoke {
                superseded_by: new_link,
                now: meta.occurred_at,
            };
            appends.extend(decide(Some(&link), previous, &revoke, meta)?.append);
        }
    }
    appends.extend(issue_link(customer, new_link, meta)?);
    Ok(appends)
}

/// The appends that record a new link on its customer (and create the customer, if this command
/// does).
fn issue_link(
    customer: ChosenCustomer,
    new_link: LinkId,
    meta: &EventMetadata,
) -> Result<Vec<StreamAppend>, AppError> {
    let mut appends = Vec::new();
    let id = customer.customer.state.id;
    let issued = decide(
        Some(&customer.customer),
        id,
        &CustomerCommand::IssueLink { link_id: new_link },
        meta,
    )?;
    match (customer.creation, issued.append) {
        // A customer created by this command: its creation and the issue go in one append.
        (Some(mut creation), Some(issue)) => {
            creation.events.extend(issue.events);
            appends.push(creation);
        }
        (creation, issue) => appends.extend(creation.into_iter().chain(issue)),
    }
    Ok(appends)
}

/// Deletes a pending link.
#[tracing::instrument(skip(app))]
pub async fn delete_link(app: &App, org: OrganizationId, id: LinkId) -> Result<(), AppError> {
    execute::<Link>(app, org, id, |now| LinkCommand::Delete { now }).await?;
    Ok(())
}
