//! A client deleted and created again under the same id is another client:
//! tokens issued to the first one stay invalid for introspection and the
//! admin API, whether the id comes back through `POST /clients` or through
//! the seed file at the next startup (docs/security.md, finding 1).

use reqwest::Method;
use serde_json::json;

use crate::admin_support::*;
use crate::common::*;

const X: &str = "ops-admin";
const X_SECRET: &str = "ops-admin-secret-0123456789";

/// The standard seed plus `ops-admin`, linked to `svc-ops` (ADMIN_SYSTEM),
/// so that a token of X works on the admin API and for introspection.
fn seeded_with_x() -> Spawn {
    let mut opts = Spawn {
        clients_yaml: Some(format!(
            "{CLIENTS_YAML}    - client_id: {X}\n      client_secret_env_var_name: OPS_ADMIN_SECRET\n"
        )),
        accounts_yaml: Some(format!(
            "{ACCOUNTS_YAML}  - id: svc-ops\n    clientId: {X}\n    roles: [\"ADMIN_SYSTEM\"]\n"
        )),
        ..Spawn::default()
    };
    opts.env.insert("OPS_ADMIN_SECRET".into(), X_SECRET.into());
    opts
}

async fn admin_get_status(s: &TestServer, token: &str) -> u16 {
    send(admin(s, Method::GET, "/clients", token)).await.status
}

async fn delete_x(s: &TestServer, by: &str) {
    let r = send(admin(s, Method::DELETE, &format!("/clients/{X}"), by)).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

#[actix_web::test]
async fn a_client_created_again_through_the_admin_api_does_not_revive_old_tokens() {
    for backend in backends() {
        let s = spawn(backend, seeded_with_x()).await;
        let by = admin_token(&s).await;
        let old = mint(&s, X, X_SECRET, false).await;
        assert!(active(&s, &old).await, "{backend:?}");
        assert_eq!(admin_get_status(&s, &old).await, 200, "{backend:?}");

        delete_x(&s, &by).await;
        assert!(
            !active(&s, &old).await,
            "{backend:?}: active after the deletion"
        );

        // The same id again, with a secret and the same service account.
        let r = send(json_body(
            admin(&s, Method::POST, "/clients", &by),
            &json!({"clientId": X}),
        ))
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        assert!(
            !keys
                .iter()
                .any(|k| k.to_lowercase().contains("incarnation")),
            "the admin API shows the incarnation: {keys:?}"
        );
        let r = send(admin(
            &s,
            Method::POST,
            &format!("/clients/{X}/secret"),
            &by,
        ))
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let secret = r.body["clientSecret"].as_str().unwrap().to_owned();
        let r = send(admin(
            &s,
            Method::PUT,
            &format!("/service-accounts/svc-ops/clients/{X}"),
            &by,
        ))
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);

        assert!(
            !active(&s, &old).await,
            "{backend:?}: the old token of {X} is active again after re-creation"
        );
        assert_eq!(
            admin_get_status(&s, &old).await,
            401,
            "{backend:?}: the old token of {X} works on the admin API again"
        );
        let new = mint(&s, X, &secret, false).await;
        assert!(active(&s, &new).await, "{backend:?}: the new token");
        assert_eq!(admin_get_status(&s, &new).await, 200, "{backend:?}");
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_client_created_again_by_the_seed_at_restart_does_not_revive_old_tokens() {
    for backend in backends() {
        let first = spawn(backend, seeded_with_x()).await;
        let by = admin_token(&first).await;
        let old = mint(&first, X, X_SECRET, false).await;
        assert!(active(&first, &old).await, "{backend:?}");
        delete_x(&first, &by).await;
        let url = first.db.url.clone();
        let db = first.db;
        first.handle.stop(true).await;

        // The seed file still lists X: the restart creates it again.
        let mut opts = seeded_with_x();
        opts.db_url = Some(url);
        let second = spawn(backend, opts).await;
        let new = mint(&second, X, X_SECRET, false).await;
        assert!(active(&second, &new).await, "{backend:?}: the new token");
        assert!(
            !active(&second, &old).await,
            "{backend:?}: the token of the deleted {X} is active again after the re-seed"
        );
        assert_eq!(admin_get_status(&second, &old).await, 401, "{backend:?}");
        assert_eq!(admin_get_status(&second, &new).await, 200, "{backend:?}");
        second.stop().await;
        drop(db);
    }
}
