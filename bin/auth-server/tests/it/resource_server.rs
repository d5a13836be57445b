//! auth-verify, the crate for resource servers, against a real server
//! started here: tokens of the server are accepted with their claims, and
//! each check refuses what it must (tampered, expired, foreign issuer or
//! audience, wrong `typ`, another `alg` than the key's); the key cache
//! fetches once for unknown key ids and picks up a rotated key; with the
//! server down it keeps the last keys for a bounded time, then fails
//! closed; introspection mode refuses a revoked token; and the actix
//! extractors of the example resource server answer 401/403 over HTTP.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use auth_domain::SigningKeyRepository as _;
use auth_verify::{Error, Verifier, VerifyError};
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{json, Value};

use crate::common::*;

#[path = "../../../../crates/auth-verify/examples/resource_server.rs"]
mod example;

const ISSUER: &str = "https://auth.test.example";

/// A server whose tokens carry `iss` = [`ISSUER`], answering introspection
/// and revocation over plain HTTP (the verifier talks to it directly).
async fn server(backend: Backend) -> TestServer {
    spawn_with_settings(
        backend,
        &[("APP_ISSUER", ISSUER), ("APP_REQUIRE_HTTPS", "false")],
    )
    .await
}

fn verifier(s: &TestServer) -> auth_verify::VerifierBuilder {
    Verifier::builder(ISSUER).jwks_url(s.url("/oauth2/jwks"))
}

/// A token of `basic-client`, which authenticates with Basic and has no
/// service account (so no permissions).
async fn basic_token(s: &TestServer) -> String {
    s.token("basic-client", BASIC_SECRET, Creds::Basic).await
}

