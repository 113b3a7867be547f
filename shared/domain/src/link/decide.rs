//! The rules of onboarding links: what a link is created with, and what each command on it comes
//! to in each status.

use super::{Link, LinkCreated, LinkEvent, LinkStatus, LinkWebhook, PhoneProvisioning, Theme};
use crate::aggregate::Aggregate;
use crate::catalog::EventType;
use crate::error::{DomainError, FieldError, RuleViolation};
use crate::failure::FailureCode;
use crate::ids::{CustomerId, LinkId, SecretRef};
use crate::signup::{LinkCompletion, SignupCallback, Usability};
use crate::values::{self, ConnectionType, HttpUrl, Language};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A link as the integrator asked for it, each value already well-formed; [`LinkCommand::Create`]
/// applies the defaults and the rules between fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkRequest {
    pub customer_id: Option<CustomerId>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub redirect_url: Option<HttpUrl>,
    pub success_redirect_url: Option<HttpUrl>,
    pub failure_redirect_url: Option<HttpUrl>,
    /// Default 7 days from `now`; at most 30 days.
    pub expires_at: Option<DateTime<Utc>>,
    /// Default: every connection type.
    pub allowed_connection_types: Option<Vec<ConnectionType>>,
    pub theme: Theme,
    pub language: Language,
    pub phone_provisioning: PhoneProvisioning,
    pub reconnect_phone_number_id: Option<Uuid>,
    pub metadata: Map<String, Value>,
    pub webhook_url: Option<HttpUrl>,
    pub webhook_events: Option<Vec<EventType>>,
    /// The webhook secret the integrator gave, already in the vault.
    pub webhook_secret_ref: Option<SecretRef>,
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LinkCommand {
    Create(Box<LinkRequest>),
    /// The hosted page is being shown.
    Open {
        now: DateTime<Utc>,
    },
    /// A newer link for the same customer supersedes this one.
    Revoke {
        superseded_by: LinkId,
        now: DateTime<Utc>,
    },
    /// The expiry sweep (or a visit) found the link past its expiry.
    Expire {
        now: DateTime<Utc>,
    },
    Delete {
        now: DateTime<Utc>,
    },
    /// The browser came back from Embedded Signup.
    BeginAttempt {
        callback: Box<SignupCallback>,
        now: DateTime<Utc>,
        /// How long an attempt may hold the link (see [`Link::begin_attempt`]).
        attempt_timeout: chrono::Duration,
    },
    RecordTokenExchange {
        token_ref: SecretRef,
        granted_waba_ids: Vec<String>,
    },
    Complete(Box<LinkCompletion>),
    Fail {
        error_code: FailureCode,
        error: String,
        step: Option<String>,
    },
}

pub(super) fn decide(state: Option<&Link>, command: &LinkCommand) -> Result<Vec<LinkEvent>, DomainError> {
    let link = match (state, command) {
        (None, LinkCommand::Create(request)) => {
            return Ok(vec![LinkEvent::Created(Box::new(created(request)?))])
        }
        (Some(_), LinkCommand::Create(_)) => return Err(RuleViolation::AlreadyExists(Link::NAME).into()),
        (Some(link), _) if link.status != LinkStatus::Deleted => link,
        _ => return Err(DomainError::NotFound(Link::NAME)),
    };
    let event = match command {
        LinkCommand::Create(_) => None,
        LinkCommand::Open { now } => match link.usability(*now) {
            Usability::Usable if link.used_at.is_none() => Some(LinkEvent::Opened {}),
            Usability::Refused(_) => expired(link, *now),
            _ => None,
        },
        LinkCommand::Revoke { superseded_by, now } => {
            (link.status_at(*now).is_open()).then_some(LinkEvent::Revoked {
                superseded_by: *superseded_by,
            })
        }
        LinkCommand::Expire { now } => expired(link, *now),
        LinkCommand::Delete { now } => match link.status_at(*now) {
            LinkStatus::Pending | LinkStatus::Failed => Some(LinkEvent::Deleted {}),
            other => return Err(RuleViolation::LinkNotPending(other.as_str()).into()),
        },
        LinkCommand::BeginAttempt {
            callback,
            now,
            attempt_timeout,
        } => match link.begin_attempt(*now, *attempt_timeout) {
            Usability::Usable => Some(LinkEvent::CallbackReceived(callback.clone())),
            Usability::Refused(code) => return Err(RuleViolation::LinkUnusable(code).into()),
            Usability::Gone => return Err(DomainError::NotFound(Link::NAME)),
        },
        LinkCommand::RecordTokenExchange {
            token_ref,
            granted_waba_ids,
        } => {
            ensure_open(link)?;
            Some(LinkEvent::TokenExchanged {
                token_ref: *token_ref,
                granted_waba_ids: granted_waba_ids.clone(),
            })
        }
        LinkCommand::Complete(completion) => {
            ensure_open(link)?;
            Some(LinkEvent::Completed(Box::new(LinkCompletion {
                customer: Some(link.customer()),
                ..(**completion).clone()
            })))
        }
        LinkCommand::Fail {
            error_code,
            error,
            step,
        } => {
            ensure_open(link)?;
            Some(LinkEvent::Failed {
                error_code: *error_code,
                error: error.clone(),
                step: step.clone(),
                customer: Some(link.customer()),
            })
        }
    };
    Ok(event.into_iter().collect())
}

