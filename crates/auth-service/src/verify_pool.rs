//! A bounded pool of dedicated OS threads for secret verification (BCrypt),
//! so that it never runs on an async worker (see docs/reference/token-endpoint.md,
//! `APP_SECRET_VERIFY_CONCURRENCY`, `APP_SECRET_VERIFY_QUEUE`).
//!
//! `concurrency` threads run jobs; at most `queue` more wait for them. A job
//! offered beyond that is refused at once with [`PoolFull`] (the caller
//! answers 503 `temporarily_unavailable`), so a flood of token requests
//! cannot pile up unbounded CPU work or memory.
//!
//! Dedicated threads rather than `spawn_blocking`: actix runs one runtime per
//! worker, each with its own blocking pool, so only a pool shared by all
//! workers can bound the CPU spent on hashing; and the hashing threads do
//! not compete with database calls for blocking-pool slots.
//!
//! A queued job whose caller has gone away (the client disconnected and the
//! request future was dropped) is skipped rather than run. A job that panics
//! does not take its thread down: the panic is re-raised in the caller, as
//! if the job had been called there.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool already holds as many jobs as it admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret verification queue is full")]
pub struct PoolFull;

#[derive(Debug, Default)]
struct Counters {
    admitted: AtomicUsize,
    running: AtomicUsize,
    queued: AtomicUsize,
}

struct Inner {
    /// `None` when no thread could be started: every job is then refused.
    sender: Option<mpsc::Sender<Job>>,
    counters: Arc<Counters>,
    capacity: usize,
    threads: usize,
}

/// Cheap to clone; all clones share the threads, which stop once the last
/// clone is dropped and the jobs already queued are done.
#[derive(Clone)]
pub struct VerifyPool {
    inner: Arc<Inner>,
}

impl fmt::Debug for VerifyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyPool")
            .field("threads", &self.inner.threads)
            .field("capacity", &self.inner.capacity)
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .finish()
    }
}

impl VerifyPool {
    /// Starts `concurrency` threads (at least one) and admits up to
    /// `concurrency + queue` jobs at a time. Should the OS refuse a thread,
    /// the failure is logged and the pool runs with those it got.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = 0;
        for i in 0..concurrency.max(1) {
            let receiver = Arc::clone(&receiver);
            let started = thread::Builder::new()
                .name(format!("secret-verify-{i}"))
                .spawn(move || work(&receiver));
            match started {
                Ok(_) => threads += 1,
                Err(error) => {
                    tracing::error!(%error, "could not start a secret-verification thread");
                }
            }
        }
        let sender = (threads > 0).then_some(sender);
        Self {
            inner: Arc::new(Inner {
                sender,
                counters: Arc::new(Counters::default()),
                capacity: if threads > 0 { threads + queue } else { 0 },
                threads,
            }),
        }
    }

    /// Runs `job` on a pool thread and returns its result; [`PoolFull`] at
    /// once when `concurrency + queue` jobs are already admitted.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolFull> {
        let Some(sender) = &self.inner.sender else {
            return Err(PoolFull);
        };
        let mut ticket = Ticket::admit(&self.inner.counters, self.inner.capacity)?;
        let (reply, result) = oneshot::channel();
        let task: Job = Box::new(move || {
            if reply.is_closed() {
                return;
            }
            ticket.start();
            let outcome = panic::catch_unwind(AssertUnwindSafe(job));
            // Release the slot before replying, so that a caller who has its
            // result also sees the counters without it.
            drop(ticket);
            // The caller may have gone meanwhile; the result is then dropped.
            let _ = reply.send(outcome);
        });
        // Sending fails only if every thread has gone; the returned task is
        // dropped with its ticket, which releases the slot.
        sender.send(task).map_err(|_| PoolFull)?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => panic::resume_unwind(payload),
            // The task was dropped unrun, which only happens when the
            // threads are gone: the pool has no capacity at all.
            Err(_) => Err(PoolFull),
        }
    }

    /// Holds a place among the `concurrency + queue` admitted jobs without
    /// running anything, until the returned value is dropped: for a
    /// request that waits for an identical verification already admitted
    /// (see [`crate::in_flight`]), so that it counts against the bound as
    /// a job of its own would, and a burst still answers 503 beyond it.
    pub fn reserve(&self) -> Result<Reservation, PoolFull> {
        if self.inner.sender.is_none() {
            return Err(PoolFull);
        }
        Ticket::admit(&self.inner.counters, self.inner.capacity).map(Reservation)
    }

    /// Jobs running now.
    pub fn in_flight(&self) -> usize {
        self.inner.counters.running.load(Ordering::Relaxed)
    }

    /// Jobs admitted and waiting for a thread.
    pub fn queued(&self) -> usize {
        self.inner.counters.queued.load(Ordering::Relaxed)
    }
}

fn work(receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The guard is dropped at the end of this statement, before the job
        // runs, so other threads can take the next one meanwhile.
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// A place held by [`VerifyPool::reserve`]; counted as queued.
pub struct Reservation(#[allow(dead_code)] Ticket);

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reservation")
    }
}

/// One admitted job's place in the counters, released exactly once on drop
/// whether the job ran, was skipped or was never sent.
struct Ticket {
    counters: Arc<Counters>,
    running: bool,
}

