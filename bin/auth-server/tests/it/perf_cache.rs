//! The verified-secret cache (issue 6): a repeated login skips BCrypt (the
//! `auth_server_verified_secret_cache_lookups_total` metric proves it), and every change that
//! stops a secret — rotation out of both slots, deletion of a slot or of the
//! client, expiry, the end of the grace window — takes effect on the very
//! next request, cached or not. Failures are never cached.

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

fn hits(s: &TestServer) -> u64 {
    s.state.metrics.counter(
        "auth_server_verified_secret_cache_lookups_total",
        &[("result", "hit")],
    )
}

fn misses(s: &TestServer) -> u64 {
    s.state.metrics.counter(
        "auth_server_verified_secret_cache_lookups_total",
        &[("result", "miss")],
    )
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
        let text = metrics_text(&s).await;
        assert!(
            text.contains(&format!(
                "auth_server_verified_secret_cache_lookups_total{{result=\"hit\"}} {}",
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

fn shared(s: &TestServer) -> u64 {
    s.state
        .metrics
        .counter("auth_server_secret_verifications_shared_total", &[])
}

/// Sends one token request per secret, all at once; returns which
/// succeeded.
async fn burst(s: &TestServer, id: &str, secrets: &[String]) -> Vec<bool> {
    let tasks: Vec<_> = secrets
        .iter()
        .map(|secret| {
            let req = s
                .post("/oauth2/token")
                .header("Authorization", basic_authorization(id, secret))
                .form(&[("grant_type", "client_credentials")]);
            actix_web::rt::spawn(async move {
                let status = req.send().await.unwrap().status();
                assert!(status == 200 || status == 401, "unexpected {status}");
                status == 200
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

/// A client's first requests arriving together (a restart or a rotation
/// under load) run one BCrypt verification between them, not one each;
/// identical wrong secrets share one too and each still fails; different
/// secrets never share.
#[actix_web::test]
async fn requests_arriving_together_share_one_verification() {
    let mut opts = Spawn::default();
    // A verification of ≈ 250 ms: every request of a burst arrives while
    // the first one's runs.
    opts.settings.insert("APP_BCRYPT_COST".into(), "12".into());
    let s = spawn(Backend::Sqlite, opts).await;
    // Verifications run = requests that missed the cache − requests that
    // shared another's (a request arriving after the first finished hits
    // the cache and is neither).
    let counts = |s: &TestServer| (misses(s), shared(s));
    let ran = |before: (u64, u64), after: (u64, u64)| (after.0 - before.0) - (after.1 - before.1);
    let same = |secret: &str, n: usize| vec![secret.to_owned(); n];

    let before = counts(&s);
    let outcomes = burst(&s, "basic-client", &same(BASIC_SECRET, 12)).await;
    assert!(outcomes.iter().all(|ok| *ok));
    assert_eq!(
        ran(before, counts(&s)),
        1,
        "twelve first logins, one verification"
    );
    login(&s, "basic-client", BASIC_SECRET, true, true).await;

    let before = counts(&s);
    let outcomes = burst(&s, "basic-client", &same("wrong-wrong-wrong", 8)).await;
    assert!(
        outcomes.iter().all(|ok| !ok),
        "a shared failure fails every request"
    );
    assert_eq!(ran(before, counts(&s)), 1);

    // Different secrets: one verification each, nothing shared.
    let before = counts(&s);
    let different: Vec<String> = (0..3).map(|i| format!("wrong-secret-number-{i}")).collect();
    let outcomes = burst(&s, "basic-client", &different).await;
    assert!(outcomes.iter().all(|ok| !ok));
    let after = counts(&s);
    assert_eq!((after.0 - before.0, after.1 - before.1), (3, 0));
    assert!(
        s.state.auth.verifications().is_empty(),
        "no entry outlives its requests"
    );
    s.stop().await;
}