/// A token of `my-service` (data.read through its ANALYST role). A new
/// connection each time: the tests pause longer than the server keeps an
/// idle one.
async fn svc_token(s: &TestServer) -> String {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let (status, body) = post_token(&http, &s.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The server's active signing key, read from its database (stored
/// unencrypted here: `raw1` then PKCS#8), and its kid.
fn server_key(s: &TestServer) -> (String, PKey<Private>) {
    let keys = open_store(s).list().unwrap();
    let active = keys.iter().find(|k| k.retired_at.is_none()).unwrap();
    assert_eq!(active.alg, "RS256");
    let der = active.private_key.strip_prefix(b"raw1").unwrap();
    (
        active.kid.clone(),
        PKey::private_key_from_pkcs8(der).unwrap(),
    )
}

/// A JWS over `header` and `claims`, signed as `how` says.
fn craft(header: &Value, claims: &Value, how: Signing<'_>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match how {
        Signing::Rs256(key) => {
            let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
            signer.update(input.as_bytes()).unwrap();
            signer.sign_to_vec().unwrap()
        }
        Signing::Ps256(key) => {
            let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
            signer.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
            signer
                .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .unwrap();
            signer.update(input.as_bytes()).unwrap();
            signer.sign_to_vec().unwrap()
        }
        Signing::Hs256(secret) => {
            let key = PKey::hmac(secret).unwrap();
            let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
            signer.update(input.as_bytes()).unwrap();
            signer.sign_to_vec().unwrap()
        }
        Signing::Unsigned => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

enum Signing<'a> {
    Rs256(&'a PKey<Private>),
    Ps256(&'a PKey<Private>),
    Hs256(&'a [u8]),
    Unsigned,
}

#[actix_web::test]
async fn a_token_of_the_server_is_accepted_with_its_claims() {
    for backend in backends() {
        let s = server(backend).await;
        let v = verifier(&s).build().unwrap();
        let token = svc_token(&s).await;
        let claims = v.verify(&token).await.unwrap();
        assert_eq!(claims.issuer(), ISSUER);
        assert_eq!(claims.client_id(), "my-service");
        assert_eq!(claims.sub(), "svc-my-service");
        assert_eq!(claims.audience(), "my-service");
        assert_eq!(claims.scopes().collect::<Vec<_>>(), ["read"]);
        assert_eq!(claims.roles(), ["ANALYST", "USER"]);
        assert_eq!(claims.permissions(), ["data.read", "users.read"]);
        assert_eq!(claims.groups(), ["urn:example:groups:ops"]);
        assert_eq!(claims.attribute("team"), Some(&json!("platform")));
        assert!(claims.has_permission("data.read"));
        assert!(!claims.has_permission("users.write"));
        assert!(claims.has_any_role(&["ADMIN_SYSTEM", "ANALYST"]));
        assert!(claims.in_group("urn:example:groups:ops"));
        let lifetime = claims.expires_at() - claims.issued_at();
        assert_eq!(lifetime, time::Duration::minutes(60));
        assert_eq!(claims.jti(), jwt_part(&token, 1)["jti"]);

        // A client without a service account: no roles, no permissions.
        let basic = basic_token(&s).await;
        let claims = v.verify(&basic).await.unwrap();
        assert_eq!(claims.sub(), "basic-client");
        assert!(!claims.has_service_account());
        assert!(claims.permissions().is_empty());
        // Both verified with one fetch of the keys.
        assert_eq!(v.key_fetches(), 1);
        s.stop().await;
    }
}

#[actix_web::test]
async fn discovery_finds_the_keys_from_the_issuer_alone() {
    // Without APP_ISSUER the issuer is the URL the server is reached at.
    let s = spawn_with_settings(Backend::Sqlite, &[("APP_REQUIRE_HTTPS", "false")]).await;
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_part(&token, 1)["iss"], s.base.as_str());
    let v = Verifier::builder(s.base.clone())
        .introspection("basic-client", BASIC_SECRET)
        .discover()
        .await
        .unwrap()
        .build()
        .unwrap();
    // The keys and the introspection endpoint both come from discovery.
    assert_eq!(v.verify(&token).await.unwrap().sub(), "svc-my-service");
    assert_eq!(v.key_fetches(), 1);
    // The metadata names its issuer: another one is refused up front.
    let other = Verifier::builder(format!("{}/other", s.base))
        .discover()
        .await;
    assert!(other.is_err());
    s.stop().await;
}

#[actix_web::test]
async fn each_check_refuses_what_it_must_and_says_which() {
    let s = server(Backend::Sqlite).await;
    let v = verifier(&s).build().unwrap();
    let token = svc_token(&s).await;
    let claims = jwt_part(&token, 1);

    // Tampered: one permission more, the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut more = claims.clone();
    more["permissions"] = json!(["data.read", "users.read", "users.write"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(more.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        v.verify(&tampered).await.unwrap_err(),
        Error::Refused(VerifyError::BadSignature)
    );

    // Expired: the server's token checked after its exp, with the default
    // 60 s of leeway and with none.
    let exp = time::OffsetDateTime::from_unix_timestamp(claims["exp"].as_i64().unwrap()).unwrap();
    assert!(v
        .verify_at(&token, exp + time::Duration::seconds(59))
        .await
        .is_ok());
    assert_eq!(
        v.verify_at(&token, exp + time::Duration::seconds(60))
            .await
            .unwrap_err(),
        Error::Refused(VerifyError::Expired)
    );
    let strict = verifier(&s).leeway(Duration::ZERO).build().unwrap();
    assert_eq!(
        strict.verify_at(&token, exp).await.unwrap_err(),
        Error::Refused(VerifyError::Expired)
    );
    let iat = exp - time::Duration::minutes(60);
    assert_eq!(
        strict
            .verify_at(&token, iat - time::Duration::seconds(1))
            .await
            .unwrap_err(),
        Error::Refused(VerifyError::NotYetValid)
    );

    // Another issuer, another audience.
    let foreign = Verifier::builder("https://other.test.example")
        .jwks_url(s.url("/oauth2/jwks"))
        .build()
        .unwrap();
    assert_eq!(
        foreign.verify(&token).await.unwrap_err(),
        Error::Refused(VerifyError::WrongIssuer)
    );
    let for_other = verifier(&s).audience("other-service").build().unwrap();
    assert_eq!(
        for_other.verify(&token).await.unwrap_err(),
        Error::Refused(VerifyError::WrongAudience)
    );
    let for_us = verifier(&s).audience("my-service").build().unwrap();
    assert!(for_us.verify(&token).await.is_ok());

    // Tokens crafted with the server's own key: the crafting is sound (an
    // at+jwt RS256 token verifies), so each refusal below is the header's.
    let (kid, key) = server_key(&s);
    let header = |alg: &str, typ: Option<&str>| {
        let mut h = json!({"alg": alg, "kid": kid});
        if let Some(typ) = typ {
            h["typ"] = json!(typ);
        }
        h
    };
    let genuine = craft(
        &header("RS256", Some("at+jwt")),
        &claims,
        Signing::Rs256(&key),
    );
    assert!(v.verify(&genuine).await.is_ok());
    for typ in [Some("JWT"), None, Some("at+jwt+x")] {
        let t = craft(&header("RS256", typ), &claims, Signing::Rs256(&key));
        assert_eq!(
            v.verify(&t).await.unwrap_err(),
            Error::Refused(VerifyError::WrongType),
            "{typ:?}"
        );
    }

    // The algorithm is the key's (RS256), whatever the header says: our
    // key under PS256, HMAC keyed with the public key (the classic
    // confusion), and no signature at all.
    let public_pem = key.public_key_to_pem().unwrap();
    let jwks = s
        .http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (what, t) in [
        (
            "PS256 by our key",
            craft(
                &header("PS256", Some("at+jwt")),
                &claims,
                Signing::Ps256(&key),
            ),
        ),
        (
            "HS256 keyed with the PEM",
            craft(
                &header("HS256", Some("at+jwt")),
                &claims,
                Signing::Hs256(&public_pem),
            ),
        ),
        (
            "HS256 keyed with the JWKS",
            craft(
                &header("HS256", Some("at+jwt")),
                &claims,
                Signing::Hs256(jwks.as_bytes()),
            ),
        ),
        (
            "none",
            craft(&header("none", Some("at+jwt")), &claims, Signing::Unsigned),
        ),
    ] {
        assert_eq!(
            v.verify(&t).await.unwrap_err(),
            Error::Refused(VerifyError::BadSignature),
            "{what}"
        );
    }

    // A lifetime over 24 h is not one of ours, even with our signature.
    let mut long = claims.clone();
    long["exp"] = json!(long["iat"].as_i64().unwrap() + 86_401);
    let t = craft(
        &header("RS256", Some("at+jwt")),
        &long,
        Signing::Rs256(&key),
    );
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        Error::Refused(VerifyError::LifetimeTooLong)
    );

    // One fetch served every check above.
    assert_eq!(v.key_fetches(), 1);
    s.stop().await;
}

/// The kid of a token's header.
fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_unknown_kid_fetches_once_per_interval_and_a_rotated_key_is_picked_up() {
    for backend in backends() {
        let s = server(backend).await;
        let interval = Duration::from_millis(1500);
        let v = verifier(&s).refetch_interval(interval).build().unwrap();
        let t1 = svc_token(&s).await;
        assert!(v.verify(&t1).await.is_ok());
        assert_eq!(v.key_fetches(), 1);
        actix_web::rt::time::sleep(interval).await;

        // Fifty concurrent tokens naming made-up keys: one fetch between them.
        let (_, key) = server_key(&s);
        let claims = jwt_part(&t1, 1);
        let forged: Vec<String> = (0..50)
            .map(|i| {
                craft(
                    &json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("made-up-{i}")}),
                    &claims,
                    Signing::Rs256(&key),
                )
            })
            .collect();
        let tasks: Vec<_> = forged
            .iter()
            .map(|t| {
                let (v, t) = (v.clone(), t.clone());
                actix_web::rt::spawn(async move { v.verify(&t).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap_err(), Error::UnknownKey);
        }
        assert_eq!(v.key_fetches(), 2);
        // Within the interval, another unknown kid does not fetch.
        assert_eq!(v.verify(&forged[0]).await.unwrap_err(), Error::UnknownKey);
        assert_eq!(v.key_fetches(), 2);

        // The server's key is rotated; once the server signs with the new
        // key, its tokens verify after one more fetch.
        let env: BTreeMap<String, String> =
            [("APP_DATABASE_URL".to_owned(), s.db.url.clone())].into();
        let out = run_binary(&["keys", "rotate"], &env, s.dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let deadline = Instant::now() + auth_server::startup::REFRESH_EVERY * 3;
        let t2 = loop {
            let t = svc_token(&s).await;
            if kid(&t) != kid(&t1) {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "the server never signed with the new key"
            );
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        };
        actix_web::rt::time::sleep(interval).await;
        let claims = v.verify(&t2).await.unwrap();
        assert_eq!(claims.sub(), "svc-my-service");
        assert_eq!(v.key_fetches(), 3);
        // The retired key still verifies its tokens, from the same fetch.
        assert!(v.verify(&t1).await.is_ok());
        assert_eq!(v.key_fetches(), 3);
        s.stop().await;
    }
}

#[actix_web::test]
async fn with_the_server_down_the_last_keys_serve_for_the_bound_then_it_fails_closed() {
    let s = server(Backend::Sqlite).await;
    let v = verifier(&s)
        .key_ttl(Duration::from_secs(1))
        .refetch_interval(Duration::from_millis(200))
        .stale_for(Duration::from_secs(3))
        .build()
        .unwrap();
    let token = svc_token(&s).await;
    let before = Instant::now();
    assert!(v.verify(&token).await.is_ok());
    let warmed = Instant::now();
    s.stop().await;

    // Fresh for 1 s, then stale: fetches fail, the last keys still verify
    // until 1 s + 3 s after the last good fetch.
    actix_web::rt::time::sleep_until((before + Duration::from_millis(1500)).into()).await;
    assert!(v.verify(&token).await.is_ok());
    assert!(v.key_fetches() >= 2, "a stale key set is fetched again");
    actix_web::rt::time::sleep_until((before + Duration::from_millis(3000)).into()).await;
    assert!(
        v.verify(&token).await.is_ok(),
        "the last good keys must serve for the stale bound"
    );
    actix_web::rt::time::sleep_until((warmed + Duration::from_millis(4500)).into()).await;
    let err = v.verify(&token).await.unwrap_err();
    assert_eq!(err, Error::KeysUnavailable);
    assert!(!err.is_token_refused());
}

#[actix_web::test]
async fn introspection_mode_refuses_a_revoked_token() {
    let s = server(Backend::Sqlite).await;
    // basic-client authenticates with Basic and a secret full of
    // characters that must be form-encoded.
    let fresh = verifier(&s)
        .introspection("basic-client", BASIC_SECRET)
        .introspection_endpoint(s.url("/oauth2/introspect"))
        .introspection_cache(Duration::ZERO)
        .build()
        .unwrap();
    let cached = verifier(&s)
        .introspection("basic-client", BASIC_SECRET)
        .introspection_endpoint(s.url("/oauth2/introspect"))
        .introspection_cache(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = svc_token(&s).await;
    fresh.verify(&token).await.unwrap();
    cached.verify(&token).await.unwrap();

    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(fresh.verify(&token).await.unwrap_err(), Error::Inactive);
    // The cached answer holds for its configured period.
    assert!(cached.verify(&token).await.is_ok());
    // Without introspection the signature alone still accepts it.
    assert!(verifier(&s).build().unwrap().verify(&token).await.is_ok());

    // The post method, and wrong credentials: not checkable, not refused.
    let post = verifier(&s)
        .introspection_endpoint(s.url("/oauth2/introspect"))
        .introspection("my-service", SVC_SECRET)
        .introspection_auth(auth_verify::ClientAuth::Post)
        .build()
        .unwrap();
    assert_eq!(post.verify(&token).await.unwrap_err(), Error::Inactive);
    let other = svc_token(&s).await;
    assert!(post.verify(&other).await.is_ok());
    let wrong = verifier(&s)
        .introspection("basic-client", "not-the-secret")
        .introspection_endpoint(s.url("/oauth2/introspect"))
        .build()
        .unwrap();
    let err = wrong.verify(&other).await.unwrap_err();
    assert_eq!(err, Error::IntrospectionUnavailable);
    assert!(!err.is_token_refused());
    s.stop().await;
}

/// The example resource server, started here on a free port.
async fn example_server(verifier: Verifier) -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().configure(example::configure(verifier.clone()))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}

#[actix_web::test]
async fn the_example_resource_server_answers_200_401_and_403_over_http() {
    let s = server(Backend::Sqlite).await;
    let (base, handle) = example_server(verifier(&s).build().unwrap()).await;
    let http = reqwest::Client::new();
    let get = |path: &str, auth: Option<String>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    let challenge = |r: &reqwest::Response| {
        r.headers()
            .get("WWW-Authenticate")
            .map(|h| h.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    // my-service has data.read (through its ANALYST role).
    let token = svc_token(&s).await;
    let r = get("/datasets", Some(format!("Bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["read_by"],
        "svc-my-service"
    );
    let r = get("/whoami", Some(format!("bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["client_id"], "my-service");

    // No token: 401 with a bare challenge (RFC 6750 §3.1).
    let r = get("/datasets", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r), "Bearer");
    let r = get("/datasets", Some(format!("Basic {}", b64(b"a:b"))))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A refused token: 401 invalid_token, saying why, not echoing it.
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}x",
        parts[0],
        parts[1],
        &parts[2][..parts[2].len() - 1]
    );
    for bad in [tampered.as_str(), "not-a-jwt"] {
        let r = get("/datasets", Some(format!("Bearer {bad}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        let c = challenge(&r);
        assert!(c.starts_with("Bearer error=\"invalid_token\""), "{c}");
        let body = r.text().await.unwrap();
        assert!(body.contains("invalid_token"), "{body}");
        assert!(!body.contains(parts[2]) && !c.contains(parts[2]));
    }

    // Valid, but basic-client has no permissions: 403 insufficient_scope;
    // a route needing only a valid token lets it in.
    let basic = basic_token(&s).await;
    let r = get("/datasets", Some(format!("Bearer {basic}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).starts_with("Bearer error=\"insufficient_scope\""));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
    let r = get("/whoami", Some(format!("Bearer {basic}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The auth server gone and the keys never fetched: 503, not a verdict.
    let cold = verifier(&s).build().unwrap();
    s.stop().await;
    let (cold_base, cold_handle) = example_server(cold).await;
    let r = http
        .get(format!("{cold_base}/datasets"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("Retry-After").is_some());
    assert!(r.headers().get("WWW-Authenticate").is_none());
    handle.stop(true).await;
    cold_handle.stop(true).await;
}
