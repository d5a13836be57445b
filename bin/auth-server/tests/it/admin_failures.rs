//! Storage failures on the admin API: a failed write is a 5xx (503 with
//! `Retry-After` when the database is unavailable), never a success, and
//! hands out no secret. A second server shares the first one's database and
//! keys but writes through a client repository that fails on purpose.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web;
use auth_domain::{BcryptHasher, StoreError};
use auth_http::{AppState, Application, Repos};
use auth_server::{config, startup};
use auth_store::{Store, StoreConfig};
use auth_token::KeyEncryption;
use reqwest::Method;
use serde_json::json;

use crate::admin_support::*;
use crate::common::*;

/// A server on `s`'s database whose client writes fail with `error`.
async fn twin(s: &TestServer, error: StoreError) -> (String, ServerHandle) {
    let settings: BTreeMap<String, String> = [
        ("APP_DATABASE_URL".to_owned(), s.db.url.clone()),
        ("APP_BCRYPT_COST".to_owned(), "4".to_owned()),
        ("APP_DATABASE_POOL_TIMEOUT".to_owned(), "PT3S".to_owned()),
    ]
    .into();
    let config = config::load(None, &settings).unwrap();
    let store = Store::open(&StoreConfig {
        url: s.db.url.clone(),
        pool_size: 2,
        pool_timeout: Duration::from_secs(3),
    })
    .unwrap();
    let mut repos = Repos::from_store(store.clone(), Arc::new(|| (0, 0)));
    // Reads pass through; every write fails with `error`.
    repos.clients = Arc::new(HookedClients::new(Arc::new(store), move |call| {
        if call.writes() {
            Err(error.clone())
        } else {
            Ok(())
        }
    }));
    let state = web::Data::new(AppState::new(
        startup::http_config(&config).unwrap(),
        repos,
        Arc::new(BcryptHasher::new(4).unwrap()),
        KeyEncryption::new(None).unwrap(),
    ));
    let st = state.clone();
    web::block(move || st.auth.reload_keys().map(|_| ()))
        .await
        .unwrap()
        .unwrap();
    state.set_ready();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build(state, listener).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    (base, handle)
}

#[actix_web::test]
async fn a_failed_write_is_a_5xx_and_hands_out_no_secret() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        for (error, status) in [
            (StoreError::Unavailable("injected".into()), 503),
            (StoreError::Other("injected".into()), 500),
        ] {
            let (base, handle) = twin(&s, error).await;
            let call = |m: Method, path: &str| {
                s.http
                    .request(m, format!("{base}{path}"))
                    .header("X-Forwarded-Proto", "https")
                    .header("Authorization", format!("Bearer {t}"))
            };
            // Reads work on the twin.
            assert_eq!(
                send(call(Method::GET, "/clients/admin-cli/secret"))
                    .await
                    .status,
                200
            );
            let before = send(admin(&s, Method::GET, "/clients/admin-cli/secret", &t)).await;

            let writes = [
                call(Method::POST, "/clients/admin-cli/secret/rotate"),
                call(Method::DELETE, "/clients/admin-cli/secret?target=current"),
                call(Method::POST, "/clients/basic-client/secret/rotate"),
                json_body(
                    call(Method::POST, "/clients"),
                    &json!({"clientId": "never"}),
                ),
                call(Method::DELETE, "/clients/basic-client"),
                call(Method::PATCH, "/clients/basic-client")
                    .header("Content-Type", "application/merge-patch+json")
                    .body(r#"{"clientName":"never"}"#),
            ];
            for rb in writes {
                let r = send(rb).await;
                let detail = assert_problem(&r, status);
                assert!(!detail.contains("injected"), "{detail}");
                assert!(r.body.get("clientSecret").is_none());
                if status == 503 {
                    assert_eq!(r.header("retry-after").as_deref(), Some("3"), "{backend:?}");
                }
            }
            // Nothing changed: same secret state, same secrets authenticate.
            let after = send(admin(&s, Method::GET, "/clients/admin-cli/secret", &t)).await;
            assert_eq!(after.header("etag"), before.header("etag"));
            assert_eq!(after.body, before.body);
            assert!(authenticates(&s, "admin-cli", ADMIN_SECRET).await);
            assert!(authenticates(&s, "basic-client", BASIC_SECRET).await);
            let c = send(admin(&s, Method::GET, "/clients/basic-client", &t)).await;
            assert_eq!(c.body["clientName"], "Confidential Client: basic-client");
            assert_problem(
                &send(admin(&s, Method::GET, "/clients/never", &t)).await,
                404,
            );
            // The refused writes are audited as failures.
            let events = send(admin(
                &s,
                Method::GET,
                "/audit-events?clientId=admin-cli",
                &t,
            ))
            .await
            .body;
            assert_eq!(events[0]["action"], "client.secret.delete");
            assert_eq!(events[0]["outcome"], "failure");
            assert_eq!(events[1]["action"], "client.secret.rotate");
            assert_eq!(events[1]["outcome"], "failure");
            handle.stop(true).await;
        }
        s.stop().await;
    }
}

#[actix_web::test]
async fn the_openapi_document_describes_the_admin_api() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    // Served over plain HTTP too (see docs/reference/proxy.md).
    let doc: serde_json::Value = s.get_json("/openapi.json").await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let rotate = &doc["paths"]["/clients/{clientId}/secret/rotate"]["post"];
    assert_eq!(rotate["security"], json!([{"bearer": ["client.write"]}]));
    for status in ["200", "400", "401", "403", "404", "409", "412"] {
        assert!(
            rotate["responses"].get(status).is_some(),
            "rotate lacks {status}"
        );
    }
    let create = &doc["paths"]["/clients"]["post"];
    assert!(create["requestBody"]["content"]["application/json"].is_object());
    assert!(doc["components"]["schemas"]["ProblemDetails"].is_object());
    assert_eq!(
        doc["paths"]["/audit-events"]["get"]["security"],
        json!([{"bearer": ["users.read"]}])
    );
    s.stop().await;
}
