//! The two-slot secret lifecycle of docs/reference/secret-lifecycle.md as pure functions of `now`.
//!
//! A confidential client has a `current` slot and a `previous` slot. Expiry
//! instants are fixed when a secret is created or rotated, so a later change
//! of [`SecretPolicy`] affects only new secrets.

use time::{Duration, OffsetDateTime};

use crate::hasher::{SecretHasher, Verification};
use crate::secret::{Secret, SecretHash};
use crate::time_util::truncate_ms;

/// Durations from configuration (`APP_CLIENT_SECRET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretPolicy {
    pub ttl: Duration,
    pub grace: Duration,
    pub rotation_lead: Duration,
}

impl Default for SecretPolicy {
    /// The defaults of docs/reference/configuration.md: P365D, P7D, P28D.
    fn default() -> Self {
        Self {
            ttl: Duration::days(365),
            grace: Duration::days(7),
            rotation_lead: Duration::days(28),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSecret {
    pub hash: SecretHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: SecretHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub grace_expires_at: OffsetDateTime,
}

impl PreviousSecret {
    /// `min(graceExpiresAt, expiresAt)`: the instant it stops authenticating.
    pub fn valid_until(&self) -> OffsetDateTime {
        self.grace_expires_at.min(self.expires_at)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSlots {
    pub current: Option<CurrentSecret>,
    pub previous: Option<PreviousSecret>,
}

/// Hash verifications every failed authentication costs (the two slots).
pub const FAILURE_VERIFICATIONS: usize = 2;

/// Which slot a presented secret matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
    Previous,
}

/// The `target` of a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotTarget {
    Current,
    Previous,
}

impl SlotTarget {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "current" => Some(Self::Current),
            "previous" => Some(Self::Previous),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the client already has a current secret; rotate it instead")]
    CurrentExists,
    #[error("the client has no current secret to rotate")]
    NoCurrent,
    #[error("the {0:?} secret slot is empty")]
    SlotEmpty(SlotTarget),
}

/// Why a presented secret did not authenticate. Callers must not reveal the
/// difference to the client (see docs/reference/token-endpoint.md); it is for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NoSecret,
    Mismatch,
    Expired,
}

/// Metadata of `GET /clients/{id}/secret` (docs/reference/admin-api.md#client-secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretStatus {
    pub current_expired: Option<bool>,
    pub rotation_required: bool,
}

impl SecretSlots {
    /// Sets a first current secret created at `now`.
    pub fn issue(
        &self,
        hash: SecretHash,
        now: OffsetDateTime,
        policy: &SecretPolicy,
    ) -> Result<Self, LifecycleError> {
        if self.current.is_some() {
            return Err(LifecycleError::CurrentExists);
        }
        Ok(Self {
            current: Some(new_current(hash, now, policy)),
            previous: self.previous.clone(),
        })
    }

    /// Moves current to previous (graced from `now`) and installs `hash` as
    /// current. A prior previous secret is dropped.
    pub fn rotate(
        &self,
        hash: SecretHash,
        now: OffsetDateTime,
        policy: &SecretPolicy,
    ) -> Result<Self, LifecycleError> {
        let Some(old) = &self.current else {
            return Err(LifecycleError::NoCurrent);
        };
        let now = truncate_ms(now);
        let previous = PreviousSecret {
            hash: old.hash.clone(),
            created_at: old.created_at,
            expires_at: old.expires_at,
            grace_expires_at: now + policy.grace,
        };
        Ok(Self {
            current: Some(new_current(hash, now, policy)),
            previous: Some(previous),
        })
    }

    /// Empties one slot at once.
    pub fn delete(&self, target: SlotTarget) -> Result<Self, LifecycleError> {
        let mut next = self.clone();
        let emptied = match target {
            SlotTarget::Current => next.current.take().is_some(),
            SlotTarget::Previous => next.previous.take().is_some(),
        };
        if emptied {
            Ok(next)
        } else {
            Err(LifecycleError::SlotEmpty(target))
        }
    }

    /// Checks a presented secret: the current slot, then the previous slot
    /// within its grace window. A success costs one verification per slot
    /// tried; every failure costs exactly [`FAILURE_VERIFICATIONS`] (dummy
    /// ones where no slot is usable), each as costly as a dummy one whatever
    /// the stored hash (see [`crate::hasher`]), and a matching but expired
    /// slot fails like a mismatch. A presented secret with a NUL byte never
    /// matches.
    pub fn authenticate(
        &self,
        presented: &Secret,
        now: OffsetDateTime,
        hasher: &dyn SecretHasher,
    ) -> Result<(Slot, Verification), AuthFailure> {
        let candidates = self.usable(now);
        let tried = candidates.len();
        for (slot, hash) in candidates {
            let v = hasher.verify(presented, hash);
            if v.is_match() {
                return Ok((slot, v));
            }
        }
        // Every failure costs the worst case — a wrong secret while a
        // previous secret is in its grace window is checked against both
        // slots — so that timing does not tell an unknown client from a
        // recently rotated one.
        for _ in tried..FAILURE_VERIFICATIONS {
            hasher.verify_dummy(presented);
        }
        Err(if tried > 0 {
            AuthFailure::Mismatch
        } else if self.current.is_none() && self.previous.is_none() {
            AuthFailure::NoSecret
        } else {
            AuthFailure::Expired
        })
    }

