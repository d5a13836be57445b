//! Every error an operator can meet, with what its message must say.

use std::path::{Path, PathBuf};

use auth_seed::{
    check, parse, parse_clients_str, parse_service_accounts_str, SeedError, SeedSources,
};

use crate::support::*;

/// One confidential client per call, at lines 3-… of the file.
fn one_client(extra: &str) -> String {
    format!(
        "clients:\n  confidential:\n    - client_id: my-service\n      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET\n{extra}"
    )
}

const ENV_OK: &[(&str, &str)] = &[("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET)];

#[test]
fn display_puts_file_line_entry_field_and_message_in_order() {
    let e = SeedError {
        file: PathBuf::from("c.yaml"),
        line: Some(7),
        entry: Some("client \"x\"".into()),
        field: Some("scope".into()),
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "c.yaml:7: client \"x\": field `scope`: bad");
    let bare = SeedError {
        line: None,
        entry: None,
        field: None,
        ..e
    };
    assert_eq!(bare.to_string(), "c.yaml: bad");
}

#[test]
fn unset_variable_names_the_variable_and_the_client() {
    let lines = error_lines(Some(&one_client("")), None, &[]);
    assert_eq!(
        lines,
        vec![
            "seed/clients.yaml:4: client \"my-service\": field `client_secret_env_var_name`: \
             environment variable MY_SERVICE_CLIENT_SECRET is not set"
        ]
    );
}

#[test]
fn empty_variable_is_an_error_too() {
    let lines = error_lines(
        Some(&one_client("")),
        None,
        &[("MY_SERVICE_CLIENT_SECRET", "")],
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("client \"my-service\""), "{}", lines[0]);
    assert!(lines[0].ends_with("environment variable MY_SERVICE_CLIENT_SECRET is empty"));
}

#[test]
fn short_secret_is_refused_without_showing_it() {
    let secret = "tiny-Zq9x"; // 9 bytes
    let lines = error_lines(
        Some(&one_client("")),
        None,
        &[("MY_SERVICE_CLIENT_SECRET", secret)],
    );
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert!(l.contains("client \"my-service\""), "{l}");
    assert!(l.contains("MY_SERVICE_CLIENT_SECRET"), "{l}");
    assert!(
        l.contains("too short") && l.contains("at least 16 bytes"),
        "{l}"
    );
    assert!(!l.contains(secret) && !l.contains("Zq9x"), "{l}");
    assert!(!l.contains(" 9 "), "the exact length is not disclosed: {l}");
}

#[test]
fn secret_over_72_bytes_is_refused_without_showing_it() {
    let secret = format!("{}-LONGTAIL", "k".repeat(70)); // 79 bytes
    let lines = error_lines(
        Some(&one_client("")),
        None,
        &[("MY_SERVICE_CLIENT_SECRET", &secret)],
    );
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert!(l.contains("MY_SERVICE_CLIENT_SECRET") && l.contains("client \"my-service\""));
    assert!(
        l.contains("too long") && l.contains("at most 72 bytes"),
        "{l}"
    );
    assert!(!l.contains("LONGTAIL") && !l.contains("kkkk"), "{l}");
    // Multi-byte characters count as bytes: 37 two-byte characters are 74.
    let lines = error_lines(
        Some(&one_client("")),
        None,
        &[("MY_SERVICE_CLIENT_SECRET", &"é".repeat(37))],
    );
    assert!(lines[0].contains("too long"), "{}", lines[0]);
    // Exactly 72 bytes and exactly the minimum are accepted.
    for ok in ["x".repeat(72), "y".repeat(16)] {
        assert!(validate_texts(
            Some(&one_client("")),
            None,
            &[("MY_SERVICE_CLIENT_SECRET", &ok)]
        )
        .is_ok());
    }
}

#[test]
fn debug_of_errors_and_validated_seed_never_shows_a_secret() {
    let secret = "Visible-Secret-Value-123";
    let v = validate_texts(
        Some(&one_client("")),
        None,
        &[("MY_SERVICE_CLIENT_SECRET", secret)],
    )
    .unwrap();
    assert!(!format!("{v:?}").contains(secret));
}

#[test]
fn unknown_field_names_the_field_and_its_line() {
    let text = one_client("      client_secret: oops\n");
    let err = parse_clients_str(Path::new(CLIENTS_PATH), &text).unwrap_err();
    assert_eq!(err.len(), 1);
    let e = &err.0[0];
    assert_eq!(e.line, Some(5));
    assert_eq!(e.entry.as_deref(), Some("client \"my-service\""));
    let l = err.to_string();
    assert!(
        l.starts_with("seed/clients.yaml:5: client \"my-service\": "),
        "{l}"
    );
    assert!(l.contains("unknown field `client_secret`"), "{l}");
    assert!(!l.contains("oops"));

    let err = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - id: svc\n    role: [USER]\n",
    )
    .unwrap_err();
    let l = err.to_string();
    assert!(
        l.starts_with("seed/service-accounts.yaml:3: service account \"svc\": "),
        "{l}"
    );
    assert!(l.contains("unknown field `role`"), "{l}");

    let err = parse_clients_str(Path::new(CLIENTS_PATH), "client:\n  public: []\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("seed/clients.yaml:1: unknown field `client`"),
        "{err}"
    );
}

#[test]
fn type_errors_name_line_entry_and_field() {
    let err = parse_clients_str(
        Path::new(CLIENTS_PATH),
        &one_client("      access_token_ttl_minutes: an hour\n"),
    )
    .unwrap_err();
    let l = err.to_string();
    assert!(
        l.starts_with("seed/clients.yaml:5: client \"my-service\": field `access_token_ttl_minutes`: invalid type"),
        "{l}"
    );
    let err = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - id: svc\n    attributes: [a, b]\n",
    )
    .unwrap_err();
    let l = err.to_string();
    assert!(
        l.starts_with(
            "seed/service-accounts.yaml:3: service account \"svc\": field `attributes`: "
        ),
        "{l}"
    );
    assert!(l.contains("expected a map"), "{l}");
}

