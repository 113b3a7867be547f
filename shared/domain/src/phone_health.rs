//! A connected number's health: whether its token still works and what Meta lets it do. The
//! monitor records it as `phone_number.health_changed` only when it changes.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A token expiring sooner than this is reported degraded, so someone reconnects in time.
pub const EXPIRY_WARNING: Duration = Duration::days(7);

const MESSAGING_SCOPE: &str = "whatsapp_business_messaging";
const MANAGEMENT_SCOPE: &str = "whatsapp_business_management";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Healthy,
    /// Works, but not fully: a scope is missing or it expires soon.
    Degraded,
    /// Meta refuses it: the number cannot be used until it is reconnected.
    Down,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneHealth {
    pub token_status: TokenStatus,
    /// Why the token is not healthy, in words support can act on.
    #[serde(default)]
    pub token_problem: Option<String>,
    pub can_send_messages: bool,
    pub can_receive_messages: bool,
    /// Meta's `health_status` of the number, as Meta reported it.
    #[serde(default)]
    pub meta_health_status: Option<Value>,
    /// GREEN, YELLOW, RED or UNKNOWN.
    #[serde(default)]
    pub quality_rating: Option<String>,
}

/// What `debug_token` said about a number's token.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenCheck {
    /// Valid for our app; `expires_at` is None for tokens that never expire.
    Valid {
        scopes: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
    },
    /// Meta refused the token (`is_valid: false`, error 190, another app's token).
    Invalid(String),
}

/// What Meta reported for the number itself (`GET /{phone-number-id}`), when the token allowed
/// asking.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetaPhoneStatus {
    pub health_status: Option<Value>,
    pub quality_rating: Option<String>,
}

impl PhoneHealth {
    /// Combines the token check and Meta's view of the number into one health.
    pub fn assess(token: &TokenCheck, phone: &MetaPhoneStatus, now: DateTime<Utc>) -> Self {
        let (token_status, token_problem) = match token {
            TokenCheck::Invalid(why) => (TokenStatus::Down, Some(why.clone())),
            TokenCheck::Valid { scopes, expires_at } => {
                let missing: Vec<&str> = [MANAGEMENT_SCOPE, MESSAGING_SCOPE]
                    .into_iter()
                    .filter(|needed| !scopes.iter().any(|s| s == needed))
                    .collect();
                if !missing.is_empty() {
                    (
                        TokenStatus::Degraded,
                        Some(format!("the token lacks {}", missing.join(" and "))),
                    )
                } else if let Some(at) = expires_at.filter(|at| *at - now < EXPIRY_WARNING) {
                    (
                        TokenStatus::Degraded,
                        Some(format!("the token expires at {}", at.to_rfc3339())),
                    )
                } else {
                    (TokenStatus::Healthy, None)
                }
            }
        };
        let can_send_by_meta = phone.can_send_message().is_none_or(|s| s != "BLOCKED");
        let can_message = match token {
            TokenCheck::Invalid(_) => false,
            TokenCheck::Valid { scopes, .. } => scopes.iter().any(|s| s == MESSAGING_SCOPE),
        };
        Self {
            token_status,
            token_problem,
            can_send_messages: can_message && can_send_by_meta,
            can_receive_messages: token_status != TokenStatus::Down,
            meta_health_status: phone.health_status.clone(),
            quality_rating: phone.quality_rating.clone(),
        }
    }
}

/// A number's health as integrators see it in `phone_number.health_changed`: what the monitor
/// last recorded (nothing before its first check) and Meta's messaging limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    pub token_status: Option<TokenStatus>,
    pub token_problem: Option<String>,
    pub can_send_messages: Option<bool>,
    pub can_receive_messages: Option<bool>,
    /// Meta's verdict on the number (`health_status`), as Meta reported it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub meta_health_status: Option<Value>,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
}

impl HealthView {
    pub fn of(health: Option<&PhoneHealth>, messaging_limit: Option<&str>) -> Self {
        Self {
            token_status: health.map(|h| h.token_status),
            token_problem: health.and_then(|h| h.token_problem.clone()),
            can_send_messages: health.map(|h| h.can_send_messages),
            can_receive_messages: health.map(|h| h.can_receive_messages),
            meta_health_status: health.and_then(|h| h.meta_health_status.clone()),
            quality_rating: health.and_then(|h| h.quality_rating.clone()),
            messaging_limit: messaging_limit.map(str::to_owned),
        }
    }

