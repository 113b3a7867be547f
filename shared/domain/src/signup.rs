//! The rules of completing a link through Embedded Signup: what the browser reported, whether an
//! attempt may start, and what a completed link records.

use crate::failure::FailureCode;
use crate::link::{Link, LinkCustomer, LinkStatus};
use crate::values::ConnectionType;
use crate::{PhoneId, WabaId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What the hosted page (or the full-page return) reported. Ids here come from the browser and
/// are checked against Meta before anything is trusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupCallback {
    /// The `WA_EMBEDDED_SIGNUP` event, e.g. `FINISH` or `CANCEL`; none after the full-page flow.
    pub session_event: Option<String>,
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub business_id: Option<String>,
    pub current_step: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub session_id: Option<String>,
    /// Whether a code came back (the code itself is never recorded).
    pub has_code: bool,
    /// Whether this came from the full-page dialog rather than the popup.
    pub full_page: bool,
}

/// The session event that ends a coexistence onboarding.
pub const COEXISTENCE_FINISH: &str = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING";

impl SignupCallback {
    pub fn is_coexistence(&self) -> bool {
        self.session_event.as_deref() == Some(COEXISTENCE_FINISH)
    }

    /// Why this callback cannot complete the link before asking Meta anything: the person
    /// cancelled, Meta reported an error, or no code came back.
    pub fn refusal(&self) -> Option<(FailureCode, String)> {
        let event = self.session_event.as_deref();
        if matches!(event, Some("CANCEL" | "ERROR")) || (self.error_message.is_some() && !self.has_code) {
            let code = FailureCode::of_session_error(self.error_message.as_deref());
            let message = match (&self.error_message, &self.current_step) {
                (Some(message), _) => message.clone(),
                (None, Some(step)) => format!("Embedded Signup was cancelled at {step}"),
                (None, None) => "Embedded Signup was cancelled".into(),
            };
            return Some((code, message));
        }
        if !self.has_code {
            return Some((
                FailureCode::FacebookAuthFailed,
                "Facebook returned no authorization code".into(),
            ));
        }
        None
    }

    /// A phone number id only when the browser reported a non-empty one (`FINISH_ONLY_WABA`
    /// sends `""`).
    pub fn reported_phone_number_id(&self) -> Option<&str> {
        self.phone_number_id.as_deref().filter(|id| !id.is_empty())
    }
}

/// What a completed link connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkCompletion {
    pub phone_id: PhoneId,
    pub phone_number_id: String,
    pub phone_number: String,
    pub waba_id: WabaId,
    pub meta_waba_id: String,
    pub connection_type: ConnectionType,
    pub is_phone_registered: bool,
    /// Whether an existing phone was reconnected rather than a new one created.
    pub reconnected: bool,
    /// Filled in when the completion is recorded (see [`crate::link::LinkCustomer`]).
    #[serde(default)]
    pub customer: Option<LinkCustomer>,
}

/// Whether a link can be used (opened or called back) now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usability {
    Usable,
    Refused(FailureCode),
    /// Deleted: as if it never existed.
    Gone,
}

impl Link {
    /// Whether the hosted page can be shown.
    pub fn usability(&self, now: DateTime<Utc>) -> Usability {
        match self.status_at(now) {
            LinkStatus::Pending | LinkStatus::Failed => Usability::Usable,
            LinkStatus::Completed => Usability::Refused(FailureCode::AlreadyUsed),
            LinkStatus::Expired => Usability::Refused(FailureCode::LinkExpired),
            LinkStatus::Revoked => Usability::Refused(FailureCode::LinkRevoked),
            LinkStatus::Deleted => Usability::Gone,
        }
    }

    /// Whether a callback may start an attempt: the link is usable and no other attempt is under
    /// way, so that of many concurrent callbacks exactly one exchanges the code. An attempt that
    /// began `attempt_timeout` ago or earlier is over (its process crashed): it blocks no more.
    pub fn begin_attempt(&self, now: DateTime<Utc>, attempt_timeout: Duration) -> Usability {
        match self.usability(now) {
            Usability::Usable if self.attempt_in_progress(now, attempt_timeout) => {
                Usability::Refused(FailureCode::AlreadyUsed)
            }
            other => other,
        }
    }

