//! Bounds at verification (docs/security.md, finding 5): a token claiming a
//! lifetime over 24 h, or issued more than 60 s in the future, is invalid
//! even when our own key signed it; a key retired by rotation verifies and
//! is published for 24 h + 60 s, then neither; `auth-server keys list`
//! shows every key's state and `auth-server keys revoke KID` removes a key
//! from every running server within the key-reload interval.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use auth_domain::SigningKeyRepository as _;
use auth_token::{generate_key, AccessTokenClaims, KeyEncryption, KeyRing, SigningAlg};
use reqwest::Method;
use serde_json::Value;

use crate::admin_support::*;
use crate::common::*;

async fn admin_status(s: &TestServer, token: &str) -> u16 {
    send(admin(s, Method::GET, "/clients", token)).await.status
}

/// Valid for introspection and the admin API, or invalid for both.
async fn assert_valid(s: &TestServer, token: &str, valid: bool, what: &str) {
    assert_eq!(active(s, token).await, valid, "{what}: introspection");
    assert_eq!(
        admin_status(s, token).await,
        if valid { 200 } else { 401 },
        "{what}: admin API"
    );
}

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(s: &TestServer) -> Vec<String> {
    let jwks: Value = s.jwks().await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The server's own stored keys, loaded as it loads them: the ring signs
/// with the active key, so forged claims carry a genuine signature.
fn our_ring(s: &TestServer) -> KeyRing {
    let keys = open_store(s).list().unwrap();
    KeyRing::load(
        &keys,
        &KeyEncryption::new(None).unwrap(),
        auth_domain::now_ms(),
        time::Duration::days(1),
    )
    .unwrap()
}

async fn reload(s: &TestServer) {
    let st = s.state.clone();
    actix_web::web::block(move || st.auth.reload_keys().map(drop))
        .await
        .unwrap()
        .unwrap();
}

fn epoch_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[actix_web::test]
async fn a_token_over_a_day_long_or_issued_in_the_future_is_invalid_even_with_our_signature() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let real = admin_token(&s).await;
        let ring = our_ring(&s);
        let claims: AccessTokenClaims = serde_json::from_value(jwt_part(&real, 1)).unwrap();
        let now = auth_domain::now_ms().unix_timestamp();
        let forge = |iat: i64, nbf: i64, exp: i64| {
            let mut c = claims.clone();
            (c.iat, c.nbf, c.exp) = (iat, nbf, exp);
            ring.sign(&c).unwrap()
        };
        // The limits themselves are fine: 24 h exactly, 30 s ahead.
        let day = forge(now - 10, now - 10, now - 10 + 86_400);
        assert_valid(&s, &day, true, "a lifetime of exactly 24 h").await;
        let ahead = forge(now + 30, now - 1, now + 600);
        assert_valid(&s, &ahead, true, "iat 30 s ahead").await;

        let long = forge(now - 10, now - 10, now - 10 + 86_401);
        assert_valid(
            &s,
            &long,
            false,
            &format!("{backend:?}: exp - iat = 24 h + 1 s"),
        )
        .await;
        let future = forge(now + 120, now - 1, now + 600);
        assert_valid(&s, &future, false, &format!("{backend:?}: iat 120 s ahead")).await;
        assert_valid(&s, &real, true, "the real token").await;
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_key_retired_more_than_a_day_and_a_minute_ago_is_neither_published_nor_accepted() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let store = open_store(&s);
        let enc = KeyEncryption::new(None).unwrap();
        let t1 = admin_token(&s).await;
        let k1 = kid(&t1);
        store
            .rotate(
                &generate_key(SigningAlg::Rs256, auth_domain::now_ms(), &enc).unwrap(),
                &auth_store::test_support::test_event("signing_key.rotate", "test"),
            )
            .unwrap();
        reload(&s).await;
        let t2 = admin_token(&s).await;
        let k2 = kid(&t2);
        assert_ne!(k1, k2);
        let k3 = store
            .rotate(
                &generate_key(SigningAlg::Rs256, auth_domain::now_ms(), &enc).unwrap(),
                &auth_store::test_support::test_event("signing_key.rotate", "test"),
            )
            .unwrap()
            .kid;
        let now = auth_domain::now_ms();
        auth_store::test_support::execute_sql(
            &store,
            &format!(
                "UPDATE signing_keys SET retired_at = {} WHERE kid = '{k1}';\
                 UPDATE signing_keys SET retired_at = {} WHERE kid = '{k2}'",
                epoch_ms(now - time::Duration::hours(25)),
                epoch_ms(now - time::Duration::hours(23)),
            ),
        );
        reload(&s).await;
        assert_eq!(
            jwks_kids(&s).await,
            [k3.clone(), k2.clone()],
            "{backend:?}: the JWKS after the reload"
        );
        assert_valid(&s, &t2, true, "a token of the key retired 23 h ago").await;
        assert_valid(
            &s,
            &t1,
            false,
            &format!("{backend:?}: a token of the key retired 25 h ago"),
        )
        .await;
        s.stop().await;
    }
}

