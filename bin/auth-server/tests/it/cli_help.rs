//! The server's command line explains itself: `--help` lists every setting
//! with its variable and default, `config` shows the effective values and
//! their origin without secrets, `--version` names the commit, and
//! completions and man pages come from the same definitions.

use std::collections::BTreeMap;

use crate::common::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn help_lists_every_setting_with_its_variable_and_default() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_binary(&["--help"], &BTreeMap::new(), dir.path());
    assert!(o.status.success());
    let help = text(&o);
    for key in auth_server::config::KEYS {
        let var = format!("APP_{}", key.to_ascii_uppercase());
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{var} ")))
            .unwrap_or_else(|| panic!("{var} missing from --help:\n{help}"));
        assert!(line.contains("[default: "), "{line}");
    }
    assert!(help.contains("APP_BIND [default: 127.0.0.1:8080]"));
    assert!(help.contains("APP_FORWARDED_TRUSTED_PROXIES [default: 127.0.0.0/8,::1]"));
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_binary(&["--version"], &BTreeMap::new(), dir.path());
    assert!(o.status.success());
    let v = text(&o);
    assert!(v.starts_with("auth-server 0.0.0 (commit "), "{v}");
    // Built from a git checkout, it names that checkout's commit;
    // otherwise (a source tarball, a copy without .git) it says so.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(commit) => assert!(v.contains(&format!("(commit {commit}")), "{v} vs {commit}"),
        None => assert!(v.contains("(commit unknown)"), "{v}"),
    }
}

#[test]
fn config_shows_effective_values_and_origins_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("auth.toml");
    std::fs::write(&toml, "bcrypt_cost = 12\nsigning_alg = \"ES256\"\n").unwrap();
    let env = vars(&[
        ("APP_SIGNING_ALG", "EdDSA"),
        (
            "APP_DATABASE_URL",
            "postgres://auth:Pw-cfg-77a1@127.0.0.1:1/auth?password=Pw-cfg-88b2",
        ),
        (
            "APP_KEYS_ENCRYPTION_SECRET",
            "keys-secret-0123456789-0123456789-abc",
        ),
    ]);
    let o = run_binary(
        &["--config", toml.to_str().unwrap(), "config"],
        &env,
        dir.path(),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let line = |var: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{var} ")))
            .unwrap_or_else(|| panic!("{var} missing:\n{out}"))
            .to_owned()
    };
    assert!(line("APP_BCRYPT_COST").contains("= 12"));
    assert!(line("APP_BCRYPT_COST").contains(&format!("(file {})", toml.display())));
    assert!(line("APP_SIGNING_ALG").contains("= EdDSA"));
    assert!(line("APP_SIGNING_ALG").contains("(environment APP_SIGNING_ALG)"));
    assert!(line("APP_BIND").ends_with("(default)"));
    assert!(line("APP_KEYS_ENCRYPTION_SECRET").contains("[REDACTED]"));
    for secret in ["Pw-cfg-77a1", "Pw-cfg-88b2", "keys-secret-0123456789"] {
        assert!(!out.contains(secret), "{secret} printed:\n{out}");
    }
    // It opens no database and creates no file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A bad value is the same error `serve` would give.
    let o = run_binary(&["config"], &vars(&[("APP_BCRYPT_COST", "99")]), dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("APP_BCRYPT_COST"));
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_binary(&["completions", "bash"], &BTreeMap::new(), dir.path());
    assert!(o.status.success());
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(
        script.contains("_auth__server") && script.contains("keys"),
        "{script}"
    );
    let man = dir.path().join("man1");
    let o = run_binary(
        &["man", "--dir", man.to_str().unwrap()],
        &BTreeMap::new(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(man.join("auth-server.1")).unwrap();
    assert!(
        page.contains("APP_BCRYPT_COST"),
        "the settings are in the man page"
    );
    assert!(man.join("auth-server-keys-rotate.1").exists());
}
