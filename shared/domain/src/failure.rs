//! Why an onboarding did not complete: the `error_code` an integrator's failure redirect and
//! webhooks carry.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The person cancelled, Meta reported an error in the flow, or the token is unusable.
    FacebookAuthFailed,
    /// The number could not be verified or registered.
    PhoneVerificationFailed,
    /// The business cannot have another WhatsApp Business Account.
    WabaLimitReached,
    /// The code could not be exchanged (expired, reused, refused).
    TokenExchangeFailed,
    LinkExpired,
    /// The link has already completed (or another attempt is under way).
    AlreadyUsed,
    /// A newer link for the same customer replaced this one.
    LinkRevoked,
}

impl FailureCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FacebookAuthFailed => "facebook_auth_failed",
            Self::PhoneVerificationFailed => "phone_verification_failed",
            Self::WabaLimitReached => "waba_limit_reached",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::LinkExpired => "link_expired",
            Self::AlreadyUsed => "already_used",
            Self::LinkRevoked => "link_revoked",
        }
    }

    /// The failure a `CANCEL` or `ERROR` session event stands for. Meta documents no code for
    /// "WABA limit reached", so its message is the only sign of it.
    pub fn of_session_error(error_message: Option<&str>) -> Self {
        let message = error_message.unwrap_or_default().to_ascii_lowercase();
        if message.contains("limit")
            && (message.contains("whatsapp business account") || message.contains("waba"))
        {
            Self::WabaLimitReached
        } else {
            Self::FacebookAuthFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_the_redirect_names_them() {
        assert_eq!(
            serde_json::to_value(FailureCode::PhoneVerificationFailed).unwrap(),
            "phone_verification_failed"
        );
        assert_eq!(FailureCode::AlreadyUsed.as_str(), "already_used");
    }

    #[test]
    fn a_waba_limit_is_recognised_by_its_message_only() {
        assert_eq!(
            FailureCode::of_session_error(Some(
                "This business has reached its limit of WhatsApp Business Accounts."
            )),
            FailureCode::WabaLimitReached
        );
        assert_eq!(
            FailureCode::of_session_error(Some("Something went wrong")),
            FailureCode::FacebookAuthFailed
        );
        assert_eq!(
            FailureCode::of_session_error(None),
            FailureCode::FacebookAuthFailed
        );
    }
}
