//! Onboarding links: decide (command → events) and evolve (event → state).

mod decide;

pub use decide::{LinkCommand, LinkRequest};

use crate::aggregate::{Aggregate, EventHeader};
use crate::catalog::EventType;
use crate::error::DomainError;
use crate::event::StreamEvent;
use crate::failure::FailureCode;
use crate::ids::{CustomerId, LinkId, OrganizationId, SecretRef};
pub use crate::signup::{LinkCompletion, SignupCallback};
use crate::values::{ConnectionType, CountryCode, HexColor, HttpUrl, Language};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    pub primary_color: Option<HexColor>,
    pub background_image: Option<HttpUrl>,
    pub logo_url: Option<HttpUrl>,
    pub company_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneProvisioning {
    pub enabled: bool,
    pub countries: Vec<CountryCode>,
}

/// The outgoing webhook registered for the integrator once the phone connects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkWebhook {
    pub url: HttpUrl,
    pub events: Vec<EventType>,
    /// The secret lives encrypted in the vault; the event only points at it.
    pub secret_ref: Option<SecretRef>,
}

/// Everything a link was created with. This is the payload of `onboarding_link.created`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkCreated {
    pub customer_id: Option<CustomerId>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub redirect_url: Option<HttpUrl>,
    pub success_redirect_url: Option<HttpUrl>,
    pub failure_redirect_url: Option<HttpUrl>,
    pub expires_at: DateTime<Utc>,
    pub allowed_connection_types: Vec<ConnectionType>,
    pub theme: Theme,
    pub language: Language,
    pub phone_provisioning: PhoneProvisioning,
    pub reconnect_phone_number_id: Option<Uuid>,
    pub metadata: Map<String, Value>,
    pub webhook: Option<LinkWebhook>,
}

/// Whom a link is for, as the webhooks about it name them. The events the dispatcher turns into
/// webhooks carry it, so no consumer has to fold the link's stream to build a payload. Events
/// recorded before they carried it have none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkCustomer {
    pub customer_id: Option<CustomerId>,
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum LinkEvent {
    #[serde(rename = "onboarding_link.created")]
    Created(Box<LinkCreated>),
    /// A newer link for the same customer superseded this pending one.
    #[serde(rename = "onboarding_link.revoked", rename_all = "camelCase")]
    Revoked { superseded_by: LinkId },
    #[serde(rename = "onboarding_link.deleted")]
    Deleted {},
    /// The link passed its expiry while pending.
    #[serde(rename = "onboarding_link.expired")]
    Expired {
        #[serde(default)]
        customer: Option<LinkCustomer>,
    },
    /// The hosted page was opened for the first time.
    #[serde(rename = "onboarding_link.opened")]
    Opened {},
    /// The browser came back from Embedded Signup; an attempt to complete the link begins.
    #[serde(rename = "onboarding_link.callback_received")]
    CallbackReceived(Box<SignupCallback>),
    /// The code was exchanged for a business token, now in the vault.
    #[serde(rename = "onboarding_link.token_exchanged", rename_all = "camelCase")]
    TokenExchanged {
        token_ref: SecretRef,
        /// The WABAs the token was granted, as debug_token lists them.
        granted_waba_ids: Vec<String>,
    },
    #[serde(rename = "onboarding_link.completed")]
    Completed(Box<LinkCompletion>),
    /// The attempt failed; the link stays usable until it expires.
    #[serde(rename = "onboarding_link.failed", rename_all = "camelCase")]
    Failed {
        error_code: FailureCode,
        error: String,
        /// Where in Embedded Signup the person stopped, when Meta said.
        step: Option<String>,
        #[serde(default)]
        customer: Option<LinkCustomer>,
    },
}

impl StreamEvent for LinkEvent {
    const STREAM_TYPE: &'static str = "onboarding_link";
    const EVENT_TYPES: &'static [&'static str] = &[
        "onboarding_link.created",
        "onboarding_link.revoked",
        "onboarding_link.deleted",
        "onboarding_link.expired",
        "onboarding_link.opened",
        "onboarding_link.callback_received",
        "onboarding_link.token_exchanged",
        "onboarding_link.completed",
        "onboarding_link.failed",
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    Pending,
    Completed,
    Failed,
    Expired,
    Revoked,
    Deleted,
}

impl LinkStatus {
    /// Pending, or failed and so still usable for another attempt.
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Failed)
    }
}

