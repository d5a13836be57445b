//! see docs/reference/admin-api.md#service-accounts, the catalogue lists and the audit log over
//! HTTP; a change to an account shows in the next token.

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

async fn put_account(s: &TestServer, t: &str, id: &str, body: Value) -> Reply {
    send(json_body(
        admin(s, Method::PUT, &format!("/service-accounts/{id}"), t),
        &body,
    ))
    .await
}

#[actix_web::test]
async fn list_get_put_and_delete_follow_the_table() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let r = send(admin(&s, Method::GET, "/service-accounts", &t)).await;
        assert_eq!(r.status, 200);
        let ids: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["svc-admin", "svc-inactive", "svc-my-service"]);
        let r = send(admin(
            &s,
            Method::GET,
            "/service-accounts/svc-my-service",
            &t,
        ))
        .await;
        assert_eq!(
            r.body,
            json!({
                "id": "svc-my-service",
                "name": "svc-my-service",
                "description": "Service account for My Service",
                "active": true,
                "clientIds": ["my-service"],
                "roles": ["USER", "ANALYST"],
                "permissions": ["users.read"],
                "groups": ["urn:example:groups:ops"],
                "attributes": {"team": "platform"}
            })
        );
        assert_problem(
            &send(admin(&s, Method::GET, "/service-accounts/nobody", &t)).await,
            404,
        );

        // PUT creates with the defaults of docs/reference/seed-files.md#service-accounts, then replaces.
        let r = put_account(&s, &t, "svc-new", json!({})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(
            r.body,
            json!({"id": "svc-new", "name": "svc-new", "description": "", "active": true, "clientIds": [],
                   "roles": [], "permissions": [], "groups": [], "attributes": {}})
        );
        let full = json!({"name": "New", "description": "d", "active": false, "roles": ["ANALYST"],
                          "permissions": ["client.read"], "groups": ["urn:example:groups:ops"], "attributes": {"tier": 2}});
        let r = put_account(&s, &t, "svc-new", full).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["name"], "New");
        assert_eq!(r.body["active"], false);
        assert_eq!(r.body["roles"], json!(["ANALYST"]));
        assert_eq!(r.body["attributes"], json!({"tier": 2}));
        assert_eq!(
            send(admin(&s, Method::GET, "/service-accounts/svc-new", &t))
                .await
                .body,
            r.body
        );
        // Replacing resets what the body leaves out.
        let r = put_account(&s, &t, "svc-new", json!({"roles": ["USER"]})).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["name"], "svc-new");
        assert_eq!(r.body["active"], true);
        assert_eq!(r.body["permissions"], json!([]));

        // Unresolvable names: 400 naming every one; nothing stored.
        let r = put_account(
            &s,
            &t,
            "svc-bad",
            json!({"roles": ["NOPE"], "permissions": ["x.y"], "groups": ["g:none"]}),
        )
        .await;
        let detail = assert_problem(&r, 400);
        for name in ["NOPE", "x.y", "g:none"] {
            assert!(detail.contains(name), "{detail}");
        }
        assert_problem(
            &send(admin(&s, Method::GET, "/service-accounts/svc-bad", &t)).await,
            404,
        );
        for (body, field) in [
            (json!({"id": "svc-bad"}), "id"),
            (json!({"clientId": "my-service"}), "clientId"),
            (json!({"nickname": "x"}), "nickname"),
            (json!({"active": "yes"}), "active"),
            (json!({"roles": "USER"}), "roles"),
            (json!({"roles": [1]}), "roles"),
            (json!({"attributes": []}), "attributes"),
            (json!({"name": 3}), "name"),
        ] {
            assert_bad_field(&put_account(&s, &t, "svc-bad", body).await, field);
        }
        assert_bad_field(&put_account(&s, &t, "bad%20id", json!({})).await, "id");
        let r = send(
            admin(&s, Method::PUT, "/service-accounts/svc-bad", &t)
                .header("Content-Type", "text/plain")
                .body("{}"),
        )
        .await;
        assert_problem(&r, 415);

        // Delete unlinks its clients.
        assert_eq!(
            send(admin(
                &s,
                Method::PUT,
                "/service-accounts/svc-new/clients/basic-client",
                &t
            ))
            .await
            .status,
            204
        );
        let r = send(admin(&s, Method::DELETE, "/service-accounts/svc-new", &t)).await;
        assert_eq!(r.status, 204);
        assert_problem(
            &send(admin(&s, Method::GET, "/service-accounts/svc-new", &t)).await,
            404,
        );
        assert_problem(
            &send(admin(&s, Method::DELETE, "/service-accounts/svc-new", &t)).await,
            404,
        );
        let c = send(admin(&s, Method::GET, "/clients/basic-client", &t)).await;
        assert_eq!(c.body["serviceAccountId"], Value::Null);
        let tok = mint(&s, "basic-client", BASIC_SECRET, false).await;
        assert!(
            claims_of(&tok).get("roles").is_none(),
            "no account, no roles claim"
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn link_and_unlink_follow_the_table() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        assert_eq!(
            put_account(&s, &t, "svc-ops", json!({"roles": ["ANALYST"]}))
                .await
                .status,
            201
        );
        let link = |a: &str, c: &str| {
            send(admin(
                &s,
                Method::PUT,
                &format!("/service-accounts/{a}/clients/{c}"),
                &t,
            ))
        };
        let unlink = |a: &str, c: &str| {
            send(admin(
                &s,
                Method::DELETE,
                &format!("/service-accounts/{a}/clients/{c}"),
                &t,
            ))
        };

        let r = link("svc-ops", "basic-client").await;
        assert_eq!(r.status, 204);
        assert_eq!(r.body, Value::Null);
        // Linking again to the same account is fine.
        assert_eq!(link("svc-ops", "basic-client").await.status, 204);
        let acct = send(admin(&s, Method::GET, "/service-accounts/svc-ops", &t)).await;
        assert_eq!(acct.body["clientIds"], json!(["basic-client"]));
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/basic-client", &t))
                .await
                .body["serviceAccountId"],
            "svc-ops"
        );
        // The next token carries the account's roles.
        let tok = mint(&s, "basic-client", BASIC_SECRET, false).await;
        assert_eq!(claims_of(&tok)["sub"], "svc-ops");
        assert_eq!(claims_of(&tok)["roles"], json!(["ANALYST"]));

        assert_problem(&link("svc-ops", "my-service").await, 409);
        assert_problem(&link("nobody", "basic-client").await, 404);
        assert_problem(&link("svc-ops", "nobody").await, 404);
        assert_problem(&link("nobody", "web-app").await, 404);
        assert_bad_field(&link("svc-ops", "web-app").await, "clientId");
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/my-service", &t))
                .await
                .body["serviceAccountId"],
            "svc-my-service"
        );

        assert_problem(&unlink("svc-ops", "my-service").await, 404);
        assert_problem(&unlink("nobody", "basic-client").await, 404);
        assert_problem(&unlink("svc-ops", "nobody").await, 404);
        assert_eq!(unlink("svc-ops", "basic-client").await.status, 204);
        assert_problem(&unlink("svc-ops", "basic-client").await, 404);
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/basic-client", &t))
                .await
                .body["serviceAccountId"],
            Value::Null
        );

        let events = send(admin(
            &s,
            Method::GET,
            "/audit-events?clientId=basic-client",
            &t,
        ))
        .await
        .body;
        let got: Vec<(&str, &str)> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("service_account.unlink", "success"),
                ("service_account.link", "success"),
                ("service_account.link", "success"),
                // The seeding created it.
                ("client.create", "success"),
            ]
        );
        assert_eq!(events[0]["actor"], "svc-admin");
        assert_ne!(events[3]["actor"], "svc-admin");
        let conflicts = send(admin(
            &s,
            Method::GET,
            "/audit-events?clientId=my-service",
            &t,
        ))
        .await
        .body;
        assert_eq!(conflicts[0]["action"], "service_account.link");
        assert_eq!(conflicts[0]["outcome"], "failure");
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_change_to_a_service_account_shows_in_the_next_token() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let before = claims_of(&users_read_token(&s).await);
        assert_eq!(before["roles"], json!(["ANALYST", "USER"]));
        assert_eq!(before["permissions"], json!(["data.read", "users.read"]));
        // my-service cannot read clients yet.
        let r = send(admin(
            &s,
            Method::GET,
            "/clients",
            &users_read_token(&s).await,
        ))
        .await;
        assert_problem(&r, 403);

        let r = put_account(
            &s,
            &t,
            "svc-my-service",
            json!({"roles": ["ADMIN_SYSTEM"], "groups": [], "attributes": {"team": "ops"}}),
        )
        .await;
        assert_eq!(r.status, 200);
        let after_t = users_read_token(&s).await;
        let after = claims_of(&after_t);
        assert_eq!(after["roles"], json!(["ADMIN_SYSTEM"]));
        assert_eq!(
            after["permissions"],
            json!(["client.read", "client.write", "users.read", "users.write"])
        );
        assert_eq!(after["groups"], json!([]));
        assert_eq!(after["attributes"], json!({"team": "ops"}));
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &after_t))
                .await
                .status,
            200
        );

        // Deactivated: the next token request is refused.
        assert_eq!(
            put_account(&s, &t, "svc-my-service", json!({"active": false}))
                .await
                .status,
            200
        );
        let (status, body) = token_request(&s, "my-service", SVC_SECRET, true).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "unauthorized_client");
        s.stop().await;
    }
}

