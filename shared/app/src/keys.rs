//! API keys: `sk_` followed by 48 hex characters. Stored as a SHA-256 hash (the keys are random,
//! so a fast hash is enough) and found by their first characters, then compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const PREFIX_LEN: usize = 12;

pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

pub fn generate() -> GeneratedKey {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("sk_{hex}");
    GeneratedKey {
        prefix: key[..PREFIX_LEN].to_owned(),
        hash: hash(&key),
        key,
    }
}

pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The lookup prefix of a presented key, if it has the shape of one.
pub fn prefix_of(key: &str) -> Option<&str> {
    let well_formed =
        key.len() == 51 && key.starts_with("sk_") && key[3..].bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| &key[..PREFIX_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let a = generate();
        let b = generate();
        assert_ne!(a.key, b.key);
        assert_eq!(prefix_of(&a.key), Some(a.prefix.as_str()));
        assert_eq!(a.hash, hash(&a.key));
        assert_eq!(prefix_of("sk_short"), None);
        assert_eq!(prefix_of(&a.key.replace("sk_", "pk_")), None);
    }
}