/// An open link past its expiry is recorded as expired, once.
fn expired(link: &Link, now: DateTime<Utc>) -> Option<LinkEvent> {
    (link.status.is_open() && now >= link.spec.expires_at).then(|| LinkEvent::Expired {
        customer: Some(link.customer()),
    })
}

/// An attempt's outcome is recorded only while the link can still be completed: once only.
fn ensure_open(link: &Link) -> Result<(), DomainError> {
    if link.status.is_open() {
        Ok(())
    } else {
        Err(RuleViolation::LinkNotPending(link.status.as_str()).into())
    }
}

fn created(request: &LinkRequest) -> Result<LinkCreated, FieldError> {
    let allowed_connection_types = match &request.allowed_connection_types {
        None => vec![ConnectionType::Dedicated, ConnectionType::Coexistence],
        Some(types) if types.is_empty() => {
            return Err(FieldError::new(
                "allowedConnectionTypes",
                "must list at least one type",
            ));
        }
        Some(types) => types.iter().fold(Vec::new(), |mut unique, t| {
            if !unique.contains(t) {
                unique.push(*t);
            }
            unique
        }),
    };
    let provisioning = &request.phone_provisioning;
    if provisioning.enabled && provisioning.countries.is_empty() {
        return Err(FieldError::new(
            "phoneProvisioning.countries",
            "must list at least one country when provisioning is enabled",
        ));
    }
    let expires_at = values::link_expiry(request.expires_at, request.now)
        .map_err(|message| FieldError::new("expiresAt", message))?;
    Ok(LinkCreated {
        customer_id: request.customer_id,
        name: request.name.clone(),
        external_id: request.external_id.clone(),
        redirect_url: request.redirect_url.clone(),
        success_redirect_url: request.success_redirect_url.clone(),
        failure_redirect_url: request.failure_redirect_url.clone(),
        expires_at,
        allowed_connection_types,
        theme: request.theme.clone(),
        language: request.language,
        phone_provisioning: provisioning.clone(),
        reconnect_phone_number_id: request.reconnect_phone_number_id,
        metadata: request.metadata.clone(),
        webhook: webhook(request)?,
    })
}

