//! The verified-secret cache (issue 6): a repeated login skips BCrypt (the
//! `verified_secret_cache_total` metric proves it), and every change that
//! stops a secret — rotation out of both slots, deletion of a slot or of the
//! client, expiry, the end of the grace window — takes effect on the very
//! next request, cached or not. Failures are never cached.

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

fn hits(s: &TestServer) -> u64 {
    s.state
        .metrics
        .counter("verified_secret_cache_total", &[("result", "hit")])
}

fn misses(s: &TestServer) -> u64 {
    s.state
        .metrics
        .counter("verified_secret_cache_total", &[("result", "miss")])
}

/// Asserts the outcome of one login and whether it was answered from the
/// cache.
async fn login(s: &TestServer, id: &str, secret: &str, ok: bool, from_cache: bool) {
    let (h, m) = (hits(s), misses(s));
    assert_eq!(authenticates(s, id, secret).await, ok, "{id}");
    assert_eq!(
        (hits(s) - h, misses(s) - m),
        if from_cache { (1, 0) } else { (0, 1) },
        "{id}: (hits, misses) added by this login"
    );
}

async fn new_secret(s: &TestServer, token: &str, path: &str) -> Value {
    let r = send(admin(s, Method::POST, path, token)).await;
    assert!(r.status == 200 || r.status == 201, "{path}: {:?}", r.body);
    r.body
}

fn secret_of(body: &Value) -> String {
    body["clientSecret"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn logins_hit_the_cache_until_rotation_or_deletion_stops_the_secret() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let token = admin_token(&s).await;
        let rotate = "/clients/basic-client/secret/rotate";

        login(&s, "basic-client", BASIC_SECRET, true, false).await;
        login(&s, "basic-client", BASIC_SECRET, true, true).await;
        login(&s, "basic-client", BASIC_SECRET, true, true).await;
        // A wrong secret misses, and is not remembered as anything.
        login(&s, "basic-client", "wrong-wrong-wrong", false, false).await;
        login(&s, "basic-client", "wrong-wrong-wrong", false, false).await;

        // One rotation: the old secret is the previous one, still valid and
        // still cached; the new one is verified once, then cached.
        let first = secret_of(&new_secret(&s, &token, rotate).await);
        login(&s, "basic-client", BASIC_SECRET, true, true).await;
        login(&s, "basic-client", &first, true, false).await;
        login(&s, "basic-client", &first, true, true).await;

        // A second rotation drops the original secret from both slots.
        let second = secret_of(&new_secret(&s, &token, rotate).await);
        login(&s, "basic-client", BASIC_SECRET, false, false).await;
        login(&s, "basic-client", &first, true, true).await;
        login(&s, "basic-client", &second, true, false).await;
        login(&s, "basic-client", &second, true, true).await;

        // Deleting a slot stops its secret at once.
        let r = send(admin(
            &s,
            Method::DELETE,
            "/clients/basic-client/secret?target=previous",
            &token,
        ))
        .await;
        assert_eq!(r.status, 204);
        login(&s, "basic-client", &first, false, false).await;
        let r = send(admin(
            &s,
            Method::DELETE,
            "/clients/basic-client/secret?target=current",
            &token,
        ))
        .await;
        assert_eq!(r.status, 204);
        login(&s, "basic-client", &second, false, false).await;

        // Deleting the client stops it too (an unknown client never
        // reaches the cache).
        let r = send(
            admin(&s, Method::POST, "/clients", &token)
                .header("Content-Type", "application/json")
                .body(json!({"clientId": "short-lived"}).to_string()),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let secret = secret_of(&new_secret(&s, &token, "/clients/short-lived/secret").await);
        login(&s, "short-lived", &secret, true, false).await;
        login(&s, "short-lived", &secret, true, true).await;
        let r = send(admin(&s, Method::DELETE, "/clients/short-lived", &token)).await;
        assert_eq!(r.status, 204);
        let (h, m) = (hits(&s), misses(&s));
        assert!(!authenticates(&s, "short-lived", &secret).await);
        assert_eq!((hits(&s), misses(&s)), (h, m), "{backend:?}");

        // The hits are what /metrics reports.
        let text = s
            .http
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&format!(
                "verified_secret_cache_total{{result=\"hit\"}} {}",
                hits(&s)
            )),
            "{text}"
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn expiry_and_the_end_of_grace_stop_a_cached_secret_on_the_next_request() {
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_CLIENT_SECRET_TTL".into(), "PT6S".into());
    opts.settings.insert(
        "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW".into(),
        "PT3S".into(),
    );
    let s = spawn(Backend::Sqlite, opts).await;
    // The admin token outlives the admin client's six-second secret.
    let token = admin_token(&s).await;
    let r = send(
        admin(&s, Method::POST, "/clients", &token)
            .header("Content-Type", "application/json")
            .body(json!({"clientId": "expiring"}).to_string()),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let issued = secret_of(&new_secret(&s, &token, "/clients/expiring/secret").await);
    login(&s, "expiring", &issued, true, false).await;
    login(&s, "expiring", &issued, true, true).await;

    let rotated = new_secret(&s, &token, "/clients/expiring/secret/rotate").await;
    let current = secret_of(&rotated);
    login(&s, "expiring", &issued, true, true).await;
    login(&s, "expiring", &current, true, false).await;
    login(&s, "expiring", &current, true, true).await;

    // The grace window ends: the previous secret stops, though cached.
    sleep_until(parse_time(&rotated["previousSecretValidUntil"])).await;
    login(&s, "expiring", &issued, false, false).await;
    login(&s, "expiring", &current, true, true).await;

    // The current secret expires: it stops too, though cached.
    sleep_until(parse_time(&rotated["expiresAt"])).await;
    login(&s, "expiring", &current, false, false).await;
    s.stop().await;
}
