//! Our webhook signatures, checked by an implementation that is not ours: the Standard Webhooks
//! reference library for Python (PyPI `standardwebhooks`, pinned in
//! tests/support/python-requirements.txt). The library is installed into the cargo
//! target directory on first use; without it (no python3, pip or PyPI) these tests fail and say
//! why, since skipping them would leave interoperability unproven.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use gangway_e2e::standard_webhooks::{self, ReceiverSecret};
use gangway_webhook_signing::{generate_secret, sign, SigningKey, WebhookHeaders};
use serde_json::json;

fn reference_verdict(secret: ReceiverSecret<'_>, headers: &WebhookHeaders, body: &str) -> Result<(), String> {
    standard_webhooks::reference_verdict(env!("CARGO_TARGET_TMPDIR"), secret, headers, body)
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64")
}

fn key(secret: &str) -> SigningKey {
    SigningKey::from_secret(secret).expect("valid secret")
}

fn delivery_body() -> String {
    json!({
        "event": "phone_number.connected",
        "timestamp": "2026-11-28T10:15:00Z",
        "organizationId": "org_01JD6Y7Q3K",
        "data": {
            "onboardingLinkId": "lnk_01JD6Y8A2B",
            "externalId": "customer-42",
            "phoneNumberId": "phn_01JD6Y9C4D",
            "phoneNumber": "+5511987654321",
            "wabaId": "waba_01JD6YA5E6",
            "metaWabaId": "102290129340398",
            "isPhoneRegistered": true
        }
    })
    .to_string()
}

#[test]
fn the_reference_library_accepts_a_whsec_signed_delivery_and_rejects_a_tampered_body() {
    let secret = generate_secret();
    let body = delivery_body();
    let headers = sign(&[key(&secret)], "msg_2pQk7XyZ4bV9", now(), body.as_bytes()).expect("signed");

    assert_eq!(
        reference_verdict(ReceiverSecret::Whsec(&secret), &headers, &body),
        Ok(())
    );

    let tampered = body.replace("\"isPhoneRegistered\":true", "\"isPhoneRegistered\":false");
    assert_ne!(tampered, body);
    let verdict = reference_verdict(ReceiverSecret::Whsec(&secret), &headers, &tampered);
    assert_eq!(verdict, Err("No matching signature found".to_owned()));
}

#[test]
fn during_a_rotation_either_secret_is_accepted_and_a_stranger_is_not() {
    let (new, old, stranger) = (generate_secret(), generate_secret(), generate_secret());
    let body = delivery_body();
    let headers = sign(&[key(&new), key(&old)], "msg_rotating", now(), body.as_bytes()).expect("signed");
    assert_eq!(headers.signature.split(' ').count(), 2);

    assert_eq!(
        reference_verdict(ReceiverSecret::Whsec(&new), &headers, &body),
        Ok(())
    );
    assert_eq!(
        reference_verdict(ReceiverSecret::Whsec(&old), &headers, &body),
        Ok(())
    );
    assert!(reference_verdict(ReceiverSecret::Whsec(&stranger), &headers, &body).is_err());
}

#[test]
fn a_unicode_body_is_signed_over_its_utf8_bytes() {
    let secret = generate_secret();
    let body = json!({
        "event": "message.received",
        "data": { "from": "Zoë Ñúñez", "text": "こんにちは 👋 — ¿qué tal?" }
    })
    .to_string();
    let headers = sign(&[key(&secret)], "msg_unicode", now(), body.as_bytes()).expect("signed");

    assert_eq!(
        reference_verdict(ReceiverSecret::Whsec(&secret), &headers, &body),
        Ok(())
    );
    let tampered = body.replace('👋', "👍");
    assert!(reference_verdict(ReceiverSecret::Whsec(&secret), &headers, &tampered).is_err());
}

#[test]
fn a_secret_not_in_whsec_form_is_used_as_its_bytes_as_documented() {
    let secret = "a plain shared secret, ünïcode included";
    let body = delivery_body();
    let headers = sign(&[key(secret)], "msg_raw", now(), body.as_bytes()).expect("signed");

    // A receiver holding such a secret hands the library its bytes, or its `whsec_` form.
    assert_eq!(
        reference_verdict(ReceiverSecret::Bytes(secret), &headers, &body),
        Ok(())
    );
    let as_whsec = format!("whsec_{}", BASE64.encode(secret.as_bytes()));
    assert_eq!(
        reference_verdict(ReceiverSecret::Whsec(&as_whsec), &headers, &body),
        Ok(())
    );
    assert!(reference_verdict(ReceiverSecret::Bytes(secret), &headers, "{}").is_err());
}

#[test]
fn a_delivery_signed_too_long_ago_is_rejected_by_the_reference_library() {
    let secret = generate_secret();
    let body = delivery_body();
    let stale = sign(&[key(&secret)], "msg_stale", now() - 600, body.as_bytes()).expect("signed");

    let verdict = reference_verdict(ReceiverSecret::Whsec(&secret), &stale, &body);
    assert_eq!(verdict, Err("Message timestamp too old".to_owned()));
}
