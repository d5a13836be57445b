//! Failed client authentications, per process (see docs/reference/token-endpoint.md): per (client id,
//! source) (`APP_TOKEN_FAILURE_LIMIT`) and per client id over every source
//! (`APP_TOKEN_FAILURE_LIMIT_PER_CLIENT`).
//!
//! Once a limit is reached within the window, further requests for that
//! pair (or that client id) are refused with a Retry-After until enough
//! failures leave the window; other client ids, and under the per-source
//! limit other sources, are unaffected. The per-client limit is what bounds
//! guessing by a caller that can present many sources (many hosts, or a
//! trusted proxy that passes on whatever `X-Forwarded-For` a caller sends).
//!
//! The limits hold under concurrency. [`FailureThrottle::begin`] checks and
//! reserves in one step, just before a verification: an attempt in progress
//! counts against both limits until it ends, as a failure
//! ([`Attempt::failed`]) or not at all (the [`Attempt`] dropped, e.g. after
//! a success). N simultaneous wrong guesses therefore run at most `limit`
//! verifications, not N: were check and record separate, every guess could
//! pass the check before the first failure was recorded. Attempts that share
//! one verification (identical requests, see [`crate::in_flight`]) count as
//! one while in progress, since together they test one secret: a client's
//! legitimate burst of identical first requests is not refused for its size.
//!
//! Memory stays bounded whatever clients send:
//! - The client id is never stored: a key is a 128-bit keyed hash of it
//!   (two SipHash instances with per-process random keys), plus the source
//!   address for the per-source table, so an attacker can neither grow keys
//!   with long ids nor aim for collisions.
//! - Each key keeps at most `limit` failure instants: the most recent ones,
//!   which are all that decide when the key is admitted again.
//! - Each table tracks at most `max_keys` keys ([`DEFAULT_MAX_KEYS`] unless
//!   [`FailureThrottle::with_max_keys`] says otherwise). When a new key would
//!   exceed that, expired keys are dropped first; if that is not enough, a
//!   tenth of the keys are evicted at once (so a flood of new keys costs
//!   amortised constant time), choosing those with the fewest counted
//!   failures and attempts in progress and, among equals, the least recent
//!   last failure. A flood of random client ids, each failing once,
//!   therefore evicts its own entries before it can evict a key that is
//!   close to or at the limit; the counter a brute-force attacker most wants
//!   reset is the last to go.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys tracked per table. Each key holds at most `limit` instants of 16
/// bytes: at the default limits (30 per source, 300 per client) that is
/// about 5 MB and 48 MB at worst, and filling the per-client table takes
/// three million failed verifications within one window.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Whole seconds until the key is admitted again, at least 1: the value of
/// the `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    pub fn seconds(self) -> u64 {
        self.0
    }

    fn of(wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self(seconds.max(1))
    }
}

/// A key of the per-source table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SourceKey {
    client: u128,
    source: IpAddr,
}

/// What is counted for one key.
#[derive(Debug, Default)]
struct Entry {
    /// Failures within the window, oldest first, at most `limit` of them.
    failures: VecDeque<Instant>,
    /// Verifications admitted and not yet ended, each with the number of
    /// attempts sharing it.
    pending: Vec<(u128, u32)>,
}

impl Entry {
    fn is_idle(&self) -> bool {
        self.failures.is_empty() && self.pending.is_empty()
    }

    /// Failures and verifications in progress, not counting `flight` (an
    /// attempt joining it adds no verification).
    fn counted(&self, flight: Option<u128>) -> usize {
        let joined = flight.is_some_and(|f| self.pending.iter().any(|(p, _)| *p == f));
        self.failures.len() + self.pending.len() - usize::from(joined)
    }
}

/// One limit and its keys.
struct Table<K> {
    limit: u32,
    max_keys: usize,
    entries: HashMap<K, Entry>,
}

