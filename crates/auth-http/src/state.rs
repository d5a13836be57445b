//! What every handler shares: configuration, the storage ports, the hasher,
//! the signing keys, the verification pool, the failure throttle and the
//! metrics. Built once per `Application`; nothing here is global.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use auth_domain::{Catalogue, SecretHasher, SecretPolicy, StoreError};
use auth_token::{KeyEncryption, KeyRing};

use crate::in_flight::InFlight;
use crate::metrics::Metrics;
use crate::proxy::{ForwardedHeaders, Forwarding, TrustedProxies};
use crate::secret_cache::SecretCache;

/// What one secret verification comes to: the slot matched (and whether
/// its hash should be upgraded), why it failed, or no room to run it.
pub type VerifyOutcome = Result<
    Result<(auth_domain::Slot, auth_domain::Verification), auth_domain::AuthFailure>,
    crate::verify_pool::PoolFull,
>;
use crate::throttle::FailureThrottle;
use crate::verify_pool::VerifyPool;

/// auth-http's section of the configuration.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub bind: std::net::SocketAddr,
    /// `APP_ISSUER`; `None` derives it per request (see docs/reference/endpoints.md).
    pub issuer: Option<String>,
    pub require_https: bool,
    pub trusted_proxies: TrustedProxies,
    /// `APP_FORWARDED_HEADERS`: which header family the trusted proxies
    /// write; the other is ignored.
    pub forwarded_headers: ForwardedHeaders,
    pub secret_verify_concurrency: usize,
    pub secret_verify_queue: usize,
    pub token_failure_limit: u32,
    /// `APP_TOKEN_FAILURE_LIMIT_PER_CLIENT`: failures per client id over
    /// every source.
    pub token_failure_limit_per_client: u32,
    pub secret_policy: SecretPolicy,
    /// `APP_DATABASE_POOL_TIMEOUT`, also the `Retry-After` of a 503.
    pub pool_timeout: Duration,
    /// How long a key retired by rotation keeps verifying and stays
    /// published; the server uses `auth_token::RETIRED_KEY_WINDOW`.
    pub retired_key_window: time::Duration,
}

impl HttpConfig {
    /// What the proxy middleware needs: whom to trust, and for which headers.
    pub fn forwarding(&self) -> Forwarding {
        Forwarding::new(self.trusted_proxies.clone(), self.forwarded_headers)
    }
}

pub use auth_service::Repos;

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
    schedule: std::sync::Mutex<ReloadSchedule>,
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

pub struct AppState {
    pub config: HttpConfig,
    pub repos: Repos,
    pub hasher: Arc<dyn SecretHasher>,
    pub key_encryption: KeyEncryption,
    keys: RwLock<Option<LoadedRing>>,
    /// Numbers the key loads in the order they begin reading.
    key_loads: AtomicU64,
    catalogue: RwLock<Option<Arc<Catalogue>>>,
    last_key_reload: std::sync::Mutex<Option<Instant>>,
    unknown_kid_reload: UnknownKidReload,
    blocking_token_checks: AtomicU64,
    ready: AtomicBool,
    pub verify_pool: VerifyPool,
    pub throttle: FailureThrottle,
    pub secret_cache: SecretCache,
    /// Secret verifications running now, shared by identical requests.
    pub verifications: InFlight<VerifyOutcome>,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(
        config: HttpConfig,
        repos: Repos,
        hasher: Arc<dyn SecretHasher>,
        key_encryption: KeyEncryption,
    ) -> Self {
        let verify_pool =
            VerifyPool::new(config.secret_verify_concurrency, config.secret_verify_queue);
        let throttle = FailureThrottle::new(
            config.token_failure_limit,
            config.token_failure_limit_per_client,
            Duration::from_secs(60),
        );
        Self {
            config,
            repos,
            hasher,
            key_encryption,
            keys: RwLock::new(None),
            key_loads: AtomicU64::new(0),
            catalogue: RwLock::new(None),
            last_key_reload: std::sync::Mutex::new(None),
            unknown_kid_reload: UnknownKidReload {
                schedule: std::sync::Mutex::new(ReloadSchedule::default()),
                done: tokio::sync::watch::Sender::new(0),
            },
            blocking_token_checks: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            verify_pool,
            throttle,
            secret_cache: SecretCache::new(crate::secret_cache::DEFAULT_CAPACITY),
            verifications: InFlight::default(),
            metrics: Metrics::default(),
        }
    }

    /// Startup is done (migrations, signing key, seeding): /readyz may say so.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_started(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The current key ring, if startup has loaded one.
    pub fn key_ring(&self) -> Option<KeyRing> {
        self.keys
            .read()
            .ok()
            .and_then(|k| k.as_ref().map(|l| l.ring.clone()))
    }

    /// Loads the keys from the database (blocking). Called at startup, after
    /// `keys rotate`, and periodically by [`spawn_refresher`].
    pub fn reload_keys(&self) -> Result<KeyRing, ReloadError> {
        self.reload_keys_for("scheduled")
    }

    /// How many token checks (introspection, admin bearer tokens) have
    /// handed work to the blocking pool since startup. Only a token whose
    /// signature verified does: its revocation and client rows are read
    /// there.
    pub fn blocking_token_checks(&self) -> u64 {
        self.blocking_token_checks.load(Ordering::Relaxed)
    }

