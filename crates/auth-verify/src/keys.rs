//! The server's published keys, cached.
//!
//! - Keys are fresh for the JWKS response's `Cache-Control: max-age` when
//!   it is shorter than [`crate::VerifierBuilder::key_ttl`], else for that
//!   TTL (and at least one refetch interval, at most a day).
//! - A token naming an unknown `kid` makes the cache fetch again, at most
//!   once per refetch interval: concurrent requests wait for the one fetch
//!   instead of starting their own, so a flood of made-up `kid`s costs the
//!   server one request per interval.
//! - When a fetch fails, the last good keys keep verifying for the
//!   configured stale bound past the end of their freshness; after that the
//!   cache fails closed ([`Error::KeysUnavailable`]) until a fetch works.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use auth_token::PublicKey;

use crate::error::Error;

/// The longest any key set stays fresh, whatever `max-age` says.
const MAX_FRESH: Duration = Duration::from_secs(24 * 3600);

/// One successful fetch: the usable keys and how long the server says they
/// may be cached (`None`: no `max-age`).
pub(crate) struct Fetched {
    pub keys: Vec<PublicKey>,
    pub max_age: Option<Duration>,
}

/// A fetch failure, described for logs (never carries key material).
pub(crate) type FetchFuture = Pin<Box<dyn Future<Output = Result<Fetched, String>> + Send>>;
pub(crate) type Fetch = Arc<dyn Fn() -> FetchFuture + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Freshness without `max-age`.
    pub ttl: Duration,
    /// The least time between two fetches that are not due to expiry.
    pub refetch_interval: Duration,
    /// How long past their freshness the last good keys still verify
    /// while fetches fail.
    pub stale_for: Duration,
}

struct Snapshot {
    keys: HashMap<String, Arc<PublicKey>>,
    fresh_until: Instant,
}

impl Snapshot {
    fn usable_at(&self, now: Instant, timing: &Timing) -> bool {
        now < self.fresh_until + timing.stale_for
    }
}

pub(crate) struct KeyCache {
    fetch: Fetch,
    timing: Timing,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held while fetching: whoever waits for it finds the result of the
    /// fetch in `current` instead of fetching again. The value is when the
    /// last fetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl KeyCache {
    pub fn new(fetch: Fetch, timing: Timing) -> Self {
        Self {
            fetch,
            timing,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the keys were fetched (successfully or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key named `kid`, fetching the key set when it is stale or does
    /// not have it (within the limits above).
    pub async fn key(&self, kid: &str) -> Result<Arc<PublicKey>, Error> {
        let seen = self.snapshot();
        if let Some(snap) = &seen {
            if Instant::now() < snap.fresh_until {
                if let Some(key) = snap.keys.get(kid) {
                    return Ok(key.clone());
                }
            }
        }
        self.refresh(seen).await;
        let now = Instant::now();
        match self.snapshot() {
            Some(snap) if snap.usable_at(now, &self.timing) => {
                snap.keys.get(kid).cloned().ok_or(Error::UnknownKey)
            }
            _ => Err(Error::KeysUnavailable),
        }
    }

    /// Fetches unless another caller replaced `seen` while this one waited,
    /// or a fetch started less than the refetch interval ago.
    async fn refresh(&self, seen: Option<Arc<Snapshot>>) {
        let mut last_start = self.fetching.lock().await;
        let replaced = match (&seen, &self.snapshot()) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, Some(_)) => true,
            _ => false,
        };
        if replaced {
            return;
        }
        let started = Instant::now();
        if last_start.is_some_and(|t| started < t + self.timing.refetch_interval) {
            return;
        }
        *last_start = Some(started);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match (self.fetch)().await {
            Ok(fetched) => {
                // `max-age` may shorten the configured TTL, never lengthen
                // it; and keys stay fresh at least one refetch interval, so
                // that an expiry is always allowed to fetch.
                let fresh_for = fetched
                    .max_age
                    .map_or(self.timing.ttl, |age| age.min(self.timing.ttl))
                    .max(self.timing.refetch_interval)
                    .min(MAX_FRESH);
                let keys = fetched
                    .keys
                    .into_iter()
                    .map(|k| (k.kid().to_owned(), Arc::new(k)))
                    .collect();
                // Counted from the answer, not the request: a slow fetch
                // must not hand over keys that are already stale.
                let snap = Arc::new(Snapshot {
                    keys,
                    fresh_until: Instant::now() + fresh_for,
                });
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snap);
            }
            Err(why) => tracing::warn!(error = %why, "fetching the server's signing keys failed"),
        }
    }
}