impl<K: Copy + Eq + Hash> Table<K> {
    fn new(limit: u32, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            entries: HashMap::new(),
        }
    }

    fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// `Err` with the wait when failures in the window plus verifications in
    /// progress (other than `flight`) have reached the limit. Forgets the key
    /// once nothing about it is left.
    fn check(
        &mut self,
        key: K,
        flight: Option<u128>,
        now: Instant,
        window: Duration,
    ) -> Result<(), RetryAfter> {
        if !self.enabled() {
            return Ok(());
        }
        let Some(entry) = self.entries.get_mut(&key) else {
            return Ok(());
        };
        prune(&mut entry.failures, now, window);
        if entry.is_idle() {
            self.entries.remove(&key);
            return Ok(());
        }
        let limit = self.limit as usize;
        let counted = entry.counted(flight);
        if counted < limit {
            return Ok(());
        }
        // Admitted again once `counted - limit + 1` failures have left the
        // window (attempts in progress are assumed to fail). If attempts in
        // progress alone fill the limit, they end within a verification's
        // time: ask for the shortest wait.
        let must_leave = counted + 1 - limit;
        match entry.failures.get(must_leave - 1) {
            Some(&t) => Err(RetryAfter::of(
                window.saturating_sub(now.saturating_duration_since(t)),
            )),
            None => Err(RetryAfter(1)),
        }
    }

    fn reserve(&mut self, key: K, flight: u128, now: Instant, window: Duration) {
        if !self.enabled() {
            return;
        }
        let entry = self.entry(key, now, window);
        match entry.pending.iter_mut().find(|(f, _)| *f == flight) {
            Some((_, sharing)) => *sharing += 1,
            None => entry.pending.push((flight, 1)),
        }
    }

    /// Ends one attempt on `flight`. A key evicted meanwhile has nothing to
    /// release.
    fn release(&mut self, key: K, flight: u128) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        if let Some(i) = entry.pending.iter().position(|(f, _)| *f == flight) {
            entry.pending[i].1 -= 1;
            if entry.pending[i].1 == 0 {
                entry.pending.swap_remove(i);
            }
        }
        if entry.is_idle() {
            self.entries.remove(&key);
        }
    }

    fn record(&mut self, key: K, now: Instant, window: Duration) {
        if !self.enabled() {
            return;
        }
        let limit = self.limit as usize;
        let entry = self.entry(key, now, window);
        prune(&mut entry.failures, now, window);
        // Concurrent requests may record slightly out of order; keep the
        // instants sorted so the front is always the oldest.
        let at = entry.failures.partition_point(|t| *t <= now);
        entry.failures.insert(at, now);
        while entry.failures.len() > limit {
            entry.failures.pop_front();
        }
    }

    /// The key's entry, made (with room for it) if it is not tracked.
    fn entry(&mut self, key: K, now: Instant, window: Duration) -> &mut Entry {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_keys {
            self.make_room(now, window);
        }
        self.entries.entry(key).or_default()
    }

    fn make_room(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, entry| {
            prune(&mut entry.failures, now, window);
            !entry.is_idle()
        });
        if self.entries.len() < self.max_keys {
            return;
        }
        let evict = (self.entries.len() + 1 - self.max_keys)
            .max(self.max_keys / 10)
            .min(self.entries.len());
        let mut ranked: Vec<(usize, Option<Instant>, K)> = self
            .entries
            .iter()
            .map(|(key, e)| (e.counted(None), e.failures.back().copied(), *key))
            .collect();
        if evict < ranked.len() {
            ranked.select_nth_unstable_by_key(evict, |(count, last, _)| (*count, *last));
        }
        for (_, _, key) in ranked.into_iter().take(evict) {
            self.entries.remove(&key);
        }
    }
}

struct Tables {
    per_source: Table<SourceKey>,
    per_client: Table<u128>,
}

/// Per-process failure counters; share it behind an `Arc` (it is
/// `Send + Sync`).
pub struct FailureThrottle {
    window: Duration,
    id_hash: (RandomState, RandomState),
    /// Numbers the attempts that share no verification.
    next_unshared: AtomicU64,
    tables: Mutex<Tables>,
}

