//! Secret hashing. New hashes are BCrypt at a configured cost; verification
//! accepts every format a database migrated from the Java Auth Server may
//! hold. Nothing here ever truncates: a secret over 72 bytes (BCrypt's input
//! limit) never verifies (CVE-2025-22228), nor does one containing a NUL
//! byte (BCrypt reads its input as a C string, so `S + NUL` would pass as
//! `S`); both cost one full verification like any other failure so that
//! their timing tells nothing.
//!
//! Every mismatch costs the same BCrypt work, whatever the stored hash: the
//! hasher keeps the highest BCrypt cost it has seen stored (the configured
//! cost at first, raised by [`SecretHasher::observe`] at startup and by every
//! verification that reads a costlier hash). Dummy verifications run at that
//! cost; a mismatch against a hash of a lower cost `c` is topped up with
//! dummy verifications at costs `c, c+1, …, max-1`, since
//! `2^c + 2^c + 2^(c+1) + … + 2^(max-1) = 2^max`; a malformed stored hash
//! costs one dummy verification at the highest cost. Successes are not
//! padded: an attacker who can make one already knows the secret.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};

use crate::secret::{Secret, SecretHash};

/// BCrypt reads at most 72 bytes of input.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// BCrypt's cost range.
const MIN_COST: u32 = 4;
const MAX_COST: u32 = 31;

const SPRING_BCRYPT_PREFIX: &str = "{bcrypt}";

/// What dummy hashes are hashes of; never a presented secret's value, since
/// the password of a dummy verification is never this and a match would be
/// ignored anyway.
const DUMMY_SECRET: &str = "dummy-secret-that-never-matches";

/// Stands in for a presented secret that must not be verified as given (too
/// long, or with a NUL byte): the verification still runs, on this.
const STAND_IN: &str = "x";

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("secret is longer than {BCRYPT_MAX_BYTES} bytes")]
    TooLong,
    #[error("secret contains a NUL byte")]
    ContainsNul,
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
    /// Hashes a new secret. Fails with `TooLong` above 72 bytes and with
    /// `ContainsNul` for a secret that could never verify.
    fn hash(&self, secret: &Secret) -> Result<SecretHash, HashError>;

    /// Checks `presented` against `stored` in time independent of where
    /// they differ. Malformed stored values, over-long secrets and secrets
    /// containing NUL are mismatches, never errors, and every mismatch
    /// costs what [`SecretHasher::verify_dummy`] does, whatever the stored
    /// hash's cost.
    fn verify(&self, presented: &Secret, stored: &SecretHash) -> Verification;

    /// Spends one verification's worth of time, at the highest cost stored,
    /// and answers `Mismatch`; used where there is no real hash (unknown
    /// client, public client) so that every failure takes the same path.
    fn verify_dummy(&self, presented: &Secret) -> Verification;

    /// Takes note of a stored hash read other than by verifying it (at
    /// startup, every client's), so that failures cost at least what a
    /// verification against it does.
    fn observe(&self, stored: &SecretHash);

    /// The BCrypt cost every failed verification costs as much as: the
    /// highest cost stored that this process has seen, at least the
    /// configured one.
    fn failure_cost(&self) -> u32;
}

/// BCrypt for new hashes at `cost`; also verifies argon2id PHC strings.
/// Clones share the highest cost seen, the dummy hashes and the work count.
#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    shared: Arc<Shared>,
}

struct Shared {
    /// The highest BCrypt cost stored, as far as this process knows; never
    /// below the configured cost, never lowered.
    ceiling: AtomicU32,
    /// A dummy hash per cost, made the first time that cost is needed.
    dummies: [OnceLock<String>; MAX_COST as usize + 1],
    /// BCrypt work done by verifications (see [`BcryptHasher::work`]).
    work: AtomicU64,
}

impl std::fmt::Debug for BcryptHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BcryptHasher")
            .field("cost", &self.cost)
            .field("ceiling", &self.ceiling())
            .finish()
    }
}

