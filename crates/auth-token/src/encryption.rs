//! Encryption of private signing keys at rest (see docs/reference/configuration.md,
//! `APP_KEYS_ENCRYPTION_SECRET`): AES-256-GCM under a key that HKDF-SHA256
//! derives from the configured secret. The stored bytes describe
//! themselves, so a database may hold keys written with and without
//! encryption:
//!
//! - `b"enc1" || nonce (12 bytes) || ciphertext || tag (16 bytes)`;
//! - `b"raw1" || PKCS#8 DER` when no secret is configured.
//!
//! The key id and algorithm are the GCM associated data, so an encrypted key
//! copied onto another row (another kid, another algorithm) does not
//! decrypt there.

use std::fmt;

use openssl::md::Md;
use openssl::pkey::Id;
use openssl::pkey_ctx::PkeyCtx;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use auth_domain::Secret;

use crate::error::TokenError;

/// The shortest secret accepted, in bytes (see docs/reference/configuration.md).
pub const MIN_SECRET_BYTES: usize = 32;

const ENCRYPTED_PREFIX: &[u8; 4] = b"enc1";
const RAW_PREFIX: &[u8; 4] = b"raw1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

// Fixed and public by design: HKDF's salt and info separate this use of the
// secret from any other, they need not be secret. Changing either makes
// every stored key undecryptable, so they are part of the storage format.
const HKDF_SALT: &[u8] = b"auth-server/signing-keys/v1";
const HKDF_INFO: &[u8] = b"auth-server signing-key encryption AES-256-GCM";
const AAD_PREFIX: &[u8] = b"auth-server signing key\0";

/// Whether, and under which key, private signing keys are encrypted.
#[derive(Clone, Default)]
pub struct KeyEncryption {
    key: Option<[u8; 32]>,
}

impl KeyEncryption {
    /// `None` disables encryption (docs/reference/configuration.md#every-setting: stored unencrypted, the caller
    /// warns at startup). A secret shorter than 32 bytes is an error.
    pub fn new(secret: Option<&Secret>) -> Result<Self, TokenError> {
        let Some(secret) = secret else {
            return Ok(Self { key: None });
        };
        if secret.byte_len() < MIN_SECRET_BYTES {
            return Err(TokenError::EncryptionSecretTooShort);
        }
        let key = hkdf_sha256(secret.expose().as_bytes(), HKDF_SALT, HKDF_INFO)
            .map_err(|e| TokenError::crypto("HKDF-SHA256 key derivation", e))?;
        Ok(Self { key: Some(key) })
    }

    pub fn is_enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The stored form of a PKCS#8 private key.
    pub(crate) fn seal(&self, alg: &str, kid: &str, der: &[u8]) -> Result<Vec<u8>, TokenError> {
        let Some(key) = &self.key else {
            let mut out = Vec::with_capacity(RAW_PREFIX.len() + der.len());
            out.extend_from_slice(RAW_PREFIX);
            out.extend_from_slice(der);
            return Ok(out);
        };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| TokenError::Random)?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            key,
            Some(&nonce),
            &aad(alg, kid),
            der,
            &mut tag,
        )
        .map_err(|e| TokenError::crypto("AES-256-GCM encryption", e))?;
        let mut out =
            Vec::with_capacity(ENCRYPTED_PREFIX.len() + NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(ENCRYPTED_PREFIX);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The PKCS#8 private key back from its stored form.
    pub(crate) fn open(&self, alg: &str, kid: &str, stored: &[u8]) -> Result<Vec<u8>, TokenError> {
        let fail = |reason| TokenError::KeyDecrypt {
            kid: kid.to_owned(),
            reason,
        };
        if let Some(der) = stored.strip_prefix(RAW_PREFIX) {
            if self.is_enabled() {
                // Keys written before a secret was configured stay usable;
                // `keys rotate` replaces them with encrypted ones.
                tracing::warn!(
                    kid,
                    "signing key is stored unencrypted although APP_KEYS_ENCRYPTION_SECRET is set"
                );
            }
            return Ok(der.to_vec());
        }
        let Some(body) = stored.strip_prefix(ENCRYPTED_PREFIX) else {
            return Err(fail("unknown storage format"));
        };
        let Some(key) = &self.key else {
            return Err(fail(
                "it is encrypted and APP_KEYS_ENCRYPTION_SECRET is not set",
            ));
        };
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(fail("the stored value is truncated"));
        }
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            key,
            Some(nonce),
            &aad(alg, kid),
            ciphertext,
            tag,
        )
        .map_err(|_| fail("wrong APP_KEYS_ENCRYPTION_SECRET, or the stored value is damaged"))
    }
}

