//! A fresh store per backend, the use cases over it, and callers.

use std::future::Future;
use std::sync::Arc;

use auth_domain::catalogue::perms;
use auth_domain::{
    AuditEvent, AuditFilter, AuditLog, BcryptHasher, ClientId, SecretPolicy, SettingsPatch,
};
use auth_service::admin::{Admin, Caller};
use auth_service::Repos;
use auth_store::test_support::{postgres_store, sqlite_store};
use auth_store::Store;

/// The use cases over one fresh store.
pub struct Fx {
    pub admin: Admin,
    pub store: Store,
    /// The database's URL, to reach it behind the store's back.
    pub url: String,
}

fn fixture(store: Store, url: String) -> Fx {
    let pool = store.clone();
    let repos = Repos::from_store(store.clone(), Arc::new(move || pool.pool_state()));
    let hasher = Arc::new(BcryptHasher::new(4).expect("cost 4 is valid"));
    Fx {
        admin: Admin::new(repos, hasher, SecretPolicy::default()),
        store,
        url,
    }
}

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL store
/// when `TEST_DATABASE_URL` is set (an unreachable server panics).
pub fn each_backend<F, Fut>(test: F)
where
    F: Fn(Fx) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    {
        let (store, guard) = sqlite_store();
        rt.block_on(test(fixture(store, guard.url())));
    }
    if let Some((store, guard)) = postgres_store() {
        let _label = OnPostgres;
        rt.block_on(test(fixture(store, guard.url())));
    }
}

/// Says which backend failed when a test body panics, since both share one
/// test name.
struct OnPostgres;

impl Drop for OnPostgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failure above is on PostgreSQL)");
        }
    }
}

/// A caller holding `permissions`, whose token subject is `sub`.
pub fn caller(sub: &str, permissions: &[&str]) -> Caller {
    Caller {
        sub: sub.into(),
        client_id: sub.into(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A caller holding every admin permission.
pub fn root() -> Caller {
    caller(
        "svc-root",
        &[
            perms::CLIENT_READ,
            perms::CLIENT_WRITE,
            perms::USERS_READ,
            perms::USERS_WRITE,
        ],
    )
}

pub fn cid(s: &str) -> ClientId {
    ClientId::parse(s).expect("a valid client id")
}

/// Creates a confidential client with default settings.
pub async fn client(fx: &Fx, id: &str) {
    fx.admin
        .create_client(&root(), cid(id), &SettingsPatch::default())
        .await
        .expect("the client is created");
}

/// Every audit event, oldest first, as (actor, action, target id, outcome).
pub fn audit(fx: &Fx) -> Vec<(String, String, String, String)> {
    let mut events: Vec<AuditEvent> =
        AuditLog::list(&fx.store, &AuditFilter::default()).expect("the audit log reads");
    events.sort_by_key(|e| e.id);
    events
        .into_iter()
        .map(|e| (e.actor, e.action, e.target_id, e.outcome))
        .collect()
}

/// One audit row as [`audit`] shows it.
pub fn row(
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) -> (String, String, String, String) {
    (actor.into(), action.into(), target.into(), outcome.into())
}