fn cli(s: &TestServer, args: &[&str]) -> std::process::Output {
    let env: BTreeMap<String, String> = [("APP_DATABASE_URL".to_owned(), s.db.url.clone())].into();
    run_binary(args, &env, s.dir.path())
}

/// Polls until `done` holds for the running server; fails after three
/// key-reload intervals.
async fn within_reload_interval<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + auth_server::startup::REFRESH_EVERY * 3;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The row of `kid` in `keys list`'s output.
fn listed<'a>(out: &'a str, kid: &str) -> Option<&'a str> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(kid))
}

#[actix_web::test]
async fn keys_list_and_keys_revoke_work_against_a_running_server() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t1 = admin_token(&s).await;
        let k1 = kid(&t1);
        let out = cli(&s, &["keys", "rotate"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        within_reload_interval("the new key", || async {
            kid(&admin_token(&s).await) != k1
        })
        .await;
        let t2 = admin_token(&s).await;
        let k2 = kid(&t2);

        let out = cli(&s, &["keys", "list"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let header: Vec<&str> = listing.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["KID", "ALG", "CREATED", "RETIRED", "STATE"],
            "{listing}"
        );
        let row2 = listed(&listing, &k2).unwrap_or_else(|| panic!("{k2} missing: {listing}"));
        assert!(row2.contains("RS256") && row2.ends_with("active"), "{row2}");
        let row1 = listed(&listing, &k1).unwrap_or_else(|| panic!("{k1} missing: {listing}"));
        assert!(row1.ends_with("retired (still verifying)"), "{row1}");
        assert_eq!(listing.lines().count(), 3, "{listing}");

        // A retired key: revoked at once, in the database.
        let out = cli(&s, &["keys", "revoke", &k1]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains(&k1), "{}", text(&out));
        within_reload_interval("the revoked key to stop verifying", || async {
            !active(&s, &t1).await
        })
        .await;
        assert_eq!(admin_status(&s, &t1).await, 401, "{backend:?}");
        assert!(!jwks_kids(&s).await.contains(&k1), "{backend:?}");
        // However often it is presented (an unknown key id reloads the
        // keys), the revoked key does not come back.
        for _ in 0..3 {
            assert!(!active(&s, &t1).await, "{backend:?}");
            actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        }
        assert_valid(&s, &t2, true, "a token of the other key").await;

        // The active key: a new one takes over first.
        let out = cli(&s, &["keys", "revoke", &k2]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let said = text(&out);
        let listing = String::from_utf8_lossy(&cli(&s, &["keys", "list"]).stdout).into_owned();
        assert_eq!(listing.lines().count(), 2, "{listing}");
        let k3 = listing
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert!(
            listed(&listing, &k3).unwrap().ends_with("active"),
            "{listing}"
        );
        assert!(said.contains(&k2) && said.contains(&k3), "{said}");
        within_reload_interval("the revoked active key to stop verifying", || async {
            !active(&s, &t2).await
        })
        .await;
        assert_eq!(admin_status(&s, &t2).await, 401, "{backend:?}");
        within_reload_interval("the replacement key", || async {
            kid(&admin_token(&s).await) == k3
        })
        .await;
        let t3 = admin_token(&s).await;
        assert_valid(&s, &t3, true, "a token of the replacement key").await;
        assert_eq!(jwks_kids(&s).await, [k3], "{backend:?}");

        // An unknown key id is a clear error.
        let out = cli(&s, &["keys", "revoke", "no-such-kid"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("no-such-kid"), "{}", text(&out));

        // Both revocations are in the audit log.
        let events = send(admin(&s, Method::GET, "/audit-events", &t3)).await;
        let revoked: Vec<&str> = events
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "signing_key.revoke")
            .map(|e| e["targetId"].as_str().unwrap())
            .collect();
        assert_eq!(revoked, [k2.as_str(), k1.as_str()], "{:?}", events.body);
        s.stop().await;
    }
}
