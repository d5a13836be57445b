//! see docs/reference/admin-api.md#clients over HTTP, and the checks every admin route shares:
//! HTTPS (docs/reference/proxy.md#the-https-rule) → 401 → 403 → 404 → 400/409, problem+json errors, unknown
//! fields, the 64 KiB limit, percent-decoded ids.

use auth_token::{generate_key, AccessTokenClaims, KeyEncryption, KeyRing, SigningAlg};
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

/// A token signed with the server's own keys, with claims of our choosing
/// (its `jti` names admin-cli's incarnation, as the server's own do).
fn forged_with_server_keys(s: &TestServer, edit: impl FnOnce(&mut AccessTokenClaims)) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let incarnation = stored_client(&open_store(s), "admin-cli").incarnation;
    let mut claims = AccessTokenClaims {
        iss: s.base.clone(),
        sub: "svc-admin".into(),
        aud: "admin-cli".into(),
        client_id: "admin-cli".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: format!("{incarnation}.forged-{now}"),
        scope: None,
        roles: Some(vec!["ADMIN_SYSTEM".into()]),
        permissions: Some(vec![
            "client.read".into(),
            "client.write".into(),
            "users.read".into(),
            "users.write".into(),
        ]),
        groups: Some(vec![]),
        attributes: None,
    };
    edit(&mut claims);
    s.state.auth.key_ring().unwrap().sign(&claims).unwrap()
}

/// The same admin claims signed by a key that is not ours.
fn signed_by_a_foreign_key() -> String {
    let enc = KeyEncryption::new(None).unwrap();
    let now = auth_domain::now_ms();
    let key = generate_key(SigningAlg::Rs256, now, &enc).unwrap();
    let stored = auth_domain::StoredSigningKey::from(key);
    let ring = KeyRing::load(&[stored], &enc, now, time::Duration::hours(1)).unwrap();
    let t = now.unix_timestamp();
    ring.sign(&AccessTokenClaims {
        iss: "https://elsewhere".into(),
        sub: "svc-admin".into(),
        aud: "admin-cli".into(),
        client_id: "admin-cli".into(),
        iat: t,
        nbf: t,
        exp: t + 600,
        jti: "foreign".into(),
        scope: None,
        roles: None,
        permissions: Some(vec!["client.read".into()]),
        groups: None,
        attributes: None,
    })
    .unwrap()
}

