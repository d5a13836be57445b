//! The auth-server's use cases, free of HTTP and SQL: what a Rust service
//! needs to authenticate clients, issue and verify tokens and manage
//! secrets over the storage ports of `auth-domain`. `auth-http` translates
//! requests and errors to and from these functions; nothing here knows
//! actix-web or diesel (`deny.toml` enforces it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use auth_domain::{
    AuditLog, CatalogRepository, Catalogue, ClientRepository, Health, RevocationRepository,
    SecretHasher, ServiceAccountRepository, SigningKeyRepository, StoreError,
};
use auth_token::{KeyEncryption, KeyRing};

pub mod admin;
pub mod authn;
pub mod caches;
pub mod error;
pub mod forwarded;
pub mod in_flight;
pub mod secret_cache;
pub mod secret_expiry;
pub mod throttle;
pub mod tokens;
pub mod verify_pool;

pub use authn::Credentials;
pub use caches::MIN_UNKNOWN_KID_RELOAD_INTERVAL;
pub use error::{OAuthError, ReloadError, TokenCheckError};
pub use tokens::{IssuedToken, TokenRequest};

use authn::VerifyOutcome;
use caches::{CatalogueCache, KeyCache};
use in_flight::InFlight;
use secret_cache::SecretCache;
use throttle::FailureThrottle;
use verify_pool::VerifyPool;

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

/// What the use cases report for metrics. The caller (the HTTP layer's
/// registry, or nothing for an embedding service) decides what to do with
/// it; every method has a no-op default.
pub trait Observer: Send + Sync {
    /// A token request found (or did not find) its secret in the
    /// verified-secret cache.
    fn secret_cache(&self, _hit: bool) {}
    /// One secret hash verification ran for this long.
    fn secret_verification(&self, _took: std::time::Duration) {}
    /// A request was answered by an identical verification already running.
    fn verification_shared(&self) {}
    /// A verification was refused because the queue was full.
    fn verification_rejected(&self) {}
    /// What became of a weaker stored hash after a login: `stored`,
    /// `skipped`, `superseded` or `failed`.
    fn hash_upgrade(&self, _outcome: &'static str) {}
    /// The signing keys were reloaded: `scheduled` or `unknown_kid`.
    fn key_reload(&self, _cause: &'static str) {}
}

/// Reports nothing.
pub struct NoObserver;

impl Observer for NoObserver {}

/// The settings of the authentication and token use cases.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The issuer every verified token must name; `None` accepts any (the
    /// signature alone proves the origin, and the HTTP server then derives
    /// the issuer per request).
    pub issuer: Option<String>,
    /// Threads verifying secret hashes.
    pub secret_verify_concurrency: usize,
    /// Verifications that may wait for a thread; beyond that a request is
    /// refused with `temporarily_unavailable`.
    pub secret_verify_queue: usize,
    /// Failed authentications per client id and source address within
    /// `failure_window` before `slow_down`; 0 disables the limit.
    pub token_failure_limit: u32,
    /// Failed authentications per client id over every source within
    /// `failure_window`; 0 disables the limit.
    pub token_failure_limit_per_client: u32,
    pub failure_window: Duration,
    /// (client, stored hash) pairs the verified-secret cache remembers; 0
    /// disables it.
    pub secret_cache_capacity: usize,
    /// How long a key retired by rotation keeps verifying.
    pub retired_key_window: time::Duration,
    /// What `temporarily_unavailable` asks a caller to wait when the
    /// database fails (the pool timeout: by then a connection is likely).
    pub retry_after: Duration,
}

impl Default for AuthConfig {
    /// The server's defaults.
    fn default() -> Self {
        Self {
            issuer: None,
            secret_verify_concurrency: std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get),
            secret_verify_queue: 64,
            token_failure_limit: 30,
            token_failure_limit_per_client: 300,
            failure_window: Duration::from_secs(60),
            secret_cache_capacity: secret_cache::DEFAULT_CAPACITY,
            retired_key_window: auth_token::RETIRED_KEY_WINDOW,
            retry_after: Duration::from_secs(2),
        }
    }
}

