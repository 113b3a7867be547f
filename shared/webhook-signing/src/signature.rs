use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::SigningKey;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a delivery's timestamp may be from the receiver's clock, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// The three headers that carry a delivery's signature, as sent or as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`: the same for every attempt at one message, so receivers can de-duplicate.
    pub id: String,
    /// `webhook-timestamp`: unix seconds.
    pub timestamp: String,
    /// `webhook-signature`: one or more space-separated `v1,<base64>` entries.
    pub signature: String,
}

impl WebhookHeaders {
    /// Name and value of each header, to put on a request.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_ID, &self.id),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }

    /// Reads the headers through `get` (a case-insensitive lookup, as HTTP header maps are).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, VerifyError> {
        let read = |name: &'static str| {
            get(name)
                .map(str::to_owned)
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Self {
            id: read(HEADER_ID)?,
            timestamp: read(HEADER_TIMESTAMP)?,
            signature: read(HEADER_SIGNATURE)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("a delivery needs at least one signing key")]
    NoKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    #[error("the `webhook-timestamp` header is not unix seconds")]
    InvalidTimestamp,
    #[error("the delivery's timestamp is outside the tolerated window")]
    TimestampOutOfTolerance,
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// Signs one delivery attempt: a `v1` entry per key, in the order given (during a rotation, the
/// new secret and the one it replaces), so a receiver holding either secret accepts it.
pub fn sign(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> Result<WebhookHeaders, SignError> {
    if keys.is_empty() {
        return Err(SignError::NoKeys);
    }
    let signature = keys
        .iter()
        .map(|key| {
            let tag = mac(key, id, &timestamp.to_string(), body).finalize().into_bytes();
            format!("{VERSION},{}", BASE64.encode(tag))
        })
        .collect::<Vec<_>>()
        .join(" ");
    Ok(WebhookHeaders {
        id: id.to_owned(),
        timestamp: timestamp.to_string(),
        signature,
    })
}

/// Checks a received delivery against the system clock with [`DEFAULT_TOLERANCE`].
pub fn verify(key: &SigningKey, headers: &WebhookHeaders, body: &[u8]) -> Result<(), VerifyError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX));
    verify_at(key, headers, body, now, DEFAULT_TOLERANCE)
}

