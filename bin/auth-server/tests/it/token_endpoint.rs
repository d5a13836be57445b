//! docs/reference/token-endpoint.md over HTTP: every row of the error table, in the documented order,
//! on every backend.

use std::time::Duration;

use serde_json::Value;

use crate::common::basic_authorization as basic;
use crate::common::*;

async fn json_of(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn assert_no_store(h: &reqwest::header::HeaderMap) {
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert_eq!(h.get("pragma").unwrap(), "no-cache");
}

fn assert_error(got: &(u16, reqwest::header::HeaderMap, Value), status: u16, error: &str) {
    assert_eq!(got.0, status, "body: {}", got.2);
    assert_eq!(got.2["error"], error, "body: {}", got.2);
    assert_no_store(&got.1);
    let desc = got.2["error_description"].as_str().unwrap_or("");
    assert!(!desc.contains(['\r', '\n', '\t']));
}

#[actix_web::test]
async fn client_secret_post_issues_a_bearer_token() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let r = s
            .post("/oauth2/token")
            .form(&client_secret_post("my-service", SVC_SECRET))
            .send()
            .await
            .unwrap();
        let (status, headers, body) = json_of(r).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_no_store(&headers);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read");
        assert!(body.get("refresh_token").is_none());
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
        s.stop().await;
    }
}

#[actix_web::test]
async fn client_secret_basic_decodes_form_encoded_credentials_and_grants_scopes_in_order() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        for (requested, granted) in [
            (None, Some("read write")),
            (Some("write read"), Some("read write")),
            (Some("write"), Some("write")),
            (Some(""), Some("read write")),
        ] {
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(r) = requested {
                form.push(("scope", r));
            }
            let r = s
                .post("/oauth2/token")
                .header("Authorization", basic("basic-client", BASIC_SECRET))
                .form(&form)
                .send()
                .await
                .unwrap();
            let (status, _, body) = json_of(r).await;
            assert_eq!(status, 200, "{backend:?} {requested:?}: {body}");
            assert_eq!(body["scope"].as_str(), granted);
            assert_eq!(body["expires_in"], 1800);
        }
        // The scheme name is case-insensitive.
        let lower = basic("basic-client", BASIC_SECRET).replacen("Basic", "basic", 1);
        let r = s
            .post("/oauth2/token")
            .header("Authorization", lower)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    }
}

#[actix_web::test]
async fn request_syntax_errors_are_invalid_request() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let auth = basic("basic-client", BASIC_SECRET);
        // Plain HTTP (no forwarded proto) while HTTPS is required.
        let r = s
            .http
            .post(s.url("/oauth2/token"))
            .header("Authorization", &auth)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // Two methods.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", BASIC_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // Body client_id differs from the Basic id.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "my-service"),
            ])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // The same client_id next to Basic is fine.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "basic-client"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Missing grant_type.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .form(&[("scope", "read")])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // A parameter given twice.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=read&scope=write")
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // Wrong content type.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // Malformed Basic headers.
        for bad in ["Basic !!!", "Basic bm8tY29sb24=", "Basic OnNlY3JldA=="] {
            let r = s
                .post("/oauth2/token")
                .header("Authorization", bad)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_error(&json_of(r).await, 400, "invalid_request");
        }
        // GET is not the token endpoint's method.
        let r = s
            .http
            .get(s.url("/oauth2/token"))
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "invalid_request");
        // Over 16 KiB.
        let big = format!(
            "grant_type=client_credentials&scope={}",
            "a".repeat(17 * 1024)
        );
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(big)
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 413, "invalid_request");
        // Credentials in the query string are never read.
        let r = s
            .http
            .post(s.url(&format!(
                "/oauth2/token?client_id=my-service&client_secret={SVC_SECRET}"
            )))
            .header("X-Forwarded-Proto", "https")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 401, "invalid_client");
        s.stop().await;
    }
}

