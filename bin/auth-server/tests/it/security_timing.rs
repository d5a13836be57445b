//! An unknown client, a wrong secret, a wrong method, a secret over 72
//! bytes, an expired secret and a public client all take the same path and
//! about the same time, so the token endpoint is no oracle for which
//! clients exist or what state their secrets are in; and so do clients
//! whose stored hashes have another BCrypt cost than `APP_BCRYPT_COST` (a
//! costlier one left by an earlier configuration, a cheaper imported
//! `{bcrypt}` one) or a malformed hash. Measured with the costliest stored
//! hash at BCrypt cost 8 and `APP_BCRYPT_COST=7`, where one verification
//! is over ten milliseconds and any extra or missing one stands out (a
//! higher cost would only make the test slower).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use auth_domain::{CurrentSecret, Secret, SecretHasher as _, SecretPolicy, SecretSlots};
use serde_json::{json, Value};

use crate::common::*;

/// Samples per case: the minimum the issue allows.
const SAMPLES: usize = 200;
/// Rounds discarded while caches and the verification threads warm up.
const WARM_UP: usize = 4;
/// Requests in flight at once: one per verification thread of a 2-core
/// machine, which halves the wall time; every worker runs every case in
/// turn, so contention hits all cases alike.
const WORKERS: usize = 2;
/// Largest ratio allowed between the slowest and the fastest median.
const MAX_RATIO: f64 = 1.25;

const WRONG: &str = "a-wrong-secret-of-ordinary-len";
/// `APP_BCRYPT_COST` of the timed server.
const CONFIGURED_COST: u32 = 7;
/// The cost of the costliest hash in the database when the server starts.
const STORED_COST: u32 = 8;
/// The cost of the imported `{bcrypt}` hash: below the configured one.
const IMPORTED_COST: u32 = 6;
const EXPIRED_SECRET: &str = "expired-secret-0123456789abcdef";
const ROTATED_SECRET: &str = "rotated-secret-0123456789abcdef";

struct Case {
    name: &'static str,
    client_id: &'static str,
    secret: String,
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Plants the secret states the standard seed cannot make: one client whose
/// only secret expired yesterday, and one rotated a moment ago, whose
/// previous secret is in its grace window.
async fn plant_secret_states(s: &TestServer) {
    let st = s.state.clone();
    actix_web::web::block(move || {
        let repos = &st.repos.clients;
        let now = auth_domain::now_ms();
        let expired = repos
            .find(&auth_domain::ClientId::parse("expired-client").unwrap())
            .unwrap()
            .unwrap();
        let hash = expired.secrets.current.clone().unwrap().hash;
        let slots = SecretSlots {
            current: Some(CurrentSecret {
                hash,
                created_at: now - time::Duration::days(366),
                expires_at: now - time::Duration::days(1),
            }),
            previous: None,
        };
        repos
            .replace_secrets(
                &expired.id,
                expired.secrets_version,
                &slots,
                &auth_store::test_support::test_event("client.secret.rotate", "expired"),
            )
            .unwrap();

        let rotated = repos
            .find(&auth_domain::ClientId::parse("rotated-client").unwrap())
            .unwrap()
            .unwrap();
        let new_hash = st
            .hasher
            .hash(&Secret::new("the-secret-after-rotation-0123"))
            .unwrap();
        let slots = rotated
            .secrets
            .rotate(new_hash, now, &SecretPolicy::default())
            .unwrap();
        repos
            .replace_secrets(
                &rotated.id,
                rotated.secrets_version,
                &slots,
                &auth_store::test_support::test_event("client.secret.rotate", "rotated"),
            )
            .unwrap();
    })
    .await
    .unwrap();
}

/// A confidential client_secret_post client whose only secret has exactly
/// this stored `hash`.
fn plant_post_client(store: &auth_store::Store, id: &str, hash: String) {
    use auth_domain::ClientRepository as _;
    let id = auth_domain::ClientId::parse(id).unwrap();
    let now = auth_domain::now_ms();
    let secrets = SecretSlots::default()
        .issue(
            auth_domain::SecretHash::new(hash),
            now,
            &SecretPolicy::default(),
        )
        .unwrap();
    let mut settings = auth_domain::ClientSettings::defaults_for(&id);
    settings.auth_method = auth_domain::ClientAuthMethod::ClientSecretPost;
    store
        .create(
            &auth_domain::NewClient {
                settings,
                id,
                client_type: auth_domain::ClientType::Confidential,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                created_at: now,
                secrets,
            },
            &auth_store::test_support::test_event("client.create", "planted"),
        )
        .unwrap();
}

/// A database that already holds what an earlier configuration or an
/// import left behind: a hash costlier than the configured cost, a Spring
/// `{bcrypt}` hash cheaper than it, and a hash that is not BCrypt at all.
fn database_with_mixed_costs(backend: Backend) -> Database {
    let db = fresh_database(backend);
    let store = auth_store::Store::open(&auth_store::test_support::config(db.url.clone())).unwrap();
    store.migrate().unwrap();
    let secret = Secret::new("the-right-secret-0123456789");
    let bcrypt_at = |cost: u32| {
        auth_domain::BcryptHasher::new(cost)
            .unwrap()
            .hash(&secret)
            .unwrap()
            .as_str()
            .to_owned()
    };
    plant_post_client(&store, "costlier-client", bcrypt_at(STORED_COST));
    plant_post_client(
        &store,
        "imported-client",
        format!("{{bcrypt}}{}", bcrypt_at(IMPORTED_COST)),
    );
    plant_post_client(
        &store,
        "malformed-client",
        format!("$2b${STORED_COST:02}$this-is-not-a-bcrypt-hash"),
    );
    db
}

/// The timed server, and the database it runs on (kept alive by the caller).
async fn spawn_timed() -> (TestServer, Database) {
    let db = database_with_mixed_costs(Backend::Sqlite);
    let clients = format!(
        "{CLIENTS_YAML}    - client_id: expired-client\n      client_secret_env_var_name: EXPIRED_SECRET\n      \
         client_authentication_method: client_secret_post\n    - client_id: rotated-client\n      \
         client_secret_env_var_name: ROTATED_SECRET\n      client_authentication_method: client_secret_post\n"
    );
    let settings: BTreeMap<String, String> = [
        ("APP_BCRYPT_COST", CONFIGURED_COST.to_string().as_str()),
        // Every request here fails on purpose; the throttle would answer
        // 429 without verifying anything.
        ("APP_TOKEN_FAILURE_LIMIT", "0"),
        ("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT", "0"),
        ("APP_SECRET_VERIFY_CONCURRENCY", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_string()))
    .collect();
    let env: BTreeMap<String, String> = [
        ("EXPIRED_SECRET".to_owned(), EXPIRED_SECRET.to_owned()),
        ("ROTATED_SECRET".to_owned(), ROTATED_SECRET.to_owned()),
    ]
    .into();
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings,
            clients_yaml: Some(clients),
            env,
            db_url: Some(db.url.clone()),
            ..Spawn::default()
        },
    )
    .await;
    plant_secret_states(&s).await;
    (s, db)
}

