//! What every handler shares: configuration, the storage ports, the hasher,
//! the signing keys, the verification pool, the failure throttle and the
//! metrics. Built once per `Application`; nothing here is global.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use auth_domain::{
    AuditLog, CatalogRepository, Catalogue, ClientRepository, Health, RevocationRepository,
    SecretHasher, SecretPolicy, ServiceAccountRepository, SigningKeyRepository, StoreError,
};
use auth_token::{KeyEncryption, KeyRing};

use crate::in_flight::InFlight;
use crate::metrics::Metrics;
use crate::proxy::TrustedProxies;
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
    /// `APP_ISSUER`; `None` derives it per request (SPEC §4).
    pub issuer: Option<String>,
    pub require_https: bool,
    pub trusted_proxies: TrustedProxies,
    pub secret_verify_concurrency: usize,
    pub secret_verify_queue: usize,
    pub token_failure_limit: u32,
    pub secret_policy: SecretPolicy,
    /// `APP_DATABASE_POOL_TIMEOUT`, also the `Retry-After` of a 503.
    pub pool_timeout: Duration,
    /// How long retired signing keys stay published: at least the longest
    /// token lifetime (1440 minutes).
    pub publish_retired_keys_for: time::Duration,
}

/// The storage ports, each behind a trait object so that tests can put a
/// failing store in front of a real one.
#[derive(Clone)]
pub struct Repos {
    pub clients: Arc<dyn ClientRepository>,
    pub accounts: Arc<dyn ServiceAccountRepository>,
    pub catalogue: Arc<dyn CatalogRepository>,
    pub keys: Arc<dyn SigningKeyRepository>,
    pub revocations: Arc<dyn RevocationRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub health: Arc<dyn Health>,
    /// (connections, idle connections) of the pool, for /metrics.
    pub pool_state: Arc<dyn Fn() -> (u32, u32) + Send + Sync>,
    /// The database is embedded (SQLite): a point read costs a few
    /// microseconds of this thread's CPU and never waits on a network. The
    /// token path then reads the client row on the HTTP worker itself while
    /// a pooled connection is idle, instead of hopping to the blocking pool
    /// and back, which costs two thread switches — more than the read.
    pub local_reads: bool,
}

impl Repos {
    /// One store that implements every port.
    pub fn from_store<S>(store: S, pool_state: Arc<dyn Fn() -> (u32, u32) + Send + Sync>) -> Self
    where
        S: ClientRepository
            + ServiceAccountRepository
            + CatalogRepository
            + SigningKeyRepository
            + RevocationRepository
            + AuditLog
            + Health
            + Clone
            + 'static,
    {
        Self {
            clients: Arc::new(store.clone()),
            accounts: Arc::new(store.clone()),
            catalogue: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            revocations: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            health: Arc::new(store),
            pool_state,
            local_reads: false,
        }
    }

    /// Whether a read can run on the calling (HTTP worker) thread now:
    /// the database is embedded and a connection is idle, so the read
    /// neither waits for the network nor for the pool.
    pub fn can_read_inline(&self) -> bool {
        self.local_reads && (self.pool_state)().1 > 0
    }
}

/// The shortest interval between two key reloads caused by unknown key ids.
pub const MIN_UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

pub struct AppState {
    pub config: HttpConfig,
    pub repos: Repos,
    pub hasher: Arc<dyn SecretHasher>,
    pub key_encryption: KeyEncryption,
    keys: RwLock<Option<KeyRing>>,
    catalogue: RwLock<Option<Arc<Catalogue>>>,
    last_key_reload: std::sync::Mutex<Option<Instant>>,
    unknown_kid_reload: std::sync::Mutex<()>,
    blocking_token_checks: std::sync::atomic::AtomicU64,
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
        let throttle = FailureThrottle::new(config.token_failure_limit, Duration::from_secs(60));
        Self {
            config,
            repos,
            hasher,
            key_encryption,
            keys: RwLock::new(None),
            catalogue: RwLock::new(None),
            last_key_reload: std::sync::Mutex::new(None),
            unknown_kid_reload: std::sync::Mutex::new(()),
            blocking_token_checks: std::sync::atomic::AtomicU64::new(0),
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
        self.keys.read().ok().and_then(|k| k.clone())
    }

    /// Loads the keys from the database (blocking). Called at startup, after
    /// `keys rotate`, and when a token names a key id this process has not
    /// seen (another replica rotated).
    pub fn reload_keys(&self) -> Result<KeyRing, ReloadError> {
        self.reload_keys_for("scheduled")
    }

    /// How many token checks (introspection, admin bearer tokens) have
    /// handed work to the blocking pool since startup.
    pub fn blocking_token_checks(&self) -> u64 {
        self.blocking_token_checks.load(Ordering::Relaxed)
    }

    pub(crate) fn note_blocking_token_check(&self) {
        self.blocking_token_checks.fetch_add(1, Ordering::Relaxed);
    }

    fn reload_keys_for(&self, cause: &'static str) -> Result<KeyRing, ReloadError> {
        self.metrics
            .inc("signing_key_reloads_total", &[("cause", cause)]);
        let stored = self.repos.keys.list().map_err(ReloadError::Store)?;
        let now = auth_domain::now_ms();
        let ring = KeyRing::load(
            &stored,
            &self.key_encryption,
            now,
            self.config.publish_retired_keys_for,
        )
        .map_err(|e| ReloadError::Keys(e.to_string()))?;
        if let Ok(mut k) = self.keys.write() {
            *k = Some(ring.clone());
        }
        if let Ok(mut t) = self.last_key_reload.lock() {
            *t = Some(Instant::now());
        }
        Ok(ring)
    }

    /// The key ring, reloaded if it does not hold `kid` (a key another
    /// replica or `keys rotate` created after this process last loaded).
    /// Reloads for unknown key ids are serialised and at most one per
    /// second: a caller inside that second waits for the next reload
    /// (this blocks: call it off the async workers) instead of rejecting a
    /// genuine token signed a moment ago, and every caller that arrived
    /// before a reload is answered by it, so a flood of made-up key ids
    /// costs one query a second, not one per request.
    pub fn key_ring_with(&self, kid: &str) -> Option<KeyRing> {
        let arrived = Instant::now();
        let _serial = self.unknown_kid_reload.lock().ok()?;
        let ring = self.key_ring();
        if ring.as_ref().is_some_and(|r| r.contains_kid(kid)) {
            return ring;
        }
        let last = self.last_key_reload.lock().ok().and_then(|t| *t);
        if last.is_some_and(|t| t >= arrived) {
            // Reloaded while this caller waited: the key is not there.
            return ring;
        }
        if let Some(t) = last {
            std::thread::sleep(MIN_UNKNOWN_KID_RELOAD_INTERVAL.saturating_sub(t.elapsed()));
        }
        self.reload_keys_for("unknown_kid").ok()
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

    /// Re-reads what other replicas (or `auth-server keys rotate`) may have
    /// changed: the signing keys and the catalogue. Failures keep the old
    /// values; the next round tries again.
    pub fn refresh_from_store(&self) {
        if let Err(e) = self.reload_keys() {
            tracing::warn!(error = %e, "could not refresh the signing keys");
        }
        if let Err(e) = self.reload_catalogue() {
            tracing::warn!(error = %e, "could not refresh the catalogue");
        }
    }

    /// Seconds for `Retry-After` on a 503.
    pub fn retry_after_secs(&self) -> u64 {
        self.config.pool_timeout.as_secs().max(1)
    }
}

/// Refreshes keys and catalogue every `every` on a background thread, which
/// ends when the application state is dropped.
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
