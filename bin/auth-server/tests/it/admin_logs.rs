//! The real binary through a whole admin session: everything it logged
//! (JSON lines on stdout, anything on stderr) is searched for every secret
//! and token it handed out, and none is found.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::admin_support::basic;
use crate::common::*;

struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Forwarded-Proto", "https")
    }

    fn bearer(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.req(method, path)
            .header("Authorization", format!("Bearer {token}"))
    }

    async fn token(&self, id: &str, secret: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, "/oauth2/token")
            .header("Authorization", basic(id, secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[actix_web::test]
async fn an_admin_session_logs_no_secret_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> = write_seeds(dir.path(), CLIENTS_YAML, ACCOUNTS_YAML);
    env.extend(seed_env());
    env.insert("APP_DATABASE_URL".into(), sqlite_url(dir.path()));
    env.insert("APP_BCRYPT_COST".into(), "4".into());
    env.insert("APP_LOG_FORMAT".into(), "json".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.insert("APP_BIND".into(), format!("127.0.0.1:{port}"));
    let stdout_path = dir.path().join("stdout.log");
    let stderr_path = dir.path().join("stderr.log");
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()));
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();

    let session = Session {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = session
            .http
            .get(format!("{}/readyz", session.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never became ready: {}",
            std::fs::read_to_string(&stderr_path).unwrap()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    let mut handed_out: Vec<String> =
        vec![ADMIN_SECRET.into(), SVC_SECRET.into(), BASIC_SECRET.into()];
    use reqwest::Method as M;
    let (status, body) = session.token("admin-cli", ADMIN_SECRET).await;
    assert_eq!(status, 200);
    let admin_t = body["access_token"].as_str().unwrap().to_owned();
    handed_out.push(admin_t.clone());

    let r = session
        .bearer(M::POST, "/clients", &admin_t)
        .json(&json!({"clientId": "logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = session
        .bearer(M::POST, "/clients/logged/secret", &admin_t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first = r.json::<Value>().await.unwrap()["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    handed_out.push(first.clone());
    let r = session
        .bearer(M::POST, "/clients/logged/secret/rotate", &admin_t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let second = r.json::<Value>().await.unwrap()["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    handed_out.push(second.clone());
    // A stale If-Match, a wrong secret and a bad token are logged as failures.
    let r = session
        .bearer(M::POST, "/clients/logged/secret/rotate", &admin_t)
        .header("If-Match", "\"v0-0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = session
        .bearer(M::POST, "/clients/logged/secret/rotate", &admin_t)
        .header("If-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let third = r.json::<Value>().await.unwrap()["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    handed_out.push(third.clone());
    assert_eq!(session.token("logged", &first).await.0, 401);
    let (status, body) = session.token("logged", &third).await;
    assert_eq!(status, 200);
    let client_t = body["access_token"].as_str().unwrap().to_owned();
    handed_out.push(client_t.clone());
    let r = session
        .req(M::POST, "/oauth2/introspect")
        .header("Authorization", basic("admin-cli", ADMIN_SECRET))
        .form(&[("token", client_t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = session
        .bearer(M::GET, "/clients/logged/secret", &admin_t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = session
        .bearer(
            M::DELETE,
            "/clients/logged/secret?target=previous",
            &admin_t,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = session
        .bearer(M::GET, "/clients", &format!("{client_t}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = session
        .req(M::POST, "/oauth2/revoke")
        .header("Authorization", basic("logged", &third))
        .form(&[("token", client_t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = session
        .bearer(M::GET, "/audit-events?clientId=logged", &admin_t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    let logs = format!(
        "{}{}",
        std::fs::read_to_string(&stdout_path).unwrap(),
        std::fs::read_to_string(&stderr_path).unwrap()
    );
    // The session was logged: the admin changes and the requests are there.
    assert!(
        logs.contains("client.secret.rotate"),
        "no audit line in the logs:\n{logs}"
    );
    assert!(
        logs.contains("/clients/{clientId}/secret/rotate"),
        "no access line in the logs"
    );
    for handed in &handed_out {
        assert!(
            !logs.contains(handed.as_str()),
            "a secret or token was logged"
        );
        // Nor any part of a token that identifies it (payload, signature).
        for part in handed.split('.').skip(1) {
            assert!(!logs.contains(part), "part of a token was logged");
        }
    }
    for leak in ["$2b$", "$2a$", "$2y$", "Bearer ey", "Basic "] {
        assert!(!logs.contains(leak), "{leak} appears in the logs");
    }
}
