//! Onboarding links: decide (command → events) and evolve (event → state).

use crate::error::RuleViolation;
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
    pub events: Vec<String>,
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
    Expired {},
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

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "pending" => Ok(Self::Pending),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            "expired" => Ok(Self::Expired),
            "revoked" => Ok(Self::Revoked),
            "deleted" => Ok(Self::Deleted),
            other => Err(format!(
                "'{other}' is not a link status; use pending, completed, failed, expired, revoked or deleted"
            )),
        }
    }
}

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

impl Link {
    pub fn evolve(
        state: Option<Self>,
        id: LinkId,
        organization_id: OrganizationId,
        event: &LinkEvent,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        match (state, event) {
            (None, LinkEvent::Created(spec)) => Some(Self {
                id,
                organization_id,
                spec: (**spec).clone(),
                status: LinkStatus::Pending,
                created_at: at,
                used_at: None,
                completed_at: None,
                revoked_at: None,
                superseded_by: None,
                deleted_at: None,
                attempt_started_at: None,
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
            (Some(mut link), LinkEvent::Expired {}) => {
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

    /// The status as of `now`: a pending link past its expiry is expired even before the
    /// expiry sweep records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> LinkStatus {
        if self.status.is_open() && now >= self.spec.expires_at {
            LinkStatus::Expired
        } else {
            self.status
        }
    }

    /// A newer link for the same customer supersedes this one if it is still pending.
    pub fn revoke(&self, superseded_by: LinkId, now: DateTime<Utc>) -> Option<LinkEvent> {
        self.status_at(now)
            .is_open()
            .then_some(LinkEvent::Revoked { superseded_by })
    }

    /// An open link past its expiry is recorded as expired, once.
    pub fn expire(&self, now: DateTime<Utc>) -> Option<LinkEvent> {
        (self.status.is_open() && now >= self.spec.expires_at).then_some(LinkEvent::Expired {})
    }

    /// Only open (pending or failed) links can be deleted.
    pub fn delete(&self, now: DateTime<Utc>) -> Result<LinkEvent, RuleViolation> {
        match self.status_at(now) {
            LinkStatus::Pending | LinkStatus::Failed => Ok(LinkEvent::Deleted {}),
            LinkStatus::Deleted => Err(RuleViolation::LinkDeleted),
            other => Err(RuleViolation::LinkNotPending(other.as_str())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn spec(expires_at: DateTime<Utc>) -> LinkCreated {
        LinkCreated {
            customer_id: None,
            name: Some("Acme".into()),
            external_id: Some("acme-1".into()),
            redirect_url: Some(HttpUrl::parse("https://app.example.com/done").unwrap()),
            success_redirect_url: None,
            failure_redirect_url: Some(HttpUrl::parse("https://app.example.com/failed").unwrap()),
            expires_at,
            allowed_connection_types: vec![ConnectionType::Dedicated],
            theme: Theme::default(),
            language: Language::En,
            phone_provisioning: PhoneProvisioning::default(),
            reconnect_phone_number_id: None,
            metadata: Map::new(),
            webhook: None,
        }
    }

    fn given(events: &[LinkEvent], at: DateTime<Utc>) -> Link {
        let (id, org) = (LinkId::new(), OrganizationId::new());
        events
            .iter()
            .fold(None, |state, event| Link::evolve(state, id, org, event, at))
            .expect("stream starts with created")
    }

    #[test]
    fn a_created_link_is_pending_until_it_expires() {
        let now = Utc::now();
        let link = given(
            &[LinkEvent::Created(Box::new(spec(now + Duration::days(7))))],
            now,
        );
        assert_eq!(link.status_at(now), LinkStatus::Pending);
        assert_eq!(link.status_at(now + Duration::days(7)), LinkStatus::Expired);
    }

    #[test]
    fn a_pending_link_is_revoked_by_a_newer_one_but_not_twice() {
        let now = Utc::now();
        let newer = LinkId::new();
        let created = LinkEvent::Created(Box::new(spec(now + Duration::days(1))));
        let link = given(std::slice::from_ref(&created), now);
        let revoked = link.revoke(newer, now).expect("pending links are revoked");
        assert_eq!(revoked, LinkEvent::Revoked { superseded_by: newer });

        let link = given(&[created, revoked], now);
        assert_eq!(link.status, LinkStatus::Revoked);
        assert_eq!(link.superseded_by, Some(newer));
        assert_eq!(link.revoke(LinkId::new(), now), None);
    }

    #[test]
    fn an_expired_link_is_not_revoked() {
        let now = Utc::now();
        let link = given(
            &[LinkEvent::Created(Box::new(spec(now + Duration::hours(1))))],
            now,
        );
        assert_eq!(link.revoke(LinkId::new(), now + Duration::hours(2)), None);
    }

    #[test]
    fn a_link_expires_once_and_only_after_its_expiry() {
        let now = Utc::now();
        let created = LinkEvent::Created(Box::new(spec(now + Duration::hours(1))));
        let link = given(std::slice::from_ref(&created), now);
        assert_eq!(link.expire(now), None);
        assert_eq!(link.expire(now + Duration::hours(1)), Some(LinkEvent::Expired {}));
        let expired = given(&[created.clone(), LinkEvent::Expired {}], now);
        assert_eq!(expired.status, LinkStatus::Expired);
        assert_eq!(expired.expire(now + Duration::days(2)), None);
        let revoked = given(
            &[
                created,
                LinkEvent::Revoked {
                    superseded_by: LinkId::new(),
                },
            ],
            now,
        );
        assert_eq!(
            revoked.expire(now + Duration::days(2)),
            None,
            "only pending links expire"
        );
    }

    #[test]
    fn only_pending_links_can_be_deleted() {
        let now = Utc::now();
        let created = LinkEvent::Created(Box::new(spec(now + Duration::days(1))));
        let link = given(std::slice::from_ref(&created), now);
        assert_eq!(link.delete(now), Ok(LinkEvent::Deleted {}));

        let revoked = given(
            &[
                created.clone(),
                LinkEvent::Revoked {
                    superseded_by: LinkId::new(),
                },
            ],
            now,
        );
        assert_eq!(revoked.delete(now), Err(RuleViolation::LinkNotPending("revoked")));

        let deleted = given(&[created.clone(), LinkEvent::Deleted {}], now);
        assert_eq!(deleted.status, LinkStatus::Deleted);
        assert_eq!(deleted.delete(now), Err(RuleViolation::LinkDeleted));

        assert_eq!(
            link.delete(now + Duration::days(2)),
            Err(RuleViolation::LinkNotPending("expired"))
        );
    }

    #[test]
    fn redirects_fall_back_to_the_single_redirect_url() {
        let now = Utc::now();
        let link = given(
            &[LinkEvent::Created(Box::new(spec(now + Duration::days(1))))],
            now,
        );
        assert_eq!(
            link.success_redirect().unwrap().as_str(),
            "https://app.example.com/done"
        );
        assert_eq!(
            link.failure_redirect().unwrap().as_str(),
            "https://app.example.com/failed"
        );
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let event = LinkEvent::Revoked {
            superseded_by: LinkId::new(),
        };
        let (event_type, data) = event.encode().unwrap();
        assert_eq!(event_type, "onboarding_link.revoked");
        assert!(data.get("supersededBy").is_some());
        assert_eq!(LinkEvent::decode(&event_type, 1, &data).unwrap(), event);

        let (event_type, data) = LinkEvent::Deleted {}.encode().unwrap();
        assert_eq!(
            (event_type.as_str(), data),
            ("onboarding_link.deleted", serde_json::json!({}))
        );
    }
}