#[actix_web::test]
async fn https_then_401_then_403_then_404_then_400() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let admin_t = admin_token(&s).await;
        let none_t = no_permission_token(&s).await;

        // Plain HTTP is refused before anything else, token or not.
        for auth in [Some(admin_t.as_str()), None] {
            let mut rb = s.http.get(s.url("/clients"));
            if let Some(t) = auth {
                rb = rb.header("Authorization", format!("Bearer {t}"));
            }
            let r = send(rb).await;
            let detail = assert_problem(&r, 400);
            assert!(detail.contains("HTTPS"), "{backend:?}: {detail}");
        }
        // A forwarded proto from an untrusted peer would be ignored; from
        // loopback (trusted) it makes the request HTTPS.
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &admin_t))
                .await
                .status,
            200
        );

        // 401: missing, garbage, another scheme, expired, not yet valid,
        // foreign key, revoked.
        let r = send(
            s.http
                .get(s.url("/clients"))
                .header("X-Forwarded-Proto", "https"),
        )
        .await;
        assert_invalid_token(&r);
        let r = send(
            s.http
                .get(s.url("/clients"))
                .header("X-Forwarded-Proto", "https")
                .header("Authorization", basic("admin-cli", ADMIN_SECRET)),
        )
        .await;
        assert_invalid_token(&r);
        let expired = forged_with_server_keys(&s, |c| {
            c.iat -= 1200;
            c.nbf -= 1200;
            c.exp = c.iat + 60;
        });
        let not_yet = forged_with_server_keys(&s, |c| c.nbf += 600);
        let foreign = signed_by_a_foreign_key();
        let mut tampered = admin_t.clone();
        tampered.push('x');
        for bad in [
            "garbage",
            "a.b.c",
            tampered.as_str(),
            expired.as_str(),
            not_yet.as_str(),
            foreign.as_str(),
        ] {
            assert_invalid_token(&send(admin(&s, Method::GET, "/clients", bad)).await);
        }
        // A token forged with our own key but fresh is accepted: the
        // signature alone proves origin when APP_ISSUER is unset.
        let fresh = forged_with_server_keys(&s, |c| c.iss = "https://any-issuer".into());
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &fresh))
                .await
                .status,
            200
        );
        // Revoked through RFC 7009 by its own client.
        let revoked = admin_token(&s).await;
        let r = s
            .post("/oauth2/revoke")
            .header("Authorization", basic("admin-cli", ADMIN_SECRET))
            .form(&[("token", revoked.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_invalid_token(&send(admin(&s, Method::GET, "/clients", &revoked)).await);
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &admin_t))
                .await
                .status,
            200
        );

        // 401 before 403 before 404 before 400.
        let patch = |t: &str| {
            admin(&s, Method::PATCH, "/clients/nobody", t)
                .header("Content-Type", "application/json")
                .body(r#"{"bogus":1}"#)
        };
        assert_invalid_token(&send(patch("garbage")).await);
        assert_problem(&send(patch(&none_t)).await, 403);
        assert_problem(&send(patch(&admin_t)).await, 404);
        assert_bad_field(
            &send(
                admin(&s, Method::PATCH, "/clients/my-service", &admin_t)
                    .header("Content-Type", "application/json")
                    .body(r#"{"bogus":1}"#),
            )
            .await,
            "bogus",
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn every_route_needs_its_permission() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let none_t = no_permission_token(&s).await;
        let users_read = users_read_token(&s).await;
        let routes: &[(Method, &str, &str)] = &[
            (Method::GET, "/clients", "client.read"),
            (Method::GET, "/clients/my-service", "client.read"),
            (Method::POST, "/clients", "client.write"),
            (Method::PATCH, "/clients/my-service", "client.write"),
            (Method::DELETE, "/clients/my-service", "client.write"),
            (Method::POST, "/clients/my-service/secret", "client.write"),
            (Method::GET, "/clients/my-service/secret", "client.write"),
            (
                Method::DELETE,
                "/clients/my-service/secret?target=previous",
                "client.write",
            ),
            (
                Method::POST,
                "/clients/my-service/secret/rotate",
                "client.write",
            ),
            (Method::GET, "/service-accounts", "users.read"),
            (Method::GET, "/service-accounts/svc-admin", "users.read"),
            (Method::PUT, "/service-accounts/svc-x", "users.write"),
            (Method::DELETE, "/service-accounts/svc-admin", "users.write"),
            (
                Method::PUT,
                "/service-accounts/svc-admin/clients/basic-client",
                "users.write",
            ),
            (
                Method::DELETE,
                "/service-accounts/svc-admin/clients/admin-cli",
                "users.write",
            ),
            (Method::GET, "/roles", "users.read"),
            (Method::GET, "/permissions", "users.read"),
            (Method::GET, "/groups", "users.read"),
            (Method::GET, "/audit-events", "users.read"),
        ];
        for (method, path, permission) in routes {
            let r = send(json_body(
                admin(&s, method.clone(), path, &none_t),
                &json!({}),
            ))
            .await;
            let detail = assert_problem(&r, 403);
            assert!(
                detail.contains(permission),
                "{backend:?} {method} {path}: {detail}"
            );
            let r = send(json_body(
                admin(&s, method.clone(), path, &users_read),
                &json!({}),
            ))
            .await;
            if permission.starts_with("users.read") {
                assert_eq!(r.status, 200, "{backend:?} {method} {path}: {:?}", r.body);
            } else {
                assert_problem(&r, 403);
            }
            // Without a token, every route is a 401.
            let r = send(
                s.http
                    .request(method.clone(), s.url(path))
                    .header("X-Forwarded-Proto", "https"),
            )
            .await;
            assert_invalid_token(&r);
        }
        // Nothing was changed by the refused writes.
        let admin_t = admin_token(&s).await;
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/my-service", &admin_t))
                .await
                .status,
            200
        );
        s.stop().await;
    }
}

