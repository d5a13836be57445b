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
        name in proptest::option::of("[ -~]{0,30}"),
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