impl fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryption")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

fn hkdf_sha256(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
) -> Result<[u8; 32], openssl::error::ErrorStack> {
    let mut ctx = PkeyCtx::new_id(Id::HKDF)?;
    ctx.derive_init()?;
    ctx.set_hkdf_md(Md::sha256())?;
    ctx.set_hkdf_key(ikm)?;
    ctx.set_hkdf_salt(salt)?;
    ctx.add_hkdf_info(info)?;
    let mut key = [0u8; 32];
    ctx.derive(Some(&mut key))?;
    Ok(key)
}

fn aad(alg: &str, kid: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + alg.len() + 1 + kid.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(alg.as_bytes());
    aad.push(0);
    aad.extend_from_slice(kid.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn enc(secret: &str) -> KeyEncryption {
        KeyEncryption::new(Some(&Secret::new(secret))).unwrap()
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        // RFC 5869 A.1 (SHA-256, 42-byte output): HKDF's output is a prefix
        // of any longer output, so the first 32 bytes must match.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256(&ikm, &salt, &info).unwrap();
        let expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf";
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn secret_length_is_checked() {
        assert_eq!(
            KeyEncryption::new(Some(&Secret::new("x".repeat(31)))).unwrap_err(),
            TokenError::EncryptionSecretTooShort
        );
        assert_eq!(
            KeyEncryption::new(Some(&Secret::new(""))).unwrap_err(),
            TokenError::EncryptionSecretTooShort
        );
        assert!(enc(SECRET).is_enabled());
        assert!(!KeyEncryption::new(None).unwrap().is_enabled());
    }

    #[test]
    fn sealed_value_round_trips_and_hides_the_plaintext() {
        let e = enc(SECRET);
        let der = b"pretend this is a PKCS#8 private key".to_vec();
        let stored = e.seal("ES256", "kid-1", &der).unwrap();
        assert!(stored.starts_with(b"enc1"));
        assert!(!stored.windows(der.len()).any(|w| w == der.as_slice()));
        assert_eq!(e.open("ES256", "kid-1", &stored).unwrap(), der);
        // A fresh nonce each time: the same key never encrypts alike twice.
        assert_ne!(stored, e.seal("ES256", "kid-1", &der).unwrap());
    }

    #[test]
    fn opening_fails_with_the_wrong_secret_kid_or_alg_or_no_secret() {
        let stored = enc(SECRET).seal("ES256", "kid-1", b"key").unwrap();
        let other = enc("another secret of at least 32 bytes!");
        for (e, alg, kid) in [
            (&other, "ES256", "kid-1"),
            (&enc(SECRET), "ES256", "kid-2"),
            (&enc(SECRET), "RS256", "kid-1"),
        ] {
            assert!(matches!(
                e.open(alg, kid, &stored),
                Err(TokenError::KeyDecrypt { kid: k, .. }) if k == kid
            ));
        }
        let none = KeyEncryption::new(None).unwrap();
        assert!(matches!(
            none.open("ES256", "kid-1", &stored),
            Err(TokenError::KeyDecrypt { .. })
        ));
        let mut flipped = stored.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(enc(SECRET).open("ES256", "kid-1", &flipped).is_err());
        assert!(enc(SECRET).open("ES256", "kid-1", b"enc1short").is_err());
        assert!(enc(SECRET).open("ES256", "kid-1", b"zzzz").is_err());
    }

    #[test]
    fn raw_values_open_with_or_without_a_secret() {
        let none = KeyEncryption::new(None).unwrap();
        let stored = none.seal("EdDSA", "k", b"der").unwrap();
        assert_eq!(stored, b"raw1der");
        assert_eq!(none.open("EdDSA", "k", &stored).unwrap(), b"der");
        assert_eq!(enc(SECRET).open("EdDSA", "k", &stored).unwrap(), b"der");
    }

    #[test]
    fn debug_shows_no_key() {
        let e = enc(SECRET);
        let shown = format!("{e:?}");
        assert_eq!(shown, "KeyEncryption { enabled: true }");
    }
}