    fn attempt_in_progress(&self, now: DateTime<Utc>, attempt_timeout: Duration) -> bool {
        self.attempt_started_at
            .is_some_and(|started| now < started + attempt_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregate, EventHeader};
    use crate::link::{LinkCommand, LinkCreated, LinkEvent};
    use crate::{LinkId, OrganizationId};

    const TIMEOUT: Duration = Duration::minutes(5);

    fn link_after(events: &[LinkEvent], at: DateTime<Utc>) -> Link {
        let spec: LinkCreated = serde_json::from_value(serde_json::json!({
            "customerId": null, "name": null, "externalId": null, "redirectUrl": null,
            "successRedirectUrl": null, "failureRedirectUrl": null,
            "expiresAt": at + Duration::days(7), "allowedConnectionTypes": ["dedicated"],
            "theme": {}, "language": "en", "phoneProvisioning": {"enabled": false, "countries": []},
            "reconnectPhoneNumberId": null, "metadata": {}, "webhook": null
        }))
        .expect("a valid spec");
        let header = EventHeader {
            id: LinkId::new(),
            organization_id: OrganizationId::new(),
            occurred_at: at,
        };
        let events = std::iter::once(LinkEvent::Created(Box::new(spec))).chain(events.iter().cloned());
        crate::fold::<Link>(events.map(|e| (header, e))).expect("created starts a link")
    }

    fn callback() -> LinkEvent {
        LinkEvent::CallbackReceived(Box::default())
    }

    fn failed() -> LinkEvent {
        LinkEvent::Failed {
            error_code: FailureCode::FacebookAuthFailed,
            error: "cancelled".into(),
            step: Some("PHONE_NUMBER_SETUP".into()),
            customer: None,
        }
    }

    #[test]
    fn one_attempt_at_a_time_until_it_ends_or_times_out() {
        let now = Utc::now();
        assert_eq!(
            link_after(&[], now).begin_attempt(now, TIMEOUT),
            Usability::Usable
        );
        let busy = link_after(&[callback()], now);
        assert_eq!(
            busy.begin_attempt(now + Duration::seconds(5), TIMEOUT),
            Usability::Refused(FailureCode::AlreadyUsed)
        );
        assert_eq!(
            busy.begin_attempt(now + TIMEOUT, TIMEOUT),
            Usability::Usable,
            "a crashed attempt stops blocking the link"
        );
    }

    #[test]
    fn a_failed_attempt_leaves_the_link_usable_and_records_why() {
        let now = Utc::now();
        let link = link_after(&[callback(), failed()], now);
        assert_eq!(link.status, LinkStatus::Failed);
        assert_eq!(link.begin_attempt(now, TIMEOUT), Usability::Usable);
        let failure = link.last_failure.as_ref().expect("recorded");
        assert_eq!(failure.step.as_deref(), Some("PHONE_NUMBER_SETUP"));
        let expire = LinkCommand::Expire {
            now: now + Duration::days(8),
        };
        assert_eq!(
            Link::decide(Some(&link), &expire),
            Ok(vec![LinkEvent::Expired {
                customer: Some(link.customer())
            }])
        );
    }

    #[test]
    fn completed_expired_revoked_and_deleted_links_refuse() {
        let now = Utc::now();
        let completed = LinkEvent::Completed(Box::new(LinkCompletion {
            phone_id: PhoneId::new(),
            phone_number_id: "1".into(),
            phone_number: "+1".into(),
            waba_id: WabaId::new(),
            meta_waba_id: "2".into(),
            connection_type: ConnectionType::Dedicated,
            is_phone_registered: true,
            reconnected: false,
            customer: None,
        }));
        let done = link_after(&[callback(), completed], now);
        assert_eq!(
            done.begin_attempt(now, TIMEOUT),
            Usability::Refused(FailureCode::AlreadyUsed)
        );
        assert!(done.completion.is_some() && done.completed_at.is_some());
        assert_eq!(
            link_after(&[], now).begin_attempt(now + Duration::days(8), TIMEOUT),
            Usability::Refused(FailureCode::LinkExpired)
        );
        let revoked = LinkEvent::Revoked {
            superseded_by: LinkId::new(),
        };
        assert_eq!(
            link_after(&[revoked], now).begin_attempt(now, TIMEOUT),
            Usability::Refused(FailureCode::LinkRevoked)
        );
        assert_eq!(
            link_after(&[LinkEvent::Deleted {}], now).begin_attempt(now, TIMEOUT),
            Usability::Gone
        );
    }

    #[test]
    fn opening_sets_used_at_once() {
        let now = Utc::now();
        let later = now + Duration::minutes(3);
        let link = link_after(&[LinkEvent::Opened {}], now);
        let header = EventHeader {
            id: link.id,
            organization_id: link.organization_id,
            occurred_at: later,
        };
        let again = Link::evolve(Some(link), &LinkEvent::Opened {}, &header).unwrap();
        assert_eq!(again.used_at, Some(now));
    }

    #[test]
    fn cancels_and_errors_refuse_before_meta_is_asked() {
        let cancel = SignupCallback {
            session_event: Some("CANCEL".into()),
            current_step: Some("WABA_SETUP".into()),
            ..Default::default()
        };
        let (code, message) = cancel.refusal().unwrap();
        assert_eq!(code, FailureCode::FacebookAuthFailed);
        assert!(message.contains("WABA_SETUP"));

        let limit = SignupCallback {
            session_event: Some("ERROR".into()),
            error_message: Some("This business has reached its limit of WhatsApp Business Accounts.".into()),
            ..Default::default()
        };
        assert_eq!(limit.refusal().unwrap().0, FailureCode::WabaLimitReached);

        let no_code = SignupCallback {
            session_event: Some("FINISH".into()),
            ..Default::default()
        };
        assert!(no_code.refusal().is_some());
        let finished = SignupCallback {
            has_code: true,
            ..no_code
        };
        assert_eq!(finished.refusal(), None);
    }
}
