//! No privilege escalation through the admin API: a change that affects a
//! service account is refused (403 naming what is missing) unless the
//! caller's own token holds every admin permission the account has, before
//! and after the change. Domain permissions are outside the rule.

use reqwest::Method;
use serde_json::json;

use crate::admin_support::*;
use crate::common::*;

const CW_SECRET: &str = "client-writer-secret-0123456789";
const UW_SECRET: &str = "users-writer-secret-0123456789";
const DATA_SECRET: &str = "data-client-secret-0123456789";
const SPARE_SECRET: &str = "spare-client-secret-0123456789";

/// The standard seed plus: `cw-client` whose account grants `client.read`
/// and `client.write` only; `uw-client` whose account grants `users.read`
/// and `users.write` only; `data-client` whose account carries only a
/// domain permission (role ANALYST); `spare-client`, unlinked.
const CLIENTS: &str = r#"
clients:
  confidential:
    - client_id: admin-cli
      client_secret_env_var_name: ADMIN_CLI_CLIENT_SECRET
    - client_id: cw-client
      client_secret_env_var_name: CW_SECRET
    - client_id: uw-client
      client_secret_env_var_name: UW_SECRET
    - client_id: data-client
      client_secret_env_var_name: DATA_SECRET
    - client_id: spare-client
      client_secret_env_var_name: SPARE_SECRET
"#;

const ACCOUNTS: &str = r#"
permissions:
  - name: data.read
roles:
  - name: ANALYST
    permissions: [data.read]
serviceAccounts:
  - id: svc-admin
    clientId: admin-cli
    roles: ["ADMIN_SYSTEM"]
  - id: svc-cw
    clientId: cw-client
    permissions: ["client.read", "client.write"]
  - id: svc-uw
    clientId: uw-client
    permissions: ["users.read", "users.write"]
  - id: svc-data
    clientId: data-client
    roles: ["ANALYST"]
"#;

