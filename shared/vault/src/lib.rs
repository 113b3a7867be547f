//! The vault: secrets (webhook secrets, Meta tokens) encrypted at rest with XChaCha20-Poly1305.
//!
//! Each ciphertext records the id of the key that sealed it, so keys can be rotated: add a new key,
//! make it active, re-encrypt, then drop the old one. The row's id, organization and purpose are
//! bound in as associated data, so a ciphertext copied to another row does not decrypt.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gangway_domain::{OrganizationId, SecretRef};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::PgExecutor;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

mod check;
mod rotation;
pub use check::KeyCheck;
pub use rotation::{KeyUsage, ResealBatch, Unreadable};

type HmacSha256 = Hmac<Sha256>;

/// Key used when none is configured in development. Never valid in production.
const DEVELOPMENT_KEY_ID: &str = "dev";
const DEVELOPMENT_KEY: [u8; 32] = *b"gangway-development-only-key-32b";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("encryption key configuration is invalid: {0}")]
    Config(String),
    #[error("secret {0} is sealed with key id '{1}', which is not configured")]
    UnknownKey(SecretRef, String),
    #[error("secret {0} could not be decrypted (wrong key or tampered)")]
    Decrypt(SecretRef),
    #[error("secret {0} not found")]
    NotFound(SecretRef),
    #[error("vault database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The configured encryption keys and which one seals new secrets.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, XChaCha20Poly1305>,
    /// Per key id, a subkey for MACs, so no key is used by two algorithms.
    mac_keys: HashMap<String, [u8; 32]>,
}

fn mac_subkey(key: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"gangway mac subkey v1");
    mac.finalize().into_bytes().into()
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &ids)
            .finish()
    }
}

/// Refuses malformed key settings, in every environment, saying which entry is wrong without
/// showing it (it may be key material). Empty settings are the environment's business.
pub fn check_key_settings(keys: &str, active: &str) -> Result<(), String> {
    if keys.trim().is_empty() {
        return Ok(());
    }
    Keyring::parse(keys, active)
        .map(|_| ())
        .map_err(|e| format!("GANGWAY_ENCRYPTION_KEYS: {e}"))
}

/// A key id: `[A-Za-z0-9_-]+`.
fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Parses `id:base64key[,id:base64key...]` (32-byte keys) with `active` naming one of them.
    pub fn parse(spec: &str, active: &str) -> Result<Self, VaultError> {
        let mut keys = HashMap::new();
        let mut mac_keys = HashMap::new();
        // Errors name an entry by its place and a key by its id, never by what was written: a
        // malformed entry may be key material.
        for (n, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let place = n + 1;
            let (id, encoded) = entry.split_once(':').ok_or_else(|| {
                VaultError::Config(format!("encryption key entry {place} must be id:base64key"))
            })?;
            let id = id.trim();
            if !is_key_id(id) {
                return Err(VaultError::Config(format!(
                    "encryption key entry {place}: a key id is letters, digits, '_' and '-'"
                )));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| VaultError::Config(format!("key '{id}' is not valid base64")))?;
            if bytes.len() != 32 {
                return Err(VaultError::Config(format!(
                    "key '{id}' must be 32 bytes, got {}",
                    bytes.len()
                )));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| VaultError::Config(format!("key '{id}' is unusable")))?;
            keys.insert(id.to_owned(), cipher);
            mac_keys.insert(id.to_owned(), mac_subkey(&bytes));
        }
        if !is_key_id(active) {
            return Err(VaultError::Config(
                "the active key id (GANGWAY_ENCRYPTION_KEY_ID) is letters, digits, '_' and '-'".into(),
            ));
        }
        if !keys.contains_key(active) {
            return Err(VaultError::Config(format!(
                "active key id '{active}' is not among the configured keys"
            )));
        }
        Ok(Self {
            active: active.to_owned(),
            keys,
            mac_keys,
        })
    }

    /// The keyring a process is configured with: `keys` as [`Keyring::parse`] reads them, or the
    /// development key when none are set, which production refuses.
    pub fn from_settings(keys: &str, active: &str, production: bool) -> Result<Self, VaultError> {
        if !keys.trim().is_empty() {
            return Self::parse(keys, active);
        }
        if production {
            return Err(VaultError::Config(
                "GANGWAY_ENCRYPTION_KEYS is required in production".into(),
            ));
        }
        tracing::warn!("no GANGWAY_ENCRYPTION_KEYS set: using the fixed development key");
        Ok(Self::development())
    }

    /// The fixed development key. Anyone can read secrets sealed with it.
    pub fn development() -> Self {
        let cipher = XChaCha20Poly1305::new((&DEVELOPMENT_KEY).into());
        Self {
            active: DEVELOPMENT_KEY_ID.into(),
            keys: HashMap::from([(DEVELOPMENT_KEY_ID.to_owned(), cipher)]),
            mac_keys: HashMap::from([(DEVELOPMENT_KEY_ID.to_owned(), mac_subkey(&DEVELOPMENT_KEY))]),
        }
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    fn mac(&self, key_id: &str, purpose: &str, message: &[u8]) -> Option<HmacSha256> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.mac_keys.get(key_id)?).ok()?;
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        Some(mac)
    }
}

