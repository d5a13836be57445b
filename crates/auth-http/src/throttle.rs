//! Failed client authentications per (client id, source), per process
//! (SPEC §3, `APP_TOKEN_FAILURE_LIMIT`).
//!
//! Once `limit` failures are counted for a pair within the window, further
//! requests from that pair are refused with a Retry-After until enough of
//! them leave the window; other client ids and other sources are unaffected.
//!
//! Memory stays bounded whatever clients send:
//! - The client id is never stored: a key is a 128-bit keyed hash of it
//!   (two SipHash instances with per-process random keys) plus the source
//!   address, so an attacker can neither grow keys with long ids nor aim for
//!   collisions.
//! - Each key keeps at most `limit` failure instants: the most recent ones,
//!   which are all that decide when the pair is admitted again.
//! - At most `max_keys` keys are tracked ([`DEFAULT_MAX_KEYS`] unless
//!   [`FailureThrottle::with_max_keys`] says otherwise). When a new key would
//!   exceed that, expired keys are dropped first; if that is not enough, a
//!   tenth of the keys are evicted at once (so a flood of new keys costs
//!   amortised constant time), choosing those with the fewest counted
//!   failures and, among equals, the least recent last failure. A flood of
//!   random client ids, each failing once, therefore evicts its own entries
//!   before it can evict a pair that is close to or at the limit; the
//!   counter a brute-force attacker most wants reset is the last to go.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys tracked by [`FailureThrottle::new`]. Each key holds at most `limit`
/// instants of 16 bytes, so at the default limit of 30 this is about 6 MB
/// at worst.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Whole seconds until the pair is admitted again, at least 1: the value of
/// the `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    pub fn seconds(self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    client: u128,
    source: IpAddr,
}

/// Per-process failure counter; share it behind an `Arc` (it is
/// `Send + Sync`).
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    max_keys: usize,
    id_hash: (RandomState, RandomState),
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("max_keys", &self.max_keys)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