    /// Every stored hash, usable now or not.
    pub fn hashes(&self) -> impl Iterator<Item = &SecretHash> {
        let current = self.current.as_ref().map(|c| &c.hash);
        let previous = self.previous.as_ref().map(|p| &p.hash);
        current.into_iter().chain(previous)
    }

    /// The slots that authenticate at `now`, current first: current iff
    /// `now < expiresAt`; previous iff `now < graceExpiresAt` and
    /// `now < expiresAt`.
    pub fn usable(&self, now: OffsetDateTime) -> Vec<(Slot, &SecretHash)> {
        let current = self.current.as_ref().filter(|c| now < c.expires_at);
        let previous = self
            .previous
            .as_ref()
            .filter(|p| now < p.grace_expires_at && now < p.expires_at);
        current
            .map(|c| (Slot::Current, &c.hash))
            .into_iter()
            .chain(previous.map(|p| (Slot::Previous, &p.hash)))
            .collect()
    }

    pub fn status(&self, now: OffsetDateTime, policy: &SecretPolicy) -> SecretStatus {
        match &self.current {
            None => SecretStatus {
                current_expired: None,
                rotation_required: true,
            },
            Some(c) => SecretStatus {
                current_expired: Some(now >= c.expires_at),
                rotation_required: now >= c.expires_at - policy.rotation_lead,
            },
        }
    }

    /// `previousSecretValidUntil` of docs/reference/admin-api.md, when there is a previous secret.
    pub fn previous_valid_until(&self) -> Option<OffsetDateTime> {
        self.previous.as_ref().map(PreviousSecret::valid_until)
    }
}

fn new_current(hash: SecretHash, now: OffsetDateTime, policy: &SecretPolicy) -> CurrentSecret {
    let now = truncate_ms(now);
    CurrentSecret {
        hash,
        created_at: now,
        expires_at: now + policy.ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hasher::BcryptHasher;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn policy() -> SecretPolicy {
        SecretPolicy {
            ttl: Duration::days(30),
            grace: Duration::days(7),
            rotation_lead: Duration::days(5),
        }
    }

    fn h() -> BcryptHasher {
        BcryptHasher::new(4).unwrap()
    }

    fn hashed(hasher: &BcryptHasher, s: &str) -> SecretHash {
        hasher.hash(&Secret::new(s)).unwrap()
    }

    #[test]
    fn issue_sets_current_with_expiry_from_ttl() {
        let hasher = h();
        let slots = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &policy())
            .unwrap();
        let c = slots.current.as_ref().unwrap();
        assert_eq!(c.created_at, T0);
        assert_eq!(c.expires_at, T0 + Duration::days(30));
        assert!(slots.previous.is_none());
    }

    #[test]
    fn issue_refuses_when_current_exists() {
        let hasher = h();
        let slots = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &policy())
            .unwrap();
        assert_eq!(
            slots.issue(hashed(&hasher, "two"), T0, &policy()),
            Err(LifecycleError::CurrentExists)
        );
    }

    #[test]
    fn rotate_moves_current_to_previous_with_grace() {
        let hasher = h();
        let p = policy();
        let one = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let t1 = T0 + Duration::days(1);
        let two = one.rotate(hashed(&hasher, "two"), t1, &p).unwrap();
        let prev = two.previous.as_ref().unwrap();
        assert_eq!(prev.created_at, T0);
        assert_eq!(prev.expires_at, T0 + Duration::days(30));
        assert_eq!(prev.grace_expires_at, t1 + Duration::days(7));
        assert_eq!(two.current.as_ref().unwrap().created_at, t1);
        // Both authenticate during the grace window.
        assert_eq!(
            two.authenticate(&Secret::new("two"), t1, &hasher)
                .unwrap()
                .0,
            Slot::Current
        );
        assert_eq!(
            two.authenticate(&Secret::new("one"), t1, &hasher)
                .unwrap()
                .0,
            Slot::Previous
        );
    }

    #[test]
    fn rotate_without_current_is_refused() {
        let hasher = h();
        assert_eq!(
            SecretSlots::default().rotate(hashed(&hasher, "x"), T0, &policy()),
            Err(LifecycleError::NoCurrent)
        );
    }

