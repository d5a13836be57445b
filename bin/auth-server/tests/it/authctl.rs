//! `authctl` against a real server over real HTTP: the operator's whole
//! session (create, issue, rotate, link, audit, delete), the output formats,
//! the exit codes, and that a secret is shown once and never leaks.
//! authctl runs in this process through `authctl::run` (its `main` only
//! passes the real streams in), on a blocking thread since it is a blocking
//! HTTP client.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use crate::admin_support::token_request;
use crate::common::*;

struct Ran {
    code: i32,
    out: String,
    err: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {}", self.out))
    }
}

/// Runs authctl with `args` against server `s` as `admin-cli`, with the
/// secret in the environment, unless `env` says otherwise.
async fn authctl(s: &TestServer, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Ran {
    let mut vars: BTreeMap<String, String> = [
        ("AUTHCTL_SERVER", s.base.as_str()),
        ("AUTHCTL_CLIENT_ID", "admin-cli"),
        ("AUTHCTL_CLIENT_SECRET", ADMIN_SECRET),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in env {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    // The test server requires HTTPS, as a sidecar would provide it.
    let mut argv: Vec<OsString> = vec!["authctl".into(), "--forwarded-https".into()];
    argv.extend(args.iter().map(OsString::from));
    run_authctl(argv, vars, stdin.to_owned()).await
}

async fn run_authctl(argv: Vec<OsString>, vars: BTreeMap<String, String>, stdin: String) -> Ran {
    actix_web::web::block(move || {
        let env = |k: &str| vars.get(k).cloned();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = authctl::run(
            argv,
            authctl::Io {
                env: &env,
                stdin: &mut stdin.as_bytes(),
                out: &mut out,
                err: &mut err,
            },
        );
        Ran {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    })
    .await
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[actix_web::test]
async fn an_operator_session_creates_rotates_links_audits_and_deletes() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let dir = tempfile::tempdir().unwrap();

        let r = authctl(
            &s,
            &[
                "clients",
                "create",
                "billing",
                "--scope",
                "read write",
                "--ttl-minutes",
                "15",
            ],
            &[],
            "",
        )
        .await;
        assert_eq!(r.code, 0, "{backend:?}: {}", r.err);
        assert!(
            r.out.contains("clientId") && r.out.contains("billing"),
            "{}",
            r.out
        );

        // The first secret goes to a file only, created 0600.
        let first = dir.path().join("first.secret");
        let r = authctl(
            &s,
            &[
                "secret",
                "issue",
                "billing",
                "--secret-file",
                first.to_str().unwrap(),
            ],
            &[],
            "",
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.err);
        let secret1 = std::fs::read_to_string(&first).unwrap().trim().to_owned();
        assert!(secret1.len() >= 40);
        assert_eq!(mode(&first), 0o600);
        assert!(!r.out.contains(&secret1) && !r.err.contains(&secret1));
        assert!(r.out.contains("expiresAt"));
        // The file must be new: an existing one is refused before the server is asked.
        let again = authctl(
            &s,
            &[
                "secret",
                "rotate",
                "billing",
                "--secret-file",
                first.to_str().unwrap(),
            ],
            &[],
            "",
        )
        .await;
        assert_eq!(again.code, 1, "{}", again.err);
        assert!(again.err.contains("must not exist"), "{}", again.err);
        assert_eq!(token_request(&s, "billing", &secret1, false).await.0, 200);

        // Rotation (guarded by If-Match from a fresh status read) prints the
        // new secret once, in JSON with the API's field names.
        let r = authctl(&s, &["-o", "json", "secret", "rotate", "billing"], &[], "").await;
        assert_eq!(r.code, 0, "{}", r.err);
        let rotated = r.json();
        let secret2 = rotated["clientSecret"].as_str().unwrap().to_owned();
        assert!(rotated["previousSecretValidUntil"].is_string());
        assert_eq!(r.out.matches(&secret2).count(), 1);
        assert_eq!(token_request(&s, "billing", &secret2, false).await.0, 200);
        assert_eq!(token_request(&s, "billing", &secret1, false).await.0, 200);

        let r = authctl(&s, &["-o", "yaml", "secret", "status", "billing"], &[], "").await;
        assert_eq!(r.code, 0, "{}", r.err);
        let status: Value = serde_norway::from_str(&r.out).unwrap();
        assert_eq!(status["rotationRequired"], false);
        assert!(status["previous"]["graceExpiresAt"].is_string());
        assert!(!r.out.contains(&secret2));

        let r = authctl(
            &s,
            &["secret", "delete", "billing", "--target", "previous"],
            &[],
            "",
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(token_request(&s, "billing", &secret1, false).await.0, 401);

        // apply takes the seed file's shape, and links the client.
        let accounts = dir.path().join("accounts.yaml");
        std::fs::write(
            &accounts,
            "serviceAccounts:\n  - id: svc-billing\n    description: Billing\n    clientId: billing\n    roles: [ANALYST]\n    attributes: {team: money}\n",
        )
        .unwrap();
        let r = authctl(
            &s,
            &[
                "service-accounts",
                "apply",
                "-f",
                accounts.to_str().unwrap(),
            ],
            &[],
            "",
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.err);
        assert!(
            r.out.contains("svc-billing created, client billing linked"),
            "{}",
            r.out
        );
        let r = authctl(&s, &["-o", "json", "clients", "get", "billing"], &[], "").await;
        assert_eq!(r.json()["serviceAccountId"], "svc-billing");
        let (status, body) = token_request(&s, "billing", &secret2, false).await;
        assert_eq!(status, 200, "{body}");

        // Lists: a table for people.
        let r = authctl(&s, &["service-accounts", "list"], &[], "").await;
        let row = r
            .out
            .lines()
            .find(|l| l.starts_with("svc-billing"))
            .unwrap();
        assert!(row.contains("billing") && row.contains("ANALYST"), "{row}");
        let r = authctl(&s, &["roles", "list"], &[], "").await;
        assert!(
            r.out.lines().any(|l| l.starts_with("ADMIN_SYSTEM")),
            "{}",
            r.out
        );

        // The audit log names the actor, the actions, and no secret.
        let r = authctl(&s, &["-o", "json", "audit", "--client", "billing"], &[], "").await;
        assert_eq!(r.code, 0, "{}", r.err);
        let actions: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        assert!(actions.len() >= 4, "{actions:?}");
        assert!(r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "svc-admin"));
        assert!(!r.out.contains(&secret1) && !r.out.contains(&secret2));

        let r = authctl(&s, &["clients", "delete", "billing"], &[], "").await;
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(token_request(&s, "billing", &secret2, false).await.0, 401);
        s.stop().await;
    }
}

#[actix_web::test]
async fn refusals_exit_2_with_one_readable_line_and_failures_exit_3() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;

    let r = authctl(&s, &["clients", "get", "no-such-client"], &[], "").await;
    assert_eq!(r.code, 2);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(r.err.starts_with("error: 404 Not Found"), "{}", r.err);

    // A 400 names the field at fault.
    let r = authctl(
        &s,
        &["clients", "create", "x", "--ttl-minutes", "5000"],
        &[],
        "",
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("400") && r.err.contains("accessTokenTtlMinutes"),
        "{}",
        r.err
    );

    // An empty slot is a 404, whatever the ETag.
    let r = authctl(
        &s,
        &["secret", "delete", "basic-client", "--target", "previous"],
        &[],
        "",
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("404"), "{}", r.err);

    // A caller without the permission is refused by the server (403).
    let r = authctl(
        &s,
        &["clients", "list"],
        &[
            ("AUTHCTL_CLIENT_ID", "basic-client"),
            ("AUTHCTL_CLIENT_SECRET", BASIC_SECRET),
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(r.err.contains("403"), "{}", r.err);

    // A wrong secret: the token endpoint's 401, never echoing the secret.
    let r = authctl(
        &s,
        &["clients", "list"],
        &[("AUTHCTL_CLIENT_SECRET", "wrong-secret-xyz")],
        "",
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("401") && r.err.contains("invalid_client"),
        "{}",
        r.err
    );
    assert!(!r.err.contains("wrong-secret-xyz"));

    // Nothing listens there: a network error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let r = authctl(&s, &["clients", "list", "--server", &url], &[], "").await;
    assert_eq!(r.code, 3, "{}", r.err);
    assert!(!r.err.contains(ADMIN_SECRET));
    s.stop().await;
}

#[actix_web::test]
async fn usage_errors_exit_1_and_send_nothing() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let argv: Vec<OsString> = std::iter::once("authctl")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let vars: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        run_authctl(argv, vars, String::new())
    };
    let r = run(&["clients", "list"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.err.contains("AUTHCTL_SERVER"), "{}", r.err);

    // Plain HTTP off loopback is refused before any request (the name
    // cannot even resolve, so a request would have failed with 3 instead).
    let r = run(
        &["clients", "list", "--server", "http://auth.example.invalid"],
        &[("AUTHCTL_CLIENT_ID", "a"), ("AUTHCTL_CLIENT_SECRET", "s")],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("--insecure-http"), "{}", r.err);

    let r = run(&["clients", "frobnicate"], &[]).await;
    assert_eq!(r.code, 1);
    // A secret flag does not exist: the secret never goes on a command line.
    let r = run(&["--client-secret", "x", "clients", "list"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.err.contains("--client-secret"), "{}", r.err);

    let r = run(&["--help"], &[]).await;
    assert_eq!(r.code, 0);
    assert!(r.out.contains("Exit codes") && r.out.contains("AUTHCTL_SERVER"));
}

#[actix_web::test]
async fn token_introspect_and_keys_show_what_the_server_says() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let r = authctl(&s, &["-o", "json", "token"], &[], "").await;
    assert_eq!(r.code, 0, "{}", r.err);
    let decoded = r.json();
    assert_eq!(decoded["header"]["typ"], "at+jwt");
    assert_eq!(decoded["claims"]["client_id"], "admin-cli");
    let kid = decoded["header"]["kid"].as_str().unwrap().to_owned();

    let raw = authctl(&s, &["token", "--raw"], &[], "").await;
    let token = raw.out.trim().to_owned();
    assert_eq!(token.split('.').count(), 3);
    // The token is read from standard input, so it is never an argument.
    let r = authctl(&s, &["-o", "json", "introspect", "-"], &[], &token).await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["client_id"], "admin-cli");

    // client_secret_post works for clients registered that way.
    let r = authctl(
        &s,
        &["-o", "json", "token"],
        &[
            ("AUTHCTL_CLIENT_ID", "my-service"),
            ("AUTHCTL_CLIENT_SECRET", SVC_SECRET),
            ("AUTHCTL_AUTH_METHOD", "client_secret_post"),
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.json()["claims"]["sub"], "svc-my-service");

    let r = authctl(&s, &["keys", "list"], &[], "").await;
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.lines().nth(1).unwrap().starts_with(&kid), "{}", r.out);
    s.stop().await;
}

#[actix_web::test]
async fn completions_and_man_pages_come_from_the_command_definitions() {
    let argv = |a: &[&str]| -> Vec<OsString> {
        std::iter::once("authctl")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    };
    let r = run_authctl(
        argv(&["completions", "bash"]),
        BTreeMap::new(),
        String::new(),
    )
    .await;
    assert_eq!(r.code, 0);
    assert!(r.out.contains("_authctl") && r.out.contains("service-accounts"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("man1");
    let r = run_authctl(
        argv(&["man", "--dir", d.to_str().unwrap()]),
        BTreeMap::new(),
        String::new(),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.err);
    let page = std::fs::read_to_string(d.join("authctl-secret-rotate.1")).unwrap();
    assert!(
        page.contains(".TH") && page.contains("If\\-Match"),
        "{page}"
    );
    assert!(d.join("authctl.1").exists());
}
