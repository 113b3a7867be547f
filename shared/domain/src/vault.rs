//! Secrets nothing needs any more. A stream lets go of a secret with one of its events (a failed
//! attempt's token, a replaced or disconnected number's token, a rotated-out or deleted endpoint's
//! secret); after a retention the secret is destroyed and the destruction recorded on a stream of
//! its own (`vault_secret`, stream id = the secret's id).

use crate::event::StreamEvent;
use crate::link::LinkEvent;
use crate::organization::OrganizationEvent;
use crate::phone::PhoneEvent;
use crate::webhook::EndpointEvent;
use crate::SecretRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a secret stopped being needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The token of an attempt that failed (it never became a number's).
    AttemptFailed,
    /// A number's token, replaced by a reconnection's fresh one.
    TokenReplaced,
    /// The token of a number that was disconnected.
    PhoneDisconnected,
    /// A rotated-out webhook or redirect secret whose grace period ended.
    RotationGraceEnded,
    /// A deleted endpoint's secrets.
    EndpointDeleted,
}

/// A secret a stream let go of, and from when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub secret: SecretRef,
    pub at: DateTime<Utc>,
    pub reason: ReleaseReason,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum VaultEvent {
    /// The secret's ciphertext was deleted; what it protected can no longer be read.
    #[serde(rename = "vault_secret.destroyed", rename_all = "camelCase")]
    Destroyed {
        /// What the secret was: `meta_business_token`, `webhook_secret`, ...
        purpose: String,
        reason: ReleaseReason,
        /// The stream whose event let go of it, e.g. `phone_number` and the phone's id.
        owner_stream_type: String,
        owner_stream_id: Uuid,
    },
}

impl StreamEvent for VaultEvent {
    const STREAM_TYPE: &'static str = "vault_secret";
    const EVENT_TYPES: &'static [&'static str] = &["vault_secret.destroyed"];
}

/// The secret a link's last event lets go of: the token its failed attempt exchanged.
/// `history` is the link's stream up to and including that event, oldest first.
pub fn link_release(history: &[(LinkEvent, DateTime<Utc>)]) -> Option<Release> {
    let ((LinkEvent::Failed { .. }, at), earlier) = history.split_last()? else {
        return None;
    };
    let attempt = earlier
        .iter()
        .rposition(|(event, _)| matches!(event, LinkEvent::CallbackReceived(_)))?;
    earlier[attempt..]
        .iter()
        .rev()
        .find_map(|(event, _)| match event {
            LinkEvent::TokenExchanged { token_ref, .. } => Some(Release {
                secret: *token_ref,
                at: *at,
                reason: ReleaseReason::AttemptFailed,
            }),
            _ => None,
        })
}

/// The token a number's last event lets go of: at a disconnection, the one it held; at a
/// reconnection, the one the fresh token replaces (unless a disconnection let go of it already).
pub fn phone_release(history: &[(PhoneEvent, DateTime<Utc>)]) -> Option<Release> {
    let ((last, at), earlier) = history.split_last()?;
    let reason = match last {
        PhoneEvent::Disconnected(_) => ReleaseReason::PhoneDisconnected,
        PhoneEvent::Reconnected { .. } => ReleaseReason::TokenReplaced,
        _ => return None,
    };
    let held = earlier.iter().rev().find_map(|(event, _)| match event {
        PhoneEvent::Created(created) => Some(Some(created.token_ref)),
        PhoneEvent::Reconnected { token_ref, .. } => Some(Some(*token_ref)),
        PhoneEvent::Disconnected(_) => Some(None),
        _ => None,
    })??;
    Some(Release {
        secret: held,
        at: *at,
        reason,
    })
}

