//! Meta's inbound webhooks (reference §4): the `X-Hub-Signature-256` check over the raw body, the
//! envelope, and the changes Gangway acts on, read into typed updates.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=<hex>`")]
    Malformed,
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
}

/// Checks `sha256=<hex HMAC-SHA256(app_secret, body)>` over the exact bytes received, in
/// constant time.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// `{"object": "whatsapp_business_account", "entry": [{id, time, changes: [{field, value}]}]}`.
#[derive(Debug, Deserialize)]
pub struct Notification {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The WABA id (the partner's business id for some `account_update`s).
    pub id: String,
    /// Unix seconds; the same for every redelivery of one notification.
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    pub field: String,
    #[serde(default)]
    pub value: Value,
}

/// One change, read for what Gangway does with it.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Account(AccountUpdate),
    /// `phone_number_quality_update`.
    Quality {
        meta_waba_id: String,
        display_phone_number: String,
        event: String,
        current_limit: Option<String>,
    },
    /// `phone_number_name_update`.
    Name {
        meta_waba_id: String,
        display_phone_number: String,
        decision: String,
        requested_name: Option<String>,
        rejection_reason: Option<String>,
    },
    /// `messages`: inbound messages (with their contact entries) and statuses of outbound ones.
    Messages {
        meta_phone_number_id: String,
        messages: Vec<(Value, Option<Value>)>,
        statuses: Vec<Value>,
    },
    /// A field Gangway does not act on (history, templates, ...).
    Ignored {
        field: String,
    },
}

/// An `account_update`: keyed on `waba_info.waba_id` when present (PARTNER_* events), else the
/// entry's id.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountUpdate {
    pub meta_waba_id: String,
    /// PARTNER_REMOVED, PARTNER_APP_UNINSTALLED, ACCOUNT_DELETED, ACCOUNT_VIOLATION, ...
    pub event: String,
    /// Present for coexistence disconnections and some violations.
    pub phone_number: Option<String>,
    /// `disconnection_info.reason`, e.g. ACCOUNT_DISCONNECTED.
    pub disconnection_reason: Option<String>,
    /// `disconnection_info.initiated_by`: USER or SYSTEM.
    pub initiated_by: Option<String>,
    /// The whole value, for the history.
    pub value: Value,
}

impl Notification {
    pub fn updates(&self) -> impl Iterator<Item = Update> + '_ {
        self.entry.iter().flat_map(|entry| {
            entry
                .changes
                .iter()
                .map(move |change| read_change(&entry.id, change))
        })
    }
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    match at {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What one change of the entry `entry_id` is about.
pub fn read_change(entry_id: &str, change: &Change) -> Update {
    let value = &change.value;
    match change.field.as_str() {
        "account_update" => Update::Account(AccountUpdate {
            meta_waba_id: text(value, &["waba_info", "waba_id"]).unwrap_or_else(|| entry_id.to_owned()),
            event: text(value, &["event"]).unwrap_or_default(),
            phone_number: text(value, &["phone_number"]),
            disconnection_reason: text(value, &["disconnection_info", "reason"]),
            initiated_by: text(value, &["disconnection_info", "initiated_by"]),
            value: value.clone(),
        }),
        "phone_number_quality_update" => Update::Quality {
            meta_waba_id: entry_id.to_owned(),
            display_phone_number: text(value, &["display_phone_number"]).unwrap_or_default(),
            event: text(value, &["event"]).unwrap_or_default(),
            current_limit: text(value, &["current_limit"]),
        },
        "phone_number_name_update" => Update::Name {
            meta_waba_id: entry_id.to_owned(),
            display_phone_number: text(value, &["display_phone_number"]).unwrap_or_default(),
            decision: text(value, &["decision"]).unwrap_or_default(),
            requested_name: text(value, &["requested_verified_name"]),
            rejection_reason: text(value, &["rejection_reason"]),
        },
        "messages" => {
            let contacts = value.get("contacts").and_then(Value::as_array);
            let contact_of = |message: &Value| {
                let from = message.get("from")?;
                contacts?.iter().find(|c| c.get("wa_id") == Some(from)).cloned()
            };
            let list = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            Update::Messages {
                meta_phone_number_id: text(value, &["metadata", "phone_number_id"]).unwrap_or_default(),
                messages: list("messages")
                    .into_iter()
                    .map(|m| {
                        let contact = contact_of(&m);
                        (m, contact)
                    })
                    .collect(),
                statuses: list("statuses"),
            }
        }
        other => Update::Ignored {
            field: other.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_the_signature_of_the_exact_bytes_under_the_app_secret_passes() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = signed("app-secret", body);
        assert_eq!(verify_signature("app-secret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_signature("other-secret", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        let reformatted = br#"{"object": "whatsapp_business_account", "entry": []}"#;
        assert_eq!(
            verify_signature("app-secret", reformatted, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("app-secret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature("app-secret", body, Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("app-secret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn several_changes_become_typed_updates() {
        let notification: Notification = serde_json::from_value(json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "PARTNER_BIZ",
                "time": 1731617831,
                "changes": [
                    { "field": "account_update", "value": {
                        "event": "PARTNER_REMOVED",
                        "waba_info": { "waba_id": "WABA1", "owner_business_id": "B1" },
                        "phone_number": "15550100001",
                        "disconnection_info": { "reason": "ACCOUNT_DISCONNECTED", "initiated_by": "USER" }
                    }},
                    { "field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550100001", "phone_number_id": "PN1" },
                        "contacts": [{ "profile": { "name": "Kerry" }, "wa_id": "16315551181" }],
                        "messages": [{ "from": "16315551181", "id": "wamid.1", "type": "text" }],
                        "statuses": [{ "id": "wamid.2", "status": "delivered" }]
                    }},
                    { "field": "history", "value": {} }
                ]
            }]
        }))
        .unwrap();
        let updates: Vec<_> = notification.updates().collect();
        assert_eq!(updates.len(), 3);
        let Update::Account(account) = &updates[0] else {
            panic!("{:?}", updates[0])
        };
        assert_eq!(
            account.meta_waba_id, "WABA1",
            "keyed on waba_info, not the entry id"
        );
        assert_eq!(account.event, "PARTNER_REMOVED");
        assert_eq!(
            account.disconnection_reason.as_deref(),
            Some("ACCOUNT_DISCONNECTED")
        );
        assert_eq!(account.initiated_by.as_deref(), Some("USER"));
        let Update::Messages {
            meta_phone_number_id,
            messages,
            statuses,
        } = &updates[1]
        else {
            panic!("{:?}", updates[1])
        };
        assert_eq!(meta_phone_number_id, "PN1");
        assert_eq!(messages[0].1.as_ref().unwrap()["profile"]["name"], "Kerry");
        assert_eq!(statuses[0]["status"], "delivered");
        assert_eq!(
            updates[2],
            Update::Ignored {
                field: "history".into()
            }
        );
    }
}
