//! Restarts and replicas: seeding creates clients once and never updates
//! them, updates service accounts every time, and several processes started
//! together on one database all become ready.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth_domain::ClientRepository;

use crate::common::*;

async fn token_status(s: &TestServer, secret: &str) -> (u16, serde_json::Value) {
    let r = s
        .post("/oauth2/token")
        .form(&client_secret_post("my-service", secret))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[actix_web::test]
async fn a_restart_keeps_existing_clients_and_updates_service_accounts() {
    for backend in backends() {
        let first = spawn(backend, Spawn::default()).await;
        let (status, body) = token_status(&first, SVC_SECRET).await;
        assert_eq!(status, 200);
        let old_token = body["access_token"].as_str().unwrap().to_owned();
        let url = first.db.url.clone();
        let db = first.db;
        first.handle.stop(true).await;

        let mut opts = Spawn {
            db_url: Some(url),
            ..Spawn::default()
        };
        opts.env.insert(
            "MY_SERVICE_CLIENT_SECRET".into(),
            "a-completely-different-secret".into(),
        );
        opts.accounts_yaml =
            Some(ACCOUNTS_YAML.replace("roles: [\"USER\", \"ANALYST\"]", "roles: [\"USER\"]"));
        let second = spawn(backend, opts).await;
        // The client kept its original secret: the variable is ignored now.
        assert_eq!(
            token_status(&second, "a-completely-different-secret")
                .await
                .0,
            401
        );
        let (status, body) = token_status(&second, SVC_SECRET).await;
        assert_eq!(status, 200);
        // The service account was updated: ANALYST (and data.read) are gone.
        let c = claims(body["access_token"].as_str().unwrap());
        assert_eq!(c["roles"], serde_json::json!(["USER"]));
        assert_eq!(c["permissions"], serde_json::json!(["users.read"]));
        // A token issued before the restart is still valid after it.
        let r = introspect_as_service(&second, &old_token).await;
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["active"], true);
        second.stop().await;
        drop(db);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_replica(env: &BTreeMap<String, String>, port: u16, dir: &std::path::Path) -> Child {
    let mut cmd = Command::new(binary());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("APP_BIND", format!("127.0.0.1:{port}"));
    cmd.spawn().unwrap()
}

async fn wait_ready(port: u16, deadline: Instant) -> bool {
    let http = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status() == 200 {
                return true;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn replicas_on(backend: Backend, count: usize) {
    let db = fresh_database(backend);
    let dir = tempfile::tempdir().unwrap();
    let mut env = write_seeds(dir.path(), CLIENTS_YAML, ACCOUNTS_YAML);
    env.extend(seed_env());
    env.insert("APP_DATABASE_URL".into(), db.url.clone());
    env.insert("APP_BCRYPT_COST".into(), "4".into());
    env.insert("APP_DATABASE_POOL_SIZE".into(), "4".into());
    env.insert("APP_LOG_FORMAT".into(), "json".into());
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
    // Started at the same instant, on one fresh database.
    let mut children: Vec<Child> = ports
        .iter()
        .map(|p| start_replica(&env, *p, dir.path()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, p) in ports.iter().enumerate() {
        let ready = wait_ready(*p, deadline).await;
        if !ready {
            let _ = children[i].kill();
            let out = children.remove(i).wait_with_output().unwrap();
            panic!(
                "{backend:?} replica {i} never became ready: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // Every replica serves tokens signed by one shared key.
    let http = reqwest::Client::new();
    let mut kids = Vec::new();
    for p in &ports {
        let r = http
            .post(format!("http://127.0.0.1:{p}/oauth2/token"))
            .header("X-Forwarded-Proto", "https")
            .form(&client_secret_post("my-service", SVC_SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let header: serde_json::Value = {
            use base64::Engine as _;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        kids.push(header["kid"].as_str().unwrap().to_owned());
    }
    kids.dedup();
    assert_eq!(
        kids.len(),
        1,
        "{backend:?}: replicas disagree on the signing key"
    );
    // SIGTERM: each exits 0.
    for c in &children {
        sigterm(c);
    }
    for mut c in children {
        let status = c.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{backend:?}: a replica did not exit cleanly"
        );
    }
    // Each seeded client exists exactly once.
    let store = auth_store::Store::open(&auth_store::StoreConfig {
        url: db.url.clone(),
        pool_size: 1,
        pool_timeout: Duration::from_secs(2),
    })
    .unwrap();
    let ids: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(
        ids,
        vec![
            "admin-cli",
            "basic-client",
            "inactive-client",
            "my-service",
            "web-app"
        ]
    );
}

#[actix_web::test]
async fn replicas_started_together_all_become_ready() {
    replicas_on(Backend::Sqlite, 2).await;
    if backends().contains(&Backend::Postgres) {
        replicas_on(Backend::Postgres, 3).await;
    }
}