impl fmt::Debug for FailureThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables = self.lock();
        f.debug_struct("FailureThrottle")
            .field("limit", &tables.per_source.limit)
            .field("limit_per_client", &tables.per_client.limit)
            .field("window", &self.window)
            .field("max_keys", &tables.per_source.max_keys)
            .field("tracked_keys", &tables.per_source.entries.len())
            .field("tracked_clients", &tables.per_client.entries.len())
            .finish_non_exhaustive()
    }
}

/// A failed-authentication attempt admitted by [`FailureThrottle::begin`]
/// and still in progress: it counts against both limits until it ends.
/// [`Attempt::failed`] turns it into a counted failure; dropping it (after
/// a success, an error that is not the caller's fault, or a cancelled
/// request) lets it count no more.
#[must_use = "an attempt counts against the limits until it is dropped or failed"]
pub struct Attempt<'a> {
    throttle: &'a FailureThrottle,
    /// The two table keys and the verification's id, until it ends.
    keys: Option<(SourceKey, u128, u128)>,
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt").finish_non_exhaustive()
    }
}

impl Attempt<'_> {
    /// Counts the attempt as one failed authentication.
    pub fn failed(mut self, now: Instant) {
        if let Some((source_key, client_key, flight)) = self.keys.take() {
            let window = self.throttle.window;
            let mut tables = self.throttle.lock();
            tables.per_source.release(source_key, flight);
            tables.per_client.release(client_key, flight);
            tables.per_source.record(source_key, now, window);
            tables.per_client.record(client_key, now, window);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some((source_key, client_key, flight)) = self.keys.take() {
            let mut tables = self.throttle.lock();
            tables.per_source.release(source_key, flight);
            tables.per_client.release(client_key, flight);
        }
    }
}

