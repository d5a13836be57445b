//! An admin change is committed together with its audit event or not at
//! all: with the audit table refusing inserts (a real trigger on the real
//! database), every change answers a 5xx and leaves nothing behind.

use auth_store::test_support::fail_audit_inserts;
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

/// What the admin API shows of everything the changes below could touch.
async fn snapshot(s: &TestServer, t: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/clients",
        "/service-accounts",
        "/clients/basic-client/secret",
        "/clients/fresh/secret",
    ] {
        let r = send(admin(s, Method::GET, path, t)).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        out.push(json!({"path": path, "body": r.body, "etag": r.header("etag")}));
    }
    out
}

#[actix_web::test]
async fn a_change_whose_audit_event_fails_is_not_committed() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        // A client without a secret, so that issuing one is possible.
        let r = send(json_body(
            admin(&s, Method::POST, "/clients", &t),
            &json!({"clientId": "fresh"}),
        ))
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let before = snapshot(&s, &t).await;
        let events_before = send(admin(&s, Method::GET, "/audit-events", &t)).await.body;

        fail_audit_inserts(&s.db.url, true);
        let changes = [
            json_body(
                admin(&s, Method::POST, "/clients", &t),
                &json!({"clientId": "never"}),
            ),
            admin(&s, Method::PATCH, "/clients/basic-client", &t)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"clientName": "changed"}).to_string()),
            admin(&s, Method::DELETE, "/clients/basic-client", &t),
            admin(&s, Method::POST, "/clients/fresh/secret", &t),
            admin(&s, Method::POST, "/clients/basic-client/secret/rotate", &t),
            admin(
                &s,
                Method::DELETE,
                "/clients/basic-client/secret?target=current",
                &t,
            ),
            json_body(
                admin(&s, Method::PUT, "/service-accounts/svc-never", &t),
                &json!({"name": "never"}),
            ),
            json_body(
                admin(&s, Method::PUT, "/service-accounts/svc-my-service", &t),
                &json!({"name": "changed"}),
            ),
            admin(&s, Method::DELETE, "/service-accounts/svc-inactive", &t),
            admin(
                &s,
                Method::PUT,
                "/service-accounts/svc-my-service/clients/basic-client",
                &t,
            ),
            admin(
                &s,
                Method::DELETE,
                "/service-accounts/svc-my-service/clients/my-service",
                &t,
            ),
        ];
        for change in changes {
            let r = send(change).await;
            assert!(
                (500..600).contains(&r.status),
                "expected a 5xx without an audit log, got {} {:?}",
                r.status,
                r.body
            );
            assert!(r.body.get("clientSecret").is_none(), "{:?}", r.body);
        }
        fail_audit_inserts(&s.db.url, false);

        assert_eq!(snapshot(&s, &t).await, before);
        assert!(authenticates(&s, "basic-client", BASIC_SECRET).await);
        let events_after = send(admin(&s, Method::GET, "/audit-events", &t)).await.body;
        assert_eq!(events_after, events_before);
        s.stop().await;
    }
}
