//! Property tests: parsing never panics, and valid entries round-trip.

use std::path::Path;

use auth_domain::ClientAuthMethod;
use auth_seed::{parse_clients_str, parse_service_accounts_str};
use proptest::prelude::*;

use crate::support::*;

/// Text made of YAML's structural characters and a few words, so that the
/// parsers get past the first byte far more often than with random text.
fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "clients:",
        "public:",
        "confidential:",
        "serviceAccounts:",
        "roles:",
        "permissions:",
        "groups:",
        "- ",
        "client_id: ",
        "id: ",
        "name: ",
        "scope: ",
        "clientId: ",
        "attributes: ",
        "access_token_ttl_minutes: ",
        "client_secret_env_var_name: ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\n",
        "  ",
        "    ",
        "\"",
        "'",
        "&a ",
        "*a",
        "!t ",
        "<<: ",
        "~",
        "0",
        "-1",
        "1e9",
        "x",
        "#",
        "---\n",
        "? ",
        ": ",
        "|\n",
        "é",
        "\t",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_clients_str(Path::new("c.yaml"), &text);
        let _ = parse_service_accounts_str(Path::new("s.yaml"), &text);
    }

    #[test]
    fn parsing_and_validating_yaml_like_text_never_panics(text in yamlish()) {
        let c = parse_clients_str(Path::new("c.yaml"), &text);
        let s = parse_service_accounts_str(Path::new("s.yaml"), &text);
        for e in c.as_ref().err().into_iter().chain(s.as_ref().err()) {
            // Every error renders, names its file, and is one line per error.
            let shown = e.to_string();
            prop_assert_eq!(shown.lines().count(), e.len());
        }
        if let (Ok(c), Ok(s)) = (c, s) {
            let _ = auth_seed::validate(
                &auth_seed::ParsedSeed { clients: Some(c), service_accounts: Some(s) },
                &|_| Some(GOOD_SECRET.to_owned()),
                &rules(),
                &auth_domain::Catalogue::builtin(),
                &no_existing,
            );
        }
    }

    #[test]
    fn a_valid_client_entry_round_trips(
        id in "[!-~]{1,40}",
        // A written name must not be blank (the rule the admin API applies).
        name in proptest::option::of("[!-~][ -~]{0,29}"),
        var in "[A-Z][A-Z0-9_]{0,20}",
        post in proptest::option::of(any::<bool>()),
        ttl in proptest::option::of(1u32..=1440),
        scope in proptest::option::of(prop::collection::vec("[a-z][a-z0-9.:_-]{0,10}", 1..4)),
        secret in "[ -~]{16,72}",
    ) {
        // JSON strings are YAML double-quoted scalars, so any id survives quoting.
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut text = format!(
            "clients:\n  confidential:\n    - client_id: {}\n      client_secret_env_var_name: {}\n",
            q(&id),
            q(&var)
        );
        if let Some(n) = &name {
            text.push_str(&format!("      client_name: {}\n", q(n)));
        }
        let method = post.map(|p| if p { ClientAuthMethod::ClientSecretPost } else { ClientAuthMethod::ClientSecretBasic });
        if let Some(m) = method {
            text.push_str(&format!("      client_authentication_method: {}\n", m.as_str()));
        }
        if let Some(t) = ttl {
            text.push_str(&format!("      access_token_ttl_minutes: {t}\n"));
        }
        let scope = scope.map(|s| s.join(" "));
        if let Some(s) = &scope {
            text.push_str(&format!("      scope: {}\n", q(s)));
        }

        let f = parse_clients_str(Path::new("c.yaml"), &text).unwrap();
        let c = &f.confidential[0];
        prop_assert_eq!(&c.client_id, &id);
        prop_assert_eq!(&c.client_secret_env_var_name, &var);
        let want_name = name.clone().unwrap_or_else(|| format!("Confidential Client: {id}"));
        prop_assert_eq!(&c.client_name, &want_name);
        prop_assert_eq!(&c.scope, &scope);

        let v = validate_texts(Some(&text), None, &[(var.as_str(), secret.as_str())]).unwrap();
        let created: Vec<_> = v.clients_to_create().map(|(i, _)| i.to_string()).collect();
        prop_assert_eq!(created, vec![id.clone()]);
        let plan = v
            .into_plan(&auth_domain::BcryptHasher::new(4).unwrap(), time::OffsetDateTime::UNIX_EPOCH, "t")
            .unwrap();
        let s = &plan.clients[0].settings;
        prop_assert_eq!(&s.client_name, &want_name);
        prop_assert_eq!(s.auth_method, method.unwrap_or_default());
        prop_assert_eq!(s.access_token_ttl_minutes, ttl.unwrap_or(30));
        let want_scope = auth_domain::ScopeSet::parse(scope.as_deref().unwrap_or("")).unwrap();
        prop_assert_eq!(&s.scope, &want_scope);
    }
}

