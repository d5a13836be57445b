//! End to end with libraries no one here wrote: the `oauth2` crate obtains
//! tokens (Basic and post), `jsonwebtoken` verifies them against
//! `/oauth2/jwks`, and every claim of docs/reference/token-endpoint.md is checked.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;

use crate::common::*;

// oauth2 5 is built on reqwest 0.12 and re-exports it; the workspace's
// reqwest (0.13) is another type.
use oauth2::reqwest;

fn http_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    // What a mesh sidecar adds; the server requires HTTPS by default.
    headers.insert("X-Forwarded-Proto", "https".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn obtain(
    s: &TestServer,
    id: &str,
    secret: &str,
    auth: AuthType,
    scopes: &[&str],
) -> (String, Option<Vec<String>>, u64) {
    let client = BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(s.url("/oauth2/token")).unwrap())
        .set_auth_type(auth);
    let mut req = client.exchange_client_credentials();
    for sc in scopes {
        req = req.add_scope(Scope::new((*sc).into()));
    }
    let token = req.request_async(&http_client()).await.unwrap();
    assert!(token.refresh_token().is_none());
    (
        token.access_token().secret().clone(),
        token
            .scopes()
            .map(|v| v.iter().map(|s| s.to_string()).collect()),
        token.expires_in().unwrap().as_secs(),
    )
}

async fn verify(s: &TestServer, token: &str, audience: &str) -> (jsonwebtoken::Header, Value) {
    let jwks: JwkSet = s.jwks().await;
    let header = decode_header(token).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks.find(&kid).expect("the token's kid is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[s.base.replace("http://", "https://")]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    let data = decode::<Value>(token, &key, &v).unwrap();
    (header, data.claims)
}

#[actix_web::test]
async fn oauth2_crate_obtains_tokens_that_jsonwebtoken_verifies() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;

        // client_secret_post, linked to a service account.
        let (token, scopes, expires_in) =
            obtain(&s, "my-service", SVC_SECRET, AuthType::RequestBody, &[]).await;
        assert_eq!(scopes, Some(vec!["read".to_owned()]));
        assert_eq!(expires_in, 3600);
        let (header, c) = verify(&s, &token, "my-service").await;
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(c["sub"], "svc-my-service");
        assert_eq!(c["aud"], "my-service");
        assert_eq!(c["client_id"], "my-service");
        assert_eq!(c["scope"], "read");
        assert_eq!(c["nbf"], c["iat"]);
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            3600
        );
        assert_eq!(c["roles"], serde_json::json!(["ANALYST", "USER"]));
        assert_eq!(
            c["permissions"],
            serde_json::json!(["data.read", "users.read"])
        );
        assert_eq!(c["groups"], serde_json::json!(["urn:example:groups:ops"]));
        assert_eq!(c["attributes"], serde_json::json!({"team": "platform"}));
        assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));

        // client_secret_basic with characters that need form-encoding,
        // no service account.
        let (token2, scopes, expires_in) = obtain(
            &s,
            "basic-client",
            BASIC_SECRET,
            AuthType::BasicAuth,
            &["write"],
        )
        .await;
        assert_eq!(scopes, Some(vec!["write".to_owned()]));
        assert_eq!(expires_in, 1800);
        let (_, c2) = verify(&s, &token2, "basic-client").await;
        assert_eq!(c2["sub"], "basic-client");
        for absent in ["roles", "permissions", "groups", "attributes"] {
            assert!(
                c2.get(absent).is_none(),
                "{absent} must be absent without a service account"
            );
        }
        assert_ne!(c["jti"], c2["jti"]);

        // The admin client's account has ADMIN_SYSTEM: all four permissions, empty groups.
        let (token3, _, _) = obtain(&s, "admin-cli", ADMIN_SECRET, AuthType::BasicAuth, &[]).await;
        let (_, c3) = verify(&s, &token3, "admin-cli").await;
        assert_eq!(
            c3["permissions"],
            serde_json::json!(["client.read", "client.write", "users.read", "users.write"])
        );
        assert_eq!(c3["groups"], serde_json::json!([]));
        assert!(c3.get("scope").is_none());
        assert!(c3.get("attributes").is_none());
        s.stop().await;
    }
}

#[actix_web::test]
async fn es256_and_eddsa_tokens_verify_with_jsonwebtoken() {
    for (alg, expected) in [
        ("ES256", jsonwebtoken::Algorithm::ES256),
        ("EdDSA", jsonwebtoken::Algorithm::EdDSA),
    ] {
        let mut opts = Spawn::default();
        opts.settings.insert("APP_SIGNING_ALG".into(), alg.into());
        let s = spawn(Backend::Sqlite, opts).await;
        let (token, _, _) = obtain(
            &s,
            "my-service",
            SVC_SECRET,
            AuthType::RequestBody,
            &["read"],
        )
        .await;
        let (header, c) = verify(&s, &token, "my-service").await;
        assert_eq!(header.alg, expected);
        assert_eq!(c["sub"], "svc-my-service");
        s.stop().await;
    }
}
