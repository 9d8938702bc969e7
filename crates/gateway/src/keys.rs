//! API keys: created once, shown once, stored as SHA-256 hashes.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "so_";

/// A new key and the id shown in listings (its first characters, never secret
/// enough to authenticate).
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 30];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let key_id = key[..KEY_PREFIX.len() + 8].to_owned();
    (key, key_id)
}

/// High-entropy keys need no slow hash: SHA-256 of the key text.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_prefixed_and_hash_stably() {
        let (a, id) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.starts_with(&id));
        assert_eq!(hash(&a), hash(&a));
        assert_eq!(hash(&a).len(), 64);
    }
}
