//! Webhook endpoints: create, change, rotate the secret, disable, enable, delete.
//!
//! Secrets go to the vault in the same transaction as the event that references them, so a failed
//! append leaves no orphaned secret behind.

use super::{load, lock_entity, metadata, new_event, now, Loaded, MAX_ATTEMPTS};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use gangway_domain::values::WebhookSecret;
use gangway_domain::webhook::{Endpoint, EndpointChanges, EndpointCreated, EndpointEvent, EndpointStatus};
use gangway_domain::{EndpointId, OrganizationId, SecretRef};
use gangway_event_store::{ExpectedVersion, StoreError, StreamRef};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The vault purpose of endpoint signing secrets.
pub const SECRET_PURPOSE: &str = "webhook_endpoint_secret";

/// An endpoint of `org`, deleted ones included; `None` for unknown or foreign ids.
pub async fn load_endpoint(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: EndpointId,
) -> Result<Option<Loaded<Endpoint>>, StoreError> {
    load(db, org, id.as_uuid(), |s, e: &EndpointEvent, at| {
        Endpoint::evolve(s, id, org, e, at)
    })
    .await
}

/// An endpoint of `org` that has not been deleted, or 404.
pub async fn live_endpoint(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: EndpointId,
) -> Result<Loaded<Endpoint>, ApiError> {
    load_endpoint(db, org, id)
        .await?
        .filter(|e| e.state.status != EndpointStatus::Deleted)
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// What a new endpoint is created with; `secret_ref` is filled in here.
pub struct NewEndpoint {
    pub spec: EndpointCreated,
    /// The integrator's secret; Gangway generates one when absent.
    pub secret: Option<WebhookSecret>,
}

#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create_endpoint(
    state: &AppState,
    org: OrganizationId,
    request: NewEndpoint,
) -> Result<Endpoint, ApiError> {
    let now = now();
    let id = EndpointId::new();
    let secret = match request.secret {
        Some(secret) => secret.expose().to_owned(),
        None => gangway_webhook_signing::generate_secret(),
    };
    let mut tx = state.store.begin().await?;
    let mut spec = request.spec;
    spec.secret_ref = state
        .vault
        .store(tx.connection(), org, SECRET_PURPOSE, &secret)
        .await?;
    let created = EndpointEvent::Created(Box::new(spec));
    let meta = metadata(org, Uuid::now_v7(), now);
    tx.append(
        &StreamRef::of::<EndpointEvent>(id.as_uuid()),
        ExpectedVersion::NoStream,
        vec![new_event(&created, &meta)?],
    )
    .await?;
    tx.commit().await?;
    Endpoint::evolve(None, id, org, &created, now)
        .ok_or_else(|| anyhow::anyhow!("endpoint.created did not start an endpoint").into())
}

/// A change to an existing endpoint.
pub enum EndpointCommand {
    Update(EndpointChanges),
    /// A new secret (generated when `None`); the current one signs beside it for `grace`.
    RotateSecret {
        secret: Option<WebhookSecret>,
        grace: Duration,
    },
    Disable {
        reason: String,
    },
    Enable,
    Delete,
}

/// The event a command comes to, or `None` when the endpoint is already as asked. Rotation is
/// decided in [`change_endpoint`], which first has to store the new secret.
fn decide(endpoint: &Endpoint, command: &EndpointCommand) -> Option<EndpointEvent> {
    match command {
        EndpointCommand::Update(changes) => {
            let changes = EndpointChanges {
                url: changes.url.clone().filter(|u| *u != endpoint.url),
                event_types: changes.event_types.clone().filter(|t| *t != endpoint.event_types),
                description: changes.description.clone().filter(|d| *d != endpoint.description),
            };
            (changes != EndpointChanges::default()).then(|| EndpointEvent::Updated(Box::new(changes)))
        }
        EndpointCommand::Disable { reason } => {
            (endpoint.status == EndpointStatus::Enabled).then(|| EndpointEvent::Disabled {
                reason: reason.clone(),
            })
        }
        EndpointCommand::Enable => {
            (endpoint.status == EndpointStatus::Disabled).then_some(EndpointEvent::Enabled {})
        }
        EndpointCommand::Delete => Some(EndpointEvent::Deleted {}),
        EndpointCommand::RotateSecret { .. } => None,
    }
}

fn rotation(endpoint: &Endpoint, new: SecretRef, grace: Duration, now: DateTime<Utc>) -> EndpointEvent {
    EndpointEvent::SecretRotated {
        secret_ref: new,
        previous_secret_ref: endpoint.secret_ref,
        previous_expires_at: now + grace,
    }
}