    #[test]
    fn a_second_rotation_drops_the_oldest_secret() {
        let hasher = h();
        let p = policy();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let s = s.rotate(hashed(&hasher, "two"), T0, &p).unwrap();
        let s = s.rotate(hashed(&hasher, "three"), T0, &p).unwrap();
        assert!(s.authenticate(&Secret::new("one"), T0, &hasher).is_err());
        assert_eq!(
            s.authenticate(&Secret::new("two"), T0, &hasher).unwrap().0,
            Slot::Previous
        );
        assert_eq!(
            s.authenticate(&Secret::new("three"), T0, &hasher)
                .unwrap()
                .0,
            Slot::Current
        );
    }

    #[test]
    fn previous_stops_exactly_at_grace_expiry() {
        let hasher = h();
        let p = policy();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let s = s.rotate(hashed(&hasher, "two"), T0, &p).unwrap();
        let grace_end = T0 + Duration::days(7);
        let just_before = grace_end - Duration::milliseconds(1);
        assert!(s
            .authenticate(&Secret::new("one"), just_before, &hasher)
            .is_ok());
        assert_eq!(
            s.authenticate(&Secret::new("one"), grace_end, &hasher),
            Err(AuthFailure::Mismatch)
        );
        assert!(s
            .authenticate(&Secret::new("two"), grace_end, &hasher)
            .is_ok());
    }

    #[test]
    fn previous_is_capped_by_its_own_expiry() {
        let hasher = h();
        let p = policy();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        // Rotated two days before the old secret expires: grace would run
        // five days past it, but the old secret's own expiry wins.
        let t = T0 + Duration::days(28);
        let s = s.rotate(hashed(&hasher, "two"), t, &p).unwrap();
        let own_expiry = T0 + Duration::days(30);
        assert_eq!(s.previous_valid_until(), Some(own_expiry));
        assert!(s
            .authenticate(
                &Secret::new("one"),
                own_expiry - Duration::milliseconds(1),
                &hasher
            )
            .is_ok());
        assert!(s
            .authenticate(&Secret::new("one"), own_expiry, &hasher)
            .is_err());
    }

    #[test]
    fn current_expires_exactly_at_expires_at() {
        let hasher = h();
        let p = policy();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let exp = T0 + Duration::days(30);
        assert!(s
            .authenticate(
                &Secret::new("one"),
                exp - Duration::milliseconds(1),
                &hasher
            )
            .is_ok());
        assert_eq!(
            s.authenticate(&Secret::new("one"), exp, &hasher),
            Err(AuthFailure::Expired)
        );
        assert_eq!(s.status(exp, &p).current_expired, Some(true));
        assert_eq!(
            s.status(exp - Duration::milliseconds(1), &p)
                .current_expired,
            Some(false)
        );
    }

    #[test]
    fn delete_current_and_previous() {
        let hasher = h();
        let p = policy();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let s = s.rotate(hashed(&hasher, "two"), T0, &p).unwrap();
        let no_prev = s.delete(SlotTarget::Previous).unwrap();
        assert!(no_prev.previous.is_none());
        assert!(no_prev
            .authenticate(&Secret::new("one"), T0, &hasher)
            .is_err());
        assert_eq!(
            no_prev.delete(SlotTarget::Previous),
            Err(LifecycleError::SlotEmpty(SlotTarget::Previous))
        );
        let no_current = s.delete(SlotTarget::Current).unwrap();
        assert!(no_current.current.is_none());
        assert!(no_current
            .authenticate(&Secret::new("two"), T0, &hasher)
            .is_err());
        assert!(no_current
            .authenticate(&Secret::new("one"), T0, &hasher)
            .is_ok());
        let empty = no_current.delete(SlotTarget::Previous).unwrap();
        assert_eq!(
            empty.authenticate(&Secret::new("one"), T0, &hasher),
            Err(AuthFailure::NoSecret)
        );
        assert_eq!(
            empty.delete(SlotTarget::Current),
            Err(LifecycleError::SlotEmpty(SlotTarget::Current))
        );
    }

