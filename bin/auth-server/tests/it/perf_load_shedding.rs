//! Load shedding (issue 6): while the token endpoint is flooded with wrong
//! secrets at a production BCrypt cost — enough to keep the verification
//! pool running and its queue full, so that surplus token requests answer
//! 503 — health, readiness and the admin API keep answering promptly, and
//! an administrator's secret issue and rotation (which hash at that cost)
//! succeed instead of queueing behind the flood.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::admin_support::*;
use crate::common::*;

const FLOODERS: usize = 200;
const VERIFY_QUEUE: usize = 8;
/// Generous for a shared 2-core machine: one cost-10 hash is ~60 ms of CPU.
const PROMPT: Duration = Duration::from_secs(2);
/// The flood stops by itself after this, whatever happens.
const FLOOD_LIMIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct FloodStats {
    unauthorized: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
}

/// One flooder: wrong secrets for ever-new client ids (so that the
/// per-client failure throttle never answers instead of BCrypt), one
/// request at a time, honouring a 503 with a short pause.
async fn flood(
    http: reqwest::Client,
    url: String,
    n: usize,
    stop: Arc<AtomicBool>,
    stats: Arc<FloodStats>,
) {
    let started = Instant::now();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < FLOOD_LIMIT {
        i += 1;
        let id = format!("flood-{n}-{i}");
        let sent = http
            .post(&url)
            .header("X-Forwarded-Proto", "https")
            .form(&client_secret_post(&id, "wrong-secret-0123456789"))
            .send()
            .await;
        match sent.map(|r| r.status().as_u16()) {
            Ok(401) => stats.unauthorized.fetch_add(1, Ordering::SeqCst),
            Ok(503) => {
                stats.unavailable.fetch_add(1, Ordering::SeqCst);
                actix_web::rt::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            _ => stats.other.fetch_add(1, Ordering::SeqCst),
        };
    }
}

/// Sends one probe, asserting it answers `expected` within [`PROMPT`] while
/// the verification pool is saturated.
async fn probe(s: &TestServer, what: &str, expected: u16, rb: reqwest::RequestBuilder) -> Reply {
    let pool = &s.state.auth.verify_pool();
    assert!(
        pool.in_flight() == 1 && pool.queued() >= VERIFY_QUEUE / 2,
        "{what}: the flood must keep the verification pool saturated (running {}, queued {})",
        pool.in_flight(),
        pool.queued()
    );
    let started = Instant::now();
    let r = send(rb).await;
    let took = started.elapsed();
    assert_eq!(r.status, expected, "{what}: {:?}", r.body);
    assert!(took < PROMPT, "{what} took {took:?} under the flood");
    r
}

#[actix_web::test]
async fn health_and_admin_answer_promptly_while_wrong_secrets_flood_the_token_endpoint() {
    let mut opts = Spawn::default();
    for (k, v) in [
        ("APP_BCRYPT_COST", "10".to_owned()),
        ("APP_SECRET_VERIFY_CONCURRENCY", "1".to_owned()),
        ("APP_SECRET_VERIFY_QUEUE", VERIFY_QUEUE.to_string()),
    ] {
        opts.settings.insert(k.into(), v);
    }
    let s = spawn(Backend::Sqlite, opts).await;
    // Minted before the flood: the admin token itself needs one verification.
    let token = admin_token(&s).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FloodStats::default());
    let flood_http = reqwest::Client::builder()
        .pool_max_idle_per_host(FLOODERS)
        .build()
        .unwrap();
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|n| {
            actix_web::rt::spawn(flood(
                flood_http.clone(),
                s.url("/oauth2/token"),
                n,
                stop.clone(),
                stats.clone(),
            ))
        })
        .collect();
    wait_for(
        "the verification queue to fill",
        Duration::from_secs(30),
        || s.state.auth.verify_pool().queued() == VERIFY_QUEUE,
    )
    .await;

    probe(&s, "/healthz", 200, s.http.get(s.url("/healthz"))).await;
    probe(&s, "/readyz", 200, s.http.get(s.url("/readyz"))).await;
    let list = probe(
        &s,
        "GET /clients",
        200,
        admin(&s, Method::GET, "/clients", &token),
    )
    .await;
    assert!(list.body.as_array().is_some_and(|a| !a.is_empty()));
    probe(
        &s,
        "POST /clients",
        201,
        admin(&s, Method::POST, "/clients", &token)
            .header("Content-Type", "application/json")
            .body(json!({"clientId": "made-under-flood"}).to_string()),
    )
    .await;
    let issued = probe(
        &s,
        "secret issue",
        201,
        admin(&s, Method::POST, "/clients/made-under-flood/secret", &token),
    )
    .await;
    let rotated = probe(
        &s,
        "secret rotate",
        200,
        admin(
            &s,
            Method::POST,
            "/clients/made-under-flood/secret/rotate",
            &token,
        ),
    )
    .await;
    probe(
        &s,
        "GET secret metadata",
        200,
        admin(&s, Method::GET, "/clients/made-under-flood/secret", &token),
    )
    .await;
    probe(&s, "/healthz again", 200, s.http.get(s.url("/healthz"))).await;

    stop.store(true, Ordering::SeqCst);
    for f in flooders {
        f.await.unwrap();
    }
    // The flood was real: BCrypt answered some, the full queue shed others.
    let (unauthorized, unavailable, other) = (
        stats.unauthorized.load(Ordering::SeqCst),
        stats.unavailable.load(Ordering::SeqCst),
        stats.other.load(Ordering::SeqCst),
    );
    assert!(
        unauthorized > 0 && unavailable > 0,
        "401s {unauthorized}, 503s {unavailable}"
    );
    assert_eq!(other, 0, "a flood request answered neither 401 nor 503");
    assert!(
        s.state
            .metrics
            .counter("auth_server_secret_verifications_rejected_total", &[])
            >= unavailable
    );

    // What the administrator got is real: the rotated secret authenticates
    // and the one it replaced is its previous secret.
    let client_secret = |b: &serde_json::Value| b["clientSecret"].as_str().unwrap().to_owned();
    wait_for("the pool to drain", Duration::from_secs(30), || {
        s.state.auth.verify_pool().queued() == 0 && s.state.auth.verify_pool().in_flight() == 0
    })
    .await;
    assert!(authenticates(&s, "made-under-flood", &client_secret(&rotated.body)).await);
    assert!(authenticates(&s, "made-under-flood", &client_secret(&issued.body)).await);
    s.stop().await;
}
