//! A service over a fresh store per backend: SQLite always, PostgreSQL
//! when `TEST_DATABASE_URL` is set.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use auth_domain::{
    AuditOutcome, BcryptHasher, Client, ClientAuthMethod, ClientId, ClientRepository,
    ClientSettings, ClientType, NewAuditEvent, NewClient, ScopeSet, Secret, SecretHash,
    SecretHasher, SecretPolicy, SecretSlots, SigningKeyRepository,
};
use auth_service::{AuthConfig, AuthService, Credentials, Observer, Repos};
use auth_store::test_support::{postgres_store, sqlite_store, TestGuard};
use auth_store::Store;
use auth_token::{generate_key, KeyEncryption, SigningAlg};
use time::{Duration, OffsetDateTime};

pub const SECRET: &str = "right-secret-0123456789";
pub const WRONG: &str = "wrong-secret-0123456789";

/// The caller's address for the failure throttle.
pub fn source() -> IpAddr {
    IpAddr::from([192, 0, 2, 10])
}

/// A fresh store on each backend, labelled for failure messages.
pub fn backends() -> Vec<(&'static str, Store, TestGuard)> {
    let (store, guard) = sqlite_store();
    let mut all = vec![("sqlite", store, guard)];
    if let Some((store, guard)) = postgres_store() {
        all.push(("postgres", store, guard));
    }
    all
}

/// What the service reported.
#[derive(Default)]
pub struct Counts {
    pub cache_hits: AtomicU32,
    pub cache_misses: AtomicU32,
    pub unknown_kid_reloads: AtomicU32,
}

impl Counts {
    pub fn get(counter: &AtomicU32) -> u32 {
        counter.load(Ordering::SeqCst)
    }
}

impl Observer for Counts {
    fn secret_cache(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn key_reload(&self, cause: &'static str) {
        if cause == "unknown_kid" {
            self.unknown_kid_reloads.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub struct Fixture {
    pub service: Arc<AuthService>,
    pub store: Store,
    pub hasher: Arc<BcryptHasher>,
    pub counts: Arc<Counts>,
    pub policy: SecretPolicy,
}

impl Fixture {
    /// A service with the server's defaults but BCrypt cost 4, over `store`
    /// with an active ES256 key.
    pub fn new(store: &Store) -> Self {
        Self::with_config(store, AuthConfig::default())
    }

    /// [`Self::new`] with a hasher of BCrypt cost `cost`.
    pub fn new_with_cost(store: &Store, cost: u32) -> Self {
        Self::build(store, AuthConfig::default(), cost)
    }

    pub fn with_config(store: &Store, config: AuthConfig) -> Self {
        Self::build(store, config, 4)
    }

    fn build(store: &Store, config: AuthConfig, cost: u32) -> Self {
        let enc = KeyEncryption::new(None).unwrap();
        store
            .ensure_active(SigningAlg::Es256.as_str(), &mut || {
                generate_key(SigningAlg::Es256, auth_domain::now_ms(), &enc)
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        let hasher = Arc::new(BcryptHasher::new(cost).unwrap());
        let counts = Arc::new(Counts::default());
        let service = Arc::new(AuthService::new(
            config,
            Repos::from_store(store.clone(), Arc::new(|| (1, 1))),
            hasher.clone(),
            enc,
            counts.clone(),
        ));
        service.reload_keys().unwrap();
        Self {
            service,
            store: store.clone(),
            hasher,
            counts,
            policy: SecretPolicy::default(),
        }
    }

    pub fn hash(&self, secret: &str) -> SecretHash {
        self.hasher.hash(&Secret::new(secret)).unwrap()
    }

    /// Slots with a current secret `SECRET` issued now.
    pub fn current_slots(&self) -> SecretSlots {
        self.slots_issued_at(auth_domain::now_ms())
    }

    /// Slots with a current secret `SECRET` issued at `at`.
    pub fn slots_issued_at(&self, at: OffsetDateTime) -> SecretSlots {
        SecretSlots::default()
            .issue(self.hash(SECRET), at, &self.policy)
            .unwrap()
    }

    /// Stores a confidential client authenticating with `method`, with
    /// `slots` and scope "read write".
    pub fn client(&self, id: &str, method: ClientAuthMethod, slots: SecretSlots) -> Client {
        self.stored(id, ClientType::Confidential, method, slots)
    }

    pub fn stored(
        &self,
        id: &str,
        client_type: ClientType,
        method: ClientAuthMethod,
        slots: SecretSlots,
    ) -> Client {
        let id = ClientId::parse(id).unwrap();
        let mut settings = ClientSettings::defaults_for(&id);
        settings.auth_method = method;
        settings.scope = ScopeSet::parse("read write").unwrap();
        let new = NewClient {
            id: id.clone(),
            client_type,
            settings,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            created_at: auth_domain::now_ms(),
            secrets: slots,
        };
        self.store
            .create(&new, &event("client.create", &id))
            .unwrap()
    }

    pub fn delete(&self, id: &str) {
        let id = ClientId::parse(id).unwrap();
        ClientRepository::delete(&self.store, &id, &event("client.delete", &id)).unwrap();
    }

    /// Applies seed files with these contents; every client's secret is
    /// `SECRET`.
    pub fn seed(&self, clients: &str, service_accounts: &str) {
        let dir = tempfile::tempdir().unwrap();
        let (clients_file, accounts_file) = (
            dir.path().join("clients.yaml"),
            dir.path().join("service-accounts.yaml"),
        );
        std::fs::write(&clients_file, clients).unwrap();
        std::fs::write(&accounts_file, service_accounts).unwrap();
        auth_seed::apply(
            &self.store,
            &auth_seed::SeedSources {
                clients: Some(clients_file),
                service_accounts: Some(accounts_file),
            },
            &|_| Some(SECRET.to_owned()),
            &auth_seed::SeedRules {
                min_secret_len: 16,
                policy: self.policy,
            },
            self.hasher.as_ref(),
            auth_domain::now_ms(),
        )
        .unwrap();
    }

    /// A second service over the same store, as another replica.
    pub fn replica(&self) -> Arc<AuthService> {
        Arc::new(AuthService::new(
            AuthConfig::default(),
            Repos::from_store(self.store.clone(), Arc::new(|| (1, 1))),
            self.hasher.clone(),
            KeyEncryption::new(None).unwrap(),
            Arc::new(auth_service::NoObserver),
        ))
    }
}

pub fn event(action: &str, id: &ClientId) -> NewAuditEvent {
    NewAuditEvent {
        at: auth_domain::now_ms(),
        actor: "test".to_owned(),
        action: action.to_owned(),
        target_type: "client".to_owned(),
        target_id: id.as_str().to_owned(),
        outcome: AuditOutcome::Success,
    }
}

pub fn basic(id: &str, secret: &str) -> Credentials {
    Credentials::new(id, Secret::new(secret), ClientAuthMethod::ClientSecretBasic)
}

pub fn post(id: &str, secret: &str) -> Credentials {
    Credentials::new(id, Secret::new(secret), ClientAuthMethod::ClientSecretPost)
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// Polls `condition` for up to 10 seconds; whether it came true.
pub async fn wait_until(condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    condition()
}
