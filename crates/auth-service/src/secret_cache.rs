//! The verified-secret cache (ARCHITECTURE "Performance design", issue 6).
//!
//! A successful BCrypt verification is remembered as a keyed digest
//! (HMAC-SHA256 under a per-process random key) of the presented secret,
//! keyed by the client id and the stored hash it matched. Because the key
//! holds the stored hash, a rotation or deletion — on any replica — makes
//! the entry unreachable by construction: every request still reads the
//! client row, and only the slots that row says are usable right now (expiry
//! and grace checked on every request) are looked up. Failures are never
//! cached; the map is bounded.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type Digest = [u8; 32];

/// Default bound on remembered (client, hash) pairs.
pub const DEFAULT_CAPACITY: usize = 10_000;

pub struct SecretCache {
    key: [u8; 32],
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(String, String), (Digest, u64)>,
    tick: u64,
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl SecretCache {
    /// `capacity` 0 disables the cache.
    pub fn new(capacity: usize) -> Self {
        let mut key = [0u8; 32];
        // Without randomness the cache stays empty rather than keyed by a
        // guessable key.
        let capacity = if getrandom::fill(&mut key).is_ok() {
            capacity
        } else {
            0
        };
        Self {
            key,
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn digest(&self, secret: &str) -> Option<Digest> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(secret.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// A digest of `parts` under this process's key, each part
    /// length-prefixed so that no two lists of parts collide; the key of
    /// [`crate::in_flight::InFlight`]. Works with the cache disabled too.
    pub fn flight_key(&self, parts: &[&[u8]]) -> Option<Digest> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// Whether `secret` was verified against `stored_hash` of `client_id`
    /// before (constant-time digest comparison).
    pub fn hit(&self, client_id: &str, stored_hash: &str, secret: &str) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let Some(d) = self.digest(secret) else {
            return false;
        };
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        inner.tick += 1;
        let tick = inner.tick;
        match inner
            .entries
            .get_mut(&(client_id.to_owned(), stored_hash.to_owned()))
        {
            Some((cached, used)) if bool::from(cached.ct_eq(&d)) => {
                *used = tick;
                true
            }
            _ => false,
        }
    }

    /// Remembers a successful verification. When full, the least recently
    /// used tenth is dropped.
    pub fn remember(&self, client_id: &str, stored_hash: &str, secret: &str) {
        if self.capacity == 0 {
            return;
        }
        let Some(d) = self.digest(secret) else { return };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.tick += 1;
        let tick = inner.tick;
        if inner.entries.len() >= self.capacity {
            let mut ticks: Vec<u64> = inner.entries.values().map(|(_, t)| *t).collect();
            ticks.sort_unstable();
            let cutoff = ticks[(ticks.len() / 10).min(ticks.len() - 1)];
            inner.entries.retain(|_, (_, t)| *t > cutoff);
        }
        inner
            .entries
            .insert((client_id.to_owned(), stored_hash.to_owned()), (d, tick));
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_secret_for_the_same_stored_hash() {
        let c = SecretCache::new(10);
        c.remember("a", "$2b$hash1", "secret");
        assert!(c.hit("a", "$2b$hash1", "secret"));
        assert!(!c.hit("a", "$2b$hash1", "secrex"));
        assert!(
            !c.hit("a", "$2b$hash2", "secret"),
            "a rotated hash must miss"
        );
        assert!(!c.hit("b", "$2b$hash1", "secret"));
    }

    #[test]
    fn stays_bounded_and_keeps_recently_used_entries() {
        let c = SecretCache::new(100);
        c.remember("keep", "h", "s");
        for i in 0..1000 {
            assert!(c.hit("keep", "h", "s"));
            c.remember(&format!("c{i}"), "h", "s");
            assert!(c.len() <= 100);
        }
        assert!(c.hit("keep", "h", "s"));
    }

    #[test]
    fn flight_keys_differ_for_any_different_part() {
        let c = SecretCache::new(0);
        let k = |parts: &[&[u8]]| c.flight_key(parts).unwrap();
        assert_eq!(k(&[b"a", b"s"]), k(&[b"a", b"s"]));
        assert_ne!(k(&[b"a", b"s"]), k(&[b"a", b"t"]));
        assert_ne!(k(&[b"ab", b"s"]), k(&[b"a", b"bs"]), "parts are delimited");
        assert_ne!(
            k(&[b"a", b"s"]),
            SecretCache::new(0).flight_key(&[b"a", b"s"]).unwrap(),
            "keyed per process"
        );
    }

    #[test]
    fn capacity_zero_disables() {
        let c = SecretCache::new(0);
        c.remember("a", "h", "s");
        assert!(!c.hit("a", "h", "s"));
        assert!(c.is_empty());
    }

    #[test]
    fn debug_shows_no_digest_or_key() {
        let c = SecretCache::new(10);
        c.remember("a", "h", "s");
        assert_eq!(format!("{c:?}"), "SecretCache { capacity: 10, .. }");
    }
}
