//! The failure limits against an attacker who controls many sources or
//! sends guesses all at once: `APP_TOKEN_FAILURE_LIMIT_PER_CLIENT` counts a
//! client id's failures over every source, and neither limit lets N
//! simultaneous wrong guesses run N verifications.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::*;

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A client_secret_post request to `path` for `id` from `source` (as the
/// trusted loopback proxy reports it): status, Retry-After, body.
async fn attempt(
    s: &TestServer,
    path: &str,
    id: &str,
    secret: &str,
    source: &str,
) -> (u16, Option<u64>, Value) {
    let mut form = vec![("client_id", id), ("client_secret", secret)];
    if path == "/oauth2/token" {
        form.push(("grant_type", "client_credentials"));
    } else {
        form.push(("token", "not-a-token"));
    }
    let r = s
        .post(path)
        .header("X-Forwarded-For", source)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn failures_from_many_sources_reach_the_per_client_limit() {
    for backend in backends() {
        let s = spawn(
            backend,
            Spawn {
                settings: settings(&[
                    ("APP_TOKEN_FAILURE_LIMIT", "30"),
                    ("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT", "5"),
                ]),
                ..Spawn::default()
            },
        )
        .await;
        // Five wrong guesses, each from a source of its own, on the three
        // client-authenticated endpoints.
        for (i, path) in [
            "/oauth2/token",
            "/oauth2/introspect",
            "/oauth2/revoke",
            "/oauth2/token",
            "/oauth2/introspect",
        ]
        .iter()
        .enumerate()
        {
            let got = attempt(&s, path, "my-service", "wrong", &format!("198.51.100.{i}")).await;
            assert_eq!(got.0, 401, "{backend:?} guess {i} on {path}: {got:?}");
        }
        // A fresh source is refused, even with the right secret, on every
        // endpoint.
        for (i, path) in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"]
            .iter()
            .enumerate()
        {
            let got = attempt(
                &s,
                path,
                "my-service",
                SVC_SECRET,
                &format!("203.0.113.{i}"),
            )
            .await;
            assert_eq!(
                (got.0, got.2["error"].as_str()),
                (429, Some("slow_down")),
                "{backend:?} {path} from a fresh source: {got:?}"
            );
            assert!(
                got.1.is_some_and(|r| (1..=60).contains(&r)),
                "{backend:?} Retry-After: {got:?}"
            );
        }
        // Another client, from a source that guessed wrong for my-service,
        // still gets its token.
        let r = s
            .post("/oauth2/token")
            .header("X-Forwarded-For", "198.51.100.0")
            .header(
                "Authorization",
                basic_authorization("basic-client", BASIC_SECRET),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{backend:?}");
        s.stop().await;
    }
}

/// The number of secret verifications run so far, from `/metrics`.
async fn verifications(s: &TestServer) -> u64 {
    let text = metrics_text(s).await;
    text.lines()
        .find_map(|l| l.strip_prefix("auth_server_secret_verification_duration_seconds_count "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Sends 60 distinct wrong secrets for `my-service` at once (distinct, so
/// that no request shares another's verification), from one source or
/// from 60, and returns how many verifications ran and the statuses.
async fn simultaneous_guesses(s: &TestServer, one_source: bool) -> (u64, BTreeMap<u16, usize>) {
    let before = verifications(s).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let source = if one_source {
            "198.51.100.50".to_owned()
        } else {
            format!("198.51.100.{}", 100 + i)
        };
        let req = s
            .post("/oauth2/token")
            .header("X-Forwarded-For", source)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "my-service"),
                ("client_secret", &format!("wrong-guess-number-{i}")),
            ]);
        tasks.push(actix_web::rt::spawn(async move {
            req.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_default() += 1;
    }
    (verifications(s).await - before, statuses)
}

fn concurrent_server_settings(extra: (&str, &str)) -> Spawn {
    Spawn {
        settings: settings(&[
            // An expensive enough hash that the guesses overlap.
            ("APP_BCRYPT_COST", "8"),
            ("APP_SECRET_VERIFY_CONCURRENCY", "2"),
            ("APP_SECRET_VERIFY_QUEUE", "100"),
            ("APP_TOKEN_FAILURE_LIMIT", "30"),
            ("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT", "300"),
            extra,
        ]),
        ..Spawn::default()
    }
}

/// 60 simultaneous guesses against a limit of 5 with 2 verification slots:
/// at most 5 + 2 verifications ran, every guess got 401 or 429, and at
/// least the rest were 429.
fn assert_at_most_limit_plus_slots(
    backend: Backend,
    ran: u64,
    statuses: &BTreeMap<u16, usize>,
    limit: &str,
) {
    assert!(
        ran <= 5 + 2,
        "{backend:?}: {ran} verifications for 60 simultaneous guesses at a {limit} of 5: {statuses:?}"
    );
    assert_eq!(
        statuses.get(&401).copied().unwrap_or(0) + statuses.get(&429).copied().unwrap_or(0),
        60,
        "{backend:?}: {statuses:?}"
    );
    assert!(statuses.get(&429).copied().unwrap_or(0) >= 60 - 7);
}

#[actix_web::test]
async fn simultaneous_guesses_from_one_source_run_at_most_the_limit_of_verifications() {
    for backend in backends() {
        let s = spawn(
            backend,
            concurrent_server_settings(("APP_TOKEN_FAILURE_LIMIT", "5")),
        )
        .await;
        let (ran, statuses) = simultaneous_guesses(&s, true).await;
        assert_at_most_limit_plus_slots(backend, ran, &statuses, "limit");
        s.stop().await;
    }
}

#[actix_web::test]
async fn simultaneous_guesses_from_many_sources_run_at_most_the_per_client_limit() {
    for backend in backends() {
        let s = spawn(
            backend,
            concurrent_server_settings(("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT", "5")),
        )
        .await;
        let (ran, statuses) = simultaneous_guesses(&s, false).await;
        assert_at_most_limit_plus_slots(backend, ran, &statuses, "per-client limit");
        s.stop().await;
    }
}
