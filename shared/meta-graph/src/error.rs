//! Meta's error object and what Gangway makes of it.

pub use gangway_domain::FailureCode;
use serde::Deserialize;

/// `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}` as Graph sends it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct GraphErrorBody {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error object.
    #[error("Meta error {} (subcode {:?}, HTTP {status}): {}", body.code, body.error_subcode, body.message)]
    Api { status: u16, body: GraphErrorBody },
    /// Meta could not be reached, timed out, or answered something that is not Graph JSON.
    #[error("Meta Graph API unreachable or unreadable: {0}")]
    Transport(String),
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { body, .. } => Some(body.code),
            Self::Transport(_) => None,
        }
    }

    pub fn subcode(&self) -> Option<i64> {
        match self {
            Self::Api { body, .. } => body.error_subcode,
            Self::Transport(_) => None,
        }
    }

    /// Rate limits, throttling and Meta's transient errors are worth retrying; nothing else is.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, body } => {
                *status >= 500
                    || matches!(
                        body.code,
                        1 | 2 | 4 | 17 | 32 | 613 | 80007 | 130429 | 131000 | 133004
                    )
            }
        }
    }

    /// The failure an integrator is told about when this error ends an onboarding. The reference
    /// names no Graph error code for "WABA limit reached"; that failure comes from the flow itself.
    pub fn failure_code(&self) -> FailureCode {
        match (self.code(), self.subcode()) {
            (Some(100), Some(36007..=36009)) => FailureCode::TokenExchangeFailed,
            (Some(190), _) | (Some(10 | 200..=299), _) => FailureCode::FacebookAuthFailed,
            (Some(133005 | 133006 | 133008 | 133009 | 133010 | 133015 | 133016 | 131031), _) => {
                FailureCode::PhoneVerificationFailed
            }
            _ => FailureCode::TokenExchangeFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, subcode: Option<i64>, status: u16) -> GraphError {
        GraphError::Api {
            status,
            body: GraphErrorBody {
                message: "m".into(),
                kind: "OAuthException".into(),
                code,
                error_subcode: subcode,
                fbtrace_id: None,
            },
        }
    }

    #[test]
    fn only_throttling_and_transient_errors_are_retried() {
        assert!(api(4, None, 400).is_retryable());
        assert!(api(80007, None, 400).is_retryable());
        assert!(api(100, None, 500).is_retryable());
        assert!(!api(100, Some(36009), 400).is_retryable());
        assert!(!api(190, None, 400).is_retryable());
        assert!(!api(133016, None, 400).is_retryable());
    }

    #[test]
    fn meta_errors_map_to_our_failure_codes() {
        assert_eq!(
            api(100, Some(36009), 400).failure_code(),
            FailureCode::TokenExchangeFailed
        );
        assert_eq!(
            api(190, None, 400).failure_code(),
            FailureCode::FacebookAuthFailed
        );
        assert_eq!(
            api(133016, None, 400).failure_code(),
            FailureCode::PhoneVerificationFailed
        );
    }
}
