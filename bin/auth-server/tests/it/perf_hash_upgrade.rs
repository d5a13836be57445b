//! The hash upgrade of docs/reference/secret-lifecycle.md#hashes on login (issue 6): a secret that verifies
//! against a weaker hash — a lower BCrypt cost than `APP_BCRYPT_COST`, or a
//! Spring `{bcrypt}` value imported from the Java server — is re-hashed at
//! the configured cost and stored by compare-and-swap on the old hash,
//! without changing the secret state's ETag, never downgrading, and never
//! undoing a rotation that races it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use auth_domain::{BcryptHasher, Client, Secret, SecretHash, SecretHasher};
use reqwest::Method;
use serde_json::Value;

use crate::admin_support::*;
use crate::common::*;

/// The configured cost in these tests: one above the cost-4 test hashes, so
/// that a cost-4 hash is "weaker" while every hash stays cheap.
const CONFIGURED_COST: u32 = 5;
const SECRET: &str = "imported-from-the-java-server-0123";
const WAIT: Duration = Duration::from_secs(20);

fn bcrypt_at(cost: u32) -> String {
    BcryptHasher::new(cost)
        .unwrap()
        .hash(&Secret::new(SECRET))
        .unwrap()
        .as_str()
        .to_owned()
}

/// What Spring's `DelegatingPasswordEncoder` stores: `{bcrypt}$2a$…`.
fn spring_at(cost: u32) -> String {
    format!("{{bcrypt}}{}", bcrypt_at(cost).replacen("$2b$", "$2a$", 1))
}

fn options() -> Spawn {
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_BCRYPT_COST".into(), CONFIGURED_COST.to_string());
    opts
}

fn upgrades(s: &TestServer, outcome: &str) -> u64 {
    s.state.metrics.counter(
        "auth_server_secret_hash_upgrades_total",
        &[("outcome", outcome)],
    )
}

fn current_hash(c: &Client) -> String {
    c.secrets.current.as_ref().unwrap().hash.as_str().to_owned()
}

fn verifies(hash: &str, secret: &str) -> bool {
    BcryptHasher::new(4)
        .unwrap()
        .verify(&Secret::new(secret), &SecretHash::new(hash))
        .is_match()
}

async fn secret_etag(s: &TestServer, admin_token: &str, id: &str) -> String {
    let r = send(admin(
        s,
        Method::GET,
        &format!("/clients/{id}/secret"),
        admin_token,
    ))
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.header("etag").unwrap()
}