impl BcryptHasher {
    /// `cost` must be 4–31 (BCrypt's range). The dummy hash of that cost is
    /// made now, so that the first unknown client costs what later ones do.
    pub fn new(cost: u32) -> Result<Self, HashError> {
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(HashError::Failed(format!(
                "BCrypt cost {cost} is outside 4-31"
            )));
        }
        let shared = Shared {
            ceiling: AtomicU32::new(cost),
            dummies: std::array::from_fn(|_| OnceLock::new()),
            work: AtomicU64::new(0),
        };
        let dummy =
            bcrypt::hash(DUMMY_SECRET, cost).map_err(|e| HashError::Failed(e.to_string()))?;
        let _ = shared.dummies[cost as usize].set(dummy);
        Ok(Self {
            cost,
            shared: Arc::new(shared),
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// The cost every failure is brought up to: the highest BCrypt cost
    /// stored that this process has seen, or the configured cost.
    pub fn ceiling(&self) -> u32 {
        self.shared.ceiling.load(Ordering::Acquire)
    }

    /// The BCrypt work all verifications by this hasher and its clones
    /// have done so far, in units of one round of the key schedule: a
    /// verification at cost `c` adds `2^c`. Lets tests compare what
    /// failures cost without a clock.
    pub fn work(&self) -> u64 {
        self.shared.work.load(Ordering::Relaxed)
    }

    fn raise_ceiling(&self, cost: u32) {
        self.shared.ceiling.fetch_max(cost, Ordering::AcqRel);
    }

    /// The dummy hash of `cost` (4–31).
    fn dummy(&self, cost: u32) -> &str {
        self.shared.dummies[cost.clamp(MIN_COST, MAX_COST) as usize].get_or_init(|| {
            // Cannot fail for a cost in range; an empty dummy would only
            // make padding cheaper, never refuse a request.
            bcrypt::hash(DUMMY_SECRET, cost.clamp(MIN_COST, MAX_COST)).unwrap_or_default()
        })
    }

    /// One `bcrypt::verify`, its work counted when it ran (a malformed hash
    /// is refused before any work).
    fn bcrypt_verify(&self, password: &str, hash: &str) -> bcrypt::BcryptResult<bool> {
        let result = bcrypt::verify(password, hash);
        if result.is_ok() {
            if let Some(cost) = bcrypt_cost(hash) {
                self.shared.work.fetch_add(1u64 << cost, Ordering::Relaxed);
            }
        }
        result
    }

    /// One verification against the dummy hash of `cost`.
    fn dummy_at(&self, password: &str, cost: u32) {
        let _ = self.bcrypt_verify(password, self.dummy(cost));
    }

    /// Checks a `$2?$` hash. A mismatch is padded up to the ceiling.
    fn verify_bcrypt(&self, presented: &Secret, hash: &str) -> Verification {
        // A secret that must never match still pays for a verification, so
        // that its length or content is no oracle.
        let usable = verifiable(presented);
        let password = if usable { presented.expose() } else { STAND_IN };
        let Some(cost) = well_formed_cost(hash) else {
            self.dummy_at(password, self.ceiling());
            return Verification::Mismatch;
        };
        self.raise_ceiling(cost);
        match self.bcrypt_verify(password, hash) {
            Ok(true) if usable => {
                if cost < self.cost {
                    Verification::MatchNeedsRehash
                } else {
                    Verification::Match
                }
            }
            Ok(_) => {
                for k in cost..self.ceiling() {
                    self.dummy_at(password, k);
                }
                Verification::Mismatch
            }
            // Refused although it parsed: no work was done, so do it all.
            Err(_) => {
                self.dummy_at(password, self.ceiling());
                Verification::Mismatch
            }
        }
    }
}

/// Whether a presented secret can be verified as given: BCrypt would
/// truncate one over 72 bytes and cut one at its first NUL.
fn verifiable(presented: &Secret) -> bool {
    presented.byte_len() <= BCRYPT_MAX_BYTES && !presented.expose().contains('\0')
}

/// The cost field of a `$2a$NN$…`, `$2b$NN$…` or `$2y$NN$…` BCrypt hash.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.strip_prefix('$')?.split('$');
    let variant = parts.next()?;
    if !matches!(variant, "2a" | "2b" | "2y") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The hash-upgrade policy (docs/reference/secret-lifecycle.md): after a
/// secret verified against `old` with [`Verification::MatchNeedsRehash`],
/// what to store in its place, given `fresh`, the same secret hashed with
/// the configured settings. That is `fresh`, unless `old` is a Spring
/// `{bcrypt}` value of a higher cost than the configured one — then the
/// same BCrypt hash without the prefix, so that the imported format goes
/// away without lowering the cost: a stored hash is never downgraded.
/// `None` when nothing would improve.
pub fn upgraded_hash(old: &SecretHash, fresh: SecretHash) -> Option<SecretHash> {
    let inner = old.as_str().strip_prefix(SPRING_BCRYPT_PREFIX);
    let old_cost = bcrypt_cost(inner.unwrap_or(old.as_str()));
    match (old_cost, bcrypt_cost(fresh.as_str())) {
        (Some(o), Some(f)) if f < o => inner.map(SecretHash::new),
        (Some(o), Some(f)) if f == o && inner.is_none() => None,
        _ => Some(fresh),
    }
}

/// The cost of a BCrypt hash that `bcrypt::verify` will accept, so that a
/// verification against it does `2^cost` work; `None` for a malformed one.
fn well_formed_cost(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>()
        .ok()
        .map(|parts| parts.get_cost())
        .filter(|c| (MIN_COST..=MAX_COST).contains(c))
}

fn is_bcrypt(stored: &str) -> bool {
    stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$")
}

impl SecretHasher for BcryptHasher {
    fn hash(&self, secret: &Secret) -> Result<SecretHash, HashError> {
        if secret.byte_len() > BCRYPT_MAX_BYTES {
            return Err(HashError::TooLong);
        }
        if secret.expose().contains('\0') {
            return Err(HashError::ContainsNul);
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
        if is_bcrypt(stored) {
            return self.verify_bcrypt(presented, stored);
        }
        if stored.starts_with("$argon2") {
            let Ok(parsed) = PasswordHash::new(stored) else {
                return self.verify_dummy(presented);
            };
            if !verifiable(presented) {
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
        let password = if verifiable(presented) {
            presented.expose()
        } else {
            STAND_IN
        };
        self.dummy_at(password, self.ceiling());
        Verification::Mismatch
    }

    fn failure_cost(&self) -> u32 {
        self.ceiling()
    }

    fn observe(&self, stored: &SecretHash) {
        let stored = stored.as_str();
        let inner = stored.strip_prefix(SPRING_BCRYPT_PREFIX).unwrap_or(stored);
        if is_bcrypt(inner) {
            if let Some(cost) = well_formed_cost(inner) {
                self.raise_ceiling(cost);
            }
        }
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
    fn a_presented_secret_containing_nul_never_matches() {
        let h = hasher();
        // 71 bytes plus BCrypt's NUL terminator fill the 72 bytes it reads,
        // so `S + NUL` would hash exactly like `S`.
        let s71 = Secret::new("s".repeat(71));
        let stored = h.hash(&s71).unwrap();
        assert_eq!(h.verify(&s71, &stored), Verification::Match);
        let with_nul = Secret::new(format!("{}\0", s71.expose()));
        assert_eq!(h.verify(&with_nul, &stored), Verification::Mismatch);
        // BCrypt repeats a short key cyclically, so `S + NUL + S` is the
        // key stream of `S`.
        let short = Secret::new("short-secret-0123456789");
        let stored = h.hash(&short).unwrap();
        for presented in [
            format!("{}\0{}", short.expose(), short.expose()),
            format!("{}\0", short.expose()),
            format!("\0{}", short.expose()),
        ] {
            assert_eq!(
                h.verify(&Secret::new(presented.clone()), &stored),
                Verification::Mismatch,
                "{presented:?}"
            );
        }
        let spring = SecretHash::new(format!("{{bcrypt}}{}", stored.as_str()));
        let presented = Secret::new(format!("{}\0{}", short.expose(), short.expose()));
        assert_eq!(h.verify(&presented, &spring), Verification::Mismatch);
    }

    /// The work one call of `f` makes `h` do.
    fn work_of(h: &BcryptHasher, f: impl FnOnce()) -> u64 {
        let before = h.work();
        f();
        h.work() - before
    }

    #[test]
    fn a_mismatch_costs_a_verification_at_the_highest_stored_cost_whatever_the_hash() {
        let h = hasher();
        let right = Secret::new("the-right-secret-0123");
        let wrong = Secret::new("a-wrong-secret-01234");
        let own = h.hash(&right).unwrap();
        let higher = SecretHash::new(bcrypt::hash(right.expose(), 6).unwrap());
        let spring = SecretHash::new(format!(
            "{{bcrypt}}{}",
            bcrypt::hash(right.expose(), 5).unwrap()
        ));
        // A request reads a hash of a higher cost than configured: from now
        // on every failure costs what a verification against it does.
        assert_eq!(h.verify(&wrong, &higher), Verification::Mismatch);
        let ceiling = 1u64 << 6;
        let cases: Vec<(&str, SecretHash, Secret)> = vec![
            ("configured cost", own.clone(), wrong.clone()),
            ("higher cost", higher.clone(), wrong.clone()),
            ("spring prefix, between", spring.clone(), wrong.clone()),
            (
                "malformed bcrypt",
                SecretHash::new("$2b$06$not-a-hash"),
                wrong.clone(),
            ),
            (
                "bad cost",
                SecretHash::new("$2b$99$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234"),
                wrong.clone(),
            ),
            (
                "spring prefix, nothing after",
                SecretHash::new("{bcrypt}"),
                wrong.clone(),
            ),
            ("unknown format", SecretHash::new("plain"), wrong.clone()),
            (
                "over 72 bytes",
                own.clone(),
                Secret::new(format!("{}{}", right.expose(), "x".repeat(72))),
            ),
            (
                "NUL",
                own.clone(),
                Secret::new(format!("{}\0", right.expose())),
            ),
        ];
        for (name, stored, presented) in cases {
            let mut outcome = Verification::Match;
            let spent = work_of(&h, || outcome = h.verify(&presented, &stored));
            assert_eq!(outcome, Verification::Mismatch, "{name}");
            assert_eq!(spent, ceiling, "{name}");
        }
        assert_eq!(
            work_of(&h, || {
                h.verify_dummy(&wrong);
            }),
            ceiling,
            "dummy"
        );
        // A success stays as cheap as its own hash.
        assert_eq!(
            work_of(&h, || assert!(h.verify(&right, &own).is_match())),
            1 << 4
        );
        assert_eq!(
            work_of(&h, || assert!(h.verify(&right, &higher).is_match())),
            1 << 6
        );
    }

    #[test]
    fn observed_hashes_raise_the_cost_of_failures_and_nothing_lowers_it() {
        let h = hasher();
        let wrong = Secret::new("a-wrong-secret-01234");
        assert_eq!(
            work_of(&h, || {
                h.verify_dummy(&wrong);
            }),
            1 << 4
        );
        h.observe(&SecretHash::new(bcrypt::hash("x", 6).unwrap()));
        assert_eq!(h.ceiling(), 6);
        let spring = format!("{{bcrypt}}{}", bcrypt::hash("x", 7).unwrap());
        h.observe(&SecretHash::new(spring));
        assert_eq!(h.ceiling(), 7);
        for ignored in [
            "$2b$09$malformed",
            "plain",
            "{bcrypt}$2b$12$short",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
        ] {
            h.observe(&SecretHash::new(ignored));
            assert_eq!(h.ceiling(), 7, "{ignored}");
        }
        h.observe(&SecretHash::new(bcrypt::hash("x", 5).unwrap()));
        assert_eq!(h.ceiling(), 7, "never lowered");
        assert_eq!(
            work_of(&h, || {
                h.verify_dummy(&wrong);
            }),
            1 << 7
        );
        // Clones share what the original saw.
        assert_eq!(h.clone().ceiling(), 7);
        // New hashes keep the configured cost.
        assert!(h.hash(&wrong).unwrap().as_str().starts_with("$2b$04$"));
        assert!(matches!(
            h.hash(&Secret::new("a\0b")),
            Err(HashError::ContainsNul)
        ));
    }

    #[test]
    fn cost_outside_range_is_rejected() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
    }

    #[test]
    fn upgrades_never_lower_the_cost() {
        let h = |s: &str| SecretHash::new(s);
        let fresh = || h("$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz012");
        // A weaker BCrypt hash, or a Spring value of the same or a lower
        // cost, takes the fresh hash.
        let weaker = h("$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz012");
        assert_eq!(upgraded_hash(&weaker, fresh()), Some(fresh()));
        let spring_same = h("{bcrypt}$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01");
        assert_eq!(upgraded_hash(&spring_same, fresh()), Some(fresh()));
        // A stronger Spring value loses only its prefix.
        let spring_strong = h("{bcrypt}$2a$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01");
        assert_eq!(
            upgraded_hash(&spring_strong, fresh()).unwrap().as_str(),
            "$2a$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01"
        );
        // A plain hash of the configured cost is left alone.
        assert_eq!(upgraded_hash(&fresh(), fresh()), None);
        // An Argon2id hash (no BCrypt cost to compare) takes the fresh one.
        let argon = h("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert_eq!(upgraded_hash(&argon, fresh()), Some(fresh()));
        assert_eq!(bcrypt_cost("$2y$07$x"), Some(7));
        assert_eq!(bcrypt_cost("$2x$07$x"), None);
        assert_eq!(bcrypt_cost("$argon2id$v=19$m=19456"), None);
    }
}
