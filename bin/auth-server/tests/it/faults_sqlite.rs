//! SQLite under concurrent writes (see docs/reference/secret-lifecycle.md, docs/reference/operations.md): 16 concurrent rotations of
//! one client all succeed, none is lost and the last two secrets remain;
//! under a heavier burst from two processes on one file, writes queue on
//! the busy timeout or answer 503, never 500, and every answer matches the
//! stored state.

use std::collections::BTreeMap;

use auth_domain::ClientId;
use serde_json::Value;

use reqwest::Method;

use crate::admin_support::{admin, send};
use crate::common::*;

#[derive(Debug, Clone)]
struct Rotated {
    client: String,
    secret: String,
    created_at: String,
}

/// One rotation: its status, and what it handed out when it succeeded.
async fn rotate(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    client: &str,
) -> (u16, bool, Option<Rotated>) {
    let r = http
        .post(format!("{base}/clients/{client}/secret/rotate"))
        .header("X-Forwarded-Proto", "https")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").is_some();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let rotated = (status == 200).then(|| Rotated {
        client: client.to_owned(),
        secret: body["clientSecret"].as_str().unwrap().to_owned(),
        created_at: body["createdAt"].as_str().unwrap().to_owned(),
    });
    (status, retry_after, rotated)
}

fn secrets_version(s: &TestServer, client: &str) -> i64 {
    s.state
        .repos
        .clients
        .find(&ClientId::parse(client).unwrap())
        .unwrap()
        .unwrap()
        .secrets_version
}

#[actix_web::test]
async fn sixteen_concurrent_rotations_on_sqlite_all_succeed_and_none_is_lost() {
    let settings: BTreeMap<String, String> = [
        ("APP_DATABASE_POOL_SIZE".to_owned(), "16".to_owned()),
        // Superseded secrets are tried on purpose at the end.
        ("APP_TOKEN_FAILURE_LIMIT".to_owned(), "0".to_owned()),
        (
            "APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".to_owned(),
            "0".to_owned(),
        ),
    ]
    .into();
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings,
            ..Spawn::default()
        },
    )
    .await;
    let token = issue_admin_token(&s.http, &s.base).await;
    let before = secrets_version(&s, "my-service");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, base, token) = (s.http.clone(), s.base.clone(), token.clone());
        tasks.push(actix_web::rt::spawn(async move {
            rotate(&http, &base, &token, "my-service").await
        }));
    }
    let mut rotated = Vec::new();
    for t in tasks {
        let (status, _, r) = t.await.unwrap();
        assert_eq!(
            status, 200,
            "a concurrent rotation failed (\"database is locked\"?)"
        );
        rotated.push(r.unwrap());
    }
    // Sixteen versions, sixteen distinct secrets: nothing lost, nothing twice.
    assert_eq!(secrets_version(&s, "my-service"), before + 16);
    let mut distinct: Vec<&str> = rotated.iter().map(|r| r.secret.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 16);
    // The last two remain: exactly two of the handed-out secrets work, the
    // newest among them, and the seeded one is gone.
    let mut working = Vec::new();
    for r in &rotated {
        if authenticates_at(&s.http, &s.base, "my-service", &r.secret, Creds::Post).await {
            working.push(r.clone());
        }
    }
    assert_eq!(working.len(), 2, "{working:?}");
    let newest = rotated.iter().map(|r| r.created_at.as_str()).max().unwrap();
    assert!(working.iter().any(|r| r.created_at == newest));
    assert!(!authenticates_at(&s.http, &s.base, "my-service", SVC_SECRET, Creds::Post).await);
    // Every rotation is in the audit log as a success.
    let events = send(admin(
        &s,
        Method::GET,
        "/audit-events?clientId=my-service",
        &token,
    ))
    .await
    .body;
    let rotations = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "client.secret.rotate" && e["outcome"] == "success")
        .count();
    assert_eq!(rotations, 16, "{events}");
    s.stop().await;
}

