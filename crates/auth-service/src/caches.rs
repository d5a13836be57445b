//! The signing keys and the catalogue, cached in memory: every token
//! request signs with the one and resolves permissions through the other,
//! and both change only when some replica (or `auth-server keys rotate`,
//! or seeding) writes them. A token naming a key id this process has not
//! loaded triggers a shared reload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use auth_domain::{CatalogRepository, Catalogue, SigningKeyRepository, StoreError};
use auth_token::{KeyEncryption, KeyRing};

use crate::error::ReloadError;
use crate::Observer;

/// The shortest interval between two key reloads caused by unknown key ids.
pub const MIN_UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The loaded key ring and the number of the load that made it.
struct LoadedRing {
    load: u64,
    ring: KeyRing,
}

/// The shared key reload for unknown key ids: callers wait on `done` for a
/// generation; one task per generation reloads.
struct UnknownKidReload {
    schedule: Mutex<ReloadSchedule>,
    /// The last generation whose reload has finished.
    done: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct ReloadSchedule {
    /// The newest generation scheduled.
    scheduled: u64,
    /// Whether that generation has yet to begin reading the database: only
    /// then may a newly arrived caller wait for it, because a read that
    /// began earlier may predate the key the caller's token names.
    pending: bool,
}

/// The signing keys as last loaded from the store.
pub struct KeyCache {
    store: Arc<dyn SigningKeyRepository>,
    encryption: KeyEncryption,
    /// How long a key retired by rotation keeps verifying.
    retired_window: time::Duration,
    observer: Arc<dyn Observer>,
    ring: RwLock<Option<LoadedRing>>,
    /// Numbers the key loads in the order they begin reading.
    loads: AtomicU64,
    last_reload: Mutex<Option<Instant>>,
    unknown_kid: UnknownKidReload,
}

impl KeyCache {
    pub fn new(
        store: Arc<dyn SigningKeyRepository>,
        encryption: KeyEncryption,
        retired_window: time::Duration,
        observer: Arc<dyn Observer>,
    ) -> Self {
        Self {
            store,
            encryption,
            retired_window,
            observer,
            ring: RwLock::new(None),
            loads: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            unknown_kid: UnknownKidReload {
                schedule: Mutex::new(ReloadSchedule::default()),
                done: tokio::sync::watch::Sender::new(0),
            },
        }
    }

    /// How stored private keys are encrypted.
    pub fn encryption(&self) -> &KeyEncryption {
        &self.encryption
    }

    /// The current key ring, if one has been loaded.
    pub fn current(&self) -> Option<KeyRing> {
        self.ring
            .read()
            .ok()
            .and_then(|k| k.as_ref().map(|l| l.ring.clone()))
    }

    /// Loads the keys and installs them unless a load that began later has
    /// installed its ring already: two loads may finish out of order, and
    /// the older one must not bring back a key revoked in between.
    /// Blocking (one database read).
    pub fn reload(&self, cause: &'static str) -> Result<KeyRing, ReloadError> {
        self.observer.key_reload(cause);
        if let Ok(mut t) = self.last_reload.lock() {
            *t = Some(Instant::now());
        }
        let load = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = self.store.list().map_err(ReloadError::Store)?;
        let ring = KeyRing::load(
            &stored,
            &self.encryption,
            auth_domain::now_ms(),
            self.retired_window,
        )
        .map_err(|e| ReloadError::Keys(e.to_string()))?;
        let mut installed = self
            .ring
            .write()
            .map_err(|_| ReloadError::Keys("the key ring lock is poisoned".to_owned()))?;
        match installed.as_ref() {
            Some(newer) if newer.load > load => Ok(newer.ring.clone()),
            _ => {
                *installed = Some(LoadedRing {
                    load,
                    ring: ring.clone(),
                });
                Ok(ring)
            }
        }
    }

    /// The key ring, reloaded if it does not hold `kid` (a key another
    /// replica or `keys rotate` created after this process last loaded).
    ///
    /// The wait is asynchronous and shared: every caller waits for one
    /// reload that begins after it arrived, and one task per reload reads
    /// the database (on the blocking pool), at most once per
    /// [`MIN_UNKNOWN_KID_RELOAD_INTERVAL`]. So a genuine token signed a
    /// moment ago verifies, while a flood of made-up key ids costs one
    /// query per interval and holds no thread while it waits. Needs a
    /// tokio runtime.
    pub async fn with_kid(self: &Arc<Self>, kid: &str) -> Option<KeyRing> {
        if let Some(ring) = self.current().filter(|r| r.contains_kid(kid)) {
            return Some(ring);
        }
        let mut done = self.unknown_kid.done.subscribe();
        let (generation, start) = {
            let mut schedule = self.unknown_kid.schedule.lock().ok()?;
            if schedule.pending {
                (schedule.scheduled, false)
            } else {
                schedule.scheduled += 1;
                schedule.pending = true;
                (schedule.scheduled, true)
            }
        };
        if start {
            tokio::spawn(self.clone().unknown_kid_reload(generation));
        }
        done.wait_for(|finished| *finished >= generation)
            .await
            .ok()?;
        self.current()
    }

    /// One generation of the shared unknown-kid reload: waits for the
    /// previous generation and for the interval since the last reload,
    /// asynchronously, then reads the keys once on the blocking pool and
    /// wakes its waiters.
    async fn unknown_kid_reload(self: Arc<Self>, generation: u64) {
        let mut done = self.unknown_kid.done.subscribe();
        let _ = done.wait_for(|finished| *finished + 1 >= generation).await;
        let last = self.last_reload.lock().ok().and_then(|t| *t);
        if let Some(wait) =
            last.map(|t| MIN_UNKNOWN_KID_RELOAD_INTERVAL.saturating_sub(t.elapsed()))
        {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        // From here on, newcomers wait for the next generation.
        if let Ok(mut schedule) = self.unknown_kid.schedule.lock() {
            schedule.pending = false;
        }
        let keys = self.clone();
        match tokio::task::spawn_blocking(move || keys.reload("unknown_kid")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not reload the signing keys"),
            Err(e) => tracing::warn!(error = %e, "could not reload the signing keys"),
        }
        self.unknown_kid
            .done
            .send_modify(|finished| *finished = (*finished).max(generation));
    }
}

/// The catalogue (built-in plus stored extensions) as last loaded.
pub struct CatalogueCache {
    store: Arc<dyn CatalogRepository>,
    cached: RwLock<Option<Arc<Catalogue>>>,
}

impl CatalogueCache {
    pub fn new(store: Arc<dyn CatalogRepository>) -> Self {
        Self {
            store,
            cached: RwLock::new(None),
        }
    }

    /// The cached catalogue, loaded on first use. Blocking on a miss.
    pub fn get(&self) -> Result<Arc<Catalogue>, StoreError> {
        if let Some(c) = self.cached.read().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        self.reload()
    }

    /// Reads the catalogue again. Blocking.
    pub fn reload(&self) -> Result<Arc<Catalogue>, StoreError> {
        let loaded = Arc::new(self.store.load()?);
        if let Ok(mut c) = self.cached.write() {
            *c = Some(loaded.clone());
        }
        Ok(loaded)
    }
}