    pub(crate) fn note_blocking_token_check(&self) {
        self.blocking_token_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Loads the keys and installs them unless a load that began later has
    /// installed its ring already: two loads may finish out of order, and
    /// the older one must not bring back a key revoked in between.
    fn reload_keys_for(&self, cause: &'static str) -> Result<KeyRing, ReloadError> {
        auth_service::Observer::key_reload(&self.metrics, cause);
        if let Ok(mut t) = self.last_key_reload.lock() {
            *t = Some(Instant::now());
        }
        let load = self.key_loads.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = self.repos.keys.list().map_err(ReloadError::Store)?;
        let now = auth_domain::now_ms();
        let ring = KeyRing::load(
            &stored,
            &self.key_encryption,
            now,
            self.config.retired_key_window,
        )
        .map_err(|e| ReloadError::Keys(e.to_string()))?;
        let mut installed = self
            .keys
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
    /// query per interval and holds no thread while it waits.
    pub async fn key_ring_with(self: &Arc<Self>, kid: &str) -> Option<KeyRing> {
        if let Some(ring) = self.key_ring().filter(|r| r.contains_kid(kid)) {
            return Some(ring);
        }
        let mut done = self.unknown_kid_reload.done.subscribe();
        let (generation, start) = {
            let mut schedule = self.unknown_kid_reload.schedule.lock().ok()?;
            if schedule.pending {
                (schedule.scheduled, false)
            } else {
                schedule.scheduled += 1;
                schedule.pending = true;
                (schedule.scheduled, true)
            }
        };
        if start {
            actix_web::rt::spawn(unknown_kid_reload(self.clone(), generation));
        }
        done.wait_for(|finished| *finished >= generation)
            .await
            .ok()?;
        self.key_ring()
    }

    /// The catalogue (built-in plus stored extensions). It changes only when
    /// some replica seeds, so it is cached and refreshed by
    /// [`spawn_refresher`] instead of being read on every token request.
    pub fn catalogue(&self) -> Result<Arc<Catalogue>, StoreError> {
        if let Some(c) = self.catalogue.read().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        self.reload_catalogue()
    }

    fn reload_catalogue(&self) -> Result<Arc<Catalogue>, StoreError> {
        let loaded = Arc::new(self.repos.catalogue.load()?);
        if let Ok(mut c) = self.catalogue.write() {
            *c = Some(loaded.clone());
        }
        Ok(loaded)
    }

    /// Re-reads what other replicas (or `auth-server keys rotate` and
    /// `keys revoke`) may have changed: the signing keys and the catalogue;
    /// and does the housekeeping: revocation records of tokens that have
    /// expired are purged, since an expired token is invalid anyway.
    /// Failures keep the old values; the next round tries again.
    pub fn refresh_from_store(&self) {
        if let Err(e) = self.reload_keys() {
            tracing::warn!(error = %e, "could not refresh the signing keys");
        }
        if let Err(e) = self.reload_catalogue() {
            tracing::warn!(error = %e, "could not refresh the catalogue");
        }
        match self.repos.revocations.purge_expired(auth_domain::now_ms()) {
            Ok(purged) => {
                tracing::debug!(purged, "purged the revocation records of expired tokens");
            }
            Err(e) => tracing::warn!(error = %e, "could not purge old revocation records"),
        }
    }

    /// Seconds for `Retry-After` on a 503.
    pub fn retry_after_secs(&self) -> u64 {
        self.config.pool_timeout.as_secs().max(1)
    }
}

/// One generation of the shared unknown-kid reload: waits for the previous
/// generation and for the interval since the last reload, asynchronously,
/// then reads the keys once on the blocking pool and wakes its waiters.
async fn unknown_kid_reload(state: Arc<AppState>, generation: u64) {
    let mut done = state.unknown_kid_reload.done.subscribe();
    let _ = done.wait_for(|finished| *finished + 1 >= generation).await;
    let last = state.last_key_reload.lock().ok().and_then(|t| *t);
    if let Some(wait) = last.map(|t| MIN_UNKNOWN_KID_RELOAD_INTERVAL.saturating_sub(t.elapsed())) {
        if !wait.is_zero() {
            actix_web::rt::time::sleep(wait).await;
        }
    }
    // From here on, newcomers wait for the next generation.
    if let Ok(mut schedule) = state.unknown_kid_reload.schedule.lock() {
        schedule.pending = false;
    }
    let st = state.clone();
    match actix_web::web::block(move || st.reload_keys_for("unknown_kid")).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not reload the signing keys"),
        Err(e) => tracing::warn!(error = %e, "could not reload the signing keys"),
    }
    state
        .unknown_kid_reload
        .done
        .send_modify(|finished| *finished = (*finished).max(generation));
}

/// Refreshes keys and catalogue, and purges old revocation records, every
/// `every` on a background thread, which ends when the application state is
/// dropped.
pub fn spawn_refresher(state: &actix_web::web::Data<AppState>, every: Duration) {
    let weak = Arc::downgrade(&state.clone().into_inner());
    let spawned = std::thread::Builder::new()
        .name("store-refresh".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            match weak.upgrade() {
                Some(state) => state.refresh_from_store(),
                None => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the key and catalogue refresher");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Store(StoreError),
    #[error("signing keys: {0}")]
    Keys(String),
}
