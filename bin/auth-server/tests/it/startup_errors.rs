//! Startup errors (docs/reference/configuration.md#errors, docs/reference/seed-files.md#error-messages) through the real binary: each via `check` and
//! via `serve`, asserting the exit code, the message, and (for `serve`) that
//! the database holds nothing afterwards.

use std::collections::BTreeMap;

use auth_domain::ClientRepository;

use crate::common::*;

struct Case {
    name: &'static str,
    clients: String,
    accounts: String,
    env: Vec<(&'static str, String)>,
    must_mention: Vec<&'static str>,
    must_not_mention: Vec<String>,
}

fn one_client(extra: &str) -> String {
    format!(
        "clients:\n  confidential:\n    - client_id: my-service\n      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET\n{extra}"
    )
}

fn cases() -> Vec<Case> {
    let ok_secret = ("MY_SERVICE_CLIENT_SECRET", SVC_SECRET.to_owned());
    let no_accounts = "serviceAccounts: []\n".to_owned();
    let long = "L".repeat(73);
    vec![
        Case { name: "missing variable", clients: one_client(""), accounts: no_accounts.clone(), env: vec![],
            must_mention: vec!["MY_SERVICE_CLIENT_SECRET", "my-service"], must_not_mention: vec![] },
        Case { name: "empty variable", clients: one_client(""), accounts: no_accounts.clone(), env: vec![("MY_SERVICE_CLIENT_SECRET", String::new())],
            must_mention: vec!["MY_SERVICE_CLIENT_SECRET", "my-service"], must_not_mention: vec![] },
        Case { name: "secret too short", clients: one_client(""), accounts: no_accounts.clone(), env: vec![("MY_SERVICE_CLIENT_SECRET", "short-s3cr3t".into())],
            must_mention: vec!["MY_SERVICE_CLIENT_SECRET", "my-service"], must_not_mention: vec!["short-s3cr3t".into()] },
        Case { name: "secret over 72 bytes", clients: one_client(""), accounts: no_accounts.clone(), env: vec![("MY_SERVICE_CLIENT_SECRET", long.clone())],
            must_mention: vec!["MY_SERVICE_CLIENT_SECRET", "my-service", "72"], must_not_mention: vec![long] },
        Case { name: "unknown field", clients: one_client("      client_secrett: x\n"), accounts: no_accounts.clone(), env: vec![ok_secret.clone()],
            must_mention: vec!["client_secrett", "clients.yaml"], must_not_mention: vec![] },
        Case { name: "duplicate client_id", clients: format!("{}    - client_id: my-service\n      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET\n", one_client("")),
            accounts: no_accounts.clone(), env: vec![ok_secret.clone()], must_mention: vec!["my-service", "clients.yaml"], must_not_mention: vec![] },
        Case { name: "bad method", clients: one_client("      client_authentication_method: private_key_jwt\n"), accounts: no_accounts.clone(), env: vec![ok_secret.clone()],
            must_mention: vec!["my-service", "client_authentication_method"], must_not_mention: vec![] },
        Case { name: "ttl out of range", clients: one_client("      access_token_ttl_minutes: 1441\n"), accounts: no_accounts.clone(), env: vec![ok_secret.clone()],
            must_mention: vec!["my-service", "access_token_ttl_minutes"], must_not_mention: vec![] },
        Case { name: "unknown role", clients: one_client(""), accounts: "serviceAccounts:\n  - id: svc-a\n    roles: [NOPE_ROLE]\n".into(), env: vec![ok_secret.clone()],
            must_mention: vec!["svc-a", "NOPE_ROLE"], must_not_mention: vec![] },
        Case { name: "unknown permission", clients: one_client(""), accounts: "serviceAccounts:\n  - id: svc-a\n    permissions: [nope.perm]\n".into(), env: vec![ok_secret.clone()],
            must_mention: vec!["svc-a", "nope.perm"], must_not_mention: vec![] },
        Case { name: "unknown group", clients: one_client(""), accounts: "serviceAccounts:\n  - id: svc-a\n    groups: [urn:nope]\n".into(), env: vec![ok_secret.clone()],
            must_mention: vec!["svc-a", "urn:nope"], must_not_mention: vec![] },
        // The admin API refuses such an id, so the seed does too.
        Case { name: "service-account id with a space", clients: one_client(""), accounts: "serviceAccounts:\n  - id: svc a\n".into(), env: vec![ok_secret.clone()],
            must_mention: vec!["service-accounts.yaml", "\"svc a\"", "`id`", "printable ASCII"], must_not_mention: vec![] },
        Case { name: "clientId of an unknown client", clients: one_client(""), accounts: "serviceAccounts:\n  - id: svc-a\n    clientId: ghost\n".into(), env: vec![ok_secret],
            must_mention: vec!["svc-a", "ghost"], must_not_mention: vec![] },
    ]
}

fn assert_message(case: &Case, how: &str, out: &std::process::Output) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(1), "{} via {how}: {all}", case.name);
    for m in &case.must_mention {
        assert!(
            all.contains(m),
            "{} via {how}: expected {m:?} in: {all}",
            case.name
        );
    }
    for secret in &case.must_not_mention {
        assert!(
            !all.contains(secret.as_str()),
            "{} via {how}: the secret leaked: {all}",
            case.name
        );
    }
    assert!(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        "{} via {how}: {all}",
        case.name
    );
}

