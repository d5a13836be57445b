//! Fixtures shared by the tests.

use auth_domain::lifecycle::{CurrentSecret, PreviousSecret};
use auth_domain::{
    ClientId, ClientSettings, ClientType, NewClient, SecretHash, SecretSlots, ServiceAccount,
};
use auth_store::test_support::{postgres_store, sqlite_store};
use auth_store::{Backend, Store};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// An instant with a millisecond part, so a lost millisecond shows.
pub const T0: OffsetDateTime = datetime!(2026-01-02 03:04:05.678 UTC);

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL store
/// when `TEST_DATABASE_URL` is set (an unreachable server panics).
pub fn each_backend(test: impl Fn(&Store)) {
    {
        let (store, _guard) = sqlite_store();
        let _label = Label(store.backend());
        test(&store);
    }
    if let Some((store, _guard)) = postgres_store() {
        let _label = Label(store.backend());
        test(&store);
    }
}

/// [`each_backend`] for tests that also reach the database by its URL.
pub fn each_backend_with_url(test: impl Fn(&Store, &str)) {
    {
        let (store, guard) = sqlite_store();
        let _label = Label(store.backend());
        test(&store, &guard.url());
    }
    if let Some((store, guard)) = postgres_store() {
        let _label = Label(store.backend());
        test(&store, &guard.url());
    }
}

/// Names the backend when a test body panics, since both share one name.
struct Label(Backend);

impl Drop for Label {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failure above is on {:?})", self.0);
        }
    }
}

pub fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

/// A literal hash string: the store never verifies hashes.
pub fn hash(tag: &str) -> SecretHash {
    SecretHash::new(format!("$2b$04${tag:.<53}"))
}

pub fn current(tag: &str, created_at: OffsetDateTime) -> SecretSlots {
    SecretSlots {
        current: Some(CurrentSecret {
            hash: hash(tag),
            created_at,
            expires_at: created_at + Duration::days(365),
        }),
        previous: None,
    }
}

pub fn rotated(current_tag: &str, previous_tag: &str, at: OffsetDateTime) -> SecretSlots {
    SecretSlots {
        current: Some(CurrentSecret {
            hash: hash(current_tag),
            created_at: at,
            expires_at: at + Duration::days(365),
        }),
        previous: Some(PreviousSecret {
            hash: hash(previous_tag),
            created_at: at - Duration::days(10) + Duration::milliseconds(7),
            expires_at: at + Duration::days(355) + Duration::milliseconds(7),
            grace_expires_at: at + Duration::days(7),
        }),
    }
}

pub fn confidential(id: &str) -> NewClient {
    let id = cid(id);
    NewClient {
        settings: ClientSettings::defaults_for(&id),
        id,
        client_type: ClientType::Confidential,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        created_at: T0,
        secrets: current("seed", T0),
    }
}

pub fn public(id: &str) -> NewClient {
    NewClient {
        client_type: ClientType::Public,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        secrets: SecretSlots::default(),
        ..confidential(id)
    }
}

pub fn account(id: &str) -> ServiceAccount {
    ServiceAccount::new(id)
}

/// The audit event the tests hand to every change.
pub fn ev() -> auth_domain::NewAuditEvent {
    auth_store::test_support::test_event("test.change", "test")
}
