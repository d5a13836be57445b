//! Signing-key rotation (`auth-server keys rotate`, see docs/reference/operations.md#commands and docs/reference/endpoints.md#key-lifecycle) while
//! replicas issue and verify tokens: no token fails verification at any
//! replica, before, during or after the new key takes over, including the
//! moment a replica meets a token signed with a key it has not loaded yet.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_domain::SigningKeyRepository as _;
use auth_token::{generate_key, KeyEncryption, SigningAlg};
use serde_json::Value;

use crate::common::*;

async fn admin_status_at(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/clients/my-service"))
        .header("X-Forwarded-Proto", "https")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

/// The race at the heart of it, pinned down: replica B loaded its keys a
/// moment before the rotation (its periodic refresh ran just then), and
/// replica A loads the new key a moment after. A's next token reaches B
/// with a key id B has never seen, well within a second of B's last load.
#[actix_web::test]
async fn a_token_signed_with_a_key_newer_than_the_verifiers_last_load_verifies() {
    let a = spawn(Backend::Sqlite, Spawn::default()).await;
    let b = spawn(
        Backend::Sqlite,
        Spawn {
            db_url: Some(a.db.url.clone()),
            ..Spawn::default()
        },
    )
    .await;
    let before = issue_admin_token(&a.http, &a.base).await;
    let store =
        auth_store::Store::open(&auth_store::test_support::config(a.db.url.clone())).unwrap();
    let key = generate_key(
        SigningAlg::Rs256,
        auth_domain::now_ms(),
        &KeyEncryption::new(None).unwrap(),
    )
    .unwrap();
    let (sa, sb) = (a.state.clone(), b.state.clone());
    actix_web::web::block(move || {
        sb.auth.reload_keys().unwrap();
        let event = auth_store::test_support::test_event("signing_key.rotate", &key.kid);
        store.rotate(&key, &event).unwrap();
        sa.auth.reload_keys().unwrap();
    })
    .await
    .unwrap();
    let after = issue_admin_token(&a.http, &a.base).await;
    assert_ne!(kid(&after), kid(&before), "A did not switch to the new key");
    assert!(
        active_at(&b.http, &b.base, &after).await,
        "B called A's new token inactive"
    );
    assert_eq!(
        admin_status_at(&b.http, &b.base, &after).await,
        200,
        "B refused A's new admin token"
    );
    assert!(active_at(&b.http, &b.base, &before).await);
    b.stop().await;
    a.stop().await;
}

#[actix_web::test]
async fn keys_rotate_under_load_never_fails_a_token_at_any_replica() {
    let pg = Postgres::get();
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = process_env(dir.path(), pg.url());
    env.insert("APP_ISSUER".into(), "https://auth.example".into());
    let mut replicas: Vec<ServerProcess> = (0..3)
        .map(|i| ServerProcess::start(&env, dir.path(), &format!("keys{i}"), free_loopback_port()))
        .collect();
    for r in &mut replicas {
        r.wait_ready(Duration::from_secs(60)).await;
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::new();
    let old_tokens: Vec<String> = {
        let mut v = Vec::new();
        for b in &bases {
            v.push(issue_admin_token(&http, b).await);
        }
        v
    };
    let first_kid = kid(&old_tokens[0]);

    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let kids_seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (http, bases, failures, kids_seen, done) = (
            http.clone(),
            bases.clone(),
            failures.clone(),
            kids_seen.clone(),
            done.clone(),
        );
        workers.push(actix_web::rt::spawn(async move {
            let mut n = w;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let issued_by = n % 3;
                let t = issue_admin_token(&http, &bases[issued_by]).await;
                let k = kid(&t);
                kids_seen.lock().unwrap().push((issued_by, k.clone()));
                for offset in 1..3 {
                    let checked_at = (issued_by + offset) % 3;
                    let fail = |what: &str| format!("{what}: a token of replica {issued_by} (kid {k}) failed at replica {checked_at}");
                    if !active_at(&http, &bases[checked_at], &t).await {
                        failures.lock().unwrap().push(fail("introspection"));
                    }
                    if admin_status_at(&http, &bases[checked_at], &t).await != 200 {
                        failures.lock().unwrap().push(fail("admin API"));
                    }
                }
                n += 1;
            }
        }));
    }
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let rotate = |env: BTreeMap<String, String>, dir: std::path::PathBuf| async move {
        let out = actix_web::web::block(move || run_binary(&["keys", "rotate"], &env, &dir))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        text(&out).trim().rsplit(' ').next().unwrap().to_owned()
    };
    rotate(env.clone(), dir.path().to_path_buf()).await;
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let newest = rotate(env.clone(), dir.path().to_path_buf()).await;
    // Every replica takes the newest key within a few refresh periods.
    let deadline = Instant::now() + auth_server::startup::REFRESH_EVERY * 3;
    loop {
        let switched = {
            let seen = kids_seen.lock().unwrap();
            (0..3).all(|r| {
                seen.iter()
                    .rev()
                    .find(|(by, _)| *by == r)
                    .is_some_and(|(_, k)| *k == newest)
            })
        };
        if switched {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every replica signs with {newest} yet"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let seen = kids_seen.lock().unwrap().len();
    assert!(
        failures.is_empty(),
        "{} of {seen} tokens failed somewhere: {failures:?}",
        failures.len()
    );
    // Tokens from before the rotations still verify everywhere, and every
    // replica publishes the old and the newest key.
    for (i, b) in bases.iter().enumerate() {
        for t in &old_tokens {
            assert!(active_at(&http, b, t).await, "replica {i}: an old token");
        }
        let jwks: Value = get_json(&http, &format!("{b}/oauth2/jwks")).await;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert!(
            kids.contains(&first_kid.as_str()) && kids.contains(&newest.as_str()),
            "replica {i}: {kids:?}"
        );
    }
    for r in &mut replicas {
        assert_eq!(r.sigterm().code(), Some(0));
    }
}