impl FailureThrottle {
    /// `limit` failures per (client id, source) within `window`; a limit of
    /// 0 disables throttling.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, window, DEFAULT_MAX_KEYS)
    }

    /// As [`new`](Self::new), tracking at most `max_keys` (at least 1) pairs.
    pub fn with_max_keys(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            limit,
            window,
            max_keys: max_keys.max(1),
            id_hash: (RandomState::new(), RandomState::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err` when `limit` failures are already counted for this pair within
    /// the window, with the time until the oldest of them leaves it.
    pub fn check(&self, client_id: &str, source: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        if self.limit == 0 {
            return Ok(());
        }
        let key = self.key(client_id, source);
        let mut failures = self.lock();
        let Some(times) = failures.get_mut(&key) else {
            return Ok(());
        };
        prune(times, now, self.window);
        let Some(&oldest) = times.front() else {
            failures.remove(&key);
            return Ok(());
        };
        if times.len() < self.limit as usize {
            return Ok(());
        }
        let wait = self
            .window
            .saturating_sub(now.saturating_duration_since(oldest));
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(RetryAfter(seconds.max(1)))
    }

    /// Counts one failed authentication of `client_id` from `source`.
    pub fn record_failure(&self, client_id: &str, source: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let key = self.key(client_id, source);
        let limit = self.limit as usize;
        let mut failures = self.lock();
        if let Some(times) = failures.get_mut(&key) {
            prune(times, now, self.window);
            // Concurrent requests may record slightly out of order; keep the
            // instants sorted so the front is always the oldest.
            let at = times.partition_point(|t| *t <= now);
            times.insert(at, now);
            while times.len() > limit {
                times.pop_front();
            }
            return;
        }
        if failures.len() >= self.max_keys {
            self.make_room(&mut failures, now);
        }
        failures.insert(key, VecDeque::from([now]));
    }

    /// The number of (client id, source) pairs currently tracked.
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    fn make_room(&self, failures: &mut HashMap<Key, VecDeque<Instant>>, now: Instant) {
        failures.retain(|_, times| {
            prune(times, now, self.window);
            !times.is_empty()
        });
        if failures.len() < self.max_keys {
            return;
        }
        let evict = (failures.len() + 1 - self.max_keys)
            .max(self.max_keys / 10)
            .min(failures.len());
        let mut ranked: Vec<(usize, Option<Instant>, Key)> = failures
            .iter()
            .map(|(key, times)| (times.len(), times.back().copied(), *key))
            .collect();
        if evict < ranked.len() {
            ranked.select_nth_unstable_by_key(evict, |(count, last, _)| (*count, *last));
        }
        for (_, _, key) in ranked.into_iter().take(evict) {
            failures.remove(&key);
        }
    }

    fn key(&self, client_id: &str, source: IpAddr) -> Key {
        let high = self.id_hash.0.hash_one(client_id);
        let low = self.id_hash.1.hash_one(client_id);
        Key {
            client: (u128::from(high) << 64) | u128::from(low),
            source: source.to_canonical(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        // The map is consistent after every statement, so a panic elsewhere
        // while holding the lock leaves nothing to repair.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// The throttle is shared between actix workers.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FailureThrottle>();
};

/// Drops the failures that have left the window: one recorded at `t` counts
/// while `now - t < window`.
fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limit_reached_refuses_with_sane_retry_after() {
        let throttle = FailureThrottle::new(3, MINUTE);
        let start = Instant::now();
        let src = ip("198.51.100.1");
        for i in 0..3 {
            assert_eq!(
                throttle.check("svc", src, start + Duration::from_secs(i)),
                Ok(())
            );
            throttle.record_failure("svc", src, start + Duration::from_secs(i));
        }
        // The oldest failure (at +0 s) leaves the window at +60 s.
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(10)),
            Err(RetryAfter(50))
        );
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_millis(10_500)),
            Err(RetryAfter(50)),
            "partial seconds round up"
        );
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_millis(59_900)),
            Err(RetryAfter(1)),
            "never less than 1"
        );
    }

    #[test]
    fn other_client_ids_and_sources_are_unaffected() {
        let throttle = FailureThrottle::new(2, MINUTE);
        let now = Instant::now();
        throttle.record_failure("svc", ip("198.51.100.1"), now);
        throttle.record_failure("svc", ip("198.51.100.1"), now);
        assert!(throttle.check("svc", ip("198.51.100.1"), now).is_err());
        assert_eq!(throttle.check("other", ip("198.51.100.1"), now), Ok(()));
        assert_eq!(throttle.check("svc", ip("198.51.100.2"), now), Ok(()));
        assert_eq!(
            throttle.check("SVC", ip("198.51.100.1"), now),
            Ok(()),
            "ids are case-sensitive"
        );
    }

    #[test]
    fn mapped_ipv6_source_is_the_same_pair_as_ipv4() {
        let throttle = FailureThrottle::new(1, MINUTE);
        let now = Instant::now();
        throttle.record_failure("svc", ip("::ffff:198.51.100.1"), now);
        assert!(throttle.check("svc", ip("198.51.100.1"), now).is_err());
    }

    #[test]
    fn window_expiry_lets_requests_through_again() {
        let throttle = FailureThrottle::new(2, MINUTE);
        let start = Instant::now();
        let src = ip("203.0.113.4");
        throttle.record_failure("svc", src, start);
        throttle.record_failure("svc", src, start + Duration::from_secs(30));
        assert!(throttle
            .check("svc", src, start + Duration::from_secs(59))
            .is_err());
        // The first failure left the window; one is still counted.
        assert_eq!(throttle.check("svc", src, start + MINUTE), Ok(()));
        throttle.record_failure("svc", src, start + MINUTE);
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(61)),
            Err(RetryAfter(29))
        );
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(119)),
            Ok(())
        );
        assert_eq!(
            throttle.tracked_keys(),
            1,
            "the failure at +60 s is still counted"
        );
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(200)),
            Ok(())
        );
        assert_eq!(
            throttle.tracked_keys(),
            0,
            "a fully expired pair is forgotten"
        );
    }

    #[test]
    fn failures_beyond_the_limit_extend_the_wait_to_the_right_one() {
        // Concurrent requests can record more than `limit` failures; the pair
        // is admitted again when fewer than `limit` remain in the window.
        let throttle = FailureThrottle::new(2, MINUTE);
        let start = Instant::now();
        let src = ip("203.0.113.4");
        for s in [0, 10, 20] {
            throttle.record_failure("svc", src, start + Duration::from_secs(s));
        }
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(30)),
            Err(RetryAfter(40))
        );
        assert!(throttle
            .check("svc", src, start + Duration::from_secs(69))
            .is_err());
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(70)),
            Ok(())
        );
    }

    #[test]
    fn out_of_order_records_keep_the_oldest_in_front() {
        let throttle = FailureThrottle::new(2, MINUTE);
        let start = Instant::now();
        let src = ip("203.0.113.4");
        throttle.record_failure("svc", src, start + Duration::from_secs(20));
        throttle.record_failure("svc", src, start + Duration::from_secs(5));
        assert_eq!(
            throttle.check("svc", src, start + Duration::from_secs(30)),
            Err(RetryAfter(35))
        );
    }

    #[test]
    fn limit_zero_disables() {
        let throttle = FailureThrottle::new(0, MINUTE);
        let now = Instant::now();
        for _ in 0..100 {
            throttle.record_failure("svc", ip("198.51.100.1"), now);
        }
        assert_eq!(throttle.check("svc", ip("198.51.100.1"), now), Ok(()));
        assert_eq!(throttle.tracked_keys(), 0);
    }

    #[test]
    fn cap_holds_under_100k_distinct_keys() {
        let throttle = FailureThrottle::new(30, MINUTE);
        let now = Instant::now();
        for i in 0..100_000u32 {
            throttle.record_failure(&format!("random-{i}"), ip("203.0.113.66"), now);
            assert!(throttle.tracked_keys() <= DEFAULT_MAX_KEYS);
        }
        assert!(throttle.tracked_keys() > DEFAULT_MAX_KEYS / 2);
        // The newest keys are still counted.
        let small = FailureThrottle::with_max_keys(1, MINUTE, 100);
        for i in 0..100_000u32 {
            small.record_failure(&format!("random-{i}"), ip("203.0.113.66"), now);
        }
        assert!(small.tracked_keys() <= 100);
        assert!(small
            .check("random-99999", ip("203.0.113.66"), now)
            .is_err());
    }

    #[test]
    fn flood_does_not_reset_a_pair_at_the_limit() {
        let throttle = FailureThrottle::with_max_keys(5, MINUTE, 1_000);
        let start = Instant::now();
        let attacker = ip("203.0.113.66");
        for _ in 0..5 {
            throttle.record_failure("victim", attacker, start);
        }
        for i in 0..100_000u32 {
            throttle.record_failure(
                &format!("flood-{i}"),
                attacker,
                start + Duration::from_secs(1),
            );
        }
        assert!(throttle.tracked_keys() <= 1_000);
        assert_eq!(
            throttle.check("victim", attacker, start + Duration::from_secs(2)),
            Err(RetryAfter(58))
        );
    }

    #[test]
    fn expired_keys_are_dropped_before_live_ones() {
        let throttle = FailureThrottle::with_max_keys(3, MINUTE, 10);
        let start = Instant::now();
        let src = ip("198.51.100.9");
        for i in 0..9 {
            throttle.record_failure(&format!("old-{i}"), src, start);
        }
        throttle.record_failure("live", src, start + Duration::from_secs(30));
        throttle.record_failure("live", src, start + Duration::from_secs(30));
        throttle.record_failure("live", src, start + Duration::from_secs(30));
        throttle.record_failure("new", src, start + Duration::from_secs(61));
        assert_eq!(
            throttle.tracked_keys(),
            2,
            "the nine expired keys went first"
        );
        assert!(throttle
            .check("live", src, start + Duration::from_secs(61))
            .is_err());
    }

    #[test]
    fn debug_output_names_no_client() {
        let throttle = FailureThrottle::new(3, MINUTE);
        throttle.record_failure("secret-looking-client", ip("198.51.100.1"), Instant::now());
        let debug = format!("{throttle:?}");
        assert!(debug.contains("tracked_keys: 1"), "{debug}");
        assert!(!debug.contains("secret-looking-client"));
    }
}
