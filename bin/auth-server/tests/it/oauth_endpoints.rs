//! docs/reference/endpoints.md and docs/reference/operations.md over HTTP: discovery, JWKS, introspection, revocation,
//! `keys rotate`, database outages, metrics and the verified-secret cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_domain::StoreError;
use serde_json::Value;

use reqwest::Method;

use crate::admin_support::{admin, send};
use crate::common::*;

async fn introspect(s: &TestServer, token: &str) -> Value {
    let r = introspect_as_service(s, token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    r.json().await.unwrap()
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn discovery_follows_the_effective_request_or_the_configured_issuer() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let get = |path: &str| s.http.get(s.url(path));
    let plain: Value = get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["issuer"], s.base.as_str());
    let proxied: Value = get("/.well-known/oauth-authorization-server")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "auth.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(proxied["issuer"], "https://auth.example.com");
    assert_eq!(
        proxied["token_endpoint"],
        "https://auth.example.com/oauth2/token"
    );
    assert_eq!(proxied["jwks_uri"], "https://auth.example.com/oauth2/jwks");
    assert_eq!(
        proxied["introspection_endpoint"],
        "https://auth.example.com/oauth2/introspect"
    );
    assert_eq!(
        proxied["revocation_endpoint"],
        "https://auth.example.com/oauth2/revoke"
    );
    assert_eq!(
        proxied["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        proxied["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    let oidc: Value = get("/.well-known/openid-configuration")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "auth.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, proxied);
    s.stop().await;

    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_ISSUER".into(), "https://issuer.example".into());
    let s = spawn(Backend::Sqlite, opts).await;
    let doc: Value = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], "https://issuer.example");
    assert_eq!(doc["token_endpoint"], "https://issuer.example/oauth2/token");
    let t = s.token("my-service", SVC_SECRET, Creds::Post).await;
    assert_eq!(introspect(&s, &t).await["iss"], "https://issuer.example");
    s.stop().await;
}

#[actix_web::test]
async fn jwks_publishes_public_keys_only() {
    for alg in ["RS256", "ES256", "EdDSA"] {
        let mut opts = Spawn::default();
        opts.settings.insert("APP_SIGNING_ALG".into(), alg.into());
        let s = spawn(Backend::Sqlite, opts).await;
        let jwks: Value = s.jwks().await;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                keys[0].get(private).is_none(),
                "{alg}: JWKS exposes {private}"
            );
        }
        assert_eq!(keys[0]["alg"], alg);
        assert_eq!(keys[0]["use"], "sig");
        s.stop().await;
    }
}