/// The cost of failures comes from every stored hash, read at startup: it
/// is the costliest one's before the first request, not only after a
/// request happens to read it.
#[actix_web::test]
async fn failures_cost_what_the_costliest_stored_hash_does_from_the_first_request() {
    for backend in backends() {
        let db = database_with_mixed_costs(backend);
        let s = spawn(
            backend,
            Spawn {
                settings: [("APP_BCRYPT_COST".to_owned(), CONFIGURED_COST.to_string())].into(),
                db_url: Some(db.url.clone()),
                ..Spawn::default()
            },
        )
        .await;
        assert_eq!(s.state.hasher.failure_cost(), STORED_COST, "{backend:?}");
        s.stop().await;
    }
}

/// Runs `samples` interleaved rounds of every case (after a warm-up) on
/// [`WORKERS`] concurrent workers, checks that every answer is the same
/// 401, and returns each case's median time.
async fn medians(s: &TestServer, cases: &[Case], samples: usize) -> Vec<(&'static str, Duration)> {
    let expected =
        json!({"error": "invalid_client", "error_description": "client authentication failed"});
    let rounds_per_worker = (WARM_UP + samples).div_ceil(WORKERS);
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let http = reqwest::Client::new();
        let url = s.url("/oauth2/token");
        let plan: Vec<(usize, &'static str, String)> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.client_id, c.secret.clone()))
            .collect();
        let names: Vec<&'static str> = cases.iter().map(|c| c.name).collect();
        let expected = expected.clone();
        tasks.push(actix_web::rt::spawn(async move {
            let mut got: Vec<Vec<Duration>> = vec![Vec::new(); plan.len()];
            for round in 0..rounds_per_worker {
                // Each case in each position equally often, and the
                // workers out of phase with each other.
                for k in 0..plan.len() {
                    let (i, client_id, secret) = &plan[(round + k + worker) % plan.len()];
                    let started = Instant::now();
                    let r = http
                        .post(&url)
                        .header("X-Forwarded-Proto", "https")
                        .form(&[
                            ("grant_type", "client_credentials"),
                            ("client_id", client_id),
                            ("client_secret", secret.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap();
                    let took = started.elapsed();
                    assert_eq!(status, 401, "{}: {body}", names[*i]);
                    assert_eq!(
                        body, expected,
                        "{}: the body tells the cases apart",
                        names[*i]
                    );
                    if round * WORKERS >= WARM_UP {
                        got[*i].push(took);
                    }
                }
            }
            got
        }));
    }
    let mut all: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for t in tasks {
        for (i, mut v) in t.await.unwrap().into_iter().enumerate() {
            all[i].append(&mut v);
        }
    }
    cases
        .iter()
        .zip(all.iter_mut())
        .map(|(c, v)| {
            assert!(v.len() >= samples, "{}: {} samples", c.name, v.len());
            (c.name, median(v))
        })
        .collect()
}

/// The ratio of the slowest median to the fastest, and a readable report.
fn spread(medians: &[(&str, Duration)]) -> (f64, Duration, Vec<String>) {
    let fastest = medians.iter().map(|m| m.1).min().unwrap();
    let slowest = medians.iter().map(|m| m.1).max().unwrap();
    let report = medians
        .iter()
        .map(|(name, d)| format!("{name}: {:.1} ms", d.as_secs_f64() * 1000.0))
        .collect();
    (
        slowest.as_secs_f64() / fastest.as_secs_f64(),
        fastest,
        report,
    )
}

#[actix_web::test]
async fn every_kind_of_authentication_failure_takes_the_same_time() {
    let (s, _db) = spawn_timed().await;
    let cases = [
        Case {
            name: "unknown client",
            client_id: "no-such-client",
            secret: WRONG.into(),
        },
        Case {
            name: "wrong secret",
            client_id: "my-service",
            secret: WRONG.into(),
        },
        // basic-client is registered for client_secret_basic; its right
        // secret in the body is the wrong method.
        Case {
            name: "wrong method",
            client_id: "basic-client",
            secret: BASIC_SECRET.into(),
        },
        Case {
            name: "secret over 72 bytes",
            client_id: "my-service",
            secret: format!("{SVC_SECRET}{}", "x".repeat(73)),
        },
        Case {
            name: "expired secret",
            client_id: "expired-client",
            secret: EXPIRED_SECRET.into(),
        },
        Case {
            name: "public client",
            client_id: "web-app",
            secret: WRONG.into(),
        },
        Case {
            name: "stored hash costlier than APP_BCRYPT_COST",
            client_id: "costlier-client",
            secret: WRONG.into(),
        },
        Case {
            name: "imported {bcrypt} hash cheaper than APP_BCRYPT_COST",
            client_id: "imported-client",
            secret: WRONG.into(),
        },
        Case {
            name: "malformed stored hash",
            client_id: "malformed-client",
            secret: WRONG.into(),
        },
    ];
    let medians = medians(&s, &cases, SAMPLES).await;
    let (ratio, fastest, report) = spread(&medians);
    // Two verifications at cost 8 take tens of milliseconds: a case that
    // skipped them would be an order of magnitude faster than this.
    assert!(
        fastest >= Duration::from_millis(10),
        "a failure returned without a cost-10 verification: {report:?}"
    );
    assert!(
        ratio <= MAX_RATIO,
        "medians differ by {ratio:.2}x (> {MAX_RATIO}): {report:?}"
    );
    s.stop().await;
}

/// A client rotated within the grace window has two usable slots. A wrong
/// secret must still cost one verification, or the time tells an attacker
/// that the client exists and was rotated lately. The difference it would
/// make is a whole verification, so fewer samples than above suffice; 30
/// were too few on a loaded machine (one run's medians spread 1.30x with
/// no difference in work), so it takes 90.
#[actix_web::test]
async fn a_wrong_secret_costs_the_same_with_a_previous_secret_in_grace() {
    let (s, _db) = spawn_timed().await;
    let cases = [
        Case {
            name: "unknown client",
            client_id: "no-such-client",
            secret: WRONG.into(),
        },
        Case {
            name: "wrong secret, one slot",
            client_id: "my-service",
            secret: WRONG.into(),
        },
        Case {
            name: "wrong secret, previous slot in grace",
            client_id: "rotated-client",
            secret: WRONG.into(),
        },
    ];
    let medians = medians(&s, &cases, 90).await;
    let (ratio, _, report) = spread(&medians);
    assert!(
        ratio <= MAX_RATIO,
        "medians differ by {ratio:.2}x (> {MAX_RATIO}): {report:?}"
    );
    s.stop().await;
}
