//! Three replicas on one PostgreSQL, rotations on one and token requests on
//! the others, all at once (see docs/reference/secret-lifecycle.md): no request authenticates with a
//! secret that was deleted or past its grace window when the request was
//! sent, and no request is refused a secret that was valid throughout it.
//! Every replica reads the client row on every request, so neither a
//! replica's memory nor its verified-secret cache may outlive a change.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::common::*;

/// Wall-clock milliseconds: the server's times are wall-clock too, and the
/// replicas run on this machine.
fn now_ms() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i128
}

fn rfc3339_ms(s: &str) -> i128 {
    time::OffsetDateTime::parse(s, &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
        / 1_000_000
}

/// What is known of one secret of `my-service`: index 0 is the seeded one.
#[derive(Debug, Clone)]
struct Known {
    secret: String,
    /// Answered 200 by then (so committed): valid from here on.
    valid_from: i128,
    /// Earliest moment it may have stopped working: the send time of the
    /// second later rotation or of a delete of the previous slot, or its
    /// grace end.
    invalid_earliest: Option<i128>,
    /// Latest moment it had stopped working: the answer to that rotation or
    /// delete, or its grace end.
    invalid_latest: Option<i128>,
}

#[derive(Debug, Clone)]
struct Attempt {
    replica: usize,
    index: usize,
    sent: i128,
    answered: i128,
    status: u16,
}

fn invalidate(known: &mut Known, earliest: i128, latest: i128) {
    known.invalid_earliest = Some(known.invalid_earliest.map_or(earliest, |e| e.min(earliest)));
    known.invalid_latest = Some(known.invalid_latest.map_or(latest, |l| l.min(latest)));
}

#[actix_web::test]
async fn rotations_on_one_replica_never_let_a_dead_secret_in_on_another() {
    let pg = Postgres::get();
    let dir = tempfile::tempdir().unwrap();
    let mut env = process_env(dir.path(), pg.url());
    env.insert("APP_ISSUER".into(), "https://auth.example".into());
    env.insert(
        "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW".into(),
        "PT1S".into(),
    );
    // Dead secrets are sent on purpose, many times.
    env.insert("APP_TOKEN_FAILURE_LIMIT".into(), "0".into());
    env.insert("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".into(), "0".into());
    let mut replicas: Vec<ServerProcess> = (0..3)
        .map(|i| {
            ServerProcess::start(
                &env,
                dir.path(),
                &format!("replica{i}"),
                free_loopback_port(),
            )
        })
        .collect();
    for r in &mut replicas {
        r.wait_ready(Duration::from_secs(60)).await;
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::new();
    let admin = issue_admin_token(&http, &bases[0]).await;

    let known: Arc<Mutex<Vec<Known>>> = Arc::new(Mutex::new(vec![Known {
        secret: SVC_SECRET.into(),
        valid_from: 0,
        invalid_earliest: None,
        invalid_latest: None,
    }]));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Token traffic on replicas 1 and 2, with the three newest secrets.
    let mut workers = Vec::new();
    for w in 0..6 {
        let (http, known, attempts, done) =
            (http.clone(), known.clone(), attempts.clone(), done.clone());
        let replica = 1 + w % 2;
        let base = bases[replica].clone();
        workers.push(actix_web::rt::spawn(async move {
            let mut n = w;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (index, secret) = {
                    let k = known.lock().unwrap();
                    let index = k.len().saturating_sub(1 + n % 3);
                    (index, k[index].secret.clone())
                };
                let sent = now_ms();
                let (status, _) = post_token(&http, &base, "my-service", &secret).await;
                attempts.lock().unwrap().push(Attempt {
                    replica,
                    index,
                    sent,
                    answered: now_ms(),
                    status,
                });
                n += 1;
            }
        }));
    }

    // Rotations and deletions on replica 0: some previous secrets die by
    // their grace window, some by a second rotation, some by deletion.
    let rotate = |known: Arc<Mutex<Vec<Known>>>| {
        let (http, base, admin) = (http.clone(), bases[0].clone(), admin.clone());
        async move {
            let sent = now_ms();
            let r = http
                .post(format!("{base}/clients/my-service/secret/rotate"))
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            let answered = now_ms();
            let mut k = known.lock().unwrap();
            let n = k.len();
            // The current one became previous: dead at its grace end.
            let grace_end = rfc3339_ms(body["previousSecretValidUntil"].as_str().unwrap());
            invalidate(&mut k[n - 1], grace_end, grace_end);
            // The previous one is gone with this rotation.
            if n >= 2 {
                invalidate(&mut k[n - 2], sent, answered);
            }
            k.push(Known {
                secret: body["clientSecret"].as_str().unwrap().to_owned(),
                valid_from: answered,
                invalid_earliest: None,
                invalid_latest: None,
            });
        }
    };
    let delete_previous = |known: Arc<Mutex<Vec<Known>>>| {
        let (http, base, admin) = (http.clone(), bases[0].clone(), admin.clone());
        async move {
            let sent = now_ms();
            let r = http
                .delete(format!("{base}/clients/my-service/secret?target=previous"))
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
            let answered = now_ms();
            let mut k = known.lock().unwrap();
            let n = k.len();
            invalidate(&mut k[n - 2], sent, answered);
        }
    };
    let pause = |ms: u64| actix_web::rt::time::sleep(Duration::from_millis(ms));
    for _ in 0..3 {
        rotate(known.clone()).await;
        pause(1500).await;
        rotate(known.clone()).await;
        pause(200).await;
        rotate(known.clone()).await;
        pause(300).await;
        rotate(known.clone()).await;
        pause(200).await;
        delete_previous(known.clone()).await;
        pause(500).await;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let known = known.lock().unwrap().clone();
    let attempts = attempts.lock().unwrap().clone();
    let mut in_grace = 0;
    let mut refused_dead = 0;
    for a in &attempts {
        let k = &known[a.index];
        assert!(a.status == 200 || a.status == 401, "{a:?}");
        // A secret dead before the request was sent never gets in.
        if let Some(dead) = k.invalid_latest {
            if a.sent > dead {
                assert_eq!(
                    a.status,
                    401,
                    "replica {} let secret #{} in {} ms after it died: {a:?} {k:?}",
                    a.replica,
                    a.index,
                    a.sent - dead
                );
                refused_dead += 1;
            }
        }
        // A secret valid for the whole request is never refused.
        let alive_until = k.invalid_earliest.unwrap_or(i128::MAX);
        if a.sent >= k.valid_from && a.answered < alive_until {
            assert_eq!(
                a.status, 200,
                "replica {} refused secret #{}, valid throughout: {a:?} {k:?}",
                a.replica, a.index
            );
            if a.index + 1 < known.len() && known[a.index + 1].valid_from <= a.sent {
                in_grace += 1;
            }
        }
    }
    // The test saw both sides of the line.
    assert!(
        in_grace > 0,
        "no previous secret was used within its grace window"
    );
    assert!(refused_dead > 0, "no dead secret was tried");
    for r in &mut replicas {
        assert_eq!(r.sigterm().code(), Some(0));
    }
}
