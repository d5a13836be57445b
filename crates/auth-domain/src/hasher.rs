//! Secret hashing. New hashes are BCrypt at a configured cost; verification
//! accepts every format a database migrated from the Java Auth Server may
//! hold. Nothing here ever truncates: a secret over 72 bytes (BCrypt's input
//! limit) never verifies (CVE-2025-22228), yet costs one full verification
//! like any other failure so that its timing tells nothing.

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};

use crate::secret::{Secret, SecretHash};

/// BCrypt reads at most 72 bytes of input.
pub const BCRYPT_MAX_BYTES: usize = 72;

const SPRING_BCRYPT_PREFIX: &str = "{bcrypt}";

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("secret is longer than {BCRYPT_MAX_BYTES} bytes")]
    TooLong,
    #[error("hashing failed: {0}")]
    Failed(String),
}

/// The result of checking a presented secret against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    Match,
    /// The secret matches, but the stored hash is weaker than what the
    /// hasher would produce now (lower BCrypt cost, or Spring's prefix): the
    /// caller should store a fresh hash.
    MatchNeedsRehash,
}

impl Verification {
    pub fn is_match(self) -> bool {
        !matches!(self, Verification::Mismatch)
    }
}

pub trait SecretHasher: Send + Sync {
    /// Hashes a new secret. Fails with `TooLong` above 72 bytes.
    fn hash(&self, secret: &Secret) -> Result<SecretHash, HashError>;

    /// Checks `presented` against `stored` in time independent of where
    /// they differ. Malformed stored values and over-long secrets are
    /// mismatches, never errors.
    fn verify(&self, presented: &Secret, stored: &SecretHash) -> Verification;

    /// Spends one verification's worth of time and answers `Mismatch`; used
    /// where there is no real hash (unknown client, public client) so that
    /// every failure takes the same path.
    fn verify_dummy(&self, presented: &Secret) -> Verification;
}

/// BCrypt for new hashes at `cost`; also verifies argon2id PHC strings.
#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    dummy: SecretHash,
}

impl std::fmt::Debug for BcryptHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BcryptHasher")
            .field("cost", &self.cost)
            .finish()
    }
}

impl BcryptHasher {
    /// `cost` must be 4–31 (BCrypt's range); building the dummy hash at the
    /// same cost makes a dummy verification cost what a real one does.
    pub fn new(cost: u32) -> Result<Self, HashError> {
        if !(4..=31).contains(&cost) {
            return Err(HashError::Failed(format!(
                "BCrypt cost {cost} is outside 4-31"
            )));
        }
        let dummy = bcrypt::hash("dummy-secret-that-never-matches", cost)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Self {
            cost,
            dummy: SecretHash::new(dummy),
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    fn verify_bcrypt(&self, presented: &Secret, hash: &str) -> Verification {
        if presented.byte_len() > BCRYPT_MAX_BYTES {
            // Pay for a verification anyway so that length is not an oracle.
            let _ = bcrypt::verify("x", hash);
            return Verification::Mismatch;
        }
        match bcrypt::verify(presented.expose(), hash) {
            Ok(true) => {
                let weaker = bcrypt_cost(hash).is_some_and(|c| c < self.cost);
                if weaker {
                    Verification::MatchNeedsRehash
                } else {
                    Verification::Match
                }
            }
            _ => Verification::Mismatch,
        }
    }
}

/// The cost field of a `$2?$NN$…` hash.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    parts.next()?;
    let _variant = parts.next()?;
    parts.next()?.parse().ok()
}

impl SecretHasher for BcryptHasher {
    fn hash(&self, secret: &Secret) -> Result<SecretHash, HashError> {
        if secret.byte_len() > BCRYPT_MAX_BYTES {
            return Err(HashError::TooLong);
        }
        bcrypt::hash(secret.expose(), self.cost)
            .map(SecretHash::new)
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    fn verify(&self, presented: &Secret, stored: &SecretHash) -> Verification {
        let stored = stored.as_str();
        if let Some(inner) = stored.strip_prefix(SPRING_BCRYPT_PREFIX) {
            return match self.verify_bcrypt(presented, inner) {
                Verification::Mismatch => Verification::Mismatch,
                _ => Verification::MatchNeedsRehash,
            };
        }
        if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
            return self.verify_bcrypt(presented, stored);
        }
        if stored.starts_with("$argon2") {
            let Ok(parsed) = PasswordHash::new(stored) else {
                return self.verify_dummy(presented);
            };
            if presented.byte_len() > BCRYPT_MAX_BYTES {
                return self.verify_dummy(presented);
            }
            return match Argon2::default().verify_password(presented.expose().as_bytes(), &parsed) {
                Ok(()) => Verification::Match,
                Err(_) => Verification::Mismatch,
            };
        }
        self.verify_dummy(presented)
    }

