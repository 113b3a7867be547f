//! The onboarding funnel: links created → opened → callback received → completed, and failures
//! by error code.
//!
//! Counted by the projector as it applies link events, so the count is global however many api
//! replicas wrote them (sum the projector replicas), and labelled by stage or error code only.

use gangway_domain::FailureCode;
use serde_json::Value;

pub const STAGES: &str = "gangway_onboarding_funnel_total";
pub const FAILURES: &str = "gangway_onboarding_failures_total";

/// The funnel's stages, in order, with the link event that marks each.
pub const STAGE_EVENTS: [(&str, &str); 4] = [
    ("created", "onboarding_link.created"),
    ("opened", "onboarding_link.opened"),
    ("callback_received", "onboarding_link.callback_received"),
    ("completed", "onboarding_link.completed"),
];

pub const FAILED_EVENT: &str = "onboarding_link.failed";

/// The `error_code` of a failure whose code this build does not know.
pub const UNKNOWN_CODE: &str = "unknown";

pub(crate) fn describe() {
    metrics::describe_counter!(
        STAGES,
        "Onboarding links reaching each funnel stage (created, opened, callback_received, completed), counted from the event stream."
    );
    metrics::describe_counter!(
        FAILURES,
        "Failed onboarding attempts, by error code (the error_code integrators see)."
    );
}

/// Every stage and error code starts at 0, so rates and ratios exist before the first of each.
pub fn register() {
    for (stage, _) in STAGE_EVENTS {
        metrics::counter!(STAGES, "stage" => stage).absolute(0);
    }
    for code in failure_codes() {
        metrics::counter!(FAILURES, "error_code" => code.as_str()).absolute(0);
    }
}

/// Counts one link event (any other event is not part of the funnel).
pub fn observe(event_type: &str, payload: &Value) {
    if event_type == FAILED_EVENT {
        metrics::counter!(FAILURES, "error_code" => failure_code(payload)).increment(1);
    } else if let Some((stage, _)) = STAGE_EVENTS.iter().find(|(_, t)| *t == event_type) {
        metrics::counter!(STAGES, "stage" => *stage).increment(1);
    }
}

fn failure_code(payload: &Value) -> &'static str {
    payload
        .get("errorCode")
        .and_then(|code| serde_json::from_value::<FailureCode>(code.clone()).ok())
        .map_or(UNKNOWN_CODE, FailureCode::as_str)
}

fn failure_codes() -> [FailureCode; 7] {
    // A new code must be added here too: this match stops compiling until it is.
    match FailureCode::AlreadyUsed {
        FailureCode::FacebookAuthFailed
        | FailureCode::PhoneVerificationFailed
        | FailureCode::WabaLimitReached
        | FailureCode::TokenExchangeFailed
        | FailureCode::LinkExpired
        | FailureCode::AlreadyUsed
        | FailureCode::LinkRevoked => {}
    }
    [
        FailureCode::FacebookAuthFailed,
        FailureCode::PhoneVerificationFailed,
        FailureCode::WabaLimitReached,
        FailureCode::TokenExchangeFailed,
        FailureCode::LinkExpired,
        FailureCode::AlreadyUsed,
        FailureCode::LinkRevoked,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_domain::link::LinkEvent;
    use gangway_domain::StreamEvent;

    fn event_type(event: LinkEvent) -> String {
        event.encode().unwrap().0
    }

    #[test]
    fn stages_and_failures_use_the_domain_event_names() {
        for (_, event_type) in STAGE_EVENTS {
            // A known type with an empty payload fails on its fields, never as an unknown variant.
            let decoded = LinkEvent::decode(event_type, 1, &serde_json::json!({}));
            let message = decoded.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.contains("unknown variant"), "{event_type}: {message}");
        }
        assert_eq!(STAGE_EVENTS[1].1, event_type(LinkEvent::Opened {}));
        let failed = LinkEvent::Failed {
            error_code: FailureCode::LinkExpired,
            error: "expired".into(),
            step: None,
            customer: None,
        };
        let (failed_type, payload) = failed.encode().unwrap();
        assert_eq!(failed_type, FAILED_EVENT);
        assert_eq!(failure_code(&payload), "link_expired");
    }

    #[test]
    fn an_unknown_failure_code_is_not_a_new_label() {
        let payload = serde_json::json!({"errorCode": "org_1234_exploded"});
        assert_eq!(failure_code(&payload), UNKNOWN_CODE);
        assert_eq!(failure_code(&Value::Null), UNKNOWN_CODE);
    }
}