crate::status::named_status!(LinkStatus, "a link status", {
    Pending => "pending",
    Completed => "completed",
    Failed => "failed",
    Expired => "expired",
    Revoked => "revoked",
    Deleted => "deleted",
});

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub id: LinkId,
    pub organization_id: OrganizationId,
    pub spec: LinkCreated,
    /// The recorded status; see [`Link::status_at`] for the one callers should show.
    pub status: LinkStatus,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub superseded_by: Option<LinkId>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the attempt under way began; see [`Link::begin_attempt`].
    pub attempt_started_at: Option<DateTime<Utc>>,
    /// When the browser first came back from Embedded Signup (the funnel's "callback" step).
    #[serde(default)]
    pub first_callback_at: Option<DateTime<Utc>>,
    pub last_failure: Option<LinkFailure>,
    pub completion: Option<LinkCompletion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkFailure {
    pub error_code: FailureCode,
    pub error: String,
    pub step: Option<String>,
    pub failed_at: DateTime<Utc>,
}

impl Aggregate for Link {
    type Id = LinkId;
    type Event = LinkEvent;
    type Command = LinkCommand;
    const NAME: &'static str = "onboarding link";

    fn decide(state: Option<&Self>, command: &LinkCommand) -> Result<Vec<LinkEvent>, DomainError> {
        decide::decide(state, command)
    }

    fn evolve(state: Option<Self>, event: &LinkEvent, header: &EventHeader<LinkId>) -> Option<Self> {
        let at = header.occurred_at;
        match (state, event) {
            (None, LinkEvent::Created(spec)) => Some(Self {
                id: header.id,
                organization_id: header.organization_id,
                spec: (**spec).clone(),
                status: LinkStatus::Pending,
                created_at: at,
                used_at: None,
                completed_at: None,
                revoked_at: None,
                superseded_by: None,
                deleted_at: None,
                attempt_started_at: None,
                first_callback_at: None,
                last_failure: None,
                completion: None,
            }),
            (Some(mut link), LinkEvent::Revoked { superseded_by }) => {
                link.status = LinkStatus::Revoked;
                link.revoked_at = Some(at);
                link.superseded_by = Some(*superseded_by);
                Some(link)
            }
            (Some(mut link), LinkEvent::Opened {}) => {
                link.used_at.get_or_insert(at);
                Some(link)
            }
            (Some(mut link), LinkEvent::CallbackReceived(_)) => {
                link.attempt_started_at = Some(at);
                link.first_callback_at.get_or_insert(at);
                Some(link)
            }
            (Some(mut link), LinkEvent::Completed(completion)) => {
                link.status = LinkStatus::Completed;
                link.completed_at = Some(at);
                link.attempt_started_at = None;
                link.completion = Some((**completion).clone());
                Some(link)
            }
            (
                Some(mut link),
                LinkEvent::Failed {
                    error_code,
                    error,
                    step,
                    ..
                },
            ) => {
                link.status = LinkStatus::Failed;
                link.attempt_started_at = None;
                link.last_failure = Some(LinkFailure {
                    error_code: *error_code,
                    error: error.clone(),
                    step: step.clone(),
                    failed_at: at,
                });
                Some(link)
            }
            (Some(mut link), LinkEvent::Expired { .. }) => {
                link.status = LinkStatus::Expired;
                Some(link)
            }
            (Some(mut link), LinkEvent::Deleted {}) => {
                link.status = LinkStatus::Deleted;
                link.deleted_at = Some(at);
                Some(link)
            }
            (state, _) => state,
        }
    }
}

impl Link {
    /// Whom the link is for, for the events that name it.
    pub fn customer(&self) -> LinkCustomer {
        LinkCustomer {
            customer_id: self.spec.customer_id,
            external_id: self.spec.external_id.clone(),
        }
    }

    /// The status as of `now`: a pending link past its expiry is expired even before the
    /// expiry sweep records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> LinkStatus {
        if self.status.is_open() && now >= self.spec.expires_at {
            LinkStatus::Expired
        } else {
            self.status
        }
    }

    pub fn success_redirect(&self) -> Option<&HttpUrl> {
        self.spec
            .success_redirect_url
            .as_ref()
            .or(self.spec.redirect_url.as_ref())
    }

    pub fn failure_redirect(&self) -> Option<&HttpUrl> {
        self.spec
            .failure_redirect_url
            .as_ref()
            .or(self.spec.redirect_url.as_ref())
    }
}