fn attribute_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        "[ -~]{0,20}".prop_map(serde_json::Value::from),
        any::<i32>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        prop::collection::vec("[a-z]{1,8}", 0..3).prop_map(serde_json::Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_valid_service_account_entry_round_trips(
        id in "[!-~][ -~]{0,40}",
        // A written name must not be blank (the rule the admin API applies).
        name in proptest::option::of("[!-~][ -~]{0,29}"),
        description in proptest::option::of("[ -~]{0,30}"),
        active in proptest::option::of(any::<bool>()),
        client_id in proptest::option::of("[!-~]{1,20}"),
        roles in proptest::option::of(prop::collection::vec("[A-Z_]{1,10}", 0..3)),
        permissions in proptest::option::of(prop::collection::vec("[a-z.]{1,10}", 0..3)),
        groups in proptest::option::of(prop::collection::vec("urn:[a-z:]{1,10}", 0..3)),
        attributes in proptest::option::of(prop::collection::btree_map("[a-zA-Z_]{1,10}", attribute_value(), 0..4)),
    ) {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let list = |v: &Vec<String>| serde_json::to_string(v).unwrap();
        let mut text = format!("serviceAccounts:\n  - id: {}\n", q(&id));
        if let Some(n) = &name {
            text.push_str(&format!("    name: {}\n", q(n)));
        }
        if let Some(d) = &description {
            text.push_str(&format!("    description: {}\n", q(d)));
        }
        if let Some(a) = active {
            text.push_str(&format!("    active: {a}\n"));
        }
        if let Some(c) = &client_id {
            text.push_str(&format!("    clientId: {}\n", q(c)));
        }
        for (key, value) in [("roles", &roles), ("permissions", &permissions), ("groups", &groups)] {
            if let Some(v) = value {
                text.push_str(&format!("    {key}: {}\n", list(v)));
            }
        }
        let attributes: Option<serde_json::Map<String, serde_json::Value>> =
            attributes.map(|a| a.into_iter().collect());
        if let Some(a) = &attributes {
            text.push_str(&format!("    attributes: {}\n", serde_json::to_string(a).unwrap()));
        }

        let file = parse_service_accounts_str(Path::new("s.yaml"), &text).unwrap();
        prop_assert_eq!(file.service_accounts.len(), 1);
        let seed = &file.service_accounts[0];
        let a = &seed.account;
        prop_assert_eq!(&a.id, &id);
        prop_assert_eq!(&a.name, name.as_ref().unwrap_or(&id));
        prop_assert_eq!(&a.description, &description.unwrap_or_default());
        prop_assert_eq!(a.active, active.unwrap_or(true));
        prop_assert_eq!(&seed.client_id, &client_id);
        prop_assert_eq!(&a.roles, &roles.unwrap_or_default());
        prop_assert_eq!(&a.permissions, &permissions.unwrap_or_default());
        prop_assert_eq!(&a.groups, &groups.unwrap_or_default());
        prop_assert_eq!(&a.attributes, &attributes.unwrap_or_default());
    }

    #[test]
    fn an_unknown_service_account_field_is_an_error_naming_it(field in "[a-z][a-zA-Z]{2,12}") {
        let known = ["id", "name", "description", "active", "clientId", "roles", "permissions", "groups", "attributes"];
        prop_assume!(!known.contains(&field.as_str()));
        let text = format!("serviceAccounts:\n  - id: svc\n    {field}: x\n");
        let errors = parse_service_accounts_str(Path::new("s.yaml"), &text).unwrap_err();
        let shown = errors.to_string();
        prop_assert!(shown.contains(&field), "{}", shown);
        prop_assert!(shown.contains("s.yaml"), "{}", shown);
    }
}