impl Ticket {
    fn admit(counters: &Arc<Counters>, capacity: usize) -> Result<Self, PoolFull> {
        counters
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .map_err(|_| PoolFull)?;
        counters.queued.fetch_add(1, Ordering::AcqRel);
        Ok(Self {
            counters: Arc::clone(counters),
            running: false,
        })
    }

    fn start(&mut self) {
        self.counters.queued.fetch_sub(1, Ordering::AcqRel);
        self.counters.running.fetch_add(1, Ordering::AcqRel);
        self.running = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let state = if self.running {
            &self.counters.running
        } else {
            &self.counters.queued
        };
        state.fetch_sub(1, Ordering::AcqRel);
        self.counters.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Condvar;
    use std::time::{Duration, Instant};

    /// Holds jobs until opened.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn results_come_back() {
        let pool = VerifyPool::new(2, 4);
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        let text = pool.run(|| "hashed".to_owned()).await;
        assert_eq!(text.as_deref(), Ok("hashed"));
    }

    #[tokio::test]
    async fn jobs_run_off_the_calling_thread() {
        let pool = VerifyPool::new(1, 0);
        let caller = thread::current().id();
        let (id, name) = pool
            .run(|| {
                let me = thread::current();
                (me.id(), me.name().map(str::to_owned))
            })
            .await
            .unwrap();
        assert_ne!(id, caller);
        assert_eq!(name.as_deref(), Some("secret-verify-0"));
    }

    #[tokio::test]
    async fn fourth_job_is_refused_with_concurrency_1_and_queue_2() {
        let pool = VerifyPool::new(1, 2);
        let gate = Arc::new(Gate::default());
        let mut admitted = Vec::new();
        for n in 0..3 {
            let (pool, gate) = (pool.clone(), Arc::clone(&gate));
            admitted.push(tokio::spawn(async move {
                pool.run(move || {
                    gate.wait();
                    n
                })
                .await
            }));
        }
        until("three admitted jobs", || {
            pool.in_flight() == 1 && pool.queued() == 2
        })
        .await;

        let started = Instant::now();
        assert_eq!(pool.run(|| 99).await, Err(PoolFull));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused at once"
        );
        assert_eq!(
            (pool.in_flight(), pool.queued()),
            (1, 2),
            "refusal changes nothing"
        );

        gate.open();
        let mut results = Vec::new();
        for handle in admitted {
            results.push(handle.await.unwrap());
        }
        assert_eq!(results, vec![Ok(0), Ok(1), Ok(2)]);
        assert_eq!((pool.in_flight(), pool.queued()), (0, 0));
        assert_eq!(pool.run(|| 5).await, Ok(5), "capacity is back");
    }

    #[tokio::test]
    async fn no_more_than_concurrency_jobs_run_at_once() {
        let pool = VerifyPool::new(2, 10);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for n in 0..8 {
            let (pool, running, peak) = (pool.clone(), Arc::clone(&running), Arc::clone(&peak));
            handles.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    n
                })
                .await
            }));
        }
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap().unwrap();
        }
        assert_eq!(total, (0..8).sum::<i32>());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!((pool.in_flight(), pool.queued()), (0, 0));
    }

    #[tokio::test]
    async fn abandoned_queued_job_is_skipped_and_releases_its_slot() {
        let pool = VerifyPool::new(1, 1);
        let gate = Arc::new(Gate::default());
        let blocker = {
            let (pool, gate) = (pool.clone(), Arc::clone(&gate));
            tokio::spawn(async move { pool.run(move || gate.wait()).await })
        };
        until("the blocking job", || pool.in_flight() == 1).await;

        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = {
            let (pool, ran) = (pool.clone(), Arc::clone(&ran));
            tokio::spawn(async move { pool.run(move || ran.store(true, Ordering::SeqCst)).await })
        };
        until("the queued job", || pool.queued() == 1).await;
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());

        gate.open();
        assert_eq!(blocker.await.unwrap(), Ok(()));
        until("the pool to drain", || {
            pool.in_flight() == 0 && pool.queued() == 0
        })
        .await;
        assert!(
            !ran.load(Ordering::SeqCst),
            "nobody waits for it, so it must not run"
        );
        assert_eq!(pool.run(|| 1).await, Ok(1));
    }

    #[tokio::test]
    async fn a_panicking_job_reaches_its_caller_and_keeps_the_thread() {
        let pool = VerifyPool::new(1, 0);
        let failing = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| -> u8 { panic!("job failed") }).await })
        };
        assert!(failing.await.unwrap_err().is_panic());
        assert_eq!((pool.in_flight(), pool.queued()), (0, 0));
        assert_eq!(pool.run(|| 3).await, Ok(3), "the only thread survived");
    }

    #[tokio::test]
    async fn zero_queue_admits_exactly_concurrency() {
        let pool = VerifyPool::new(2, 0);
        let gate = Arc::new(Gate::default());
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (pool, gate) = (pool.clone(), Arc::clone(&gate));
            handles.push(tokio::spawn(
                async move { pool.run(move || gate.wait()).await },
            ));
        }
        until("two running jobs", || pool.in_flight() == 2).await;
        assert_eq!(pool.run(|| ()).await, Err(PoolFull));
        gate.open();
        for handle in handles {
            assert_eq!(handle.await.unwrap(), Ok(()));
        }
    }
}