#[actix_web::test]
async fn weaker_hashes_are_upgraded_on_login_and_the_etag_stays() {
    for backend in backends() {
        let s = spawn(backend, options()).await;
        let store = open_store(&s);
        let planted = [("spring-import", spring_at(4)), ("low-cost", bcrypt_at(4))];
        for (id, hash) in &planted {
            plant_client(&store, id, hash);
        }
        let token = admin_token(&s).await;
        let mut before = Vec::new();
        for (id, _) in &planted {
            before.push((
                secret_etag(&s, &token, id).await,
                stored_client(&store, id).secrets_version,
            ));
        }

        for (id, _) in &planted {
            assert!(authenticates(&s, id, SECRET).await, "{backend:?} {id}");
        }
        wait_for("both upgrades", WAIT, || upgrades(&s, "stored") == 2).await;

        for ((id, old), (etag, version)) in planted.iter().zip(&before) {
            let row = stored_client(&store, id);
            let hash = current_hash(&row);
            assert_ne!(&hash, old, "{id}");
            assert!(
                hash.starts_with(&format!("$2b$0{CONFIGURED_COST}$")),
                "{id}: stored at the configured cost, without a prefix"
            );
            assert!(
                verifies(&hash, SECRET),
                "{id}: the new hash is of the same secret"
            );
            assert!(!verifies(&hash, "another-secret-entirely"), "{id}");
            assert_eq!(row.secrets_version, *version, "{id}: version untouched");
            assert_eq!(
                &secret_etag(&s, &token, id).await,
                etag,
                "{id}: ETag untouched"
            );
            // Still the same secret over HTTP, a wrong one still refused.
            assert!(authenticates(&s, id, SECRET).await, "{id}");
            assert!(
                !authenticates(&s, id, "not-the-secret-0123456789").await,
                "{id}"
            );
        }

        // A second replica has an empty cache, so it verifies the upgraded
        // hashes themselves with BCrypt.
        let replica = spawn(
            backend,
            Spawn {
                db_url: Some(s.db.url.clone()),
                ..options()
            },
        )
        .await;
        for (id, _) in &planted {
            assert!(authenticates(&replica, id, SECRET).await, "{id}");
        }
        assert_eq!(
            replica.state.metrics.counter(
                "auth_server_verified_secret_cache_lookups_total",
                &[("result", "hit")]
            ),
            0
        );
        assert_eq!(upgrades(&replica, "stored"), 0, "nothing left to upgrade");
        replica.stop().await;
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_stronger_stored_hash_is_never_downgraded() {
    let s = spawn(Backend::Sqlite, options()).await;
    let store = open_store(&s);
    let strong = bcrypt_at(6);
    let strong_spring = spring_at(6);
    plant_client(&store, "strong", &strong);
    plant_client(&store, "strong-spring", &strong_spring);
    plant_client(&store, "weak", &bcrypt_at(4));

    assert!(authenticates(&s, "strong", SECRET).await);
    assert!(authenticates(&s, "strong-spring", SECRET).await);
    // The weak client's upgrade queues behind anything the strong ones
    // started, so once it is stored theirs are done too.
    assert!(authenticates(&s, "weak", SECRET).await);
    wait_for("the upgrades", WAIT, || upgrades(&s, "stored") == 2).await;

    assert_eq!(
        current_hash(&stored_client(&store, "strong")),
        strong,
        "a cost-6 hash stays as it is under a configured cost of 5"
    );
    // The Spring value loses its prefix but keeps its cost and salt.
    assert_eq!(
        current_hash(&stored_client(&store, "strong-spring")),
        strong_spring.trim_start_matches("{bcrypt}")
    );
    assert!(current_hash(&stored_client(&store, "weak")).starts_with("$2b$05$"));
    for id in ["strong", "strong-spring", "weak"] {
        assert_eq!(stored_client(&store, id).secrets_version, 0, "{id}");
        assert!(authenticates(&s, id, SECRET).await, "{id}");
    }
    s.stop().await;
}

/// Holds one kind of repository call, once armed, until opened.
#[derive(Default)]
struct Gate {
    armed: AtomicBool,
    reached: AtomicBool,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn pass(&self) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        self.reached.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

fn gated_options(upgrade: &Arc<Gate>, replace: &Arc<Gate>) -> Spawn {
    let (upgrade, replace) = (upgrade.clone(), replace.clone());
    Spawn {
        // The real client repository with a gate before `upgrade_hash` and
        // one before `replace_secrets` (what a rotation's write calls).
        wrap_repos: hook_clients(move |call| {
            match call {
                ClientCall::UpgradeHash => upgrade.pass(),
                ClientCall::ReplaceSecrets => replace.pass(),
                _ => {}
            }
            Ok(())
        }),
        ..options()
    }
}

async fn rotate(s: &TestServer, token: &str, id: &str) -> Reply {
    send(admin(
        s,
        Method::POST,
        &format!("/clients/{id}/secret/rotate"),
        token,
    ))
    .await
}

/// After either interleaving: the rotation's secret is current, the
/// planted one is previous (still in its grace window), and the version
/// and ETag are exactly the rotation's.
async fn assert_rotation_won(s: &TestServer, token: &str, id: &str, rotated: &Reply) {
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new_secret = rotated.body["clientSecret"].as_str().unwrap().to_owned();
    let row = stored_client(&open_store(s), id);
    assert_eq!(
        row.secrets_version, 1,
        "one rotation, no other version change"
    );
    assert!(verifies(&current_hash(&row), &new_secret));
    assert!(!verifies(&current_hash(&row), SECRET));
    let previous = row.secrets.previous.as_ref().unwrap().hash.as_str();
    assert!(verifies(previous, SECRET));
    assert_eq!(
        secret_etag(s, token, id).await,
        rotated.header("etag").unwrap()
    );
    assert!(authenticates(s, id, &new_secret).await);
    assert!(authenticates(s, id, SECRET).await, "previous, within grace");
}

#[actix_web::test]
async fn a_rotation_racing_the_upgrade_wins_either_way() {
    // The upgrade's compare-and-swap comes after the rotation's write.
    let upgrade_gate = Arc::new(Gate::default());
    let replace_gate = Arc::new(Gate::default());
    let s = spawn(Backend::Sqlite, gated_options(&upgrade_gate, &replace_gate)).await;
    let token = admin_token(&s).await;
    plant_client(&open_store(&s), "race-late-upgrade", &bcrypt_at(4));
    upgrade_gate.armed.store(true, Ordering::SeqCst);
    assert!(authenticates(&s, "race-late-upgrade", SECRET).await);
    wait_for("the upgrade to reach the store", WAIT, || {
        upgrade_gate.reached.load(Ordering::SeqCst)
    })
    .await;
    let rotated = rotate(&s, &token, "race-late-upgrade").await;
    upgrade_gate.open();
    wait_for("the upgrade to give up", WAIT, || {
        upgrades(&s, "superseded") == 1
    })
    .await;
    assert_eq!(upgrades(&s, "stored"), 0);
    assert_rotation_won(&s, &token, "race-late-upgrade", &rotated).await;
    s.stop().await;

    // The rotation read the row before the upgrade and writes after it.
    let upgrade_gate = Arc::new(Gate::default());
    let replace_gate = Arc::new(Gate::default());
    let s = spawn(Backend::Sqlite, gated_options(&upgrade_gate, &replace_gate)).await;
    let token = admin_token(&s).await;
    plant_client(&open_store(&s), "race-late-rotation", &bcrypt_at(4));
    replace_gate.armed.store(true, Ordering::SeqCst);
    let rotation = {
        let (http, url, token) = (
            s.http.clone(),
            s.url("/clients/race-late-rotation/secret/rotate"),
            token.clone(),
        );
        actix_web::rt::spawn(async move {
            send(
                http.post(url)
                    .header("X-Forwarded-Proto", "https")
                    .bearer_auth(token),
            )
            .await
        })
    };
    wait_for("the rotation to reach its write", WAIT, || {
        replace_gate.reached.load(Ordering::SeqCst)
    })
    .await;
    assert!(authenticates(&s, "race-late-rotation", SECRET).await);
    wait_for("the upgrade", WAIT, || upgrades(&s, "stored") == 1).await;
    let upgraded = stored_client(&open_store(&s), "race-late-rotation");
    assert!(current_hash(&upgraded).starts_with("$2b$05$"));
    assert_eq!(upgraded.secrets_version, 0, "an upgrade leaves the version");
    replace_gate.open();
    let rotated = rotation.await.unwrap();
    assert_rotation_won(&s, &token, "race-late-rotation", &rotated).await;
    let body: &Value = &rotated.body;
    assert!(body["previousSecretValidUntil"].is_string());
    s.stop().await;
}