#[actix_web::test]
async fn every_authentication_failure_looks_the_same() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let cases: Vec<(&str, reqwest::RequestBuilder, bool)> = vec![
            (
                "no authentication",
                s.post("/oauth2/token")
                    .form(&[("grant_type", "client_credentials")]),
                false,
            ),
            (
                "missing secret",
                s.post("/oauth2/token").form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "my-service"),
                ]),
                false,
            ),
            (
                "unknown client",
                s.post("/oauth2/token")
                    .form(&client_secret_post("nobody", SVC_SECRET)),
                false,
            ),
            (
                "wrong secret",
                s.post("/oauth2/token")
                    .form(&client_secret_post("my-service", "wrong-secret-wrong")),
                false,
            ),
            (
                "wrong secret basic",
                s.post("/oauth2/token")
                    .header("Authorization", basic("basic-client", "nope-nope-nope"))
                    .form(&[("grant_type", "client_credentials")]),
                true,
            ),
            (
                "public client",
                s.post("/oauth2/token")
                    .header("Authorization", basic("web-app", "anything-anything"))
                    .form(&[("grant_type", "client_credentials")]),
                true,
            ),
            (
                "registered method is post",
                s.post("/oauth2/token")
                    .header("Authorization", basic("my-service", SVC_SECRET))
                    .form(&[("grant_type", "client_credentials")]),
                true,
            ),
            (
                "registered method is basic",
                s.post("/oauth2/token")
                    .form(&client_secret_post("basic-client", BASIC_SECRET)),
                false,
            ),
            (
                "over 72 bytes",
                s.post("/oauth2/token").form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "my-service"),
                    ("client_secret", &format!("{SVC_SECRET}{}", "x".repeat(80))),
                ]),
                false,
            ),
        ];
        let mut descriptions = Vec::new();
        for (name, req, basic_used) in cases {
            let got = json_of(req.send().await.unwrap()).await;
            assert_error(&got, 401, "invalid_client");
            let www = got
                .1
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            if basic_used {
                assert_eq!(www.as_deref(), Some("Basic realm=\"oauth2\""), "{name}");
            } else {
                assert_eq!(www, None, "{name}");
            }
            descriptions.push(got.2["error_description"].clone());
        }
        descriptions.dedup();
        assert_eq!(
            descriptions.len(),
            1,
            "descriptions differ: {descriptions:?}"
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn grant_type_scope_and_inactive_account_errors_come_after_authentication() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let auth = basic("basic-client", BASIC_SECRET);
        let r = s
            .post("/oauth2/token")
            .header("Authorization", &auth)
            .form(&[("grant_type", "password")])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "unsupported_grant_type");
        // An unauthenticated request with a bad grant type is still a 401.
        let r = s
            .post("/oauth2/token")
            .form(&[("grant_type", "password")])
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 401, "invalid_client");
        for scope in ["admin", "read admin", "a  b", "bad\"quote"] {
            let r = s
                .post("/oauth2/token")
                .header("Authorization", &auth)
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            assert_error(&json_of(r).await, 400, "invalid_scope");
        }
        let r = s
            .post("/oauth2/token")
            .form(&client_secret_post(
                "inactive-client",
                "inactive-secret-0123456789",
            ))
            .send()
            .await
            .unwrap();
        assert_error(&json_of(r).await, 400, "unauthorized_client");
        s.stop().await;
    }
}

#[actix_web::test]
async fn failures_are_throttled_per_client_and_source() {
    for backend in backends() {
        let mut opts = Spawn::default();
        opts.settings
            .insert("APP_TOKEN_FAILURE_LIMIT".into(), "3".into());
        let s = spawn(backend, opts).await;
        let wrong = [
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", "wrong-wrong-wrong"),
        ];
        let right = [
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
        ];
        for _ in 0..3 {
            let r = s.post("/oauth2/token").form(&wrong).send().await.unwrap();
            assert_eq!(r.status(), 401);
        }
        // Now even the right secret is refused from this source.
        let got = json_of(s.post("/oauth2/token").form(&right).send().await.unwrap()).await;
        assert_error(&got, 429, "slow_down");
        let retry: u64 = got
            .1
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        // Another client from the same source is unaffected.
        let r = s
            .post("/oauth2/token")
            .header("Authorization", basic("basic-client", BASIC_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The same client from another source (behind the trusted loopback proxy) is unaffected.
        let r = s
            .post("/oauth2/token")
            .header("X-Forwarded-For", "203.0.113.9")
            .form(&right)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    }
}

#[actix_web::test]
async fn a_full_verification_queue_answers_503_not_401() {
    // One slot, no queue, and a hash expensive enough (cost 12) that
    // concurrent requests overlap.
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_SECRET_VERIFY_CONCURRENCY".into(), "1".into());
    opts.settings
        .insert("APP_SECRET_VERIFY_QUEUE".into(), "0".into());
    opts.settings.insert("APP_BCRYPT_COST".into(), "12".into());
    opts.clients_yaml = Some(
        "clients:\n  confidential:\n    - client_id: slow\n      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET\n      client_authentication_method: client_secret_post\n".into(),
    );
    opts.accounts_yaml = Some("serviceAccounts: []\n".into());
    let s = spawn(Backend::Sqlite, opts).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let req = s
            .post("/oauth2/token")
            .form(&client_secret_post("slow", SVC_SECRET));
        tasks.push(actix_web::rt::spawn(async move {
            json_of(req.send().await.unwrap()).await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let got = t.await.unwrap();
        if got.0 == 503 {
            assert_error(&got, 503, "temporarily_unavailable");
            assert!(got.1.get("retry-after").is_some());
        }
        statuses.push(got.0);
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    // Once the burst is over, the client is served again.
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    let r = s
        .post("/oauth2/token")
        .form(&client_secret_post("slow", SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