#[actix_web::test]
async fn a_heavier_burst_from_two_processes_on_one_sqlite_file_never_answers_500() {
    let settings: BTreeMap<String, String> = [
        ("APP_DATABASE_POOL_SIZE".to_owned(), "16".to_owned()),
        // Superseded secrets are tried on purpose at the end.
        ("APP_TOKEN_FAILURE_LIMIT".to_owned(), "0".to_owned()),
        (
            "APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".to_owned(),
            "0".to_owned(),
        ),
    ]
    .into();
    let a = spawn(
        Backend::Sqlite,
        Spawn {
            settings: settings.clone(),
            ..Spawn::default()
        },
    )
    .await;
    let b = spawn(
        Backend::Sqlite,
        Spawn {
            settings,
            db_url: Some(a.db.url.clone()),
            ..Spawn::default()
        },
    )
    .await;
    let token = issue_admin_token(&a.http, &a.base).await;
    let clients = ["my-service", "basic-client"];
    let before: Vec<i64> = clients.iter().map(|c| secrets_version(&a, c)).collect();
    let mut tasks = Vec::new();
    for n in 0..96 {
        let server = if n % 2 == 0 { &a } else { &b };
        let (http, base, token) = (server.http.clone(), server.base.clone(), token.clone());
        let client = clients[n % 4 / 2];
        tasks.push(actix_web::rt::spawn(async move {
            rotate(&http, &base, &token, client).await
        }));
    }
    // Token requests race the writers on both servers.
    let mut readers = Vec::new();
    for n in 0..32 {
        let server = if n % 2 == 0 { &a } else { &b };
        let (http, base) = (server.http.clone(), server.base.clone());
        readers.push(actix_web::rt::spawn(async move {
            let r = http
                .post(format!("{base}/oauth2/token"))
                .header("X-Forwarded-Proto", "https")
                .header(
                    "Authorization",
                    basic_authorization("admin-cli", ADMIN_SECRET),
                )
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers().get("retry-after").is_some(),
            )
        }));
    }
    let mut rotated: Vec<Rotated> = Vec::new();
    let mut unavailable = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _, Some(r)) => rotated.push(r),
            (503, true, None) => unavailable += 1,
            other => panic!("a rotation answered {other:?}"),
        }
    }
    for r in readers {
        let (status, retry_after) = r.await.unwrap();
        assert!(
            status == 200 || (status == 503 && retry_after),
            "a token request answered {status}"
        );
    }
    for (i, client) in clients.iter().enumerate() {
        let mine: Vec<&Rotated> = rotated.iter().filter(|r| r.client == *client).collect();
        // Each 200 is one stored version; no 503 wrote anything.
        assert_eq!(
            secrets_version(&a, client),
            before[i] + mine.len() as i64,
            "{client}: {unavailable} answered 503"
        );
        let newest = mine
            .iter()
            .max_by(|x, y| x.created_at.cmp(&y.created_at))
            .unwrap();
        assert!(
            authenticates_at(
                &b.http,
                &b.base,
                client,
                &newest.secret,
                Creds::of_seed_client(client)
            )
            .await,
            "{client}: the newest secret does not work"
        );
        let mut working = 0;
        for r in &mine {
            if authenticates_at(
                &a.http,
                &a.base,
                client,
                &r.secret,
                Creds::of_seed_client(client),
            )
            .await
            {
                working += 1;
            }
        }
        assert!(working <= 2, "{client}: {working} secrets work at once");
    }
    // Both still serve (my-service's seeded secret is long rotated away).
    for server in [&a, &b] {
        assert_eq!(
            server
                .http
                .get(server.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert!(
            authenticates_at(
                &server.http,
                &server.base,
                "admin-cli",
                ADMIN_SECRET,
                Creds::Basic
            )
            .await
        );
    }
    b.stop().await;
    a.stop().await;
}