const CLIENT_KEYS: [&str; 8] = [
    "accessTokenTtlMinutes",
    "clientAuthenticationMethod",
    "clientId",
    "clientName",
    "clientType",
    "createdAt",
    "scope",
    "serviceAccountId",
];

fn assert_client_shape(c: &Value) {
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, CLIENT_KEYS, "{c}");
    assert_time(&c["createdAt"]);
}

#[actix_web::test]
async fn list_and_get_show_clients_without_secrets() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let r = send(admin(&s, Method::GET, "/clients", &t)).await;
        assert_eq!(r.status, 200);
        let list = r.body.as_array().unwrap();
        let ids: Vec<&str> = list
            .iter()
            .map(|c| c["clientId"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "admin-cli",
                "basic-client",
                "inactive-client",
                "my-service",
                "web-app"
            ]
        );
        for c in list {
            assert_client_shape(c);
        }
        let text = r.body.to_string();
        for leak in ["$2", "secret\"", "hash", SVC_SECRET, ADMIN_SECRET] {
            assert!(!text.contains(leak), "{backend:?}: {leak} in {text}");
        }
        let r = send(admin(&s, Method::GET, "/clients/my-service", &t)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["clientName"], "My Service");
        assert_eq!(r.body["clientType"], "confidential");
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_post");
        assert_eq!(r.body["scope"], "read");
        assert_eq!(r.body["accessTokenTtlMinutes"], 60);
        assert_eq!(r.body["serviceAccountId"], "svc-my-service");
        let r = send(admin(&s, Method::GET, "/clients/admin-cli", &t)).await;
        assert_eq!(r.body["clientName"], "Confidential Client: admin-cli");
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_basic");
        assert_eq!(r.body["scope"], Value::Null);
        assert_eq!(r.body["accessTokenTtlMinutes"], 30);
        let r = send(admin(&s, Method::GET, "/clients/web-app", &t)).await;
        assert_eq!(r.body["clientType"], "public");
        assert_eq!(r.body["serviceAccountId"], Value::Null);
        let r = send(admin(&s, Method::GET, "/clients/basic-client", &t)).await;
        assert_eq!(r.body["scope"], "read write");
        assert_eq!(r.body["serviceAccountId"], Value::Null);
        assert_problem(
            &send(admin(&s, Method::GET, "/clients/nobody", &t)).await,
            404,
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn create_validates_every_field_and_sets_defaults() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let post = |body: Value| send(json_body(admin(&s, Method::POST, "/clients", &t), &body));

        let r = post(json!({"clientId": "plain"})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.header("location").as_deref(), Some("/clients/plain"));
        assert_client_shape(&r.body);
        assert_eq!(r.body["clientName"], "Confidential Client: plain");
        assert_eq!(r.body["clientType"], "confidential");
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_basic");
        assert_eq!(r.body["scope"], Value::Null);
        assert_eq!(r.body["accessTokenTtlMinutes"], 30);
        assert_eq!(r.body["serviceAccountId"], Value::Null);

        // An id with characters that must be percent-encoded in a path.
        let r = post(json!({
            "clientId": "team/a:b",
            "clientName": "Team A",
            "clientAuthenticationMethod": "client_secret_post",
            "scope": "read write read",
            "accessTokenTtlMinutes": 1440
        }))
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let location = r.header("location").unwrap();
        assert_eq!(location, "/clients/team%2Fa%3Ab");
        assert_eq!(r.body["scope"], "read write");
        assert_eq!(r.body["accessTokenTtlMinutes"], 1440);
        let got = send(admin(&s, Method::GET, &location, &t)).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.body, r.body);
        // `:` needs no encoding; `%3A` decodes to it as well.
        let got = send(admin(&s, Method::GET, "/clients/team%2Fa:b", &t)).await;
        assert_eq!(got.body["clientId"], "team/a:b");

        // Created without a secret: nothing authenticates, rotation is due.
        let r = send(admin(&s, Method::GET, "/clients/plain/secret", &t)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["current"], Value::Null);
        assert_eq!(r.body["rotationRequired"], true);
        assert!(!authenticates(&s, "plain", "").await);

        assert_problem(&post(json!({"clientId": "plain"})).await, 409);
        assert_problem(&post(json!({"clientId": "my-service"})).await, 409);
        // A public client's id is taken as well.
        assert_problem(&post(json!({"clientId": "web-app"})).await, 409);

        let bad: Vec<(Value, &str)> = vec![
            (json!({}), "clientId"),
            (json!({"clientId": null}), "clientId"),
            (json!({"clientId": ""}), "clientId"),
            (json!({"clientId": "has space"}), "clientId"),
            (json!({"clientId": "caf\u{e9}"}), "clientId"),
            (json!({"clientId": "x".repeat(256)}), "clientId"),
            (json!({"clientId": 7}), "clientId"),
            (json!({"clientId": "v", "clientName": ""}), "clientName"),
            (json!({"clientId": "v", "clientName": 5}), "clientName"),
            (
                json!({"clientId": "v", "clientAuthenticationMethod": "private_key_jwt"}),
                "clientAuthenticationMethod",
            ),
            (json!({"clientId": "v", "scope": "a  b"}), "scope"),
            (json!({"clientId": "v", "scope": "bad\"quote"}), "scope"),
            (
                json!({"clientId": "v", "accessTokenTtlMinutes": 0}),
                "accessTokenTtlMinutes",
            ),
            (
                json!({"clientId": "v", "accessTokenTtlMinutes": 1441}),
                "accessTokenTtlMinutes",
            ),
            (
                json!({"clientId": "v", "accessTokenTtlMinutes": -1}),
                "accessTokenTtlMinutes",
            ),
            (
                json!({"clientId": "v", "accessTokenTtlMinutes": "60"}),
                "accessTokenTtlMinutes",
            ),
            (
                json!({"clientId": "v", "accessTokenTtlMinutes": 1.5}),
                "accessTokenTtlMinutes",
            ),
            (
                json!({"clientId": "v", "clientSecret": "s3cret"}),
                "clientSecret",
            ),
            (
                json!({"clientId": "v", "client_name": "snake"}),
                "client_name",
            ),
        ];
        for (body, field) in bad {
            assert_bad_field(&post(body).await, field);
        }
        for raw in ["{", "[]", "\"x\"", ""] {
            let r = send(
                admin(&s, Method::POST, "/clients", &t)
                    .header("Content-Type", "application/json")
                    .body(raw),
            )
            .await;
            assert_problem(&r, 400);
        }
        let r = send(
            admin(&s, Method::POST, "/clients", &t)
                .header("Content-Type", "text/plain")
                .body(r#"{"clientId":"v"}"#),
        )
        .await;
        assert_problem(&r, 415);
        // None of the refused bodies created anything.
        let ids: Vec<String> = send(admin(&s, Method::GET, "/clients", &t))
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["clientId"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ids.contains(&"v".to_owned()), "{ids:?}");
        s.stop().await;
    }
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let sized = |n: usize| {
            let head = r#"{"clientId":"big","clientName":""#;
            let tail = r#""}"#;
            format!("{head}{}{tail}", "n".repeat(n - head.len() - tail.len()))
        };
        let exactly = sized(64 * 1024);
        assert_eq!(exactly.len(), 65536);
        // At the limit the body is read (and refused for its name's length).
        let r = send(
            admin(&s, Method::POST, "/clients", &t)
                .header("Content-Type", "application/json")
                .body(exactly),
        )
        .await;
        assert_bad_field(&r, "clientName");
        let over = sized(64 * 1024 + 1);
        let r = send(
            admin(&s, Method::POST, "/clients", &t)
                .header("Content-Type", "application/json")
                .body(over.clone()),
        )
        .await;
        assert_problem(&r, 413);
        let r = send(
            admin(&s, Method::PATCH, "/clients/my-service", &t)
                .header("Content-Type", "application/merge-patch+json")
                .body(over.clone()),
        )
        .await;
        assert_problem(&r, 413);
        let r = send(
            admin(&s, Method::PUT, "/service-accounts/svc-big", &t)
                .header("Content-Type", "application/json")
                .body(over),
        )
        .await;
        assert_problem(&r, 413);
        // Chunked, without Content-Length: judged by what arrives.
        let status = chunked_post(&s, "/clients", &t, 17 * 4096).await;
        assert_eq!(status, 413);
        s.stop().await;
    }
}

