//! Secret verifications in flight, shared by identical concurrent requests.
//!
//! A client's first requests after a restart or a rotation all miss the
//! verified-secret cache; arriving together, each would pay its own BCrypt
//! verification (16 connections: 16 × 62 ms of CPU before the first hit),
//! and a burst larger than the verification queue would answer 503. Instead
//! the first of them runs the verification and the others wait for its
//! result.
//!
//! Requests share only when they would verify exactly the same thing: the
//! key is a digest (HMAC-SHA256 under the secret cache's per-process key,
//! so no plaintext is held) of the client id, what the row read says about
//! the client (eligibility, `secrets_version`, the hashes usable at that
//! instant) and the presented secret. A rotation in between splits them. It
//! applies to every verification alike — known client or not, right secret
//! or wrong — so whether requests were coalesced says nothing about whether
//! a client exists; every failed request is still counted by the throttle.
//! The entry goes when its last waiter does, so a result is shared only
//! with requests that arrived while it was being computed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

pub type Key = [u8; 32];

pub struct InFlight<V> {
    map: Mutex<HashMap<Key, Arc<OnceCell<V>>>>,
}

impl<V> Default for InFlight<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> std::fmt::Debug for InFlight<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("keys", &self.len())
            .finish()
    }
}

impl<V: Clone> InFlight<V> {
    /// Runs `verify`, unless one with the same key is running: then takes
    /// `admit()` (a place in the verification queue, held while waiting; its
    /// error is returned at once) and waits for that one's result. Also says
    /// whether this caller ran it. If the caller running it goes away (its
    /// request was dropped), a waiting caller runs it instead.
    pub async fn run<F, Fut, A, P, E>(&self, key: Key, admit: A, verify: F) -> Result<(V, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
        A: FnOnce() -> Result<P, E>,
    {
        let (seat, joined) = self.join(key);
        let _place = if joined { Some(admit()?) } else { None };
        let Some(cell) = seat.cell.as_deref() else {
            // A seat holds its cell until it is dropped; were it not so,
            // verifying alone is still right.
            return Ok((verify().await, true));
        };
        let mut ran = false;
        let value = cell
            .get_or_init(|| {
                ran = true;
                verify()
            })
            .await
            .clone();
        drop(seat);
        Ok((value, ran))
    }
}

impl<V> InFlight<V> {
    /// Keys with a verification running or just finished.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn waiters(&self, key: &Key) -> usize {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).map_or(0, |cell| Arc::strong_count(cell) - 1)
    }

    /// A seat at `key`'s entry, and whether the entry was there already.
    fn join(&self, key: Key) -> (Seat<'_, V>, bool) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let joined = map.contains_key(&key);
        let cell = Arc::clone(map.entry(key).or_default());
        let seat = Seat {
            map: &self.map,
            key,
            cell: Some(cell),
        };
        (seat, joined)
    }
}

/// One caller's share of an entry. Every reference to an entry's cell is
/// taken and released under the map's lock, so the last one out sees a
/// count of one (the map's) and removes the entry.
struct Seat<'a, V> {
    map: &'a Mutex<HashMap<Key, Arc<OnceCell<V>>>>,
    key: Key,
    cell: Option<Arc<OnceCell<V>>>,
}

impl<V> Drop for Seat<'_, V> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.cell.take());
        if map
            .get(&self.key)
            .is_some_and(|cell| Arc::strong_count(cell) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Admission that always succeeds.
    fn admit() -> Result<(), ()> {
        Ok(())
    }

    #[tokio::test]
    async fn concurrent_callers_with_one_key_share_one_run_and_the_entry_goes() {
        let flights = Arc::new(InFlight::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (flights, runs, mut released) = (flights.clone(), runs.clone(), released.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run([7; 32], admit, || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let _ = released.wait_for(|r| *r).await;
                        42
                    })
                    .await
            }));
        }
        // Every caller joins before the run may finish.
        while flights.waiters(&[7; 32]) < 8 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(true).unwrap();
        let mut ran = 0;
        for t in tasks {
            let (value, did) = t.await.unwrap().unwrap();
            assert_eq!(value, 42);
            ran += usize::from(did);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(ran, 1, "exactly one caller says it ran");
        assert!(flights.is_empty(), "the entry leaves with its last caller");
    }

    #[tokio::test]
    async fn different_keys_run_separately() {
        let flights = InFlight::<u8>::default();
        let (a, b) = tokio::join!(
            flights.run([1; 32], admit, || async { 1 }),
            flights.run([2; 32], admit, || async { 2 })
        );
        assert_eq!((a, b), (Ok((1, true)), Ok((2, true))));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_hands_the_run_to_a_waiting_one() {
        let flights = Arc::new(InFlight::<u8>::default());
        let first = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .run([3; 32], admit, std::future::pending::<u8>)
                    .await
            })
        };
        while flights.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let second = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run([3; 32], admit, || async { 9 }).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.abort();
        assert_eq!(second.await.unwrap(), Ok((9, true)));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_caller_refused_admission_gets_the_refusal_and_the_run_goes_on() {
        let flights = Arc::new(InFlight::<u8>::default());
        let (release, released) = tokio::sync::watch::channel(false);
        let first = {
            let (flights, mut released) = (flights.clone(), released.clone());
            tokio::spawn(async move {
                flights
                    .run([4; 32], admit, || async move {
                        let _ = released.wait_for(|r| *r).await;
                        5
                    })
                    .await
            })
        };
        while flights.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let refused = flights
            .run([4; 32], || Err::<(), _>("full"), || async { 6 })
            .await;
        assert_eq!(refused, Err("full"));
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap(), Ok((5, true)));
        assert!(flights.is_empty());
    }
}