#[test]
fn missing_required_fields_are_named() {
    let err = parse_clients_str(
        Path::new(CLIENTS_PATH),
        "clients:\n  confidential:\n    - client_id: x\n",
    )
    .unwrap_err();
    let l = err.to_string();
    assert!(l.starts_with("seed/clients.yaml:3: client \"x\": "), "{l}");
    assert!(
        l.contains("missing field `client_secret_env_var_name`"),
        "{l}"
    );
    let err = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - name: no-id\n",
    )
    .unwrap_err();
    let l = err.to_string();
    assert!(l.starts_with("seed/service-accounts.yaml:2: "), "{l}");
    assert!(l.contains("missing field `id`"), "{l}");
}

#[test]
fn bad_yaml_names_the_line() {
    let text = "clients:\n  confidential:\n    - client_id: a\n     client_name: misaligned\n";
    let err = parse_clients_str(Path::new(CLIENTS_PATH), text).unwrap_err();
    assert_eq!(err.0[0].line, Some(4), "{err:?}");
    assert!(
        err.to_string().starts_with("seed/clients.yaml:4: "),
        "{err}"
    );
    let err = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - id: [unclosed\n",
    )
    .unwrap_err();
    assert!(err.0[0].line.is_some(), "{err}");
    assert!(
        err.to_string().starts_with("seed/service-accounts.yaml:"),
        "{err}"
    );
}

#[test]
fn duplicate_client_id_across_public_and_confidential() {
    let text = "\
clients:
  public:
    - client_id: dup
  confidential:
    - client_id: dup
      client_secret_env_var_name: V
";
    let lines = error_lines(Some(text), None, &[("V", GOOD_SECRET)]);
    assert_eq!(
        lines,
        vec![
            "seed/clients.yaml:5: client \"dup\": field `client_id`: duplicate client_id: \"dup\" \
             is already listed at line 3"
        ]
    );
}