impl AuthConfig {
    /// [`Self::retry_after`] in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

/// Client authentication, token issuance, verification and revocation over
/// the storage ports, with the state they share: the key and catalogue
/// caches, the verification pool, the failure throttle, the verified-secret
/// cache and the verifications in flight. Build one per process and share
/// it in an `Arc`; its async methods need a tokio runtime.
pub struct AuthService {
    config: AuthConfig,
    repos: Repos,
    hasher: Arc<dyn SecretHasher>,
    keys: Arc<KeyCache>,
    catalogue: CatalogueCache,
    verify_pool: VerifyPool,
    throttle: FailureThrottle,
    secret_cache: SecretCache,
    /// Secret verifications running now, shared by identical requests.
    verifications: InFlight<VerifyOutcome>,
    observer: Arc<dyn Observer>,
    blocking_token_checks: AtomicU64,
}

impl AuthService {
    pub fn new(
        config: AuthConfig,
        repos: Repos,
        hasher: Arc<dyn SecretHasher>,
        key_encryption: KeyEncryption,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let verify_pool =
            VerifyPool::new(config.secret_verify_concurrency, config.secret_verify_queue);
        let throttle = FailureThrottle::new(
            config.token_failure_limit,
            config.token_failure_limit_per_client,
            config.failure_window,
        );
        let keys = Arc::new(KeyCache::new(
            repos.keys.clone(),
            key_encryption,
            config.retired_key_window,
            observer.clone(),
        ));
        Self {
            catalogue: CatalogueCache::new(repos.catalogue.clone()),
            secret_cache: SecretCache::new(config.secret_cache_capacity),
            config,
            repos,
            hasher,
            keys,
            verify_pool,
            throttle,
            verifications: InFlight::default(),
            observer,
            blocking_token_checks: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn repos(&self) -> &Repos {
        &self.repos
    }

    pub fn hasher(&self) -> &Arc<dyn SecretHasher> {
        &self.hasher
    }

    /// How stored private keys are encrypted.
    pub fn key_encryption(&self) -> &KeyEncryption {
        self.keys.encryption()
    }

    /// The secret verification pool (its sizes are /metrics gauges).
    pub fn verify_pool(&self) -> &VerifyPool {
        &self.verify_pool
    }

    pub fn throttle(&self) -> &FailureThrottle {
        &self.throttle
    }

    pub fn secret_cache(&self) -> &SecretCache {
        &self.secret_cache
    }

    /// The secret verifications running now.
    pub fn verifications(&self) -> &InFlight<VerifyOutcome> {
        &self.verifications
    }

    /// How many token checks have handed work to the blocking pool since
    /// startup. Only a token whose signature verified does: its revocation
    /// and client rows are read there.
    pub fn blocking_token_checks(&self) -> u64 {
        self.blocking_token_checks.load(Ordering::Relaxed)
    }

    /// The current key ring, if one has been loaded.
    pub fn key_ring(&self) -> Option<KeyRing> {
        self.keys.current()
    }

    /// Loads the signing keys from the store. Blocking. Call it once
    /// before issuing tokens; [`Self::refresh_from_store`] repeats it.
    pub fn reload_keys(&self) -> Result<KeyRing, ReloadError> {
        self.keys.reload("scheduled")
    }

    /// The key ring, reloaded (once, shared by every caller) if it does
    /// not hold `kid`.
    pub async fn key_ring_with(&self, kid: &str) -> Option<KeyRing> {
        self.keys.with_kid(kid).await
    }

    /// The catalogue (built-in plus stored extensions), cached: it changes
    /// only when some replica seeds. Blocking on the first call.
    pub fn catalogue(&self) -> Result<Arc<Catalogue>, StoreError> {
        self.catalogue.get()
    }

    /// Re-reads what other replicas (or `auth-server keys rotate` and
    /// `keys revoke`) may have changed: the signing keys and the catalogue;
    /// and does the housekeeping: revocation records of tokens that have
    /// expired are purged, since an expired token is invalid anyway.
    /// Failures keep the old values; the next round tries again. Blocking.
    pub fn refresh_from_store(&self) {
        if let Err(e) = self.reload_keys() {
            tracing::warn!(error = %e, "could not refresh the signing keys");
        }
        if let Err(e) = self.catalogue.reload() {
            tracing::warn!(error = %e, "could not refresh the catalogue");
        }
        match self.repos.revocations.purge_expired(auth_domain::now_ms()) {
            Ok(purged) => {
                tracing::debug!(purged, "purged the revocation records of expired tokens");
            }
            Err(e) => tracing::warn!(error = %e, "could not purge old revocation records"),
        }
    }

    /// Runs [`Self::refresh_from_store`] every `every` on a background
    /// thread, which ends once the service is dropped.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("store-refresh".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match weak.upgrade() {
                    Some(service) => service.refresh_from_store(),
                    None => return,
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the key and catalogue refresher");
        }
    }

    /// A database failure on a client-authenticated path: logged, and
    /// answered as `temporarily_unavailable`.
    fn store_error(&self, e: &StoreError) -> OAuthError {
        tracing::warn!(error = %e, "database error on a client-authenticated path");
        OAuthError::TemporarilyUnavailable {
            retry_after: self.config.retry_after_secs(),
        }
    }
}
