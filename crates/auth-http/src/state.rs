//! What every handler shares: configuration, the use cases
//! ([`AuthService`]: storage ports, hasher, key and catalogue caches,
//! verification pool, failure throttle) and the metrics. Built once per
//! `Application`; nothing here is global.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use auth_domain::{SecretHasher, SecretPolicy};
use auth_service::{AuthConfig, AuthService};
use auth_token::KeyEncryption;

use crate::proxy::{ForwardedHeaders, Forwarding, TrustedProxies};
use auth_metrics::Metrics;

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

    /// The settings of the authentication and token use cases.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            issuer: self.issuer.clone(),
            secret_verify_concurrency: self.secret_verify_concurrency,
            secret_verify_queue: self.secret_verify_queue,
            token_failure_limit: self.token_failure_limit,
            token_failure_limit_per_client: self.token_failure_limit_per_client,
            retired_key_window: self.retired_key_window,
            retry_after: self.pool_timeout,
            ..AuthConfig::default()
        }
    }
}

pub use auth_service::{Repos, MIN_UNKNOWN_KID_RELOAD_INTERVAL};

pub struct AppState {
    pub config: HttpConfig,
    /// The use cases; the fields below are the same objects it holds,
    /// kept here for the handlers that reach the ports directly.
    pub auth: Arc<AuthService>,
    pub repos: Repos,
    pub hasher: Arc<dyn SecretHasher>,
    pub key_encryption: KeyEncryption,
    ready: AtomicBool,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        config: HttpConfig,
        repos: Repos,
        hasher: Arc<dyn SecretHasher>,
        key_encryption: KeyEncryption,
    ) -> Self {
        let auth = config.auth_config();
        Self::with_auth_config(config, auth, repos, hasher, key_encryption)
    }

    /// [`Self::new`] with the use cases' settings given rather than
    /// derived from `config` (benchmarks turn the secret cache off).
    pub fn with_auth_config(
        config: HttpConfig,
        auth: AuthConfig,
        repos: Repos,
        hasher: Arc<dyn SecretHasher>,
        key_encryption: KeyEncryption,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let service = AuthService::new(
            auth,
            repos.clone(),
            hasher.clone(),
            key_encryption.clone(),
            metrics.clone(),
        );
        Self {
            config,
            auth: Arc::new(service),
            repos,
            hasher,
            key_encryption,
            ready: AtomicBool::new(false),
            metrics,
        }
    }

    /// Startup is done (migrations, signing key, seeding): /readyz may say so.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_started(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Seconds for `Retry-After` on a 503.
    pub fn retry_after_secs(&self) -> u64 {
        self.config.pool_timeout.as_secs().max(1)
    }
}
