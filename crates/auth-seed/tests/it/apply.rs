//! `apply` against the in-memory store: create, restart, refusals, atomicity.

use std::path::{Path, PathBuf};

use auth_domain::{
    BcryptHasher, ClientType, Role, Secret, SecretHasher, ServiceAccount, StoreError, Verification,
};
use auth_seed::{apply, SeedSources, SEED_ACTOR};
use time::OffsetDateTime;

use crate::fake_store::{new_client, FakeStore};
use crate::support::*;

struct Files {
    _dir: tempfile::TempDir,
    src: SeedSources,
}

fn files(clients: &str, accounts: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let src = SeedSources {
        clients: Some(write("clients.yaml", clients)),
        service_accounts: Some(write("service-accounts.yaml", accounts)),
    };
    Files { _dir: dir, src }
}

fn examples() -> Files {
    files(&example("clients.yaml"), &example("service-accounts.yaml"))
}

const ADMIN_SECRET: &str = "admin-cli-secret-value";

fn example_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET),
        ("ADMIN_CLI_CLIENT_SECRET", ADMIN_SECRET),
    ])
}

fn hasher() -> BcryptHasher {
    BcryptHasher::new(4).unwrap()
}

#[test]
fn first_start_creates_clients_accounts_and_links() {
    let store = FakeStore::default();
    let f = examples();
    let now = OffsetDateTime::now_utc();
    let out = apply(&store, &f.src, &example_env(), &rules(), &hasher(), now).unwrap();
    assert_eq!(out.created_clients, vec!["my-service", "admin-cli"]);
    assert!(out.skipped_clients.is_empty());
    assert_eq!(out.created_accounts, vec!["svc-my-service", "svc-admin"]);

    let s = store.snapshot();
    let admin = &s.clients["admin-cli"];
    assert_eq!(admin.client_type, ClientType::Confidential);
    assert_eq!(admin.service_account_id.as_deref(), Some("svc-admin"));
    let hash = &admin.secrets.current.as_ref().unwrap().hash;
    assert_eq!(
        hasher().verify(&Secret::new(ADMIN_SECRET), hash),
        Verification::Match
    );
    assert_eq!(
        s.clients["my-service"].service_account_id.as_deref(),
        Some("svc-my-service")
    );
    assert_eq!(s.accounts["svc-admin"].roles, vec!["ADMIN_SYSTEM"]);
}

#[test]
fn restart_skips_existing_clients_without_their_variables_and_updates_accounts() {
    let store = FakeStore::default();
    let f = examples();
    apply(
        &store,
        &f.src,
        &example_env(),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let before = store.snapshot();

    // Second start: no secret variables at all, and an account changed.
    let changed = example("service-accounts.yaml").replace(
        "description: Service account for My Service",
        "description: Changed",
    );
    let f2 = files(&example("clients.yaml"), &changed);
    let out = apply(
        &store,
        &f2.src,
        &env_of(&[]),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert!(out.created_clients.is_empty());
    assert_eq!(out.updated_accounts, vec!["svc-my-service", "svc-admin"]);
    let after = store.snapshot();
    assert_eq!(
        after.clients, before.clients,
        "existing clients are untouched"
    );
    assert_eq!(after.accounts["svc-my-service"].description, "Changed");
}

#[test]
fn names_resolve_against_the_stored_catalogue() {
    let store = FakeStore::default();
    store.state.lock().unwrap().extensions.roles.push(Role {
        name: "STORED_ROLE".into(),
        description: String::new(),
        permissions: vec!["users.read".into()],
    });
    let f = files(
        "",
        "serviceAccounts:\n  - id: svc\n    roles: [STORED_ROLE]\n",
    );
    let out = apply(
        &store,
        &f.src,
        &env_of(&[]),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(out.created_accounts, vec!["svc"]);
}

#[test]
fn a_link_conflict_names_the_account_and_client_and_changes_nothing() {
    let store = FakeStore::default();
    store.insert_client(new_client("my-service", ClientType::Confidential));
    store.insert_account(ServiceAccount::new("svc-other"), &["my-service"]);
    let before = store.snapshot();
    let f = examples();
    let err = apply(
        &store,
        &f.src,
        &example_env(),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert_eq!(err.len(), 1);
    let e = &err.0[0];
    assert_eq!(e.file, f.src.service_accounts.clone().unwrap());
    assert_eq!(
        e.entry.as_deref(),
        Some("service account \"svc-my-service\"")
    );
    assert_eq!(e.field.as_deref(), Some("clientId"));
    assert!(e.line.is_some());
    assert!(
        e.message
            .contains("client \"my-service\" is already linked to service account \"svc-other\""),
        "{e}"
    );
    let after = store.snapshot();
    assert_eq!(after.clients, before.clients);
    assert_eq!(after.accounts, before.accounts);
}

#[test]
fn a_rejected_link_names_the_account() {
    // The store refuses the link (e.g. the client was deleted since it was looked up).
    let store = FakeStore::default();
    *store.fail_with.lock().unwrap() = Some(StoreError::Rejected(
        "service account \"svc-admin\" cannot be linked to client \"admin-cli\"".into(),
    ));
    let f = examples();
    let err = apply(
        &store,
        &f.src,
        &example_env(),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert_eq!(
        err.0[0].entry.as_deref(),
        Some("service account \"svc-admin\"")
    );
    assert!(err.0[0].message.contains("cannot be linked"));
}

#[test]
fn a_database_failure_is_reported_without_a_file() {
    let store = FakeStore::default();
    *store.fail_with.lock().unwrap() = Some(StoreError::Unavailable("connection refused".into()));
    let f = examples();
    let err = apply(
        &store,
        &f.src,
        &example_env(),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not apply the seed files: database unavailable: connection refused"
    );
    assert_eq!(err.0[0].file, Path::new(""));
}

#[test]
fn validation_errors_stop_before_the_store_is_touched() {
    let store = FakeStore::default();
    let f = examples();
    let err = apply(
        &store,
        &f.src,
        &env_of(&[("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET)]),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("ADMIN_CLI_CLIENT_SECRET is not set"),
        "{err}"
    );
    let s = store.snapshot();
    assert!(s.clients.is_empty() && s.accounts.is_empty());
    // Existence was asked of the store, for each client once.
    let finds = store.finds.lock().unwrap().clone();
    assert_eq!(finds, vec!["my-service", "admin-cli"]);
}

#[test]
fn the_plan_is_applied_as_the_seed_actor() {
    let store = FakeStore::default();
    let f = examples();
    apply(
        &store,
        &f.src,
        &example_env(),
        &rules(),
        &hasher(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(*store.actors.lock().unwrap(), vec![SEED_ACTOR.to_owned()]);
    assert_eq!(SEED_ACTOR, "seed");
}
