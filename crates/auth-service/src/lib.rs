//! The auth-server's use cases, free of HTTP and SQL: what a Rust service
//! needs to authenticate clients, issue and verify tokens and manage
//! secrets over the storage ports of `auth-domain`. `auth-http` translates
//! requests and errors to and from these functions; nothing here knows
//! actix-web or diesel (`deny.toml` enforces it).

pub mod admin;

use std::sync::Arc;

use auth_domain::{
    AuditLog, CatalogRepository, ClientRepository, Health, RevocationRepository,
    ServiceAccountRepository, SigningKeyRepository,
};

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
