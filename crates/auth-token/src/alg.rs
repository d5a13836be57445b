//! The three signing algorithms docs/reference/configuration.md allows (`APP_SIGNING_ALG`) and the
//! josekit calls behind each.

use std::fmt;
use std::str::FromStr;

use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use openssl::pkey::PKey;

use crate::error::TokenError;

/// RSA modulus size for new RS256 keys.
const RSA_BITS: u32 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: the default because
    /// every JWT library verifies it.
    #[default]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA on Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// The JOSE name, as in a JWS header, a JWK and `APP_SIGNING_ALG`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// A fresh key pair: the private key as PKCS#8 DER, and the public JWK
    /// (no `kid`, `alg` or `use` yet).
    pub(crate) fn generate(self) -> Result<(Vec<u8>, Jwk), TokenError> {
        let err = |e| TokenError::crypto("signing key generation", e);
        let (der, jwk) = match self {
            Self::Rs256 => {
                let kp = RS256.generate_key_pair(RSA_BITS).map_err(err)?;
                (kp.to_der_private_key(), kp.to_jwk_public_key())
            }
            Self::Es256 => {
                let kp = ES256.generate_key_pair().map_err(err)?;
                (kp.to_der_private_key(), kp.to_jwk_public_key())
            }
            Self::EdDsa => {
                let kp = EdDSA.generate_key_pair(EdCurve::Ed25519).map_err(err)?;
                (kp.to_der_private_key(), kp.to_jwk_public_key())
            }
        };
        // josekit hands out EC keys in SEC1 form; re-encode every key so the
        // stored format is PKCS#8 whatever the algorithm.
        let pkcs8 = PKey::private_key_from_der(&der)
            .and_then(|k| k.private_key_to_pkcs8())
            .map_err(|e| TokenError::crypto("PKCS#8 encoding of the signing key", e))?;
        Ok((pkcs8, jwk))
    }

    /// Signer, verifier and public JWK from a PKCS#8 private key. `None` when
    /// the DER is not a valid key of this algorithm; the caller names the key
    /// in its error, and josekit's message is dropped because it could
    /// describe the bytes.
    pub(crate) fn load(self, der: &[u8]) -> Option<LoadedKey> {
        let (public_der, jwk, signer): (Vec<u8>, Jwk, Box<dyn JwsSigner>) = match self {
            Self::Rs256 => {
                let kp = RS256.key_pair_from_der(der).ok()?;
                let signer = RS256.signer_from_der(der).ok()?;
                (
                    kp.to_der_public_key(),
                    kp.to_jwk_public_key(),
                    Box::new(signer),
                )
            }
            Self::Es256 => {
                let kp = ES256.key_pair_from_der(der).ok()?;
                let signer = ES256.signer_from_der(der).ok()?;
                (
                    kp.to_der_public_key(),
                    kp.to_jwk_public_key(),
                    Box::new(signer),
                )
            }
            Self::EdDsa => {
                let kp = EdDSA.key_pair_from_der(der).ok()?;
                if kp.curve() != EdCurve::Ed25519 {
                    return None;
                }
                let signer = EdDSA.signer_from_der(der).ok()?;
                (
                    kp.to_der_public_key(),
                    kp.to_jwk_public_key(),
                    Box::new(signer),
                )
            }
        };
        let verifier: Box<dyn JwsVerifier> = match self {
            Self::Rs256 => Box::new(RS256.verifier_from_der(&public_der).ok()?),
            Self::Es256 => Box::new(ES256.verifier_from_der(&public_der).ok()?),
            Self::EdDsa => Box::new(EdDSA.verifier_from_der(&public_der).ok()?),
        };
        Some(LoadedKey {
            signer,
            verifier,
            public_jwk: jwk,
        })
    }
}

/// Key material ready for use; never leaves the crate.
pub(crate) struct LoadedKey {
    pub signer: Box<dyn JwsSigner>,
    pub verifier: Box<dyn JwsVerifier>,
    pub public_jwk: Jwk,
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = TokenError;

    /// Exactly the JOSE names (case-sensitive, as JWS `alg` values are).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(TokenError::UnsupportedAlg(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_jose_names() {
        for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
            assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), alg);
            assert_eq!(alg.to_string(), alg.as_str());
        }
        assert_eq!(SigningAlg::default(), SigningAlg::Rs256);
        for bad in ["rs256", "HS256", "none", "", "EDDSA"] {
            assert_eq!(
                bad.parse::<SigningAlg>(),
                Err(TokenError::UnsupportedAlg(bad.into()))
            );
        }
    }

    #[test]
    fn generated_keys_are_pkcs8_and_reload() {
        for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
            let (der, jwk) = alg.generate().unwrap();
            // PKCS#8 PrivateKeyInfo parses as such with OpenSSL's strict reader.
            assert!(
                PKey::private_key_from_pkcs8(&der).is_ok(),
                "{alg} key is not PKCS#8"
            );
            let loaded = alg.load(&der).unwrap();
            assert_eq!(loaded.public_jwk.as_ref(), jwk.as_ref());
        }
    }

    #[test]
    fn a_key_of_another_algorithm_does_not_load() {
        let (es, _) = SigningAlg::Es256.generate().unwrap();
        assert!(SigningAlg::Rs256.load(&es).is_none());
        assert!(SigningAlg::EdDsa.load(&es).is_none());
        assert!(SigningAlg::Es256.load(b"not a key").is_none());
    }
}