    fn verify_dummy(&self, presented: &Secret) -> Verification {
        let _ = self.verify_bcrypt(presented, self.dummy.as_str());
        Verification::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(4).unwrap()
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let h = hasher();
        let s = Secret::new("correct horse battery staple");
        let stored = h.hash(&s).unwrap();
        assert!(stored.as_str().starts_with("$2b$04$"));
        assert_eq!(h.verify(&s, &stored), Verification::Match);
        assert_eq!(
            h.verify(&Secret::new("wrong"), &stored),
            Verification::Mismatch
        );
    }

    #[test]
    fn never_truncates_at_72_bytes() {
        let h = hasher();
        let exactly_72 = Secret::new("a".repeat(72));
        let stored = h.hash(&exactly_72).unwrap();
        assert_eq!(h.verify(&exactly_72, &stored), Verification::Match);
        let longer = Secret::new(format!("{}b", "a".repeat(72)));
        assert_eq!(h.verify(&longer, &stored), Verification::Mismatch);
        assert!(matches!(h.hash(&longer), Err(HashError::TooLong)));
    }

    #[test]
    fn multibyte_characters_count_as_bytes() {
        let h = hasher();
        // 36 two-byte characters are 72 bytes: accepted; one more is not.
        let ok = Secret::new("\u{e9}".repeat(36));
        assert!(h.hash(&ok).is_ok());
        assert!(matches!(
            h.hash(&Secret::new("\u{e9}".repeat(37))),
            Err(HashError::TooLong)
        ));
    }

    #[test]
    fn accepts_2a_2y_and_spring_prefix_and_flags_weaker_hashes() {
        let strong = BcryptHasher::new(5).unwrap();
        let s = Secret::new("s3cret-s3cret-s3cret");
        let b = bcrypt::hash(s.expose(), 4).unwrap(); // $2b$04$…
        let a = b.replacen("$2b$", "$2a$", 1);
        let y = b.replacen("$2b$", "$2y$", 1);
        for stored in [&a, &y, &b] {
            assert_eq!(
                strong.verify(&s, &SecretHash::new(stored.clone())),
                Verification::MatchNeedsRehash
            );
        }
        let same_cost = BcryptHasher::new(4).unwrap();
        assert_eq!(
            same_cost.verify(&s, &SecretHash::new(b.clone())),
            Verification::Match
        );
        let spring = SecretHash::new(format!("{{bcrypt}}{b}"));
        assert_eq!(
            same_cost.verify(&s, &spring),
            Verification::MatchNeedsRehash
        );
        assert_eq!(
            same_cost.verify(&Secret::new("nope"), &spring),
            Verification::Mismatch
        );
        // A higher stored cost than configured is never "upgraded" downwards.
        let weak_config = BcryptHasher::new(4).unwrap();
        let stronger = SecretHash::new(bcrypt::hash(s.expose(), 5).unwrap());
        assert_eq!(weak_config.verify(&s, &stronger), Verification::Match);
    }

    #[test]
    fn verifies_argon2id_phc_strings() {
        let s = Secret::new("argon-secret-value");
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let phc = Argon2::default()
            .hash_password(s.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$argon2id$"));
        let h = hasher();
        assert_eq!(
            h.verify(&s, &SecretHash::new(phc.clone())),
            Verification::Match
        );
        assert_eq!(
            h.verify(&Secret::new("other"), &SecretHash::new(phc)),
            Verification::Mismatch
        );
    }

    #[test]
    fn malformed_hashes_and_dummy_never_match() {
        let h = hasher();
        let s = Secret::new("whatever-whatever");
        for junk in ["", "plain", "$2b$xx$", "{bcrypt}", "$argon2id$garbage"] {
            assert_eq!(
                h.verify(&s, &SecretHash::new(junk)),
                Verification::Mismatch,
                "{junk:?}"
            );
        }
        assert_eq!(h.verify_dummy(&s), Verification::Mismatch);
    }

    #[test]
    fn cost_outside_range_is_rejected() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
    }
}