#[test]
fn each_seed_error_stops_check_and_serve_with_a_clear_message() {
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = write_seeds(dir.path(), &case.clients, &case.accounts);
        for (k, v) in &case.env {
            env.insert((*k).to_owned(), v.clone());
        }
        env.insert("APP_BCRYPT_COST".into(), "4".into());
        env.insert("APP_BIND".into(), "127.0.0.1:0".into());
        let db_path = dir.path().join("auth.db");
        env.insert(
            "APP_DATABASE_URL".into(),
            format!("sqlite://{}", db_path.display()),
        );

        let out = run_binary(&["check"], &env, dir.path());
        assert_message(&case, "check", &out);
        assert!(
            !db_path.exists(),
            "{}: check must not create the database",
            case.name
        );

        let out = run_binary(&["serve"], &env, dir.path());
        assert_message(&case, "serve", &out);
        let store = auth_store::Store::open(&auth_store::StoreConfig {
            url: env["APP_DATABASE_URL"].clone(),
            pool_size: 1,
            pool_timeout: std::time::Duration::from_secs(2),
        })
        .unwrap();
        store.migrate().unwrap();
        assert!(
            store.list().unwrap().is_empty(),
            "{}: serve must leave the database without clients",
            case.name
        );
    }
}

#[test]
fn bad_configuration_names_the_variable_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("APP_DATABASE_URL", "mysql://db/x"),
        ("APP_CLIENT_SECRET_TTL", "P1Y"),
        ("APP_BCRYPT_COST", "2"),
        ("APP_FORWARDED_HEADERS", "both"),
        ("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT", "lots"),
        ("APP_ADMIN_BIND", "not-an-address"),
        // The default APP_BIND: the admin listener needs its own port.
        ("APP_ADMIN_BIND", "127.0.0.1:8080"),
    ] {
        let env: BTreeMap<String, String> = [(var.to_owned(), value.to_owned())].into();
        for cmd in ["check", "serve", "migrate"] {
            let out = run_binary(&[cmd], &env, dir.path());
            let all = text(&out);
            assert_eq!(out.status.code(), Some(1), "{cmd} {var}: {all}");
            assert!(all.contains(var), "{cmd} {var}: {all}");
            assert!(!all.contains("panicked"), "{all}");
        }
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file may be created"
    );
}

#[test]
fn check_accepts_the_examples() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env: BTreeMap<String, String> = [
        (
            "APP_SEED_CLIENTS_FILE",
            root.join("examples/clients.yaml").display().to_string(),
        ),
        (
            "APP_SEED_SERVICE_ACCOUNTS_FILE",
            root.join("examples/service-accounts.yaml")
                .display()
                .to_string(),
        ),
        ("MY_SERVICE_CLIENT_SECRET", SVC_SECRET.to_owned()),
        ("ADMIN_CLI_CLIENT_SECRET", ADMIN_SECRET.to_owned()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), v.clone()))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(&["check"], &env, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "check must create no file"
    );
}

#[test]
fn a_signing_key_that_does_not_decrypt_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let with_secret = |secret: Option<&str>| -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("APP_DATABASE_URL".to_owned(), url.clone()),
            ("APP_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ]
        .into();
        if let Some(s) = secret {
            env.insert("APP_KEYS_ENCRYPTION_SECRET".into(), s.into());
        }
        env
    };
    let first = "first-encryption-secret-0123456789abcdef";
    let out = run_binary(&["keys", "rotate"], &with_secret(Some(first)), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for wrong in [Some("another-encryption-secret-0123456789abcd"), None] {
        let out = run_binary(&["serve"], &with_secret(wrong), dir.path());
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains("signing key"), "{all}");
        assert!(!all.contains(first) && !all.contains("panicked"), "{all}");
    }
}

#[test]
fn readyz_says_503_while_the_database_is_unreachable_and_healthz_200() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "APP_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/nowhere",
        )
        .env("APP_DATABASE_POOL_TIMEOUT", "PT0.5S")
        .env("APP_BIND", format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let get = |path: &str| -> Option<u16> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        buf.split_whitespace().nth(1)?.parse().ok()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut health = None;
    while health.is_none() && std::time::Instant::now() < deadline {
        health = get("/healthz");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let ready = get("/readyz");
    let token = get("/oauth2/jwks");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health, Some(200), "the process runs and says so");
    assert_eq!(
        ready,
        Some(503),
        "startup cannot finish without the database"
    );
    assert_eq!(token, Some(503), "no keys yet: JWKS answers 503, not 500");
}