/// `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as 0.
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut found = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            found = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use auth_token::{generate_key, KeyEncryption, SigningAlg};
    use serde_json::{Map, Value};

    use super::*;

    /// A fetch that serves `kids` (by copying one real key under each id),
    /// counts its calls, takes `delay`, and fails while `down` is set.
    struct Fake {
        kids: Arc<RwLock<Vec<String>>>,
        down: Arc<AtomicBool>,
        calls: Arc<AtomicU64>,
    }

    fn fake(kids: &[&str], delay: Duration, max_age: Option<Duration>) -> (Fake, Fetch) {
        let f = Fake {
            kids: Arc::new(RwLock::new(kids.iter().map(|k| (*k).to_owned()).collect())),
            down: Arc::new(AtomicBool::new(false)),
            calls: Arc::new(AtomicU64::new(0)),
        };
        let (kids, down, calls) = (f.kids.clone(), f.down.clone(), f.calls.clone());
        let jwk_of = |kid: &str| {
            let key = generate_key(
                SigningAlg::EdDsa,
                time::OffsetDateTime::now_utc(),
                &KeyEncryption::new(None).unwrap(),
            )
            .unwrap();
            let mut jwk: Map<String, Value> = serde_json::from_str(&key.public_jwk).unwrap();
            jwk.insert("kid".into(), kid.into());
            jwk
        };
        let fetch: Fetch = Arc::new(move || {
            let (kids, down, calls) = (kids.clone(), down.clone(), calls.clone());
            let jwks: Vec<Map<String, Value>> =
                kids.read().unwrap().iter().map(|k| jwk_of(k)).collect();
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if down.load(Ordering::SeqCst) {
                    return Err("connection refused".to_owned());
                }
                Ok(Fetched {
                    keys: jwks
                        .iter()
                        .map(|j| PublicKey::from_jwk(j).unwrap())
                        .collect(),
                    max_age,
                })
            })
        });
        (f, fetch)
    }

    fn timing(ttl_ms: u64, refetch_ms: u64, stale_ms: u64) -> Timing {
        Timing {
            ttl: Duration::from_millis(ttl_ms),
            refetch_interval: Duration::from_millis(refetch_ms),
            stale_for: Duration::from_millis(stale_ms),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_unknown_kids_cause_one_fetch_per_interval() {
        let (f, fetch) = fake(&["a"], Duration::from_millis(50), None);
        let cache = Arc::new(KeyCache::new(fetch, timing(60_000, 300, 0)));
        assert!(cache.key("a").await.is_ok());
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        // A hundred requests with made-up kids at once: one fetch.
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let c = cache.clone();
                tokio::spawn(async move { c.key(&format!("forged-{i}")).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), Error::UnknownKey);
        }
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        // Within the interval even a real new key waits for the next one.
        f.kids.write().unwrap().push("b".into());
        assert_eq!(cache.key("b").await.unwrap_err(), Error::UnknownKey);
        assert_eq!(cache.fetches(), 2);
        assert!(cache.key("a").await.is_ok());
    }

    #[tokio::test]
    async fn a_new_kid_is_fetched_once_the_interval_has_passed() {
        let (f, fetch) = fake(&["a"], Duration::ZERO, None);
        let cache = KeyCache::new(fetch, timing(60_000, 100, 0));
        assert!(cache.key("a").await.is_ok());
        f.kids.write().unwrap().push("b".into());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.key("b").await.is_ok());
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn max_age_decides_freshness() {
        let (f, fetch) = fake(&["a"], Duration::ZERO, Some(Duration::from_millis(100)));
        let cache = KeyCache::new(fetch, timing(60_000, 10, 0));
        for _ in 0..5 {
            assert!(cache.key("a").await.is_ok());
        }
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.key("a").await.is_ok());
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_keep_the_last_keys_for_the_stale_bound_then_fail_closed() {
        let (f, fetch) = fake(&["a"], Duration::ZERO, None);
        let cache = KeyCache::new(fetch, timing(100, 0, 300));
        assert!(cache.key("a").await.is_ok());
        f.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Stale, the fetch fails: the last good keys still verify.
        assert!(cache.key("a").await.is_ok());
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.key("a").await.unwrap_err(), Error::KeysUnavailable);
        // Back up: the next fetch restores service.
        f.down.store(false, Ordering::SeqCst);
        assert!(cache.key("a").await.is_ok());
    }

    #[tokio::test]
    async fn without_any_good_fetch_nothing_verifies() {
        let (f, fetch) = fake(&["a"], Duration::ZERO, None);
        f.down.store(true, Ordering::SeqCst);
        let cache = KeyCache::new(fetch, timing(100, 0, 60_000));
        assert_eq!(cache.key("a").await.unwrap_err(), Error::KeysUnavailable);
    }

    #[tokio::test]
    async fn a_max_age_longer_than_the_ttl_does_not_extend_it() {
        let (f, fetch) = fake(&["a"], Duration::ZERO, Some(Duration::from_secs(3600)));
        let cache = KeyCache::new(fetch, timing(100, 10, 0));
        assert!(cache.key("a").await.is_ok());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.key("a").await.is_ok());
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn cache_control_max_age_is_read() {
        let s = Duration::from_secs;
        assert_eq!(max_age("public, max-age=60"), Some(s(60)));
        assert_eq!(max_age("Max-Age=5"), Some(s(5)));
        assert_eq!(max_age("no-store"), Some(s(0)));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
