//! Files and credentials: a password in `APP_DATABASE_URL` is never printed
//! (whatever the command, whether the database answers or not), a SQLite
//! database and its WAL files are readable by their owner only, and a
//! PostgreSQL URL to a remote host without verified TLS is warned about.
//! Every URL here points at loopback: a test never reaches another host.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;

/// A port nothing listens on (bound a moment ago, then released).
fn closed_port() -> u16 {
    free_loopback_port()
}

/// Runs `serve` for `for_how_long` (long enough to log its startup and a
/// few failed connection attempts), then kills it and returns its output.
async fn serve_briefly(
    env: &BTreeMap<String, String>,
    name: &str,
    for_how_long: Duration,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut p = ServerProcess::start(env, dir.path(), name, free_loopback_port());
    actix_web::rt::time::sleep(for_how_long).await;
    p.sigkill();
    p.logs()
}

fn assert_not_printed(output: &str, password: &str, what: &str) {
    assert!(
        !output.contains(password),
        "{what}: the password {password:?} was printed:\n{output}"
    );
}

#[actix_web::test]
async fn a_database_password_is_never_printed() {
    let port = closed_port();
    // In the userinfo, as a query parameter, and one libpq cannot even
    // parse (an unescaped `%`), whose error message repeats the token.
    let unreachable = [
        (
            "Pw-userinfo-7f3a",
            format!("postgres://auth:Pw-userinfo-7f3a@127.0.0.1:{port}/auth"),
        ),
        (
            "Pw-query-9c1d",
            format!("postgres://auth@127.0.0.1:{port}/auth?sslmode=disable&password=Pw-query-9c1d"),
        ),
        (
            "Pw-pct%zz-2b4e",
            format!("postgres://auth:Pw-pct%zz-2b4e@127.0.0.1:{port}/auth"),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (password, url) in &unreachable {
        let mut env = process_env(dir.path(), url);
        env.insert("APP_DATABASE_POOL_TIMEOUT".into(), "PT0.3S".into());
        for args in [&["check"][..], &["migrate"], &["keys", "rotate"]] {
            let out = run_binary(args, &env, dir.path());
            assert_not_printed(&text(&out), password, &format!("{args:?} with {url}"));
        }
        let logs = serve_briefly(&env, "unreachable", Duration::from_secs(3)).await;
        assert!(
            logs.contains("database"),
            "serve said nothing about the database: {logs}"
        );
        assert_not_printed(&logs, password, &format!("serve with {url}"));
    }

    // The real database: a trust-auth cluster ignores the password, so the
    // server starts and logs its whole startup.
    if let Ok(base) = std::env::var("TEST_DATABASE_URL") {
        if !base.is_empty() {
            let password = "Pw-real-db-5e6f";
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}password={password}");
            let env = process_env(dir.path(), &url);
            for args in [&["check"][..], &["migrate"]] {
                let out = run_binary(args, &env, dir.path());
                assert!(out.status.success(), "{args:?}: {}", text(&out));
                assert_not_printed(
                    &text(&out),
                    password,
                    &format!("{args:?} with the real database"),
                );
            }
            let mut p = ServerProcess::serve(&env, dir.path(), "real").await;
            p.sigterm();
            let logs = p.logs();
            assert!(logs.contains("listening"), "{logs}");
            assert_not_printed(&logs, password, "serve with the real database");
        }
    }
}

/// The permission bits of a file.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A server started on a SQLite file that does not exist yet creates it,
/// and its WAL files, readable by its user only.
#[actix_web::test]
async fn a_server_creates_its_sqlite_database_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let env = process_env(dir.path(), &format!("sqlite://{}", db.display()));
    let mut p = ServerProcess::serve(&env, dir.path(), "sqlite").await;
    let (status, body) =
        post_token(&reqwest::Client::new(), &p.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200, "{body}");
    for name in ["auth.db", "auth.db-wal", "auth.db-shm"] {
        assert_eq!(
            format!("{:o}", mode(&dir.path().join(name))),
            "600",
            "{name}: {}",
            p.logs()
        );
    }
    p.sigterm();
}

/// `auth-server check` (which opens no database, so no connection is ever
/// attempted to these hosts) warns about a PostgreSQL URL to another host
/// without verified TLS, and only then.
#[test]
fn check_warns_about_a_remote_postgresql_url_without_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let warned = |url: &str| {
        let env = process_env(dir.path(), url);
        let out = run_binary(&["check"], &env, dir.path());
        let all = text(&out);
        assert!(out.status.success(), "{url}: {all}");
        assert!(!all.contains("Pw-remote-3c2b"), "{url}: {all}");
        all.contains("warning:") && all.contains("verify-full")
    };
    for url in [
        "postgres://auth:Pw-remote-3c2b@db.example.com:5432/auth",
        "postgres://auth@db.example.com/auth?sslmode=require",
        "postgresql://auth@10.1.2.3/auth?sslmode=prefer",
        "postgres://auth@[2001:db8::1]:5432/auth",
        "postgres://auth@127.0.0.1/auth?host=db.example.com",
    ] {
        assert!(warned(url), "no warning for {url}");
    }
    for url in [
        "postgres://auth:Pw-remote-3c2b@db.example.com:5432/auth?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
        "postgres://auth@db.example.com/auth?sslmode=verify-ca",
        "postgres://auth@127.0.0.1:5432/auth",
        "postgres://auth@localhost/auth",
        "postgres://auth@[::1]/auth",
        "postgres:///auth?host=/var/run/postgresql",
        "sqlite://auth.db",
    ] {
        assert!(!warned(url), "a warning for {url}");
    }
}