/// The webhook registered when the phone connects: a URL with at least one event type, and a
/// secret or event types only together with a URL.
fn webhook(request: &LinkRequest) -> Result<Option<LinkWebhook>, FieldError> {
    let only_with_url = "only allowed together with webhookUrl";
    let Some(url) = &request.webhook_url else {
        if request.webhook_secret_ref.is_some() {
            return Err(FieldError::new("webhookSecret", only_with_url));
        }
        if request.webhook_events.is_some() {
            return Err(FieldError::new("webhookEvents", only_with_url));
        }
        return Ok(None);
    };
    match &request.webhook_events {
        Some(events) if !events.is_empty() => Ok(Some(LinkWebhook {
            url: url.clone(),
            events: events.clone(),
            secret_ref: request.webhook_secret_ref,
        })),
        _ => Err(FieldError::new(
            "webhookEvents",
            "required with webhookUrl: list at least one event type",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given_at, nothing, Given};
    use crate::link::LinkCustomer;
    use crate::values::CountryCode;
    use chrono::Duration;

    fn request(now: DateTime<Utc>) -> LinkRequest {
        LinkRequest {
            name: Some("Acme".into()),
            external_id: Some("acme-1".into()),
            redirect_url: Some(HttpUrl::parse("https://app.example.com/done").unwrap()),
            failure_redirect_url: Some(HttpUrl::parse("https://app.example.com/failed").unwrap()),
            allowed_connection_types: Some(vec![ConnectionType::Dedicated]),
            now,
            ..Default::default()
        }
    }

    fn created_event(now: DateTime<Utc>, lifetime: Duration) -> LinkEvent {
        let request = LinkRequest {
            expires_at: Some(now + lifetime),
            ..request(now)
        };
        LinkEvent::Created(Box::new(created(&request).unwrap()))
    }

    fn pending(now: DateTime<Utc>, lifetime: Duration) -> Given<Link> {
        given_at::<Link>([created_event(now, lifetime)], now)
    }

    fn completion() -> LinkCompletion {
        LinkCompletion {
            phone_id: crate::PhoneId::new(),
            phone_number_id: "106540352242922".into(),
            phone_number: "+15550100001".into(),
            waba_id: crate::WabaId::new(),
            meta_waba_id: "524126980791429".into(),
            connection_type: ConnectionType::Dedicated,
            is_phone_registered: true,
            reconnected: false,
            customer: None,
        }
    }

    /// The events that become webhooks name whom the link is for.
    fn expired_event() -> LinkEvent {
        LinkEvent::Expired {
            customer: Some(LinkCustomer {
                customer_id: None,
                external_id: Some("acme-1".into()),
            }),
        }
    }

    fn rejected(request: LinkRequest, field: &str) {
        match decide(None, &LinkCommand::Create(Box::new(request))) {
            Err(DomainError::Invalid(error)) => assert_eq!(error.field, field, "{error}"),
            other => panic!("expected {field} to be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_new_link_allows_every_connection_type_and_lives_seven_days_by_default() {
        let now = Utc::now();
        let events = nothing::<Link>()
            .when(LinkCommand::Create(Box::new(LinkRequest {
                allowed_connection_types: None,
                ..request(now)
            })))
            .events();
        let [LinkEvent::Created(spec)] = events.as_slice() else {
            panic!("one created event, got {events:?}");
        };
        assert_eq!(
            spec.allowed_connection_types,
            vec![ConnectionType::Dedicated, ConnectionType::Coexistence]
        );
        assert_eq!(spec.expires_at, now + Duration::days(7));
    }

    #[test]
    fn a_new_link_needs_a_connection_type_and_an_expiry_within_thirty_days() {
        let now = Utc::now();
        rejected(
            LinkRequest {
                allowed_connection_types: Some(vec![]),
                ..request(now)
            },
            "allowedConnectionTypes",
        );
        rejected(
            LinkRequest {
                expires_at: Some(now + Duration::days(31)),
                ..request(now)
            },
            "expiresAt",
        );
    }

    #[test]
    fn provisioning_needs_at_least_one_country() {
        let now = Utc::now();
        let provisioning = |countries: Vec<CountryCode>| LinkRequest {
            phone_provisioning: PhoneProvisioning {
                enabled: true,
                countries,
            },
            ..request(now)
        };
        rejected(provisioning(vec![]), "phoneProvisioning.countries");
        let us = CountryCode::parse("US").unwrap();
        assert!(decide(None, &LinkCommand::Create(Box::new(provisioning(vec![us])))).is_ok());
    }

    #[test]
    fn a_webhook_secret_or_events_only_with_a_webhook_url_and_events_required_with_it() {
        let now = Utc::now();
        rejected(
            LinkRequest {
                webhook_secret_ref: Some(SecretRef::new()),
                ..request(now)
            },
            "webhookSecret",
        );
        rejected(
            LinkRequest {
                webhook_events: Some(vec![EventType::PhoneNumberConnected]),
                ..request(now)
            },
            "webhookEvents",
        );
        let url = HttpUrl::parse("https://hooks.example.com/in").ok();
        rejected(
            LinkRequest {
                webhook_url: url.clone(),
                ..request(now)
            },
            "webhookEvents",
        );
        let secret = SecretRef::new();
        let spec = created(&LinkRequest {
            webhook_url: url.clone(),
            webhook_events: Some(vec![EventType::PhoneNumberConnected]),
            webhook_secret_ref: Some(secret),
            ..request(now)
        })
        .unwrap();
        assert_eq!(spec.webhook.unwrap().secret_ref, Some(secret));
    }

    #[test]
    fn a_pending_link_is_revoked_by_a_newer_one_but_not_twice() {
        let now = Utc::now();
        let newer = LinkId::new();
        pending(now, Duration::days(1))
            .when(LinkCommand::Revoke {
                superseded_by: newer,
                now,
            })
            .then([LinkEvent::Revoked { superseded_by: newer }]);
        let revoked = given_at::<Link>(
            [
                created_event(now, Duration::days(1)),
                LinkEvent::Revoked { superseded_by: newer },
            ],
            now,
        );
        assert_eq!(revoked.state().superseded_by, Some(newer));
        revoked
            .when(LinkCommand::Revoke {
                superseded_by: LinkId::new(),
                now,
            })
            .then_nothing();
    }

    #[test]
    fn an_expired_link_is_not_revoked() {
        let now = Utc::now();
        pending(now, Duration::hours(1))
            .when(LinkCommand::Revoke {
                superseded_by: LinkId::new(),
                now: now + Duration::hours(2),
            })
            .then_nothing();
    }

    #[test]
    fn a_link_expires_once_and_only_after_its_expiry() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        pending(now, hour)
            .when(LinkCommand::Expire { now })
            .then_nothing();
        pending(now, hour)
            .when(LinkCommand::Expire { now: now + hour })
            .then([expired_event()]);
        given_at::<Link>([created_event(now, hour), expired_event()], now)
            .when(LinkCommand::Expire { now: now + hour * 48 })
            .then_nothing();
        let revoked = LinkEvent::Revoked {
            superseded_by: LinkId::new(),
        };
        given_at::<Link>([created_event(now, hour), revoked], now)
            .when(LinkCommand::Expire { now: now + hour * 48 })
            .then_nothing();
    }

    #[test]
    fn only_pending_links_can_be_deleted() {
        let now = Utc::now();
        let day = Duration::days(1);
        pending(now, day)
            .when(LinkCommand::Delete { now })
            .then([LinkEvent::Deleted {}]);
        let revoked = LinkEvent::Revoked {
            superseded_by: LinkId::new(),
        };
        given_at::<Link>([created_event(now, day), revoked], now)
            .when(LinkCommand::Delete { now })
            .then_error(RuleViolation::LinkNotPending("revoked").into());
        pending(now, day)
            .when(LinkCommand::Delete { now: now + day * 2 })
            .then_error(RuleViolation::LinkNotPending("expired").into());
        given_at::<Link>([created_event(now, day), LinkEvent::Deleted {}], now)
            .when(LinkCommand::Delete { now })
            .then_error(DomainError::NotFound("onboarding link"));
    }

    #[test]
    fn the_first_visit_opens_the_link_and_a_late_one_expires_it() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        pending(now, hour)
            .when(LinkCommand::Open { now })
            .then([LinkEvent::Opened {}]);
        given_at::<Link>([created_event(now, hour), LinkEvent::Opened {}], now)
            .when(LinkCommand::Open { now })
            .then_nothing();
        pending(now, hour)
            .when(LinkCommand::Open { now: now + hour })
            .then([expired_event()]);
    }

    #[test]
    fn one_attempt_at_a_time_and_one_completion_only() {
        let now = Utc::now();
        let callback = Box::new(SignupCallback::default());
        let begin = || LinkCommand::BeginAttempt {
            callback: callback.clone(),
            now,
            attempt_timeout: Duration::minutes(5),
        };
        pending(now, Duration::days(1))
            .when(begin())
            .then([LinkEvent::CallbackReceived(callback.clone())]);
        let started = [
            created_event(now, Duration::days(1)),
            LinkEvent::CallbackReceived(callback.clone()),
        ];
        given_at::<Link>(started.clone(), now)
            .when(begin())
            .then_error(RuleViolation::LinkUnusable(FailureCode::AlreadyUsed).into());
        let completed = LinkEvent::Completed(Box::new(completion()));
        let done = || given_at::<Link>(started.iter().cloned().chain([completed.clone()]), now);
        done()
            .when(begin())
            .then_error(RuleViolation::LinkUnusable(FailureCode::AlreadyUsed).into());
        done()
            .when(LinkCommand::Complete(Box::new(completion())))
            .then_error(RuleViolation::LinkNotPending("completed").into());
    }

    #[test]
    fn the_events_that_become_webhooks_name_whom_the_link_is_for() {
        let now = Utc::now();
        let started = || {
            given_at::<Link>(
                [
                    created_event(now, Duration::days(1)),
                    LinkEvent::CallbackReceived(Box::default()),
                ],
                now,
            )
        };
        let completed = started()
            .when(LinkCommand::Complete(Box::new(completion())))
            .events();
        let [LinkEvent::Completed(completed)] = completed.as_slice() else {
            panic!("one completion, got {completed:?}");
        };
        assert_eq!(completed.customer, expired_event_customer());
        let failed = started()
            .when(LinkCommand::Fail {
                error_code: FailureCode::FacebookAuthFailed,
                error: "cancelled".into(),
                step: None,
            })
            .events();
        assert!(
            matches!(&failed[..], [LinkEvent::Failed { customer, .. }] if *customer == expired_event_customer())
        );
    }

    fn expired_event_customer() -> Option<LinkCustomer> {
        match expired_event() {
            LinkEvent::Expired { customer } => customer,
            _ => None,
        }
    }

    #[test]
    fn redirects_fall_back_to_the_single_redirect_url() {
        let now = Utc::now();
        let link = pending(now, Duration::days(1));
        assert_eq!(
            link.state().success_redirect().unwrap().as_str(),
            "https://app.example.com/done"
        );
        assert_eq!(
            link.state().failure_redirect().unwrap().as_str(),
            "https://app.example.com/failed"
        );
    }
}
