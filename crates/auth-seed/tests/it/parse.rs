//! Parsing: the examples, the snippets of docs/reference/seed-files.md, defaults, public entries.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use auth_domain::{ClientAuthMethod, ClientType, ServiceAccount};
use auth_seed::{parse_clients_str, parse_service_accounts_str, ConfidentialClientSeed};
use serde_json::json;

use crate::support::*;

const REFERENCE_CLIENTS: &str = "\
clients:
  public: []
  confidential:
    - client_id: my-service
      client_name: My Service
      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
      client_authentication_method: client_secret_post
      access_token_ttl_minutes: 60
      scope: read
";

pub const REFERENCE_ACCOUNTS: &str = "\
permissions:            # optional: extends the built-in catalogue
  - name: data.read
    description: Read datasets
roles:                  # optional
  - name: ANALYST
    permissions: [data.read]
groups:                 # optional
  - name: urn:example:groups:ops
serviceAccounts:
  - id: svc-my-service
    name: svc-my-service
    description: Service account for My Service
    active: true
    clientId: my-service
    roles: [\"USER\"]
    permissions: []
    groups: []
    attributes: {}
";

fn my_service() -> ConfidentialClientSeed {
    ConfidentialClientSeed {
        client_id: "my-service".into(),
        client_secret_env_var_name: "MY_SERVICE_CLIENT_SECRET".into(),
        client_name: "My Service".into(),
        client_authentication_method: "client_secret_post".into(),
        access_token_ttl_minutes: 60,
        scope: Some("read".into()),
    }
}

#[test]
fn spec_clients_snippet_parses_field_by_field() {
    let f = parse_clients_str(Path::new(CLIENTS_PATH), REFERENCE_CLIENTS).unwrap();
    assert!(f.public.is_empty());
    assert_eq!(f.confidential, vec![my_service()]);
}

#[test]
fn spec_accounts_snippet_parses_catalogue_and_account() {
    let f = parse_service_accounts_str(Path::new(ACCOUNTS_PATH), REFERENCE_ACCOUNTS).unwrap();
    assert_eq!(f.catalogue.permissions.len(), 1);
    assert_eq!(f.catalogue.permissions[0].name, "data.read");
    assert_eq!(f.catalogue.permissions[0].description, "Read datasets");
    assert_eq!(f.catalogue.roles[0].name, "ANALYST");
    assert_eq!(f.catalogue.roles[0].permissions, vec!["data.read"]);
    assert_eq!(f.catalogue.roles[0].description, "");
    assert_eq!(f.catalogue.groups[0].name, "urn:example:groups:ops");
    let a = &f.service_accounts[0];
    assert_eq!(a.client_id.as_deref(), Some("my-service"));
    assert_eq!(
        a.account,
        ServiceAccount {
            description: "Service account for My Service".into(),
            roles: vec!["USER".into()],
            ..ServiceAccount::new("svc-my-service")
        }
    );
}

#[test]
fn example_clients_file_holds_the_documented_client_and_the_admin_client() {
    let f =
        parse_clients_str(Path::new("examples/clients.yaml"), &example("clients.yaml")).unwrap();
    assert!(f.public.is_empty());
    assert_eq!(f.confidential.len(), 2);
    assert_eq!(f.confidential[0], my_service());
    let admin = &f.confidential[1];
    assert_eq!(admin.client_id, "admin-cli");
    assert_eq!(admin.client_secret_env_var_name, "ADMIN_CLI_CLIENT_SECRET");
    assert_eq!(admin.client_authentication_method, "client_secret_basic");
    assert_eq!(admin.access_token_ttl_minutes, 30);
    assert_eq!(admin.scope, None);
}

#[test]
fn example_accounts_file_links_user_and_admin_accounts() {
    let f = parse_service_accounts_str(
        Path::new("examples/service-accounts.yaml"),
        &example("service-accounts.yaml"),
    )
    .unwrap();
    assert_eq!(f.catalogue, Default::default());
    let [user, admin] = &f.service_accounts[..] else {
        panic!("expected two accounts, got {:?}", f.service_accounts)
    };
    assert_eq!(user.account.id, "svc-my-service");
    assert_eq!(user.account.roles, vec!["USER"]);
    assert_eq!(user.client_id.as_deref(), Some("my-service"));
    assert_eq!(admin.account.id, "svc-admin");
    assert_eq!(admin.account.name, "svc-admin");
    assert!(admin.account.active);
    assert_eq!(admin.account.roles, vec!["ADMIN_SYSTEM"]);
    assert_eq!(admin.client_id.as_deref(), Some("admin-cli"));
}

#[test]
fn both_examples_validate_together_with_their_variables_set() {
    let v = validate_texts(
        Some(&example("clients.yaml")),
        Some(&example("service-accounts.yaml")),
        &[
            ("MY_SERVICE_CLIENT_SECRET", GOOD_SECRET),
            ("ADMIN_CLI_CLIENT_SECRET", "another-secret-of-length"),
        ],
    )
    .unwrap();
    let links: Vec<_> = v
        .service_accounts()
        .iter()
        .map(|(a, c)| (a.id.as_str(), c.as_ref().map(|c| c.as_str())))
        .collect();
    assert_eq!(
        links,
        vec![
            ("svc-my-service", Some("my-service")),
            ("svc-admin", Some("admin-cli"))
        ]
    );
}

#[test]
fn confidential_defaults_are_applied() {
    let f = parse_clients_str(
        Path::new(CLIENTS_PATH),
        "clients:\n  confidential:\n    - client_id: bare\n      client_secret_env_var_name: BARE\n",
    )
    .unwrap();
    assert_eq!(
        f.confidential[0],
        ConfidentialClientSeed {
            client_id: "bare".into(),
            client_secret_env_var_name: "BARE".into(),
            client_name: "Confidential Client: bare".into(),
            client_authentication_method: "client_secret_basic".into(),
            access_token_ttl_minutes: 30,
            scope: None,
        }
    );
    // And validation turns them into the domain's defaults.
    let v = validate_texts(
        Some("clients:\n  confidential:\n    - client_id: bare\n      client_secret_env_var_name: BARE\n"),
        None,
        &[("BARE", GOOD_SECRET)],
    )
    .unwrap();
    let plan = v
        .into_plan(
            &auth_domain::BcryptHasher::new(4).unwrap(),
            time::OffsetDateTime::now_utc(),
            "t",
        )
        .unwrap();
    let s = &plan.clients[0].settings;
    assert_eq!(s.client_name, "Confidential Client: bare");
    assert_eq!(s.auth_method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(s.access_token_ttl_minutes, 30);
    assert!(s.scope.is_empty());
}

#[test]
fn account_defaults_are_applied() {
    let f = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - id: only-id\n",
    )
    .unwrap();
    assert_eq!(
        f.service_accounts[0].account,
        ServiceAccount::new("only-id")
    );
    assert_eq!(f.service_accounts[0].account.name, "only-id");
    assert_eq!(f.service_accounts[0].client_id, None);
}

#[test]
fn attributes_keep_nested_values() {
    let f = parse_service_accounts_str(
        Path::new(ACCOUNTS_PATH),
        "serviceAccounts:\n  - id: a\n    attributes:\n      team: ops\n      level: 3\n      tags: [x, y]\n      nested: {on: true}\n",
    )
    .unwrap();
    let attrs = serde_json::Value::Object(f.service_accounts[0].account.attributes.clone());
    assert_eq!(
        attrs,
        json!({"team": "ops", "level": 3, "tags": ["x", "y"], "nested": {"on": true}})
    );
}

#[test]
fn empty_files_and_empty_sections_are_fine() {
    for text in [
        "",
        "# nothing here\n",
        "clients:\n",
        "clients: {}\n",
        "clients:\n  public: []\n  confidential: []\n",
    ] {
        let f = parse_clients_str(Path::new(CLIENTS_PATH), text).unwrap();
        assert!(f.public.is_empty() && f.confidential.is_empty(), "{text:?}");
    }
    for text in ["", "serviceAccounts: []\n", "{}\n"] {
        let f = parse_service_accounts_str(Path::new(ACCOUNTS_PATH), text).unwrap();
        assert!(f.service_accounts.is_empty(), "{text:?}");
    }
}

#[test]
fn numeric_looking_client_ids_are_read_as_text() {
    let f = parse_clients_str(
        Path::new(CLIENTS_PATH),
        "clients:\n  confidential:\n    - client_id: 12345\n      client_secret_env_var_name: V\n",
    )
    .unwrap();
    assert_eq!(f.confidential[0].client_id, "12345");
}

/// Collects every event's level and fields as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn public_entries_are_stored_with_unknown_fields_ignored_and_warned_about() {
    let text = "\
clients:
  public:
    - client_id: spa
      client_name: Single Page App
      redirect_uris: [https://app.example/cb]
      post_logout_redirect_uris: [https://app.example/]
      scope: openid profile
      require_pkce: true
      client_authentication_method: none
    - client_id: bare-public
";
    let capture = Capture::default();
    let f = tracing::subscriber::with_default(capture.clone(), || {
        parse_clients_str(Path::new(CLIENTS_PATH), text).unwrap()
    });
    let spa = &f.public[0];
    assert_eq!(spa.client_id, "spa");
    assert_eq!(spa.client_name.as_deref(), Some("Single Page App"));
    assert_eq!(spa.redirect_uris, vec!["https://app.example/cb"]);
    assert_eq!(spa.post_logout_redirect_uris, vec!["https://app.example/"]);
    assert_eq!(spa.scope.as_deref(), Some("openid profile"));
    assert_eq!(
        spa.ignored_fields,
        vec!["require_pkce", "client_authentication_method"]
    );
    assert!(f.public[1].ignored_fields.is_empty());

    let events = capture.0.lock().unwrap().clone();
    let warnings: Vec<_> = events.iter().filter(|e| e.starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{events:?}");
    assert!(warnings[0].contains("require_pkce"), "{}", warnings[0]);
    assert!(warnings[0].contains("client_authentication_method"));
    assert!(warnings[0].contains("spa"));

    // Validation stores them as public clients with the file's settings.
    let v = validate_texts(Some(text), None, &[]).unwrap();
    let types: Vec<_> = v
        .clients_to_create()
        .map(|(id, t)| (id.to_string(), t))
        .collect();
    assert_eq!(
        types,
        vec![
            ("spa".to_string(), ClientType::Public),
            ("bare-public".to_string(), ClientType::Public)
        ]
    );
    let plan = v
        .into_plan(
            &auth_domain::BcryptHasher::new(4).unwrap(),
            time::OffsetDateTime::now_utc(),
            "t",
        )
        .unwrap();
    assert_eq!(
        plan.clients[0].redirect_uris,
        vec!["https://app.example/cb"]
    );
    assert_eq!(plan.clients[0].settings.scope.to_string(), "openid profile");
    assert_eq!(plan.clients[0].secrets, Default::default());
    assert_eq!(
        plan.clients[1].settings.client_name,
        "Public Client: bare-public"
    );
}

#[test]
fn a_public_entry_still_rejects_a_known_field_of_the_wrong_type() {
    let err = parse_clients_str(
        Path::new(CLIENTS_PATH),
        "clients:\n  public:\n    - client_id: spa\n      redirect_uris: 5\n",
    )
    .unwrap_err();
    let line = err.to_string();
    assert!(
        line.starts_with("seed/clients.yaml:4: client \"spa\": field `redirect_uris`: "),
        "{line}"
    );
    assert!(line.contains("invalid type"), "{line}");
}
