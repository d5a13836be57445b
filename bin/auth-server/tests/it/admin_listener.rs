//! `APP_ADMIN_BIND`: a second listener that alone serves the admin API,
//! `/metrics` and `/openapi.json`, while the main listener keeps the OAuth
//! endpoints; health and readiness answer on both. Unset, one listener
//! serves everything.

use reqwest::Method;
use serde_json::json;

use crate::admin_support::*;
use crate::common::*;

async fn status(http: &reqwest::Client, method: Method, url: String, token: &str) -> u16 {
    http.request(method, url)
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn the_admin_surface_is_served_only_on_the_admin_listener() {
    let admin_port = free_loopback_port();
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings: [(
                "APP_ADMIN_BIND".to_owned(),
                format!("127.0.0.1:{admin_port}"),
            )]
            .into(),
            ..Spawn::default()
        },
    )
    .await;
    let admin_base = format!("http://127.0.0.1:{admin_port}");
    // Tokens still come from the main listener.
    let t = admin_token(&s).await;

    // The main listener: 404 for the admin surface, whatever the method.
    for (method, path) in [
        (Method::GET, "/clients"),
        (Method::POST, "/clients"),
        (Method::GET, "/clients/admin-cli/secret"),
        (Method::POST, "/clients/admin-cli/secret/rotate"),
        (Method::GET, "/service-accounts"),
        (Method::GET, "/audit-events"),
        (Method::GET, "/roles"),
        (Method::GET, "/metrics"),
        (Method::GET, "/openapi.json"),
    ] {
        assert_eq!(
            status(&s.http, method.clone(), s.url(path), &t).await,
            404,
            "main listener {method} {path}"
        );
    }
    // Nothing was rotated by the refused request.
    assert!(authenticates(&s, "admin-cli", ADMIN_SECRET).await);

    // The admin listener: the admin API with a token from the main one,
    // metrics and the OpenAPI document; not the OAuth endpoints.
    for (method, path, expected) in [
        (Method::GET, "/clients", 200),
        (Method::GET, "/service-accounts", 200),
        (Method::GET, "/metrics", 200),
        (Method::GET, "/openapi.json", 200),
        (Method::POST, "/oauth2/token", 404),
        (Method::GET, "/oauth2/jwks", 404),
        (Method::GET, "/.well-known/oauth-authorization-server", 404),
    ] {
        assert_eq!(
            status(&s.http, method.clone(), format!("{admin_base}{path}"), &t).await,
            expected,
            "admin listener {method} {path}"
        );
    }
    let r = send(json_body(
        s.http
            .post(format!("{admin_base}/clients"))
            .header("X-Forwarded-Proto", "https")
            .header("Authorization", format!("Bearer {t}")),
        &json!({"clientId": "made-on-the-admin-port"}),
    ))
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Health and readiness on both.
    for base in [s.base.clone(), admin_base.clone()] {
        for path in ["/healthz", "/readyz"] {
            let r = s.http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{base}{path}");
        }
    }

    // One stop ends both listeners.
    let http = s.http.clone();
    let main_base = s.base.clone();
    s.stop().await;
    for base in [main_base, admin_base] {
        assert!(
            http.get(format!("{base}/healthz")).send().await.is_err(),
            "{base} still answers after the stop"
        );
    }
}

#[actix_web::test]
async fn without_an_admin_listener_one_port_serves_everything() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let t = admin_token(&s).await;
    for path in ["/clients", "/metrics", "/openapi.json", "/healthz"] {
        assert_eq!(
            status(&s.http, Method::GET, s.url(path), &t).await,
            200,
            "{path}"
        );
    }
    s.stop().await;
}
