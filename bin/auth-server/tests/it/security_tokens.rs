//! Forged and hostile bearer tokens (RFC 8725, RFC 9700 §4.1 on token
//! integrity): `alg: none`, HMAC with our public key as the secret,
//! payloads edited after signing, our `kid` on a foreign key, injected
//! `kid` values and a flood of unknown key ids. The admin API answers 401,
//! introspection answers `{"active": false}`, never a 5xx, and the server
//! stays healthy.

use std::time::{Duration, Instant};

use auth_domain::StoredSigningKey;
use auth_token::{generate_key, AccessTokenClaims, KeyEncryption, KeyRing, SigningAlg};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::*;

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS with this header and claims and the signature given.
fn compact(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(signature)
    )
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

async fn admin_status(s: &TestServer, token: &str) -> (u16, Option<String>) {
    let r = s
        .http
        .get(s.url("/clients"))
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, www)
}

async fn introspect(s: &TestServer, token: &str) -> (u16, Value) {
    let r = introspect_as_service(s, token).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn refused_everywhere(s: &TestServer, token: &str, what: &str) {
    // A token no header can carry reaches only introspection.
    if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_ok() {
        let (status, www) = admin_status(s, token).await;
        assert_eq!(status, 401, "{what}: the admin API accepted it");
        assert_eq!(
            www.as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
    }
    let (status, body) = introspect(s, token).await;
    assert_eq!((status, body), (200, json!({"active": false})), "{what}");
}

/// A token signed by a key that is not ours but carries our active `kid`.
fn foreign_key_with_our_kid(kid: &str, claims: &AccessTokenClaims) -> String {
    let enc = KeyEncryption::new(None).unwrap();
    let key = generate_key(SigningAlg::Rs256, auth_domain::now_ms(), &enc).unwrap();
    let stored = StoredSigningKey {
        kid: kid.to_owned(),
        alg: key.alg,
        private_key: key.private_key,
        public_jwk: key.public_jwk,
        created_at: key.created_at,
        retired_at: None,
    };
    KeyRing::load(
        &[stored],
        &enc,
        auth_domain::now_ms(),
        time::Duration::minutes(1440),
    )
    .unwrap()
    .sign(claims)
    .unwrap()
}

#[actix_web::test]
async fn forged_tokens_are_refused_by_the_admin_api_and_inactive_for_introspection() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let (status, body) = post_token(&s.http, &s.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200);
    let weak = body["access_token"].as_str().unwrap().to_owned();
    let admin = issue_admin_token(&s.http, &s.base).await;
    assert_eq!(admin_status(&s, &admin).await.0, 200);
    // my-service holds users.read only: no client.read.
    assert_eq!(admin_status(&s, &weak).await.0, 403);

    let header = jwt_part(&weak, 0);
    let kid = header["kid"].as_str().unwrap().to_owned();
    // The weak token's claims with every admin permission added.
    let mut escalated = jwt_part(&weak, 1);
    escalated["permissions"] = json!(["client.read", "client.write", "users.read", "users.write"]);
    escalated["roles"] = json!(["ADMIN_SYSTEM"]);

    // 1. The payload edited after signing, the signature kept.
    let parts: Vec<&str> = weak.split('.').collect();
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        b64url(escalated.to_string().as_bytes()),
        parts[2]
    );
    refused_everywhere(&s, &edited, "edited payload").await;
    // 2. alg none, with and without a signature, in any spelling.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        refused_everywhere(&s, &compact(&h, &escalated, b""), &format!("alg {alg}")).await;
        refused_everywhere(
            &s,
            &compact(&h, &escalated, b"sig"),
            &format!("alg {alg} + signature"),
        )
        .await;
    }
    // 3. HS256 keyed with what a client can read of our public key.
    let jwks: Value = s.jwks().await;
    let jwk = jwks["keys"][0].clone();
    let h = json!({"kid": kid});
    for secret in [
        jwk.to_string().into_bytes(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().unwrap())
            .unwrap(),
    ] {
        refused_everywhere(
            &s,
            &hs256(&h, &escalated, &secret),
            "HS256 with the public key",
        )
        .await;
    }
    // 4. Our kid on a key that is not ours.
    let claims: AccessTokenClaims = serde_json::from_value(escalated.clone()).unwrap();
    refused_everywhere(
        &s,
        &foreign_key_with_our_kid(&kid, &claims),
        "foreign key, our kid",
    )
    .await;
    // 5. Hostile kid values.
    for bad_kid in [
        json!("../../../../etc/passwd"),
        json!("' OR '1'='1"),
        json!("\u{0}"),
        json!("x".repeat(10_000)),
        json!(7),
        json!(null),
        json!({"kid": kid}),
        json!([kid]),
    ] {
        let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": bad_kid});
        let forged = compact(&h, &escalated, parts[2].as_bytes());
        refused_everywhere(
            &s,
            &forged,
            &format!(
                "kid {}",
                &bad_kid.to_string()[..bad_kid.to_string().len().min(40)]
            ),
        )
        .await;
    }
    // 6. Structural junk.
    // An empty token is a missing parameter for introspection (400), and
    // no credentials for the admin API (401).
    assert_eq!(admin_status(&s, "").await.0, 401);
    assert_eq!(introspect(&s, "").await.0, 400);
    for junk in [
        ".",
        "..",
        "a.b",
        "a.b.c.d.e",
        "eyJ.eyJ.",
        &format!("{admin}.{admin}"),
        "\u{0}\u{0}",
        &"A".repeat(15_000),
    ] {
        refused_everywhere(&s, junk, "junk").await;
    }
    // The real tokens are untouched by all this.
    assert_eq!(admin_status(&s, &admin).await.0, 200);
    assert_eq!(introspect(&s, &weak).await.1["active"], true);
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

