//! Secrets for API tokens and share links: generation, the hash that is stored, and the short
//! prefix shown to people so they can tell their tokens apart.
//!
//! The random source is passed in, so tests are deterministic and the service decides which
//! cryptographically secure generator to use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of randomness in a secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Characters shown by [`display_prefix`].
const DISPLAY_PREFIX_CHARS: usize = 12;

/// A fresh secret: `prefix` followed by 32 random bytes encoded as unpadded base64url (43
/// characters), so it is safe in URLs and headers. API tokens use `"ssk_"`, share links `""` or
/// `"shr_"`.
pub fn generate_secret<R: rand::RngCore + ?Sized>(rng: &mut R, prefix: &str) -> String {
    let mut bytes = [0_u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + 43);
    secret.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut secret);
    secret
}

/// The value stored for a secret: lowercase hex SHA-256.
///
/// A fast unsalted hash is the standard choice here (unlike passwords): secrets carry 256 bits of
/// entropy, so brute force is hopeless however fast the hash, and a deterministic hash lets the
/// service look a presented secret up by its hash directly.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The first 12 characters of a secret (e.g. `ssk_` and 8 random characters), stored in clear so
/// people can tell which token is which without revealing it.
pub fn display_prefix(secret: &str) -> String {
    secret.chars().take(DISPLAY_PREFIX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashSet;

    #[test]
    fn secrets_are_prefixed_url_safe_and_256_bits() {
        let mut rng = StdRng::seed_from_u64(7);
        for prefix in ["ssk_", "shr_", ""] {
            let secret = generate_secret(&mut rng, prefix);
            assert!(secret.starts_with(prefix), "prefix {prefix:?} kept");
            let body = &secret[prefix.len()..];
            assert_eq!(body.len(), 43, "32 bytes are 43 unpadded base64 characters");
            assert!(
                body.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "URL-safe alphabet only: {body}"
            );
            let decoded = URL_SAFE_NO_PAD.decode(body).expect("valid base64url");
            assert_eq!(decoded.len(), 32, "decodes back to 32 bytes");
        }
    }

    #[test]
    fn secrets_are_distinct_and_reproducible_from_a_seed() {
        let mut rng = StdRng::seed_from_u64(42);
        let secrets: HashSet<String> = (0..1000).map(|_| generate_secret(&mut rng, "ssk_")).collect();
        assert_eq!(secrets.len(), 1000, "no repeats");

        let first = generate_secret(&mut StdRng::seed_from_u64(1), "ssk_");
        let again = generate_secret(&mut StdRng::seed_from_u64(1), "ssk_");
        assert_eq!(first, again, "same seed, same secret");
    }

    #[test]
    fn works_with_a_dyn_rng() {
        let mut rng = StdRng::seed_from_u64(3);
        let dyn_rng: &mut dyn rand::RngCore = &mut rng;
        assert_eq!(generate_secret(dyn_rng, "ssk_").len(), 47, "prefix + 43");
    }

    #[test]
    fn hash_is_stable_lowercase_hex_sha256() {
        let cases = [
            (
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "empty",
            ),
            (
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "abc",
            ),
        ];
        for (input, expected, why) in cases {
            assert_eq!(hash_secret(input), expected, "{why}");
        }
        assert_ne!(
            hash_secret("ssk_a"),
            hash_secret("ssk_b"),
            "different secrets differ"
        );
    }

    #[test]
    fn display_prefix_is_the_first_twelve_characters() {
        let cases = [
            ("ssk_ABCDEFGHijklmnop", "ssk_ABCDEFGH", "token"),
            ("short", "short", "shorter than twelve"),
            ("", "", "empty"),
            ("ééééééééééééé", "éééééééééééé", "counts characters, not bytes"),
        ];
        for (secret, expected, why) in cases {
            assert_eq!(display_prefix(secret), expected, "{why}");
        }
    }
}