async fn revoke(s: &TestServer, id: &str, secret: &str, token: &str) -> u16 {
    let r = s
        .post("/oauth2/revoke")
        .form(&[
            ("client_id", id),
            ("client_secret", secret),
            ("token", token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    r.status().as_u16()
}

#[actix_web::test]
async fn introspection_and_revocation_follow_rfc_7662_and_7009() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let mine = s.token("my-service", SVC_SECRET, Creds::Post).await;
        let admins = s.token("admin-cli", ADMIN_SECRET, Creds::Basic).await;

        // Any authenticated client may introspect any token.
        let active = introspect(&s, &admins).await;
        assert_eq!(active["active"], true);
        assert_eq!(active["client_id"], "admin-cli");
        assert_eq!(active["sub"], "svc-admin");
        assert_eq!(active["aud"], "admin-cli");
        assert_eq!(active["token_type"], "Bearer");
        for field in ["iss", "exp", "iat", "nbf", "jti"] {
            assert!(active.get(field).is_some(), "{field} missing: {active}");
        }
        let with_scope = introspect(&s, &mine).await;
        assert_eq!(with_scope["scope"], "read");

        // Garbage, tampered and foreign tokens are inactive.
        let mut tampered = mine.clone();
        tampered.pop();
        tampered.push(if mine.ends_with('A') { 'B' } else { 'A' });
        let foreign_server = spawn(Backend::Sqlite, Spawn::default()).await;
        let foreign = foreign_server
            .token("my-service", SVC_SECRET, Creds::Post)
            .await;
        foreign_server.stop().await;
        for t in ["garbage", "a.b.c", tampered.as_str(), foreign.as_str()] {
            assert_eq!(
                introspect(&s, t).await,
                serde_json::json!({"active": false})
            );
        }

        // Revoking another client's token answers 200 and changes nothing.
        assert_eq!(revoke(&s, "my-service", SVC_SECRET, &admins).await, 200);
        assert_eq!(introspect(&s, &admins).await["active"], true);
        // Unknown or malformed tokens: 200.
        assert_eq!(
            revoke(&s, "my-service", SVC_SECRET, "not-a-token").await,
            200
        );
        // A client revokes its own token: inactive from then on.
        assert_eq!(revoke(&s, "my-service", SVC_SECRET, &mine).await, 200);
        assert_eq!(
            introspect(&s, &mine).await,
            serde_json::json!({"active": false})
        );

        // Same authentication rules as the token endpoint.
        let r = s
            .post("/oauth2/introspect")
            .form(&[
                ("client_id", "my-service"),
                ("client_secret", "wrong-wrong-wrong"),
                ("token", admins.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = s
            .post("/oauth2/introspect")
            .form(&[("client_id", "my-service"), ("client_secret", SVC_SECRET)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "token is required");
        let r = s
            .http
            .post(s.url("/oauth2/revoke"))
            .form(&[
                ("client_id", "my-service"),
                ("client_secret", SVC_SECRET),
                ("token", admins.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "plain HTTP is refused");
        s.stop().await;
    }
}

#[actix_web::test]
async fn keys_rotate_keeps_old_tokens_valid_and_new_tokens_carry_the_new_kid() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let before = s.token("my-service", SVC_SECRET, Creds::Post).await;
    let old_kid = kid_of(&before);
    let env = [("APP_DATABASE_URL".to_owned(), s.db.url.clone())].into();
    let out = run_binary(&["keys", "rotate"], &env, s.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The running server picks the new key up on its next refresh.
    let deadline = Instant::now() + startup_refresh() * 3;
    let mut after = s.token("my-service", SVC_SECRET, Creds::Post).await;
    while kid_of(&after) == old_kid && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        after = s.token("my-service", SVC_SECRET, Creds::Post).await;
    }
    assert_ne!(kid_of(&after), old_kid, "new tokens must carry the new kid");
    assert_eq!(
        introspect(&s, &before).await["active"],
        true,
        "old tokens still verify"
    );
    assert_eq!(introspect(&s, &after).await["active"], true);
    let jwks: Value = s.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&kid_of(&after).as_str()),
        "{kids:?}"
    );
    // The rotation is in the audit log.
    let admin_token = s.token("admin-cli", ADMIN_SECRET, Creds::Basic).await;
    let events = send(admin(&s, Method::GET, "/audit-events", &admin_token))
        .await
        .body;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "signing_key.rotate" && e["actor"] == "cli"),
        "{events}"
    );
    s.stop().await;
}

fn startup_refresh() -> Duration {
    auth_server::startup::REFRESH_EVERY
}

async fn expect_outage(s: &TestServer) {
    let r = s
        .post("/oauth2/token")
        .form(&client_secret_post("my-service", SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
}

#[actix_web::test]
async fn a_failing_store_answers_503_never_401_and_recovers() {
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let opts = Spawn {
        // Every client-repository call answers `Unavailable` while `down`
        // is set.
        wrap_repos: hook_clients(move |_| {
            if flag.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("injected outage".into()))
            } else {
                Ok(())
            }
        }),
        ..Spawn::default()
    };
    let s = spawn(Backend::Sqlite, opts).await;
    // Warm the verified-secret cache first: an outage must still answer 503.
    s.token("my-service", SVC_SECRET, Creds::Post).await;
    down.store(true, Ordering::SeqCst);
    expect_outage(&s).await;
    let r = s
        .post("/oauth2/token")
        .form(&client_secret_post("my-service", "wrong-wrong-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        503,
        "a wrong secret during an outage is not a 401 either"
    );
    down.store(false, Ordering::SeqCst);
    s.token("my-service", SVC_SECRET, Creds::Post).await;
    s.stop().await;
}

fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .arg(url)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-c")
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[actix_web::test]
async fn a_postgresql_outage_answers_503_and_the_pool_recovers_without_restart() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_DATABASE_POOL_TIMEOUT".into(), "PT1S".into());
    let s = spawn(Backend::Postgres, opts).await;
    s.token("my-service", SVC_SECRET, Creds::Post).await;
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let db = s.db.url.rsplit('/').next().unwrap().to_owned();
    // Refuse new connections to the test database and end the open ones.
    psql(
        &admin_url,
        &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"),
    );
    psql(
        &admin_url,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"),
    );
    let started = Instant::now();
    expect_outage(&s).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "503 must come within about the pool timeout"
    );
    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    psql(
        &admin_url,
        &format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"),
    );
    // The same process serves again, without a restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = s
            .post("/oauth2/token")
            .form(&client_secret_post("my-service", SVC_SECRET))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(Instant::now() < deadline, "the pool did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        s.http.get(s.url("/readyz")).send().await.unwrap().status(),
        200
    );
    s.stop().await;
}

#[actix_web::test]
async fn metrics_show_requests_outcomes_verifications_cache_hits_and_the_pool() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    s.token("my-service", SVC_SECRET, Creds::Post).await;
    s.token("my-service", SVC_SECRET, Creds::Post).await;
    let r = s
        .post("/oauth2/token")
        .form(&client_secret_post("my-service", "wrong-wrong-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let text = metrics_text(&s).await;
    for needle in [
        "auth_server_http_requests_total{route=\"/oauth2/token\",method=\"POST\",status=\"200\"} 2",
        "auth_server_token_requests_total{outcome=\"issued\"} 2",
        "auth_server_token_requests_total{outcome=\"invalid_client\"} 1",
        "auth_server_verified_secret_cache_lookups_total{result=\"hit\"} 1",
        "auth_server_secret_verification_duration_seconds_count",
        "auth_server_http_request_duration_seconds_bucket",
        "auth_server_db_pool_connections",
        "auth_server_secret_verifications_in_flight",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    s.stop().await;
}

#[actix_web::test]
async fn rotation_and_deletion_on_one_replica_reach_the_other_at_once_despite_the_cache() {
    for backend in backends() {
        let a = spawn(backend, Spawn::default()).await;
        let b = spawn(
            backend,
            Spawn {
                db_url: Some(a.db.url.clone()),
                ..Spawn::default()
            },
        )
        .await;
        // Warm B's cache with the current secret.
        b.token("my-service", SVC_SECRET, Creds::Post).await;
        b.token("my-service", SVC_SECRET, Creds::Post).await;
        assert_eq!(
            b.state.metrics.counter(
                "auth_server_verified_secret_cache_lookups_total",
                &[("result", "hit")]
            ),
            1
        );
        // Rotate on A, then delete the previous slot on A.
        let admin = a.token("admin-cli", ADMIN_SECRET, Creds::Basic).await;
        let r = a
            .post("/clients/my-service/secret/rotate")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let new_secret = r.json::<Value>().await.unwrap()["clientSecret"]
            .as_str()
            .unwrap()
            .to_owned();
        // The old secret is the previous one now, still valid in its grace window.
        b.token("my-service", SVC_SECRET, Creds::Post).await;
        let r = a
            .http
            .delete(a.url("/clients/my-service/secret?target=previous"))
            .header("X-Forwarded-Proto", "https")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        // B's very next request with the old secret fails, cached or not.
        let r = b
            .post("/oauth2/token")
            .form(&client_secret_post("my-service", SVC_SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{backend:?}");
        b.token("my-service", &new_secret, Creds::Post).await;
        b.stop().await;
        a.stop().await;
    }
}

#[actix_web::test]
async fn a_changed_signing_alg_creates_a_new_active_key_at_startup() {
    let first = spawn(Backend::Sqlite, Spawn::default()).await;
    let rs = first.token("my-service", SVC_SECRET, Creds::Post).await;
    let url = first.db.url.clone();
    let db = first.db;
    first.handle.stop(true).await;
    let mut opts = Spawn {
        db_url: Some(url),
        ..Spawn::default()
    };
    opts.settings
        .insert("APP_SIGNING_ALG".into(), "ES256".into());
    let second = spawn(Backend::Sqlite, opts).await;
    let es = second.token("my-service", SVC_SECRET, Creds::Post).await;
    assert_ne!(kid_of(&es), kid_of(&rs));
    let jwks: Value = second.jwks().await;
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(
        algs,
        vec!["ES256", "RS256"],
        "active first, the retired RS256 key still published"
    );
    assert_eq!(introspect(&second, &rs).await["active"], true);
    second.stop().await;
    drop(db);
}