#[actix_web::test]
async fn a_flood_of_unknown_key_ids_is_answered_quickly_and_changes_nothing() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let (_, body) = post_token(&s.http, &s.base, "my-service", SVC_SECRET).await;
    let real = body["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_part(&real, 1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("made-up-{i}")});
        let forged = compact(&h, &claims, b"not-a-signature");
        let http = s.http.clone();
        let url = s.url("/clients");
        tasks.push(actix_web::rt::spawn(async move {
            http.get(url)
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(forged)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    // Key reloads are rate-limited, so 200 unknown kids cost at most a few
    // database reads, not 200.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(introspect(&s, &real).await.1["active"], true);
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

/// 2,000 requests naming made-up key ids, 200 at a time, half to the admin API
/// and half to introspection: none of them holds a blocking-pool thread
/// (they wait for a key reload asynchronously), and they share the reloads:
/// at most one per `MIN_UNKNOWN_KID_RELOAD_INTERVAL`, plus the first.
#[actix_web::test]
async fn unknown_key_ids_wait_without_blocking_threads_and_share_one_reload_per_interval() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let (_, body) = post_token(&s.http, &s.base, "my-service", SVC_SECRET).await;
    let real = body["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_part(&real, 1);
    // Warm the verified-secret cache, so introspection's own client
    // authentication does not dominate.
    assert_eq!(introspect(&s, &real).await.1["active"], true);
    let reloads = |s: &TestServer| {
        s.state.metrics.counter(
            "auth_server_signing_key_reloads_total",
            &[("cause", "unknown_kid")],
        )
    };
    let blocking_before = s.state.auth.blocking_token_checks();
    let reloads_before = reloads(&s);
    let http = s.http.clone();
    let started = Instant::now();
    // 200 connections at a time (a listener's accept backlog is 128 by
    // default), each sending 10 requests back to back: 2,000 in all.
    let mut tasks = Vec::new();
    for worker in 0..200 {
        let http = http.clone();
        let base = s.base.clone();
        let claims = claims.clone();
        tasks.push(actix_web::rt::spawn(async move {
            for n in 0..10 {
                let random = auth_domain::generate_secret().unwrap();
                let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": &random.expose()[..16]});
                let forged = compact(&h, &claims, b"not-a-signature");
                if (worker + n) % 2 == 0 {
                    let status = http
                        .get(format!("{base}/clients"))
                        .header("X-Forwarded-Proto", "https")
                        .bearer_auth(forged)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16();
                    assert_eq!(status, 401, "admin request {worker}/{n}");
                } else {
                    let r = http
                        .post(format!("{base}/oauth2/introspect"))
                        .header("X-Forwarded-Proto", "https")
                        .form(&[
                            ("client_id", "my-service"),
                            ("client_secret", SVC_SECRET),
                            ("token", forged.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    assert_eq!(
                        (status, body),
                        (200, json!({"active": false})),
                        "introspection {worker}/{n}"
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let blocking = s.state.auth.blocking_token_checks() - blocking_before;
    assert_eq!(
        blocking, 0,
        "{blocking} of 2000 requests with an unknown key id took a blocking-pool thread"
    );
    let reloaded = reloads(&s) - reloads_before;
    let interval = auth_http::state::MIN_UNKNOWN_KID_RELOAD_INTERVAL.as_secs_f64();
    let bound = (elapsed.as_secs_f64() / interval) as u64 + 2;
    assert!(
        reloaded <= bound,
        "{reloaded} key reloads in {elapsed:?} (at most {bound})"
    );
    assert!(reloaded >= 1, "no key reload at all for unknown key ids");
    assert_eq!(introspect(&s, &real).await.1["active"], true);
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}