async fn server(backend: Backend) -> TestServer {
    let env = [
        ("CW_SECRET", CW_SECRET),
        ("UW_SECRET", UW_SECRET),
        ("DATA_SECRET", DATA_SECRET),
        ("SPARE_SECRET", SPARE_SECRET),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    spawn(
        backend,
        Spawn {
            clients_yaml: Some(CLIENTS.into()),
            accounts_yaml: Some(ACCOUNTS.into()),
            env,
            ..Spawn::default()
        },
    )
    .await
}

/// A 403 whose detail names every one of `missing` and nothing else of the
/// four admin permissions.
fn assert_escalation(r: &Reply, missing: &[&str]) {
    let detail = assert_problem(r, 403);
    for p in ["client.read", "client.write", "users.read", "users.write"] {
        assert_eq!(
            detail.contains(p),
            missing.contains(&p),
            "{p} in {detail:?}, expected missing {missing:?}"
        );
    }
}

/// The secret-state ETag of a client, read with an all-powerful token.
async fn secret_etag(s: &TestServer, admin_t: &str, id: &str) -> String {
    let r = send(admin(
        s,
        Method::GET,
        &format!("/clients/{id}/secret"),
        admin_t,
    ))
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.header("etag").unwrap()
}

#[actix_web::test]
async fn client_write_alone_cannot_take_over_an_admin_client() {
    for backend in backends() {
        let s = server(backend).await;
        let root = admin_token(&s).await;
        let cw = mint(&s, "cw-client", CW_SECRET, false).await;
        let before = secret_etag(&s, &root, "admin-cli").await;
        let missing = ["users.read", "users.write"];

        // Rotate, delete either slot, and issue (which would be a 409: the
        // refusal comes first and tells nothing about the secret state).
        for (method, path) in [
            (Method::POST, "/clients/admin-cli/secret/rotate"),
            (Method::DELETE, "/clients/admin-cli/secret?target=current"),
            (Method::DELETE, "/clients/admin-cli/secret?target=previous"),
            (Method::POST, "/clients/admin-cli/secret"),
            (Method::DELETE, "/clients/admin-cli"),
        ] {
            let r = send(admin(&s, method.clone(), path, &cw)).await;
            assert_escalation(&r, &missing);
        }
        let r = send(
            admin(&s, Method::PATCH, "/clients/admin-cli", &cw)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"clientName": "owned"}).to_string()),
        )
        .await;
        assert_escalation(&r, &missing);

        // Nothing changed: the same secret state, the old secret still logs in.
        assert_eq!(secret_etag(&s, &root, "admin-cli").await, before);
        assert!(authenticates(&s, "admin-cli", ADMIN_SECRET).await);
        let r = send(admin(&s, Method::GET, "/clients/admin-cli", &root)).await;
        assert_eq!(r.body["clientName"], "Confidential Client: admin-cli");

        // Its own client and one with domain permissions only: allowed.
        let r = send(admin(
            &s,
            Method::POST,
            "/clients/data-client/secret/rotate",
            &cw,
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send(admin(
            &s,
            Method::POST,
            "/clients/cw-client/secret/rotate",
            &cw,
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send(admin(
            &s,
            Method::POST,
            "/clients/spare-client/secret/rotate",
            &cw,
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);

        // An unknown client is still a 404, a public one still a 400.
        assert_problem(
            &send(admin(
                &s,
                Method::POST,
                "/clients/nobody/secret/rotate",
                &cw,
            ))
            .await,
            404,
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn users_write_cannot_grant_admin_permissions_it_lacks() {
    for backend in backends() {
        let s = server(backend).await;
        let root = admin_token(&s).await;
        let uw = mint(&s, "uw-client", UW_SECRET, false).await;
        let client_perms = ["client.read", "client.write"];

        // Its own client: unlinking from its own account is within its
        // power; linking it to the ADMIN_SYSTEM account is not.
        let r = send(admin(
            &s,
            Method::DELETE,
            "/service-accounts/svc-uw/clients/uw-client",
            &uw,
        ))
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        // Nor link clients to the admin account, unlink the admin's client,
        // or delete its account.
        for (method, path) in [
            (Method::PUT, "/service-accounts/svc-admin/clients/uw-client"),
            (
                Method::PUT,
                "/service-accounts/svc-admin/clients/spare-client",
            ),
            (
                Method::DELETE,
                "/service-accounts/svc-admin/clients/admin-cli",
            ),
            (Method::DELETE, "/service-accounts/svc-admin"),
        ] {
            let r = send(admin(&s, method, path, &uw)).await;
            assert_escalation(&r, &client_perms);
        }
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-admin", &uw),
            &json!({"roles": ["USER"]}),
        ))
        .await;
        assert_escalation(&r, &client_perms);

        // Give an account (its own, or a new one) an admin permission it lacks.
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-uw", &uw),
            &json!({"roles": ["ADMIN_SYSTEM"]}),
        ))
        .await;
        assert_escalation(&r, &client_perms);
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-new", &uw),
            &json!({"permissions": ["client.write"]}),
        ))
        .await;
        assert_escalation(&r, &["client.write"]);

        // Nothing changed.
        let r = send(admin(&s, Method::GET, "/service-accounts/svc-admin", &root)).await;
        assert_eq!(r.body["clientIds"], json!(["admin-cli"]));
        assert_eq!(r.body["roles"], json!(["ADMIN_SYSTEM"]));
        let r = send(admin(&s, Method::GET, "/service-accounts/svc-uw", &root)).await;
        assert_eq!(r.body["permissions"], json!(["users.read", "users.write"]));
        assert_eq!(r.body["roles"], json!([]));
        assert_problem(
            &send(admin(&s, Method::GET, "/service-accounts/svc-new", &root)).await,
            404,
        );
        let r = send(admin(&s, Method::GET, "/clients/spare-client", &root)).await;
        assert_eq!(r.body["serviceAccountId"], json!(null));

        // Accounts with domain permissions only, or its own admin
        // permissions: all of it is allowed.
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-data", &uw),
            &json!({"roles": ["ANALYST"], "permissions": ["data.read"]}),
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-new", &uw),
            &json!({"permissions": ["users.read", "data.read"]}),
        ))
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = send(admin(
            &s,
            Method::PUT,
            "/service-accounts/svc-new/clients/spare-client",
            &uw,
        ))
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        let r = send(admin(&s, Method::DELETE, "/service-accounts/svc-new", &uw)).await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_caller_with_all_four_admin_permissions_manages_every_account() {
    for backend in backends() {
        let s = server(backend).await;
        let root = admin_token(&s).await;

        let r = send(admin(
            &s,
            Method::POST,
            "/clients/cw-client/secret/rotate",
            &root,
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send(admin(
            &s,
            Method::PUT,
            "/service-accounts/svc-admin/clients/spare-client",
            &root,
        ))
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        let r = send(json_body(
            admin(&s, Method::PUT, "/service-accounts/svc-uw", &root),
            &json!({"roles": ["ADMIN_SYSTEM"], "permissions": ["data.read"]}),
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = send(admin(
            &s,
            Method::POST,
            "/clients/spare-client/secret/rotate",
            &root,
        ))
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let spare = r.body["clientSecret"].as_str().unwrap().to_owned();
        // The rotated admin-linked client now carries the admin permissions.
        let t = mint(&s, "spare-client", &spare, false).await;
        let perms = claims_of(&t)["permissions"].clone();
        assert_eq!(
            perms,
            json!(["client.read", "client.write", "users.read", "users.write"])
        );
        let r = send(admin(&s, Method::DELETE, "/clients/spare-client", &root)).await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        s.stop().await;
    }
}