#[test]
fn unsupported_authentication_method() {
    let lines = error_lines(
        Some(&one_client(
            "      client_authentication_method: private_key_jwt\n",
        )),
        None,
        ENV_OK,
    );
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(
            "seed/clients.yaml:5: client \"my-service\": field `client_authentication_method`: \"private_key_jwt\""
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("client_secret_basic or client_secret_post"));
}

#[test]
fn token_lifetime_must_be_1_to_1440() {
    for bad in ["0", "1441", "-5"] {
        let lines = error_lines(
            Some(&one_client(&format!(
                "      access_token_ttl_minutes: {bad}\n"
            ))),
            None,
            ENV_OK,
        );
        assert_eq!(
            lines,
            vec![format!(
                "seed/clients.yaml:5: client \"my-service\": field `access_token_ttl_minutes`: \
                 {bad} is out of range: must be 1 to 1440 minutes"
            )]
        );
    }
    for good in ["1", "1440"] {
        let text = one_client(&format!("      access_token_ttl_minutes: {good}\n"));
        assert!(validate_texts(Some(&text), None, ENV_OK).is_ok());
    }
}

#[test]
fn malformed_scope() {
    let lines = error_lines(
        Some(&one_client("      scope: \"read  write\"\n")),
        None,
        ENV_OK,
    );
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("seed/clients.yaml:5: client \"my-service\": field `scope`: "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("empty tokens"));
    let lines = error_lines(
        Some(&one_client("      scope: 'read \"quoted\"'\n")),
        None,
        ENV_OK,
    );
    assert!(
        lines[0].contains("field `scope`") && lines[0].contains("RFC 6749"),
        "{}",
        lines[0]
    );
}

#[test]
fn invalid_client_id() {
    let text = "clients:\n  confidential:\n    - client_id: \"has space\"\n      client_secret_env_var_name: V\n";
    let lines = error_lines(Some(text), None, &[("V", GOOD_SECRET)]);
    assert_eq!(
        lines,
        vec![
            "seed/clients.yaml:3: client \"has space\": field `client_id`: must contain only \
             printable ASCII characters (%x21-7E)"
        ]
    );
}

const LINKED_CLIENTS: &str = "\
clients:
  public:
    - client_id: spa
  confidential:
    - client_id: my-service
      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
";

#[test]
fn unresolvable_names_name_the_account_the_kind_and_the_name() {
    let accounts = "\
serviceAccounts:
  - id: svc
    roles: [USER, NO_SUCH_ROLE]
    permissions: [users.read, no.such.permission]
    groups: [urn:none]
";
    let lines = error_lines(None, Some(accounts), &[]);
    assert_eq!(
        lines,
        vec![
            "seed/service-accounts.yaml:3: service account \"svc\": field `roles`: unknown role \"NO_SUCH_ROLE\"",
            "seed/service-accounts.yaml:4: service account \"svc\": field `permissions`: unknown permission \"no.such.permission\"",
            "seed/service-accounts.yaml:5: service account \"svc\": field `groups`: unknown group \"urn:none\"",
        ]
    );
}

