use std::fmt;

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

/// Marks a secret whose remainder is the base64 of the key bytes.
pub const SECRET_PREFIX: &str = "whsec_";

const GENERATED_KEY_LEN: usize = 32;

// The reference libraries pad before decoding, so a secret written without its `=` works there;
// it has to work here too.
const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The HMAC key a secret stands for. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the webhook secret is empty")]
    Empty,
    #[error("the webhook secret starts with `whsec_` but the rest is not valid base64")]
    InvalidBase64,
}

impl SigningKey {
    /// The key a secret stands for:
    ///
    /// - `whsec_<base64>`: the decoded bytes (standard alphabet, padding optional). This is the
    ///   form [`generate_secret`] returns and the form every Standard Webhooks library expects.
    /// - anything else: the secret's UTF-8 bytes, as they are. The reference libraries decode
    ///   every string secret as base64, so a receiver holding such a secret has to hand them the
    ///   bytes (Python: `Webhook(secret.encode())`) or `whsec_` + base64 of those bytes.
    pub fn from_secret(secret: &str) -> Result<Self, KeyError> {
        let bytes = match secret.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => LENIENT_PADDING
                .decode(encoded)
                .map_err(|_| KeyError::InvalidBase64)?,
            None => secret.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// A new secret: `whsec_` followed by the base64 of 32 bytes from the operating system's CSPRNG.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_KEY_LEN];
    OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", BASE64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whsec_secret_is_the_key_it_encodes() {
        let key = SigningKey::from_secret("whsec_aGVsbG8gd29ybGQ=").expect("valid secret");
        assert_eq!(key.bytes(), b"hello world");
    }

    #[test]
    fn a_whsec_secret_may_leave_out_its_padding() {
        let key = SigningKey::from_secret("whsec_aGVsbG8gd29ybGQ").expect("valid secret");
        assert_eq!(key.bytes(), b"hello world");
    }

    #[test]
    fn any_other_secret_is_its_own_utf8_bytes() {
        let key = SigningKey::from_secret("aGVsbG8gd29ybGQ=").expect("valid secret");
        assert_eq!(key.bytes(), b"aGVsbG8gd29ybGQ=");
        let key = SigningKey::from_secret("clé secrète").expect("valid secret");
        assert_eq!(key.bytes(), "clé secrète".as_bytes());
    }

    #[test]
    fn a_whsec_secret_that_is_not_base64_is_refused_rather_than_used_raw() {
        assert_eq!(
            SigningKey::from_secret("whsec_not base64!"),
            Err(KeyError::InvalidBase64)
        );
    }

    #[test]
    fn empty_secrets_are_refused() {
        assert_eq!(SigningKey::from_secret(""), Err(KeyError::Empty));
        assert_eq!(SigningKey::from_secret("whsec_"), Err(KeyError::Empty));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let secret = generate_secret();
        let key = SigningKey::from_secret(&secret).expect("generated secrets parse");
        let shown = format!("{key:?} {:?}", Some(&key));
        assert!(!shown.contains(&secret[SECRET_PREFIX.len()..]));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn generated_secrets_hold_32_random_bytes() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        for secret in [a, b] {
            let key = SigningKey::from_secret(&secret).expect("generated secrets parse");
            assert_eq!(key.bytes().len(), 32);
        }
    }
}