/// Sends `total` bytes of JSON whitespace with `Transfer-Encoding: chunked`
/// over a raw connection and returns the response's status code.
async fn chunked_post(s: &TestServer, path: &str, token: &str, total: usize) -> u16 {
    use std::io::{Read as _, Write as _};
    let addr = s.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-Proto: https\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let reply = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        conn.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 4096];
        let mut sent = 0;
        while sent < total {
            // The server may answer and close before everything is sent.
            if conn
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .is_err()
                || conn.write_all(&chunk).is_err()
                || conn.write_all(b"\r\n").is_err()
            {
                break;
            }
            sent += chunk.len();
        }
        let _ = conn.write_all(b"0\r\n\r\n");
        let mut buf = Vec::new();
        let _ = conn.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"))
}

#[actix_web::test]
async fn patch_merges_resets_with_null_and_refuses_client_id() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let patch = |path: &str, ct: &str, body: Value| {
            send(
                admin(&s, Method::PATCH, path, &t)
                    .header("Content-Type", ct)
                    .body(body.to_string()),
            )
        };
        let merge = "application/merge-patch+json";
        let r = patch(
            "/clients/basic-client",
            merge,
            json!({"clientName": "Renamed", "accessTokenTtlMinutes": 5}),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["clientName"], "Renamed");
        assert_eq!(r.body["accessTokenTtlMinutes"], 5);
        // Untouched fields are kept.
        assert_eq!(r.body["scope"], "read write");
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_basic");
        // The change shows in the next token.
        let (_, tok) = token_request(&s, "basic-client", BASIC_SECRET, false).await;
        assert_eq!(tok["expires_in"], 300);

        let r = patch(
            "/clients/basic-client",
            "application/json",
            json!({"clientName": null, "scope": null, "accessTokenTtlMinutes": null}),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["clientName"], "Confidential Client: basic-client");
        assert_eq!(r.body["scope"], Value::Null);
        assert_eq!(r.body["accessTokenTtlMinutes"], 30);

        let r = patch(
            "/clients/basic-client",
            merge,
            json!({"clientAuthenticationMethod": "client_secret_post"}),
        )
        .await;
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_post");
        // The registered method is enforced at once.
        assert!(!authenticates(&s, "basic-client", BASIC_SECRET).await);
        assert_eq!(
            token_request(&s, "basic-client", BASIC_SECRET, true)
                .await
                .0,
            200
        );
        let r = patch(
            "/clients/basic-client",
            merge,
            json!({"clientAuthenticationMethod": null}),
        )
        .await;
        assert_eq!(r.body["clientAuthenticationMethod"], "client_secret_basic");

        // An empty patch changes nothing.
        let before = send(admin(&s, Method::GET, "/clients/my-service", &t))
            .await
            .body;
        let r = patch("/clients/my-service", merge, json!({})).await;
        assert_eq!(r.body, before);

        assert_bad_field(
            &patch("/clients/my-service", merge, json!({"clientId": "other"})).await,
            "clientId",
        );
        assert_bad_field(
            &patch(
                "/clients/my-service",
                merge,
                json!({"accessTokenTtlMinutes": 0}),
            )
            .await,
            "accessTokenTtlMinutes",
        );
        assert_bad_field(
            &patch("/clients/my-service", merge, json!({"scope": " lead"})).await,
            "scope",
        );
        assert_bad_field(
            &patch("/clients/my-service", merge, json!({"createdAt": "x"})).await,
            "createdAt",
        );
        assert_bad_field(
            &patch(
                "/clients/web-app",
                merge,
                json!({"clientAuthenticationMethod": "client_secret_post"}),
            )
            .await,
            "clientAuthenticationMethod",
        );
        assert_problem(
            &patch("/clients/my-service", "text/plain", json!({})).await,
            415,
        );
        assert_problem(
            &patch("/clients/nobody", merge, json!({"clientName": "x"})).await,
            404,
        );
        // Refused patches left the client as it was.
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/my-service", &t))
                .await
                .body,
            before
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn delete_unlinks_the_client_and_deactivates_its_tokens() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        let r = send(json_body(
            admin(&s, Method::POST, "/clients", &t),
            &json!({"clientId": "ops-cli"}),
        ))
        .await;
        assert_eq!(r.status, 201);
        let issued = send(admin(&s, Method::POST, "/clients/ops-cli/secret", &t)).await;
        assert_eq!(issued.status, 201);
        let secret = issued.body["clientSecret"].as_str().unwrap().to_owned();
        let r = send(admin(
            &s,
            Method::PUT,
            "/service-accounts/svc-admin/clients/ops-cli",
            &t,
        ))
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        // ops-cli now acts as an administrator.
        let ops_t = mint(&s, "ops-cli", &secret, false).await;
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &ops_t))
                .await
                .status,
            200
        );
        let introspect = |token: String| {
            s.post("/oauth2/introspect")
                .header("Authorization", basic("admin-cli", ADMIN_SECRET))
                .form(&[("token", token)])
                .send()
        };
        assert_eq!(
            introspect(ops_t.clone())
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["active"],
            true
        );

        let r = send(admin(&s, Method::DELETE, "/clients/ops-cli", &t)).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.body, Value::Null);
        assert_problem(
            &send(admin(&s, Method::GET, "/clients/ops-cli", &t)).await,
            404,
        );
        assert_problem(
            &send(admin(&s, Method::DELETE, "/clients/ops-cli", &t)).await,
            404,
        );
        // Its token no longer opens the admin API, nor introspects as active.
        assert_invalid_token(&send(admin(&s, Method::GET, "/clients", &ops_t)).await);
        assert_eq!(
            introspect(ops_t.clone())
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["active"],
            false
        );
        // Unlinked from its account.
        let acct = send(admin(&s, Method::GET, "/service-accounts/svc-admin", &t)).await;
        assert_eq!(acct.body["clientIds"], json!(["admin-cli"]));
        assert!(!authenticates(&s, "ops-cli", &secret).await);
        // A client of the same id created again does not revive old tokens'
        // access: the new one has no link.
        let r = send(json_body(
            admin(&s, Method::POST, "/clients", &t),
            &json!({"clientId": "ops-cli"}),
        ))
        .await;
        assert_eq!(r.body["serviceAccountId"], Value::Null);

        let events = send(admin(&s, Method::GET, "/audit-events?clientId=ops-cli", &t))
            .await
            .body;
        let actions: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "client.create",
                "client.delete",
                "service_account.link",
                "client.secret.issue",
                "client.create"
            ]
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn the_issuer_is_compared_only_when_configured() {
    for backend in backends() {
        let mut opts = Spawn::default();
        opts.settings
            .insert("APP_ISSUER".into(), "https://auth.example".into());
        let s = spawn(backend, opts).await;
        let t = admin_token(&s).await;
        assert_eq!(claims_of(&t)["iss"], "https://auth.example");
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &t)).await.status,
            200
        );
        let other_issuer =
            forged_with_server_keys(&s, |c| c.iss = "https://auth.example.evil".into());
        assert_invalid_token(&send(admin(&s, Method::GET, "/clients", &other_issuer)).await);
        let same_issuer = forged_with_server_keys(&s, |c| c.iss = "https://auth.example".into());
        assert_eq!(
            send(admin(&s, Method::GET, "/clients", &same_issuer))
                .await
                .status,
            200
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn https_is_not_required_when_switched_off() {
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_REQUIRE_HTTPS".into(), "false".into());
    let s = spawn(Backend::Sqlite, opts).await;
    let t = admin_token(&s).await;
    let r = send(
        s.http
            .get(s.url("/clients"))
            .header("Authorization", format!("Bearer {t}")),
    )
    .await;
    assert_eq!(r.status, 200);
    s.stop().await;
}