#[actix_web::test]
async fn the_catalogue_lists_are_sorted_by_name() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let reader = users_read_token(&s).await;
        let r = send(admin(&s, Method::GET, "/roles", &reader)).await;
        assert_eq!(r.status, 200);
        let roles = r.body.as_array().unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["ADMIN_SYSTEM", "ANALYST", "USER"]);
        assert_eq!(
            roles[0]["permissions"],
            json!(["client.read", "client.write", "users.read", "users.write"])
        );
        assert_eq!(roles[1]["permissions"], json!(["data.read"]));
        assert_eq!(roles[2]["permissions"], json!([]));
        assert!(roles.iter().all(|r| r["description"].is_string()));
        let r = send(admin(&s, Method::GET, "/permissions", &reader)).await;
        assert_eq!(
            r.body,
            json!([
                {"name": "client.read", "description": "Read OAuth2 clients and their secret metadata"},
                {"name": "client.write", "description": "Create, change and delete OAuth2 clients and their secrets"},
                {"name": "data.read", "description": "Read datasets"},
                {"name": "users.read", "description": "Read service accounts, the catalogue and the audit log"},
                {"name": "users.write", "description": "Create, change and delete service accounts and their links"}
            ])
        );
        let r = send(admin(&s, Method::GET, "/groups", &reader)).await;
        assert_eq!(
            r.body,
            json!([{"name": "urn:example:groups:ops", "description": ""}])
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn audit_events_are_newest_first_and_filtered() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let start = send(admin(&s, Method::GET, "/audit-events", &t)).await;
        assert_eq!(start.status, 200);
        // Seeding is in the log too.
        let seeded: Vec<&Value> = start.body.as_array().unwrap().iter().collect();
        assert!(seeded
            .iter()
            .any(|e| e["action"] == "client.create" && e["targetId"] == "my-service"));
        let cut = seeded.iter().map(|e| parse_time(&e["at"])).max().unwrap()
            + time::Duration::milliseconds(1);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;

        let r = send(json_body(
            admin(&s, Method::POST, "/clients", &t),
            &json!({"clientId": "audited"}),
        ))
        .await;
        assert_eq!(r.status, 201);
        assert_eq!(
            put_account(&s, &t, "svc-audited", json!({})).await.status,
            201
        );
        assert_eq!(
            put_account(&s, &t, "svc-audited", json!({"name": "A"}))
                .await
                .status,
            200
        );
        assert_eq!(
            send(admin(
                &s,
                Method::DELETE,
                "/service-accounts/svc-audited",
                &t
            ))
            .await
            .status,
            204
        );
        let r = send(
            admin(&s, Method::PATCH, "/clients/audited", &t)
                .header("Content-Type", "application/merge-patch+json")
                .body(r#"{"scope":"x"}"#),
        )
        .await;
        assert_eq!(r.status, 200);

        let since = cut
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let url = format!(
            "/audit-events?since={}",
            form_urlencoded::byte_serialize(since.as_bytes()).collect::<String>()
        );
        let r = send(admin(&s, Method::GET, &url, &t)).await;
        assert_eq!(r.status, 200);
        let events = r.body.as_array().unwrap();
        let got: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["targetType"].as_str().unwrap(),
                    e["targetId"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("client.update", "client", "audited"),
                ("service_account.delete", "service_account", "svc-audited"),
                ("service_account.update", "service_account", "svc-audited"),
                ("service_account.create", "service_account", "svc-audited"),
                ("client.create", "client", "audited"),
            ]
        );
        for e in events {
            let mut keys: Vec<&String> = e.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "action",
                    "actor",
                    "at",
                    "id",
                    "outcome",
                    "targetId",
                    "targetType"
                ]
            );
            assert_eq!(e["actor"], "svc-admin");
            assert_eq!(e["outcome"], "success");
            assert_time(&e["at"]);
        }
        let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

        let r = send(admin(
            &s,
            Method::GET,
            &format!("{url}&clientId=audited"),
            &t,
        ))
        .await;
        assert_eq!(r.body.as_array().unwrap().len(), 2);
        let r = send(admin(
            &s,
            Method::GET,
            "/audit-events?since=2999-01-01T00:00:00.000Z",
            &t,
        ))
        .await;
        assert_eq!(r.body, json!([]));
        assert_bad_field(
            &send(admin(&s, Method::GET, "/audit-events?since=yesterday", &t)).await,
            "since",
        );
        assert_bad_field(
            &send(admin(&s, Method::GET, "/audit-events?since=2026-01-01", &t)).await,
            "since",
        );
        assert_bad_field(
            &send(admin(&s, Method::GET, "/audit-events?client_id=x", &t)).await,
            "client_id",
        );
        s.stop().await;
    }
}
