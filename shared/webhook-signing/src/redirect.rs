//! Signed redirects back to an integrator: the browser arrives at the integrator's page with
//! `?status=success&phone_number_id=…&signature=t=<unix>,v1=<base64>`, and its frontend (or
//! backend) can tell a redirect we sent from one somebody typed.
//!
//! The signature is the last query parameter. Its `v1` values are base64 (standard, padded)
//! HMAC-SHA256 tags over `<t>.<the query string before "&signature=">`, keyed with the secret's
//! UTF-8 bytes; during a rotation's grace period there is one `v1` per secret, as in Stripe's
//! `Stripe-Signature`.

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

/// The query parameter that carries the signature.
pub const SIGNATURE_PARAM: &str = "signature";

/// Marks a generated redirect secret.
pub const REDIRECT_SECRET_PREFIX: &str = "rdsec_";

/// A new redirect secret: [`REDIRECT_SECRET_PREFIX`] and 32 random bytes, base64url.
pub fn generate_redirect_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{REDIRECT_SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `url` with its signature appended as the last query parameter, one `v1` per secret in the
/// order given. `url` must already carry the parameters to be signed.
pub fn sign_redirect(url: &url::Url, secrets: &[&str], timestamp: i64) -> url::Url {
    let query = url.query().unwrap_or("");
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&BASE64.encode(tag(secret, timestamp, query)));
    }
    let mut signed = url.clone();
    signed.query_pairs_mut().append_pair(SIGNATURE_PARAM, &value);
    signed
}

fn tag(secret: &str, timestamp: i64, query: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(query.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a signed URL the way the README tells integrators to.
    fn verifies(signed: &str, secret: &str) -> bool {
        let query = signed.split_once('?').map_or("", |(_, q)| q);
        let Some((signed_part, value)) = query.rsplit_once("&signature=") else {
            return false;
        };
        let value: String = url::form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let mut parts = value.split(',');
        let Some(t) = parts.next().and_then(|p| p.strip_prefix("t=")) else {
            return false;
        };
        let expected = BASE64.encode(tag(secret, t.parse().unwrap(), signed_part));
        parts.any(|p| p.strip_prefix("v1=") == Some(expected.as_str()))
    }

    fn redirect() -> url::Url {
        let mut url = url::Url::parse("https://app.example.com/back?tenant=7").unwrap();
        url.query_pairs_mut()
            .append_pair("status", "success")
            .append_pair("external_id", "acme & co/1+2=3");
        url
    }

    #[test]
    fn the_signature_is_the_last_parameter_and_covers_every_one_before_it() {
        let signed = sign_redirect(&redirect(), &["rdsec_one"], 1_765_000_000);
        let text = signed.as_str();
        assert!(text.starts_with(redirect().as_str()), "{text}");
        assert_eq!(signed.query_pairs().last().unwrap().0, SIGNATURE_PARAM);
        assert!(verifies(text, "rdsec_one"));
        assert!(!verifies(text, "rdsec_two"), "another secret");
        let tampered = text.replace("status=success", "status=succesS");
        assert!(!verifies(&tampered, "rdsec_one"), "a changed parameter");
        let moved = text.replace("tenant=7", "tenant=8");
        assert!(
            !verifies(&moved, "rdsec_one"),
            "the integrator's own parameters are covered"
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let signed = sign_redirect(&redirect(), &["rdsec_new", "rdsec_old"], 1_765_000_000);
        assert!(verifies(signed.as_str(), "rdsec_new"));
        assert!(verifies(signed.as_str(), "rdsec_old"));
    }

    #[test]
    fn generated_secrets_are_distinct_and_marked() {
        let (a, b) = (generate_redirect_secret(), generate_redirect_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(REDIRECT_SECRET_PREFIX) && a.len() > 40, "{a}");
    }
}