/// Applies a command to a live endpoint and returns its new state. Commands on one endpoint queue
/// on a lock; a conflicting writer that does not take it (the dispatcher disabling a failing
/// endpoint) makes the command run again on the new state.
#[tracing::instrument(skip(state, command), fields(org = %org))]
pub async fn change_endpoint(
    state: &AppState,
    org: OrganizationId,
    id: EndpointId,
    command: &EndpointCommand,
) -> Result<Endpoint, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let now = now();
        let mut tx = state.store.begin().await?;
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let loaded = live_endpoint(tx.connection(), org, id).await?;
        let event = match command {
            EndpointCommand::RotateSecret { secret, grace } => {
                let secret = match secret {
                    Some(secret) => secret.expose().to_owned(),
                    None => gangway_webhook_signing::generate_secret(),
                };
                let new = state
                    .vault
                    .store(tx.connection(), org, SECRET_PURPOSE, &secret)
                    .await?;
                rotation(&loaded.state, new, *grace, now)
            }
            other => match decide(&loaded.state, other) {
                Some(event) => event,
                None => return Ok(loaded.state),
            },
        };
        let meta = metadata(org, Uuid::now_v7(), now);
        let appended = tx
            .append(
                &StreamRef::of::<EndpointEvent>(id.as_uuid()),
                ExpectedVersion::Exact(loaded.version),
                vec![new_event(&event, &meta)?],
            )
            .await;
        match appended {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return Endpoint::evolve(Some(loaded.state), id, org, &event, now)
            .ok_or_else(|| anyhow::anyhow!("an endpoint event ended the endpoint").into());
    }
    Err(ApiError::Conflict {
        code: "concurrent_modification",
        message: "the webhook endpoint kept changing; retry the request".into(),
    })
}

/// The secrets an endpoint signs with at `now`: the current one, and the previous one with its
/// expiry while its grace period lasts.
pub struct RevealedSecrets {
    pub secret: String,
    pub previous: Option<(String, DateTime<Utc>)>,
}

pub async fn reveal_secrets(
    state: &AppState,
    endpoint: &Endpoint,
    now: DateTime<Utc>,
) -> Result<RevealedSecrets, ApiError> {
    let org = endpoint.organization_id;
    let secret = state.vault.reveal(state.pool(), org, endpoint.secret_ref).await?;
    let previous = match (endpoint.previous_secret_ref, endpoint.previous_secret_expires_at) {
        (Some(previous), Some(until)) if now < until => {
            Some((state.vault.reveal(state.pool(), org, previous).await?, until))
        }
        _ => None,
    };
    Ok(RevealedSecrets { secret, previous })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_domain::values::HttpUrl;

    fn endpoint() -> Endpoint {
        let created = EndpointEvent::Created(Box::new(EndpointCreated {
            url: HttpUrl::parse("https://hooks.example.com/in").unwrap(),
            event_types: vec!["phone_number.connected".into()],
            description: Some("main".into()),
            waba_id: None,
            secret_ref: SecretRef::new(),
            registered_by_link: None,
        }));
        Endpoint::evolve(
            None,
            EndpointId::new(),
            OrganizationId::new(),
            &created,
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn an_update_records_only_what_changes() {
        let endpoint = endpoint();
        let same = EndpointChanges {
            url: Some(endpoint.url.clone()),
            event_types: Some(endpoint.event_types.clone()),
            description: Some(Some("main".into())),
        };
        assert_eq!(decide(&endpoint, &EndpointCommand::Update(same)), None);
        let cleared = EndpointChanges {
            url: Some(endpoint.url.clone()),
            description: Some(None),
            ..Default::default()
        };
        assert_eq!(
            decide(&endpoint, &EndpointCommand::Update(cleared)),
            Some(EndpointEvent::Updated(Box::new(EndpointChanges {
                description: Some(None),
                ..Default::default()
            })))
        );
    }

    #[test]
    fn disabling_and_enabling_twice_records_once() {
        let endpoint = endpoint();
        let disable = EndpointCommand::Disable {
            reason: "maintenance".into(),
        };
        let disabled_event = decide(&endpoint, &disable).expect("an enabled endpoint is disabled");
        assert_eq!(decide(&endpoint, &EndpointCommand::Enable), None);
        let disabled = Endpoint::evolve(
            Some(endpoint),
            EndpointId::new(),
            OrganizationId::new(),
            &disabled_event,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(decide(&disabled, &disable), None);
        assert_eq!(
            decide(&disabled, &EndpointCommand::Enable),
            Some(EndpointEvent::Enabled {})
        );
    }

    #[test]
    fn a_rotation_keeps_the_current_secret_as_the_previous_one_for_the_grace_period() {
        let endpoint = endpoint();
        let (new, now) = (SecretRef::new(), Utc::now());
        assert_eq!(
            rotation(&endpoint, new, Duration::hours(1), now),
            EndpointEvent::SecretRotated {
                secret_ref: new,
                previous_secret_ref: endpoint.secret_ref,
                previous_expires_at: now + Duration::hours(1),
            }
        );
    }
}