#[test]
fn names_resolve_against_the_files_own_catalogue() {
    let accounts = format!("{}  - id: analyst\n    roles: [ANALYST]\n    groups: [urn:example:groups:ops]\n    permissions: [data.read]\n", crate::parse::REFERENCE_ACCOUNTS);
    let v = validate_texts(
        Some(LINKED_CLIENTS),
        Some(&accounts),
        &[("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET)],
    )
    .unwrap();
    assert_eq!(v.service_accounts().len(), 2);
    assert_eq!(v.catalogue().roles[0].name, "ANALYST");
}

#[test]
fn role_naming_an_unknown_permission() {
    let accounts = "\
permissions:
  - name: data.read
roles:
  - name: ANALYST
    permissions: [data.read, data.write]
";
    let lines = error_lines(None, Some(accounts), &[]);
    assert_eq!(
        lines,
        vec![
            "seed/service-accounts.yaml:5: role \"ANALYST\": field `permissions`: unknown permission \"data.write\""
        ]
    );
}

#[test]
fn duplicate_account_ids_and_catalogue_names() {
    let accounts = "\
groups:
  - name: g
  - name: g
serviceAccounts:
  - id: svc
  - id: svc
";
    let lines = error_lines(None, Some(accounts), &[]);
    assert_eq!(
        lines,
        vec![
            "seed/service-accounts.yaml:3: group \"g\": field `name`: duplicate group: \"g\" is already listed at line 2",
            "seed/service-accounts.yaml:6: service account \"svc\": field `id`: duplicate id: \"svc\" is already listed at line 5",
        ]
    );
}

#[test]
fn client_id_link_to_an_unknown_or_public_client() {
    let accounts = "\
serviceAccounts:
  - id: svc-unknown
    clientId: nobody
  - id: svc-public
    clientId: spa
  - id: svc-ok
    clientId: my-service
";
    let lines = error_lines(
        Some(LINKED_CLIENTS),
        Some(accounts),
        &[("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET)],
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        "seed/service-accounts.yaml:3: service account \"svc-unknown\": field `clientId`: \
         client \"nobody\" is not a confidential client in the clients file or the database"
    );
    assert!(
        lines[1].starts_with(
            "seed/service-accounts.yaml:5: service account \"svc-public\": field `clientId`: client \"spa\" is a public client"
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn two_accounts_claiming_one_client() {
    let accounts = "\
serviceAccounts:
  - id: first
    clientId: my-service
  - id: second
    clientId: my-service
";
    let lines = error_lines(
        Some(LINKED_CLIENTS),
        Some(accounts),
        &[("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET)],
    );
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(
            "seed/service-accounts.yaml:5: service account \"second\": field `clientId`: client \"my-service\" is already claimed by service account \"first\""
        ),
        "{}",
        lines[0]
    );
}

#[test]
fn several_problems_are_reported_together_in_file_order() {
    let clients = "\
clients:
  public:
    - client_id: spa
      scope: \"a  b\"
  confidential:
    - client_id: one
      client_secret_env_var_name: ONE_SECRET
      access_token_ttl_minutes: 0
    - client_id: two
      client_secret_env_var_name: TWO_SECRET
      client_authentication_method: none
";
    let accounts = "\
serviceAccounts:
  - id: svc
    clientId: one
    roles: [NOPE]
";
    let errs = crate::support::validate_texts(
        Some(clients),
        Some(accounts),
        &[("TWO_SECRET", GOOD_SECRET)],
    )
    .unwrap_err();
    let got: Vec<_> = errs
        .iter()
        .map(|e| (e.line, e.entry.clone().unwrap(), e.field.clone().unwrap()))
        .collect();
    let want = vec![
        (Some(4), "client \"spa\"", "scope"),
        (Some(8), "client \"one\"", "access_token_ttl_minutes"),
        (Some(7), "client \"one\"", "client_secret_env_var_name"),
        (Some(11), "client \"two\"", "client_authentication_method"),
        (Some(4), "service account \"svc\"", "roles"),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(l, e, f)| (l, e.to_string(), f.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(errs.to_string().lines().count(), 5);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = parse(&SeedSources {
        clients: Some(missing.clone()),
        service_accounts: None,
    })
    .unwrap_err();
    assert_eq!(err.0[0].file, missing);
    assert!(
        err.to_string()
            .contains("nope.yaml: cannot read the seed file"),
        "{err}"
    );
}

#[test]
fn check_validates_both_example_files_from_disk() {
    let src = SeedSources {
        clients: Some(examples_dir().join("clients.yaml")),
        service_accounts: Some(examples_dir().join("service-accounts.yaml")),
    };
    let env = env_of(&[
        ("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET),
        ("ADMIN_CLI_CLIENT_SECRET", GOOD_SECRET),
    ]);
    let summary = check(&src, &env, &rules()).unwrap();
    assert_eq!(summary.confidential_clients, 2);
    assert_eq!(summary.public_clients, 0);
    assert_eq!(summary.service_accounts, 2);
    assert_eq!(summary.skipped_clients, 0);
    // Without the variables, check names both.
    let err = check(&src, &env_of(&[]), &rules()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("MY_SERVICE_CLIENT_SECRET is not set"),
        "{text}"
    );
    assert!(
        text.contains("ADMIN_CLI_CLIENT_SECRET is not set"),
        "{text}"
    );
    // With no files configured there is nothing to seed.
    assert_eq!(
        check(&SeedSources::default(), &env_of(&[]), &rules()).unwrap(),
        Default::default()
    );
}

#[test]
fn check_reports_a_syntax_error_in_one_file_and_semantic_errors_in_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clients = write(dir.path(), "clients.yaml", "clients:\n  confidential:\n    - client_id: a\n      client_secret_env_var_name: A\n      colour: blue\n");
    let accounts = write(
        dir.path(),
        "accounts.yaml",
        "serviceAccounts:\n  - id: svc\n    roles: [GHOST]\n    clientId: a\n",
    );
    let err = check(
        &SeedSources {
            clients: Some(clients),
            service_accounts: Some(accounts),
        },
        &env_of(&[]),
        &rules(),
    )
    .unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("clients.yaml:5: client \"a\": unknown field `colour`"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(
            "accounts.yaml:3: service account \"svc\": field `roles`: unknown role \"GHOST\""
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn a_large_file_with_many_faults_reports_every_one() {
    let mut text = String::from("clients:\n  confidential:\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "    - client_id: client-{i}\n      client_secret_env_var_name: SECRET_{i}\n"
        ));
    }
    let errs = validate_texts(Some(&text), None, &[]).unwrap_err();
    assert_eq!(errs.len(), 1000);
    for (i, e) in errs.iter().enumerate() {
        assert_eq!(
            e.entry.as_deref(),
            Some(format!("client \"client-{i}\"").as_str())
        );
        assert!(
            e.message.ends_with(&format!("SECRET_{i} is not set")),
            "{e}"
        );
    }
    // Lines are located for the first faults at least (re-reading a large
    // file for every fault has a budget).
    assert_eq!(errs.0[0].line, Some(4));
    assert_eq!(errs.0[1].line, Some(6));
}

/// The admin API refuses a service-account id with a space; the seed used
/// to store one, which the API could then neither create nor recreate.
#[test]
fn account_ids_follow_the_admin_api_rule() {
    let accounts = "\
serviceAccounts:
  - id: svc ok
  - id: \"caf\u{e9}\"
  - id: svc-ok
";
    let lines = error_lines(None, Some(accounts), &[]);
    assert_eq!(
        lines,
        vec![
            "seed/service-accounts.yaml:2: service account \"svc ok\": field `id`: must contain \
             only printable ASCII characters (%x21-7E)",
            "seed/service-accounts.yaml:3: service account \"caf\u{e9}\": field `id`: must \
             contain only printable ASCII characters (%x21-7E)",
        ]
    );
}

/// Client names follow the admin API's rule too.
#[test]
fn client_names_follow_the_admin_api_rule() {
    let blank = one_client("      client_name: \"  \"\n");
    let lines = error_lines(Some(&blank), None, ENV_OK);
    assert_eq!(
        lines,
        vec![
            "seed/clients.yaml:5: client \"my-service\": field `client_name`: must be 1-255 \
             characters, not blank, without control characters"
        ]
    );
    let public = "clients:\n  public:\n    - client_id: spa\n      client_name: \"a\\tb\"\n";
    let lines = error_lines(Some(public), None, &[]);
    assert_eq!(
        lines,
        vec![
            "seed/clients.yaml:4: client \"spa\": field `client_name`: must be 1-255 \
             characters, not blank, without control characters"
        ]
    );
}
