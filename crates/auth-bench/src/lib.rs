//! Fixtures for auth-server's criterion benchmarks (issue 6): a loaded
//! signing key ring per algorithm and the claims of a typical token for the
//! raw signing figures, and a fully started application state (SQLite in a
//! temporary directory, migrations, signing key, a seeded client) for the
//! in-process token handler. Nothing here is a test or ships in the server;
//! the benchmarks under `benches/` are its only users, and CI never runs
//! them. Fixture failures are returned as messages for the bench to report.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web;
use auth_domain::{
    BcryptHasher, Client, ClientId, ClientSettings, ClientType, NewClient, ScopeSet, SecretSlots,
    StoredSigningKey,
};
use auth_http::AppState;
use auth_server::{config, startup};
use auth_token::{generate_key, AccessTokenClaims, KeyEncryption, KeyRing, SigningAlg};

/// The client the handler benchmarks authenticate as (client_secret_post).
pub const CLIENT_ID: &str = "bench-client";
/// A client linked to a service account with roles, groups and attributes,
/// so its tokens need the account read and the catalogue.
pub const LINKED_CLIENT_ID: &str = "bench-linked";
pub const CLIENT_SECRET: &str = "bench-secret-0123456789abcdefghij";

/// A key ring holding one fresh active key of `alg`, unencrypted.
pub fn key_ring(alg: SigningAlg) -> Result<KeyRing, String> {
    let enc = KeyEncryption::new(None).map_err(|e| e.to_string())?;
    let now = auth_domain::now_ms();
    let key = generate_key(alg, now, &enc).map_err(|e| e.to_string())?;
    let stored = StoredSigningKey::from(key);
    KeyRing::load(&[stored], &enc, now, time::Duration::minutes(1440)).map_err(|e| e.to_string())
}

/// The claims of a typical token: an unlinked client granted one scope.
pub fn typical_claims() -> Result<AccessTokenClaims, String> {
    let id = ClientId::parse(CLIENT_ID).map_err(|e| e.to_string())?;
    let now = auth_domain::now_ms();
    let scope = ScopeSet::parse("read").map_err(|e| e.to_string())?;
    let client: Client = NewClient {
        settings: ClientSettings {
            scope: scope.clone(),
            ..ClientSettings::defaults_for(&id)
        },
        id,
        client_type: ClientType::Confidential,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        created_at: now,
        secrets: SecretSlots::default(),
    }
    .into_client();
    AccessTokenClaims::build("https://auth.example", &client, &scope, None, now)
        .map_err(|e| e.to_string())
}

/// A BCrypt hash of [`CLIENT_SECRET`] at `cost`.
pub fn hash_at(cost: u32) -> Result<auth_domain::SecretHash, String> {
    use auth_domain::SecretHasher as _;
    BcryptHasher::new(cost)
        .and_then(|h| h.hash(&auth_domain::Secret::new(CLIENT_SECRET)))
        .map_err(|e| e.to_string())
}

const CLIENTS_YAML: &str = r#"
clients:
  confidential:
    - client_id: bench-client
      client_secret_env_var_name: BENCH_CLIENT_SECRET
      client_authentication_method: client_secret_post
      scope: read
    - client_id: bench-linked
      client_secret_env_var_name: BENCH_CLIENT_SECRET
      client_authentication_method: client_secret_post
      scope: read
"#;

const ACCOUNTS_YAML: &str = r#"
serviceAccounts:
  - id: svc-bench
    clientId: bench-linked
    roles: ["USER"]
    permissions: ["users.read"]
    attributes: {team: platform}
"#;

/// What the token handler benchmark needs.
#[derive(Debug, Clone, Copy)]
pub struct HandlerSetup {
    pub alg: SigningAlg,
    pub bcrypt_cost: u32,
    /// `false` disables the verified-secret cache, so every request pays
    /// for one BCrypt verification (the cold path).
    pub cache: bool,
}

/// A started application state: migrated SQLite database, an active key
/// of `alg`, the bench clients seeded, ready. Keep it alive as long as the
/// state is used: dropping it deletes the database.
pub struct StartedState {
    pub state: web::Data<AppState>,
    _dir: tempfile::TempDir,
}

impl StartedState {
    pub fn start(setup: HandlerSetup) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let clients = dir.path().join("clients.yaml");
        let accounts = dir.path().join("service-accounts.yaml");
        std::fs::write(&clients, CLIENTS_YAML).map_err(|e| e.to_string())?;
        std::fs::write(&accounts, ACCOUNTS_YAML).map_err(|e| e.to_string())?;
        let settings: BTreeMap<String, String> = [
            (
                "APP_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("auth.db").display()),
            ),
            ("APP_BCRYPT_COST", setup.bcrypt_cost.to_string()),
            ("APP_SIGNING_ALG", setup.alg.as_str().to_owned()),
            ("APP_SEED_CLIENTS_FILE", clients.display().to_string()),
            (
                "APP_SEED_SERVICE_ACCOUNTS_FILE",
                accounts.display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = config::load(None, &settings).map_err(|e| e.to_string())?;
        let store = startup::open_store(&config).map_err(|e| e.to_string())?;
        let hasher = BcryptHasher::new(config.bcrypt_cost).map_err(|e| e.to_string())?;
        let repos = startup::repos(&store);
        let http = startup::http_config(&config).map_err(|e| e.to_string())?;
        let mut auth = http.auth_config();
        if !setup.cache {
            auth.secret_cache_capacity = 0;
        }
        let state = AppState::with_auth_config(
            http,
            auth,
            repos,
            Arc::new(hasher),
            startup::key_encryption(&config).map_err(|e| e.to_string())?,
        );
        let env: startup::EnvLookup = Arc::new(|name: &str| {
            (name == "BENCH_CLIENT_SECRET").then(|| CLIENT_SECRET.to_owned())
        });
        startup::bootstrap(&state, &store, &config, &env).map_err(|e| e.to_string())?;
        Ok(Self {
            state: web::Data::new(state),
            _dir: dir,
        })
    }
}

/// The body of a client_secret_post token request for `client_id`.
pub fn token_form(client_id: &str) -> String {
    format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={CLIENT_SECRET}&scope=read"
    )
}