impl FailureThrottle {
    /// `limit` failures per (client id, source) and `limit_per_client` per
    /// client id over all sources, within `window`; a limit of 0 disables
    /// that limit.
    pub fn new(limit: u32, limit_per_client: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, limit_per_client, window, DEFAULT_MAX_KEYS)
    }

    /// As [`new`](Self::new), tracking at most `max_keys` (at least 1) keys
    /// in each table.
    pub fn with_max_keys(
        limit: u32,
        limit_per_client: u32,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        Self {
            window,
            id_hash: (RandomState::new(), RandomState::new()),
            next_unshared: AtomicU64::new(0),
            tables: Mutex::new(Tables {
                per_source: Table::new(limit, max_keys),
                per_client: Table::new(limit_per_client, max_keys),
            }),
        }
    }

    /// Checks both limits and, if neither is reached, admits one attempt,
    /// counting it against both until it ends: one step under one lock, so
    /// that simultaneous attempts cannot all pass. `shared` is the
    /// [`crate::in_flight`] key of the verification the attempt runs or
    /// joins: attempts with the same key count as one while in progress.
    /// `Err` carries the longer wait of the limits reached.
    pub fn begin(
        &self,
        client_id: &str,
        source: IpAddr,
        shared: Option<&crate::in_flight::Key>,
        now: Instant,
    ) -> Result<Attempt<'_>, RetryAfter> {
        let flight = match shared {
            Some(key) => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&key[..16]);
                u128::from_be_bytes(id)
            }
            // Never equal to a digest in practice: the digest is keyed
            // with a secret random key.
            None => u128::from(self.next_unshared.fetch_add(1, Ordering::Relaxed)),
        };
        let (source_key, client_key) = self.keys(client_id, source);
        let mut tables = self.lock();
        Self::check_both(
            &mut tables,
            source_key,
            client_key,
            Some(flight),
            now,
            self.window,
        )?;
        tables
            .per_source
            .reserve(source_key, flight, now, self.window);
        tables
            .per_client
            .reserve(client_key, flight, now, self.window);
        Ok(Attempt {
            throttle: self,
            keys: Some((source_key, client_key, flight)),
        })
    }

    /// `Err` when either limit is reached for this client id and source,
    /// counting verifications in progress; admits nothing (see
    /// [`begin`](Self::begin)).
    pub fn check(&self, client_id: &str, source: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let (source_key, client_key) = self.keys(client_id, source);
        let mut tables = self.lock();
        Self::check_both(&mut tables, source_key, client_key, None, now, self.window)
    }

    fn check_both(
        tables: &mut Tables,
        source_key: SourceKey,
        client_key: u128,
        flight: Option<u128>,
        now: Instant,
        window: Duration,
    ) -> Result<(), RetryAfter> {
        let by_source = tables.per_source.check(source_key, flight, now, window);
        let by_client = tables.per_client.check(client_key, flight, now, window);
        match (by_source, by_client) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(RetryAfter(a.0.max(b.0))),
            (Err(r), _) | (_, Err(r)) => Err(r),
        }
    }

    /// Counts one failed authentication of `client_id` from `source` that
    /// was not admitted through [`begin`](Self::begin).
    pub fn record_failure(&self, client_id: &str, source: IpAddr, now: Instant) {
        let (source_key, client_key) = self.keys(client_id, source);
        let mut tables = self.lock();
        tables.per_source.record(source_key, now, self.window);
        tables.per_client.record(client_key, now, self.window);
    }

    /// The number of (client id, source) pairs currently tracked.
    pub fn tracked_keys(&self) -> usize {
        self.lock().per_source.entries.len()
    }

    /// The number of client ids currently tracked by the per-client limit.
    pub fn tracked_clients(&self) -> usize {
        self.lock().per_client.entries.len()
    }

    fn keys(&self, client_id: &str, source: IpAddr) -> (SourceKey, u128) {
        let high = self.id_hash.0.hash_one(client_id);
        let low = self.id_hash.1.hash_one(client_id);
        let client = (u128::from(high) << 64) | u128::from(low);
        (
            SourceKey {
                client,
                source: source.to_canonical(),
            },
            client,
        )
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // The tables are consistent after every statement, so a panic
        // elsewhere while holding the lock leaves nothing to repair.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// The throttle is shared between async workers.
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
        let throttle = FailureThrottle::new(3, 0, MINUTE);
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
        let throttle = FailureThrottle::new(2, 0, MINUTE);
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
        let throttle = FailureThrottle::new(1, 0, MINUTE);
        let now = Instant::now();
        throttle.record_failure("svc", ip("::ffff:198.51.100.1"), now);
        assert!(throttle.check("svc", ip("198.51.100.1"), now).is_err());
    }

    #[test]
    fn window_expiry_lets_requests_through_again() {
        let throttle = FailureThrottle::new(2, 0, MINUTE);
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
        let throttle = FailureThrottle::new(2, 0, MINUTE);
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
        let throttle = FailureThrottle::new(2, 0, MINUTE);
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
        let throttle = FailureThrottle::new(0, 0, MINUTE);
        let now = Instant::now();
        for _ in 0..100 {
            throttle.record_failure("svc", ip("198.51.100.1"), now);
        }
        assert_eq!(throttle.check("svc", ip("198.51.100.1"), now), Ok(()));
        assert_eq!(throttle.tracked_keys(), 0);
    }

    #[test]
    fn cap_holds_under_100k_distinct_keys() {
        let throttle = FailureThrottle::new(30, 0, MINUTE);
        let now = Instant::now();
        for i in 0..100_000u32 {
            throttle.record_failure(&format!("random-{i}"), ip("203.0.113.66"), now);
            assert!(throttle.tracked_keys() <= DEFAULT_MAX_KEYS);
        }
        assert!(throttle.tracked_keys() > DEFAULT_MAX_KEYS / 2);
        // The newest keys are still counted.
        let small = FailureThrottle::with_max_keys(1, 0, MINUTE, 100);
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
        let throttle = FailureThrottle::with_max_keys(5, 0, MINUTE, 1_000);
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
        let throttle = FailureThrottle::with_max_keys(3, 0, MINUTE, 10);
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
        let throttle = FailureThrottle::new(3, 0, MINUTE);
        throttle.record_failure("secret-looking-client", ip("198.51.100.1"), Instant::now());
        let debug = format!("{throttle:?}");
        assert!(debug.contains("tracked_keys: 1"), "{debug}");
        assert!(debug.contains("tracked_clients: 0"), "{debug}");
        assert!(!debug.contains("secret-looking-client"));
    }

    #[test]
    fn attempts_in_progress_count_against_the_limit() {
        let throttle = FailureThrottle::new(3, 0, MINUTE);
        let now = Instant::now();
        let src = ip("198.51.100.1");
        let a = throttle.begin("svc", src, None, now).unwrap();
        let b = throttle.begin("svc", src, None, now).unwrap();
        let c = throttle.begin("svc", src, None, now).unwrap();
        assert_eq!(
            throttle.begin("svc", src, None, now).map(drop),
            Err(RetryAfter(1)),
            "three in progress fill a limit of three"
        );
        assert_eq!(throttle.check("svc", src, now), Err(RetryAfter(1)));
        assert_eq!(throttle.check("svc", ip("198.51.100.2"), now), Ok(()));
        // A success (the attempt dropped) frees its place.
        drop(a);
        let d = throttle.begin("svc", src, None, now).unwrap();
        // Failures stay counted; the wait is then the window's.
        b.failed(now);
        c.failed(now + Duration::from_secs(5));
        d.failed(now + Duration::from_secs(10));
        assert_eq!(
            throttle.check("svc", src, now + Duration::from_secs(10)),
            Err(RetryAfter(50))
        );
    }

    #[test]
    fn a_successful_attempt_leaves_nothing_behind() {
        let throttle = FailureThrottle::new(3, 5, MINUTE);
        let attempt = throttle
            .begin("svc", ip("198.51.100.1"), None, Instant::now())
            .unwrap();
        assert_eq!(
            (throttle.tracked_keys(), throttle.tracked_clients()),
            (1, 1)
        );
        drop(attempt);
        assert_eq!(
            (throttle.tracked_keys(), throttle.tracked_clients()),
            (0, 0)
        );
    }

    #[test]
    fn simultaneous_attempts_admit_at_most_the_limit() {
        use std::sync::{Arc, Barrier};
        const THREADS: usize = 32;
        for (limit, per_client, one_source) in [(5, 0, true), (0, 5, false), (5, 9, true)] {
            let throttle = Arc::new(FailureThrottle::new(limit, per_client, MINUTE));
            // Every thread tries while every admitted attempt is still in
            // progress, then the admitted ones fail.
            let tried = Arc::new(Barrier::new(THREADS));
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (throttle, tried) = (throttle.clone(), tried.clone());
                    std::thread::spawn(move || {
                        let source = if one_source {
                            ip("198.51.100.1")
                        } else {
                            IpAddr::from([198, 51, 100, i as u8])
                        };
                        let attempt = throttle.begin("svc", source, None, Instant::now());
                        tried.wait();
                        match attempt {
                            Ok(a) => {
                                a.failed(Instant::now());
                                true
                            }
                            Err(_) => false,
                        }
                    })
                })
                .collect();
            let admitted = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|admitted| *admitted)
                .count();
            assert_eq!(admitted, 5, "limit {limit}, per client {per_client}");
            // Only the per-client limit reaches a source that never tried.
            assert_eq!(
                throttle
                    .check("svc", ip("203.0.113.1"), Instant::now())
                    .is_ok(),
                one_source,
                "limit {limit}, per client {per_client}"
            );
        }
    }

    #[test]
    fn per_client_limit_counts_every_source() {
        let throttle = FailureThrottle::new(30, 3, MINUTE);
        let start = Instant::now();
        for i in 0..3u8 {
            let at = start + Duration::from_secs(u64::from(i));
            throttle
                .begin("svc", IpAddr::from([198, 51, 100, i]), None, at)
                .unwrap()
                .failed(at);
        }
        // A source never seen before is refused until the first failure
        // leaves the window.
        assert_eq!(
            throttle
                .begin(
                    "svc",
                    ip("203.0.113.9"),
                    None,
                    start + Duration::from_secs(10)
                )
                .map(drop),
            Err(RetryAfter(50))
        );
        assert_eq!(throttle.check("other", ip("203.0.113.9"), start), Ok(()));
        assert_eq!(
            throttle.check("svc", ip("203.0.113.9"), start + MINUTE),
            Ok(())
        );
    }

    #[test]
    fn the_longer_wait_of_two_limits_reached_counts() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let src = ip("198.51.100.1");
        // Per source 1, per client 2: the source waits 50 s for its failure
        // at +20 s, the client 30 s for the one at +0 s.
        let throttle = FailureThrottle::new(1, 2, MINUTE);
        throttle.record_failure("svc", ip("198.51.100.2"), at(0));
        throttle.record_failure("svc", src, at(20));
        assert_eq!(throttle.check("svc", src, at(30)), Err(RetryAfter(50)));
        // Per source 1, per client 1: the source waits 20 s for its failure
        // at +0 s, the client 60 s for the one at +40 s.
        let throttle = FailureThrottle::new(1, 1, MINUTE);
        throttle.record_failure("svc", src, at(0));
        throttle.record_failure("svc", ip("198.51.100.2"), at(40));
        assert_eq!(throttle.check("svc", src, at(40)), Err(RetryAfter(60)));
    }

    #[test]
    fn per_client_cap_holds_under_100k_distinct_ids() {
        let throttle = FailureThrottle::with_max_keys(30, 300, MINUTE, 100);
        let now = Instant::now();
        for _ in 0..5 {
            throttle.record_failure("victim", ip("203.0.113.66"), now);
        }
        for i in 0..100_000u32 {
            throttle.record_failure(&format!("random-{i}"), IpAddr::from(i.to_be_bytes()), now);
            assert!(throttle.tracked_clients() <= 100);
            assert!(throttle.tracked_keys() <= 100);
        }
        let limited = FailureThrottle::with_max_keys(30, 5, MINUTE, 100);
        for _ in 0..5 {
            limited.record_failure("victim", ip("203.0.113.66"), now);
        }
        for i in 0..100_000u32 {
            limited.record_failure(&format!("random-{i}"), IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(
            limited.check("victim", ip("192.0.2.1"), now).is_err(),
            "the flood evicted the client at its limit"
        );
    }

    #[test]
    fn attempts_sharing_a_verification_count_once() {
        let throttle = FailureThrottle::new(2, 0, MINUTE);
        let now = Instant::now();
        let src = ip("198.51.100.1");
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let a = throttle.begin("svc", src, Some(&k1), now).unwrap();
        let b = throttle.begin("svc", src, Some(&k1), now).unwrap();
        let c = throttle.begin("svc", src, Some(&k2), now).unwrap();
        assert!(
            throttle.begin("svc", src, None, now).is_err(),
            "two verifications in progress fill a limit of two"
        );
        // Joining one already in progress adds no verification.
        let d = throttle.begin("svc", src, Some(&k1), now).unwrap();
        drop((a, b));
        assert!(
            throttle.begin("svc", src, None, now).is_err(),
            "k1 is still in progress"
        );
        drop(d);
        let e = throttle.begin("svc", src, None, now).unwrap();
        // Every attempt that fails is a failure of its own.
        c.failed(now);
        e.failed(now);
        assert_eq!(throttle.check("svc", src, now), Err(RetryAfter(60)));
        assert!(throttle.begin("svc", src, Some(&k2), now).is_err());
    }
}