    /// The fields (by their JSON names) that differ from `before`.
    pub fn changes_from(&self, before: &Self) -> Vec<&'static str> {
        let fields = [
            ("tokenStatus", self.token_status != before.token_status),
            ("tokenProblem", self.token_problem != before.token_problem),
            (
                "canSendMessages",
                self.can_send_messages != before.can_send_messages,
            ),
            (
                "canReceiveMessages",
                self.can_receive_messages != before.can_receive_messages,
            ),
            (
                "metaHealthStatus",
                self.meta_health_status != before.meta_health_status,
            ),
            ("qualityRating", self.quality_rating != before.quality_rating),
            ("messagingLimit", self.messaging_limit != before.messaging_limit),
        ];
        fields
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name)
            .collect()
    }
}

impl MetaPhoneStatus {
    /// AVAILABLE, LIMITED or BLOCKED: Meta's overall verdict on sending from the number.
    pub fn can_send_message(&self) -> Option<&str> {
        self.health_status.as_ref()?.get("can_send_message")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both_scopes() -> Vec<String> {
        vec![MANAGEMENT_SCOPE.into(), MESSAGING_SCOPE.into()]
    }

    fn meta(can_send: &str) -> MetaPhoneStatus {
        MetaPhoneStatus {
            health_status: Some(json!({ "can_send_message": can_send, "entities": [] })),
            quality_rating: Some("GREEN".into()),
        }
    }

    #[test]
    fn a_health_view_names_what_changed() {
        let token = TokenCheck::Valid {
            scopes: both_scopes(),
            expires_at: None,
        };
        let healthy = PhoneHealth::assess(&token, &meta("AVAILABLE"), Utc::now());
        let blocked = PhoneHealth::assess(&token, &meta("BLOCKED"), Utc::now());
        let unknown = HealthView::of(None, None);
        let before = HealthView::of(Some(&healthy), Some("TIER_1K"));
        assert_eq!(before.changes_from(&before), Vec::<&str>::new());
        assert_eq!(
            before.changes_from(&unknown).len(),
            6,
            "all but tokenProblem (none) are new"
        );
        let after = HealthView::of(Some(&blocked), Some("TIER_250"));
        assert_eq!(
            after.changes_from(&before),
            ["canSendMessages", "metaHealthStatus", "messagingLimit"]
        );
    }

    #[test]
    fn a_valid_token_on_an_available_number_is_healthy() {
        let token = TokenCheck::Valid {
            scopes: both_scopes(),
            expires_at: None,
        };
        let health = PhoneHealth::assess(&token, &meta("AVAILABLE"), Utc::now());
        assert_eq!(health.token_status, TokenStatus::Healthy);
        assert!(health.can_send_messages && health.can_receive_messages);
        assert_eq!(health.quality_rating.as_deref(), Some("GREEN"));
    }

    #[test]
    fn an_invalid_token_is_down_and_can_do_nothing() {
        let token = TokenCheck::Invalid("Error validating access token".into());
        let health = PhoneHealth::assess(&token, &MetaPhoneStatus::default(), Utc::now());
        assert_eq!(health.token_status, TokenStatus::Down);
        assert!(!health.can_send_messages && !health.can_receive_messages);
        assert_eq!(
            health.token_problem.as_deref(),
            Some("Error validating access token")
        );
    }

    #[test]
    fn a_missing_scope_or_near_expiry_degrades_the_token() {
        let now = Utc::now();
        let management_only = TokenCheck::Valid {
            scopes: vec![MANAGEMENT_SCOPE.into()],
            expires_at: None,
        };
        let health = PhoneHealth::assess(&management_only, &meta("AVAILABLE"), now);
        assert_eq!(health.token_status, TokenStatus::Degraded);
        assert!(!health.can_send_messages, "no messaging scope, no sending");
        assert!(health.token_problem.unwrap().contains(MESSAGING_SCOPE));

        let expiring = TokenCheck::Valid {
            scopes: both_scopes(),
            expires_at: Some(now + Duration::days(2)),
        };
        let health = PhoneHealth::assess(&expiring, &meta("AVAILABLE"), now);
        assert_eq!(health.token_status, TokenStatus::Degraded);
        assert!(health.can_send_messages);

        let later = TokenCheck::Valid {
            scopes: both_scopes(),
            expires_at: Some(now + Duration::days(50)),
        };
        assert_eq!(
            PhoneHealth::assess(&later, &meta("AVAILABLE"), now).token_status,
            TokenStatus::Healthy
        );
    }

    #[test]
    fn a_number_meta_blocks_cannot_send_but_still_receives() {
        let token = TokenCheck::Valid {
            scopes: both_scopes(),
            expires_at: None,
        };
        let blocked = PhoneHealth::assess(&token, &meta("BLOCKED"), Utc::now());
        assert_eq!(blocked.token_status, TokenStatus::Healthy);
        assert!(!blocked.can_send_messages && blocked.can_receive_messages);
        let limited = PhoneHealth::assess(&token, &meta("LIMITED"), Utc::now());
        assert!(limited.can_send_messages);
        assert_ne!(blocked, limited, "a change in Meta's verdict is a health change");
    }
}