/// The secrets an endpoint's last event lets go of: a rotation's previous secret when its grace
/// ends; at deletion, the current secret and a previous one still in its grace.
pub fn endpoint_releases(history: &[(EndpointEvent, DateTime<Utc>)]) -> Vec<Release> {
    let Some(((last, at), earlier)) = history.split_last() else {
        return Vec::new();
    };
    match last {
        EndpointEvent::SecretRotated {
            previous_secret_ref,
            previous_expires_at,
            ..
        } => vec![Release {
            secret: *previous_secret_ref,
            at: *previous_expires_at,
            reason: ReleaseReason::RotationGraceEnded,
        }],
        EndpointEvent::Deleted {} => {
            let mut held = Vec::new();
            for (event, _) in earlier {
                match event {
                    EndpointEvent::Created(created) => held = vec![created.secret_ref],
                    EndpointEvent::SecretRotated {
                        secret_ref,
                        previous_secret_ref,
                        previous_expires_at,
                    } => {
                        held = vec![*secret_ref];
                        if previous_expires_at > at {
                            held.push(*previous_secret_ref);
                        }
                    }
                    _ => {}
                }
            }
            held.into_iter()
                .map(|secret| Release {
                    secret,
                    at: *at,
                    reason: ReleaseReason::EndpointDeleted,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The secret an organization's event lets go of: a replaced redirect secret when its grace ends.
pub fn organization_release(event: &OrganizationEvent) -> Option<Release> {
    match event {
        OrganizationEvent::RedirectSecretRotated {
            previous_secret_ref: Some(previous),
            previous_expires_at,
            ..
        } => Some(Release {
            secret: *previous,
            at: *previous_expires_at,
            reason: ReleaseReason::RotationGraceEnded,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::{DisconnectReason, Disconnection};
    use crate::{FailureCode, LinkId};
    use chrono::Duration;

    #[test]
    fn a_replaced_redirect_secret_is_let_go_of_when_its_grace_ends() {
        let (first, second, until) = (SecretRef::new(), SecretRef::new(), Utc::now());
        let issued = OrganizationEvent::RedirectSecretRotated {
            secret_ref: first,
            previous_secret_ref: None,
            previous_expires_at: until,
        };
        assert_eq!(
            organization_release(&issued),
            None,
            "the first secret replaces nothing"
        );
        let rotated = OrganizationEvent::RedirectSecretRotated {
            secret_ref: second,
            previous_secret_ref: Some(first),
            previous_expires_at: until,
        };
        assert_eq!(
            organization_release(&rotated),
            Some(Release {
                secret: first,
                at: until,
                reason: ReleaseReason::RotationGraceEnded
            })
        );
    }

    fn exchanged(token: SecretRef) -> LinkEvent {
        LinkEvent::TokenExchanged {
            token_ref: token,
            granted_waba_ids: vec![],
        }
    }

    fn failed() -> LinkEvent {
        LinkEvent::Failed {
            error_code: FailureCode::PhoneVerificationFailed,
            error: "PIN mismatch".into(),
            step: None,
            customer: None,
        }
    }

    fn callback() -> LinkEvent {
        LinkEvent::CallbackReceived(Box::default())
    }

    #[test]
    fn a_failed_attempt_lets_go_of_its_own_token_only() {
        let now = Utc::now();
        let (first, second) = (SecretRef::new(), SecretRef::new());
        let history = [
            (callback(), now),
            (exchanged(first), now),
            (failed(), now),
            (callback(), now),
            (exchanged(second), now),
            (failed(), now + Duration::minutes(1)),
        ];
        let release = link_release(&history).expect("a release");
        assert_eq!(release.secret, second);
        assert_eq!(release.at, now + Duration::minutes(1));
        assert_eq!(link_release(&history[..3]).map(|r| r.secret), Some(first));
        // Cancelled before any token: nothing to let go of.
        assert_eq!(link_release(&[(callback(), now), (failed(), now)]), None);
        assert_eq!(link_release(&history[..2]), None, "only a failure lets go");
    }

    #[test]
    fn a_number_lets_go_of_a_token_once() {
        let now = Utc::now();
        let (first, second) = (SecretRef::new(), SecretRef::new());
        let org = crate::OrganizationId::new();
        let created = crate::phone::PhoneCreated {
            customer_id: None,
            external_id: None,
            onboarding_link_id: LinkId::new(),
            phone_number_id: "106540352242922".into(),
            phone_number: "+15550100001".into(),
            verified_name: None,
            waba_id: crate::WabaId::for_meta(org, "524126980791429"),
            meta_waba_id: "524126980791429".into(),
            business_id: None,
            connection_type: crate::values::ConnectionType::Dedicated,
            token_ref: first,
            pin_ref: None,
            is_registered: true,
            sync_request_ids: Vec::new(),
        };
        let disconnected = PhoneEvent::Disconnected(Disconnection {
            reason: DisconnectReason::PartnerRemoved,
            detail: None,
            initiated_by: None,
        });
        let reconnected = PhoneEvent::Reconnected {
            onboarding_link_id: LinkId::new(),
            token_ref: second,
        };
        let created = (PhoneEvent::Created(Box::new(created)), now);
        let gone = phone_release(&[created.clone(), (disconnected.clone(), now)]).unwrap();
        assert_eq!(
            (gone.secret, gone.reason),
            (first, ReleaseReason::PhoneDisconnected)
        );
        let replaced = phone_release(&[created.clone(), (reconnected.clone(), now)]).unwrap();
        assert_eq!(
            (replaced.secret, replaced.reason),
            (first, ReleaseReason::TokenReplaced)
        );
        assert_eq!(
            phone_release(&[created, (disconnected, now), (reconnected, now)]),
            None,
            "the disconnection let go of it already"
        );
    }

    #[test]
    fn an_endpoint_lets_go_of_a_rotated_secret_after_its_grace_and_of_all_at_deletion() {
        let now = Utc::now();
        let (first, second) = (SecretRef::new(), SecretRef::new());
        let created = EndpointEvent::Created(Box::new(crate::webhook::EndpointCreated {
            url: crate::values::HttpUrl::parse("https://example.com/hooks").unwrap(),
            event_types: vec![],
            description: None,
            waba_id: None,
            secret_ref: first,
            registered_by_link: None,
        }));
        let grace_ends = now + Duration::hours(24);
        let rotated = EndpointEvent::SecretRotated {
            secret_ref: second,
            previous_secret_ref: first,
            previous_expires_at: grace_ends,
        };
        let history = [(created.clone(), now), (rotated.clone(), now)];
        assert_eq!(
            endpoint_releases(&history),
            [Release {
                secret: first,
                at: grace_ends,
                reason: ReleaseReason::RotationGraceEnded
            }]
        );
        let deleted_in_grace = [
            (created.clone(), now),
            (rotated.clone(), now),
            (EndpointEvent::Deleted {}, now),
        ];
        let secrets: Vec<_> = endpoint_releases(&deleted_in_grace)
            .iter()
            .map(|r| r.secret)
            .collect();
        assert_eq!(secrets, [second, first]);
        let later = grace_ends + Duration::hours(1);
        let deleted_after = [(created, now), (rotated, now), (EndpointEvent::Deleted {}, later)];
        let secrets: Vec<_> = endpoint_releases(&deleted_after)
            .iter()
            .map(|r| r.secret)
            .collect();
        assert_eq!(secrets, [second], "the rotation let go of the first");
    }
}