    #[test]
    fn rotation_required_turns_on_at_lead_time_and_without_current() {
        let hasher = h();
        let p = policy();
        assert!(SecretSlots::default().status(T0, &p).rotation_required);
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &p)
            .unwrap();
        let lead_start = T0 + Duration::days(30) - Duration::days(5);
        assert!(
            !s.status(lead_start - Duration::milliseconds(1), &p)
                .rotation_required
        );
        assert!(s.status(lead_start, &p).rotation_required);
    }

    #[test]
    fn policy_changes_do_not_move_existing_expiry() {
        let hasher = h();
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), T0, &policy())
            .unwrap();
        let longer = SecretPolicy {
            ttl: Duration::days(999),
            ..policy()
        };
        // Status under a new policy still uses the stored expiry.
        assert_eq!(
            s.status(T0 + Duration::days(30), &longer).current_expired,
            Some(true)
        );
    }

    /// Counts verifications, real and dummy.
    struct Counting(BcryptHasher, std::sync::atomic::AtomicUsize);

    impl SecretHasher for Counting {
        fn hash(&self, secret: &Secret) -> Result<SecretHash, crate::hasher::HashError> {
            self.0.hash(secret)
        }
        fn verify(&self, presented: &Secret, stored: &SecretHash) -> Verification {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.verify(presented, stored)
        }
        fn verify_dummy(&self, presented: &Secret) -> Verification {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.verify_dummy(presented)
        }
        fn observe(&self, stored: &SecretHash) {
            self.0.observe(stored)
        }
        fn failure_cost(&self) -> u32 {
            self.0.failure_cost()
        }
    }

    #[test]
    fn every_failure_costs_the_same_number_of_verifications() {
        let c = Counting(h(), std::sync::atomic::AtomicUsize::new(0));
        let p = policy();
        let one = SecretSlots::default()
            .issue(hashed(&c.0, "one"), T0, &p)
            .unwrap();
        let rotated = one.rotate(hashed(&c.0, "two"), T0, &p).unwrap();
        let expired_at = T0 + Duration::days(30);
        let cases: Vec<(&str, &SecretSlots, OffsetDateTime)> = vec![
            (
                "no secret",
                &SecretSlots {
                    current: None,
                    previous: None,
                },
                T0,
            ),
            ("wrong secret, one slot", &one, T0),
            ("wrong secret, previous in grace", &rotated, T0),
            ("expired", &one, expired_at),
        ];
        for (name, slots, now) in cases {
            c.1.store(0, std::sync::atomic::Ordering::SeqCst);
            assert!(
                slots.authenticate(&Secret::new("wrong"), now, &c).is_err(),
                "{name}"
            );
            assert_eq!(
                c.1.load(std::sync::atomic::Ordering::SeqCst),
                FAILURE_VERIFICATIONS,
                "{name}"
            );
        }
        // A success with the current secret costs one.
        c.1.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(rotated.authenticate(&Secret::new("two"), T0, &c).is_ok());
        assert_eq!(c.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn every_failure_costs_the_same_bcrypt_work_whatever_the_stored_cost() {
        let hasher = h();
        let p = policy();
        let bcrypt_at =
            |cost: u32, secret: &str| SecretHash::new(bcrypt::hash(secret, cost).unwrap());
        let one_slot = |hash: SecretHash| SecretSlots::default().issue(hash, T0, &p).unwrap();
        let configured = one_slot(hashed(&hasher, "one"));
        let higher = one_slot(bcrypt_at(7, "one"));
        let spring = one_slot(SecretHash::new(format!(
            "{{bcrypt}}{}",
            bcrypt_at(5, "one").as_str()
        )));
        let malformed = one_slot(SecretHash::new("$2b$07$truncated"));
        let rotated = configured.rotate(bcrypt_at(6, "two"), T0, &p).unwrap();
        // A request reads the cost-7 hash: the highest cost stored so far.
        assert!(higher
            .authenticate(&Secret::new("wrong"), T0, &hasher)
            .is_err());
        let expected = FAILURE_VERIFICATIONS as u64 * (1 << 7);
        let unknown = SecretSlots::default();
        let cases: Vec<(&str, &SecretSlots, OffsetDateTime)> = vec![
            ("unknown client", &unknown, T0),
            ("configured cost", &configured, T0),
            ("higher cost", &higher, T0),
            ("spring prefix", &spring, T0),
            ("malformed hash", &malformed, T0),
            ("previous slot in grace", &rotated, T0),
            ("expired", &configured, T0 + Duration::days(30)),
        ];
        for (name, slots, now) in cases {
            let before = hasher.work();
            assert!(
                slots
                    .authenticate(&Secret::new("wrong"), now, &hasher)
                    .is_err(),
                "{name}"
            );
            assert_eq!(hasher.work() - before, expected, "{name}");
        }
        // A success with the current secret costs its own verification only.
        let before = hasher.work();
        assert!(configured
            .authenticate(&Secret::new("one"), T0, &hasher)
            .is_ok());
        assert_eq!(hasher.work() - before, 1 << 4);
    }

    #[test]
    fn created_at_has_millisecond_precision() {
        let hasher = h();
        let t = T0 + Duration::nanoseconds(1_234_567);
        let s = SecretSlots::default()
            .issue(hashed(&hasher, "one"), t, &policy())
            .unwrap();
        assert_eq!(
            s.current.unwrap().created_at,
            T0 + Duration::milliseconds(1)
        );
    }
}