#[derive(Clone, Debug)]
pub struct Vault {
    keyring: Arc<Keyring>,
}

/// A sealed secret ready to be inserted (see [`Vault::seal_new`]).
#[derive(Clone)]
pub struct SealedSecret {
    pub id: SecretRef,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("id", &self.id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct Sealed {
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn associated_data(id: SecretRef, organization: OrganizationId, purpose: &str) -> Vec<u8> {
    format!("{id}|{organization}|{purpose}").into_bytes()
}

impl Vault {
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring: Arc::new(keyring),
        }
    }

    /// A tag over `message` under the active key, `keyid.base64url`, for values Gangway hands out
    /// and must recognise later (the signup `state`). Tags made under any configured key verify,
    /// so a key rotation does not break pages already open.
    pub fn sign(&self, purpose: &str, message: &[u8]) -> String {
        let keyring = &self.keyring;
        let tag = keyring
            .mac(&keyring.active, purpose, message)
            .expect("the active key is configured")
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            keyring.active,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn verify(&self, purpose: &str, message: &[u8], signed: &str) -> bool {
        let Some((key_id, encoded)) = signed.split_once('.') else {
            return false;
        };
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded) else {
            return false;
        };
        self.keyring
            .mac(key_id, purpose, message)
            .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
    }

    /// Encrypts and stores a secret; returns the reference events may carry.
    pub async fn store(
        &self,
        db: impl PgExecutor<'_>,
        organization: OrganizationId,
        purpose: &str,
        plaintext: &str,
    ) -> Result<SecretRef, VaultError> {
        let secret = self.seal_new(organization, purpose, plaintext);
        sqlx::query(
            "INSERT INTO vault_secrets (id, organization_id, purpose, key_id, nonce, ciphertext) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret.id.as_uuid())
        .bind(organization.as_uuid())
        .bind(purpose)
        .bind(&secret.key_id)
        .bind(secret.nonce)
        .bind(secret.ciphertext)
        .execute(db)
        .await?;
        Ok(secret.id)
    }

    /// A secret sealed under the active key, for a statement that stores it together with other
    /// writes (`vault_secrets (id, organization_id, purpose, key_id, nonce, ciphertext)`); use
    /// [`Vault::store`] otherwise.
    pub fn seal_new(&self, organization: OrganizationId, purpose: &str, plaintext: &str) -> SealedSecret {
        let id = SecretRef::new();
        let key_id = self.keyring.active.clone();
        let sealed = self.seal(&key_id, id, organization, purpose, plaintext);
        SealedSecret {
            id,
            key_id,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        }
    }

    /// Decrypts a secret of `organization`.
    pub async fn reveal(
        &self,
        db: impl PgExecutor<'_>,
        organization: OrganizationId,
        id: SecretRef,
    ) -> Result<String, VaultError> {
        let row: Option<(String, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT purpose, key_id, nonce, ciphertext FROM vault_secrets \
             WHERE id = $1 AND organization_id = $2",
        )
        .bind(id.as_uuid())
        .bind(organization.as_uuid())
        .fetch_optional(db)
        .await?;
        let (purpose, key_id, nonce, ciphertext) = row.ok_or(VaultError::NotFound(id))?;
        self.open(id, organization, &purpose, &key_id, &nonce, &ciphertext)
    }

    /// Decrypts one stored ciphertext with the key it names.
    fn open(
        &self,
        id: SecretRef,
        organization: OrganizationId,
        purpose: &str,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<String, VaultError> {
        let cipher = self
            .keyring
            .keys
            .get(key_id)
            .ok_or_else(|| VaultError::UnknownKey(id, key_id.to_owned()))?;
        if nonce.len() != 24 {
            return Err(VaultError::Decrypt(id));
        }
        let aad = associated_data(id, organization, purpose);
        let plaintext = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Decrypt(id))?;
        String::from_utf8(plaintext).map_err(|_| VaultError::Decrypt(id))
    }

    fn seal(
        &self,
        key_id: &str,
        id: SecretRef,
        organization: OrganizationId,
        purpose: &str,
        plaintext: &str,
    ) -> Sealed {
        let cipher = &self.keyring.keys[key_id];
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = associated_data(id, organization, purpose);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_key_setting_never_shows_key_material() {
        let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let cases = [
            key.to_owned(),
            format!("k1:{key},{key}"),
            format!("{key}:{key}"),
            format!("k 1:{key}"),
            format!("k1:{}", &key[..20]),
        ];
        for spec in cases {
            let error = Keyring::parse(&spec, "k1").unwrap_err().to_string();
            assert!(!error.contains(&key[..12]), "{spec}: {error}");
        }
        let error = Keyring::parse(&format!("k1:{key}"), key).unwrap_err().to_string();
        assert!(!error.contains(&key[..12]), "{error}");
        assert!(Keyring::parse(&format!("key_2024-01:{key}"), "key_2024-01").is_ok());
    }

    #[test]
    fn signatures_verify_under_any_configured_key_and_only_for_their_message() {
        let key = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        let old = Vault::new(Keyring::parse(&format!("k1:{}", key(1)), "k1").unwrap());
        let rotated = Vault::new(Keyring::parse(&format!("k1:{},k2:{}", key(1), key(2)), "k2").unwrap());
        let tag = old.sign("signup-state", b"link-1");
        assert!(rotated.verify("signup-state", b"link-1", &tag));
        assert!(!rotated.verify("signup-state", b"link-2", &tag));
        assert!(!rotated.verify("other", b"link-1", &tag));
        assert!(!rotated.verify("signup-state", b"link-1", "k1.AAAA"));
        assert!(!rotated.verify("signup-state", b"link-1", "garbage"));
        let newer = rotated.sign("signup-state", b"link-1");
        assert!(newer.starts_with("k2."));
        assert!(
            !old.verify("signup-state", b"link-1", &newer),
            "k2 is unknown to the old keyring"
        );
    }

    #[test]
    fn keyring_rejects_bad_specs() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(Keyring::parse(&format!("k1:{key}"), "k1").is_ok());
        assert!(Keyring::parse(&format!("k1:{key}"), "k2").is_err());
        assert!(Keyring::parse("k1:not-base64!", "k1").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(Keyring::parse(&format!("k1:{short}"), "k1").is_err());
    }

    #[test]
    fn keyring_debug_shows_ids_not_keys() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let ring = Keyring::parse(&format!("k1:{key}"), "k1").unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("k1") && !shown.contains(&key));
    }

    #[test]
    fn sealed_secrets_are_bound_to_their_row() {
        let vault = Vault::new(Keyring::development());
        let (id, org) = (SecretRef::new(), OrganizationId::new());
        let sealed = vault.seal("dev", id, org, "webhook", "whsec_abc");
        assert!(!sealed.ciphertext.windows(9).any(|w| w == b"whsec_abc"));
        let cipher = &vault.keyring.keys["dev"];
        let open = |aad: Vec<u8>| {
            cipher.decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
        };
        assert_eq!(open(associated_data(id, org, "webhook")).unwrap(), b"whsec_abc");
        assert!(open(associated_data(SecretRef::new(), org, "webhook")).is_err());
    }
}
