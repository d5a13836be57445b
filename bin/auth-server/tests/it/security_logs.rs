//! What the real binary logs (JSON lines on stdout, anything on stderr)
//! while it is attacked: no secret, hash, token or Authorization header
//! value appears, query strings are not logged, and a client id carrying
//! CR/LF cannot forge a log line (see docs/reference/operations.md, OWASP ASVS V7 / V16).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::*;

const QUERY_SECRET: &str = "query-string-secret-MARKER-5150";
const WRONG_SECRET: &str = "wrong-secret-MARKER-8675309";
const FORGED: &str = "FORGED-LOG-LINE-MARKER";

#[actix_web::test]
async fn an_attacked_server_logs_no_secret_hash_token_or_authorization_value() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let env = process_env(dir.path(), &url);
    let mut server = ServerProcess::serve(&env, dir.path(), "attacked").await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let post = |path: &str| {
        http.post(format!("{base}{path}"))
            .header("X-Forwarded-Proto", "https")
    };

    let mut secrets: Vec<String> = vec![
        ADMIN_SECRET.into(),
        SVC_SECRET.into(),
        BASIC_SECRET.into(),
        QUERY_SECRET.into(),
        WRONG_SECRET.into(),
    ];
    let mut authorization_values: Vec<String> = Vec::new();

    // Tokens through both methods.
    let admin_basic = basic_authorization("admin-cli", ADMIN_SECRET);
    authorization_values.push(admin_basic.clone());
    let r = post("/oauth2/token")
        .header("Authorization", &admin_basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let admin_token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = post_token(&http, &base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200);
    let svc_token = body["access_token"].as_str().unwrap().to_owned();

    // Credentials in the query string, failures by both methods.
    let r = post(&format!(
        "/oauth2/token?client_id=my-service&client_secret={QUERY_SECRET}&access_token={svc_token}"
    ))
    .form(&[("grant_type", "client_credentials")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = post_token(&http, &base, "my-service", WRONG_SECRET).await;
    assert_eq!(status, 401);
    let wrong_basic = basic_authorization("basic-client", WRONG_SECRET);
    authorization_values.push(wrong_basic.clone());
    let r = post("/oauth2/token")
        .header("Authorization", &wrong_basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Malformed Basic that still carries a secret.
    let raw = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("basic-client:{WRONG_SECRET}%zz"))
    );
    authorization_values.push(raw.clone());
    let r = post("/oauth2/token")
        .header("Authorization", &raw)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A forged log line in a client id, through both methods.
    let evil_id = format!("evil\r\n{{\"level\":\"ERROR\",\"message\":\"{FORGED}\"}}\r\n");
    let (status, _) = post_token(&http, &base, &evil_id, WRONG_SECRET).await;
    assert_eq!(status, 401);
    let evil_basic = basic_authorization(&evil_id, WRONG_SECRET);
    authorization_values.push(evil_basic.clone());
    let r = post("/oauth2/token")
        .header("Authorization", &evil_basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Admin traffic that hands out secrets, and forged bearer tokens.
    let admin = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{base}{path}"))
            .header("X-Forwarded-Proto", "https")
            .bearer_auth(token)
    };
    authorization_values.push(format!("Bearer {admin_token}"));
    let r = admin(reqwest::Method::POST, "/clients", &admin_token)
        .json(&json!({"clientId": format!("logged\u{1b}[31m{FORGED}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = admin(reqwest::Method::POST, "/clients", &admin_token)
        .json(&json!({"clientId": "logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = admin(
        reqwest::Method::POST,
        "/clients/logged/secret",
        &admin_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    secrets.push(
        r.json::<Value>().await.unwrap()["clientSecret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let r = admin(
        reqwest::Method::POST,
        "/clients/logged/secret/rotate",
        &admin_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let rotated = r.json::<Value>().await.unwrap()["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(rotated.clone());
    let (status, body) = post_token(&http, &base, "logged", &rotated).await;
    assert_eq!(status, 401, "logged is client_secret_basic: {body}");
    let forged_token = format!("{}x", &svc_token);
    authorization_values.push(format!("Bearer {forged_token}"));
    let r = admin(reqwest::Method::GET, "/clients", &forged_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = admin(reqwest::Method::GET, "/clients", &svc_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Introspection and revocation carry tokens in their bodies.
    let r = post("/oauth2/introspect")
        .header("Authorization", &admin_basic)
        .form(&[("token", svc_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = post("/oauth2/revoke")
        .form(&[
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
            ("token", svc_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let status = server.sigterm();
    assert_eq!(status.code(), Some(0));
    let stdout = std::fs::read_to_string(&server.stdout_path).unwrap();
    let all = server.logs();
    assert!(
        stdout.contains("/oauth2/token"),
        "the requests were not logged at all:\n{all}"
    );

    // Every stdout line is one JSON object: nothing was injected.
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
        assert!(v.is_object(), "{line}");
        assert_ne!(v["message"], FORGED, "a forged log line: {line}");
        assert_ne!(v["fields"]["message"], FORGED, "a forged log line: {line}");
    }
    assert!(!all.contains('\u{1b}'), "a raw escape character was logged");
    for secret in &secrets {
        assert!(!all.contains(secret.as_str()), "a secret was logged");
    }
    for tok in [&admin_token, &svc_token] {
        assert!(!all.contains(tok.as_str()), "a token was logged");
        for part in tok.split('.').skip(1) {
            assert!(!all.contains(part), "part of a token was logged");
        }
    }
    for value in &authorization_values {
        let credentials = value.split_once(' ').unwrap().1;
        assert!(
            !all.contains(credentials),
            "an Authorization header value was logged"
        );
    }
    for needle in [
        "$2b$",
        "$2a$",
        "$2y$",
        "{bcrypt}",
        "$argon2",
        "Bearer ey",
        "client_secret=",
        "access_token=",
    ] {
        assert!(!all.contains(needle), "{needle} appears in the logs");
    }
}