/// Checks a received delivery: its timestamp within `tolerance` of `now` (unix seconds), and at
/// least one `v1` entry of its signature header matching `key`, compared in constant time.
/// Entries of other versions, or that are not base64, are skipped, as the specification asks.
pub fn verify_at(
    key: &SigningKey,
    headers: &WebhookHeaders,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let timestamp: i64 = headers
        .timestamp
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(VerifyError::TimestampOutOfTolerance);
    }

    let expected = mac(key, &headers.id, &headers.timestamp, body);
    let matches = headers
        .signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, encoded)| BASE64.decode(encoded).ok())
        .any(|candidate| expected.clone().verify_slice(&candidate).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn mac(key: &SigningKey, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key.bytes()).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn key(secret: &str) -> SigningKey {
        SigningKey::from_secret(secret).expect("valid secret")
    }

    #[test]
    fn the_standard_webhooks_test_vector_is_reproduced_exactly() {
        // The vector the Standard Webhooks reference libraries test their `sign` against.
        let headers = sign(
            &[key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .expect("one key");
        assert_eq!(headers.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(headers.timestamp, "1614265330");
        assert_eq!(
            headers.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_test_vector_verifies_within_the_window_around_its_timestamp() {
        let headers = WebhookHeaders {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
            timestamp: "1614265330".into(),
            signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        };
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            verify_at(&key, &headers, body, 1_614_265_330 + 300, DEFAULT_TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify_at(&key, &headers, body, 1_614_265_330 + 301, DEFAULT_TOLERANCE),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        assert_eq!(
            verify_at(&key, &headers, body, 1_614_265_330 - 301, DEFAULT_TOLERANCE),
            Err(VerifyError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn every_key_gets_its_own_entry_and_each_one_verifies() {
        let (new, old) = (key("whsec_bmV3LXNlY3JldA=="), key("old-raw-secret"));
        let headers = sign(&[new.clone(), old.clone()], "msg_1", NOW, b"{}").expect("two keys");
        let entries: Vec<_> = headers.signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|entry| entry.starts_with("v1,")));
        assert_eq!(verify_at(&new, &headers, b"{}", NOW, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify_at(&old, &headers, b"{}", NOW, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(
            verify_at(&key("another"), &headers, b"{}", NOW, DEFAULT_TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn signing_without_a_key_is_an_error() {
        assert_eq!(sign(&[], "msg_1", NOW, b"{}"), Err(SignError::NoKeys));
    }

    #[test]
    fn a_changed_body_id_or_timestamp_fails_verification() {
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signed = sign(std::slice::from_ref(&key), "msg_1", NOW, b"{\"a\":1}").expect("one key");
        let check =
            |headers: &WebhookHeaders, body: &[u8]| verify_at(&key, headers, body, NOW, DEFAULT_TOLERANCE);

        assert_eq!(check(&signed, b"{\"a\":1}"), Ok(()));
        assert_eq!(
            check(&signed, b"{\"a\":2}"),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_id = WebhookHeaders {
            id: "msg_2".into(),
            ..signed.clone()
        };
        assert_eq!(
            check(&other_id, b"{\"a\":1}"),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_time = WebhookHeaders {
            timestamp: (NOW + 1).to_string(),
            ..signed.clone()
        };
        assert_eq!(
            check(&other_time, b"{\"a\":1}"),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn malformed_and_foreign_entries_are_skipped_not_fatal() {
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signed = sign(std::slice::from_ref(&key), "msg_1", NOW, b"{}").expect("one key");
        let valid = signed.signature.clone();
        let base64_part = &valid["v1,".len()..];
        let headers = WebhookHeaders {
            signature: format!("garbage v1,!!notbase64!! v2,{base64_part} v1a,{base64_part} {valid}"),
            ..signed
        };
        assert_eq!(verify_at(&key, &headers, b"{}", NOW, DEFAULT_TOLERANCE), Ok(()));

        let without_v1 = WebhookHeaders {
            signature: format!("v2,{base64_part}"),
            ..headers
        };
        assert_eq!(
            verify_at(&key, &without_v1, b"{}", NOW, DEFAULT_TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn a_timestamp_that_is_not_unix_seconds_is_refused() {
        let key = key("secret");
        for timestamp in ["", "soon", "1614265330.5", "99999999999999999999999"] {
            let headers = WebhookHeaders {
                id: "msg_1".into(),
                timestamp: timestamp.into(),
                signature: "v1,AA==".into(),
            };
            assert_eq!(
                verify_at(&key, &headers, b"{}", NOW, DEFAULT_TOLERANCE),
                Err(VerifyError::InvalidTimestamp),
                "{timestamp:?}"
            );
        }
    }

    #[test]
    fn verify_uses_the_clock() {
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
        )
        .expect("fits");
        let fresh = sign(std::slice::from_ref(&key), "msg_1", now, b"{}").expect("one key");
        assert_eq!(verify(&key, &fresh, b"{}"), Ok(()));
        let stale = sign(std::slice::from_ref(&key), "msg_1", now - 3600, b"{}").expect("one key");
        assert_eq!(
            verify(&key, &stale, b"{}"),
            Err(VerifyError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn headers_are_read_through_a_lookup() {
        let signed = sign(&[key("secret")], "msg_1", NOW, b"{}").expect("one key");
        let pairs = signed.pairs();
        let read =
            WebhookHeaders::from_lookup(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
        assert_eq!(read, Ok(signed));
        assert_eq!(
            WebhookHeaders::from_lookup(|_| None),
            Err(VerifyError::MissingHeader(HEADER_ID))
        );
    }
}
