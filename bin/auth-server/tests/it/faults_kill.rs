//! SIGKILL in the middle of a burst of rotations, repeated, then a restart
//! (docs/reference/secret-lifecycle.md: rotation is atomic): every client has a consistent secret
//! state, and every secret handed out with a 200 either still authenticates
//! or was superseded by two later rotations.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const CLIENTS: [&str; 2] = ["my-service", "basic-client"];

#[derive(Debug, Clone)]
struct Handed {
    client: &'static str,
    secret: String,
    /// RFC 3339 UTC with milliseconds: orders as text.
    created_at: String,
}

/// Rotates as fast as it can until the server goes away or `until`.
async fn rotate_until_killed(
    http: reqwest::Client,
    base: String,
    token: String,
    client: &'static str,
    until: Instant,
    handed: Arc<Mutex<Vec<Handed>>>,
) {
    while Instant::now() < until {
        let sent = http
            .post(format!("{base}/clients/{client}/secret/rotate"))
            .header("X-Forwarded-Proto", "https")
            .bearer_auth(&token)
            .send()
            .await;
        let Ok(r) = sent else { return };
        let status = r.status().as_u16();
        let Ok(body) = r.json::<Value>().await else {
            return;
        };
        assert!(status == 200 || status == 503, "{client}: {status} {body}");
        if status == 200 {
            handed.lock().unwrap().push(Handed {
                client,
                secret: body["clientSecret"].as_str().unwrap().to_owned(),
                created_at: body["createdAt"].as_str().unwrap().to_owned(),
            });
        }
    }
}

/// The state after a restart: each client's slots are whole, and each
/// handed-out secret works or is older than the previous slot.
async fn assert_consistent(server: &ServerProcess, handed: &[Handed], cycle: usize) {
    let http = reqwest::Client::new();
    let token = issue_admin_token(&http, &server.base).await;
    for client in CLIENTS {
        let get = || {
            http.get(format!("{}/clients/{client}/secret", server.base))
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(&token)
        };
        let r = get().send().await.unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].clone();
        let state: Value = r.json().await.unwrap();
        assert_eq!(
            state["current"]["expired"], false,
            "cycle {cycle}, {client}: {state}"
        );
        let mine: Vec<&Handed> = handed.iter().filter(|h| h.client == client).collect();
        let Some(previous_created) = state["previous"]["createdAt"].as_str().map(str::to_owned)
        else {
            // Never rotated: then nothing was handed out for it either.
            assert!(
                mine.is_empty(),
                "cycle {cycle}, {client}: rotations answered 200 but no previous slot: {state}"
            );
            continue;
        };
        assert!(
            previous_created.as_str() <= state["current"]["createdAt"].as_str().unwrap(),
            "{state}"
        );
        // Reading changes nothing.
        assert_eq!(get().send().await.unwrap().headers()["etag"], etag);
        let mut working = 0;
        for h in &mine {
            if authenticates_at(
                &http,
                &server.base,
                client,
                &h.secret,
                Creds::of_seed_client(client),
            )
            .await
            {
                working += 1;
            } else {
                // Superseded: strictly older than the secret now previous.
                // (A tie in milliseconds cannot be ordered from outside.)
                assert!(
                    h.created_at <= previous_created,
                    "cycle {cycle}, {client}: a secret handed out at {} no longer works, but the previous slot is from {previous_created}",
                    h.created_at
                );
            }
        }
        assert!(
            working <= 2,
            "cycle {cycle}, {client}: {working} secrets work"
        );
        // The newest one handed out still works unless a rotation whose
        // answer was lost to the kill superseded it twice.
        if let Some(newest) = mine.iter().max_by(|a, b| a.created_at.cmp(&b.created_at)) {
            if newest.created_at > previous_created {
                assert!(
                    authenticates_at(
                        &http,
                        &server.base,
                        client,
                        &newest.secret,
                        Creds::of_seed_client(client)
                    )
                    .await,
                    "cycle {cycle}, {client}"
                );
            }
        }
    }
}

async fn kill_during_rotations(database_url: &str, cycles: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = process_env(dir.path(), database_url);
    // Superseded secrets are tried on purpose after every restart.
    env.insert("APP_TOKEN_FAILURE_LIMIT".into(), "0".into());
    env.insert("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".into(), "0".into());
    let handed: Arc<Mutex<Vec<Handed>>> = Arc::default();
    for cycle in 0..cycles {
        let mut server = ServerProcess::serve(&env, dir.path(), "killed").await;
        if cycle > 0 {
            let so_far = handed.lock().unwrap().clone();
            assert_consistent(&server, &so_far, cycle).await;
        }
        let http = reqwest::Client::new();
        let token = issue_admin_token(&http, &server.base).await;
        let until = Instant::now() + Duration::from_secs(5);
        let mut rotators = Vec::new();
        for n in 0..6 {
            rotators.push(actix_web::rt::spawn(rotate_until_killed(
                http.clone(),
                server.base.clone(),
                token.clone(),
                CLIENTS[n % 2],
                until,
                handed.clone(),
            )));
        }
        // Killed at a different moment of the burst each time.
        actix_web::rt::time::sleep(Duration::from_millis(300 + 350 * cycle as u64)).await;
        let before_kill = handed.lock().unwrap().len();
        server.sigkill();
        for r in rotators {
            r.await.unwrap();
        }
        assert!(
            before_kill > 0,
            "cycle {cycle}: no rotation finished before the kill:\n{}",
            server.logs()
        );
    }
    let mut server = ServerProcess::serve(&env, dir.path(), "killed").await;
    let all = handed.lock().unwrap().clone();
    assert_consistent(&server, &all, cycles).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(server.sigterm().code(), Some(0));
}

#[actix_web::test]
async fn sigkill_during_rotations_on_sqlite_leaves_a_consistent_state() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    kill_during_rotations(&url, 3).await;
}

#[actix_web::test]
async fn sigkill_during_rotations_on_postgresql_leaves_a_consistent_state() {
    let pg = Postgres::get();
    kill_during_rotations(pg.url(), 3).await;
}
