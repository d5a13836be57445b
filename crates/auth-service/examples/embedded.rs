//! Embedding the auth-server's use cases in another Rust service, without
//! HTTP: open a SQLite store, apply seed files, authenticate a client by id
//! and secret, issue a token and verify it, rotate the secret and show that
//! the previous one still works inside its grace window.
//!
//! Run it with `cargo run -p auth-service --example embedded`.

use std::error::Error;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use auth_domain::{BcryptHasher, ClientAuthMethod, Secret, SecretPolicy, SigningKeyRepository};
use auth_seed::{SeedRules, SeedSources};
use auth_service::admin::{Admin, Caller};
use auth_service::{AuthConfig, AuthService, Credentials, NoObserver, Repos, TokenRequest};
use auth_store::{Store, StoreConfig};
use auth_token::{generate_key, KeyEncryption, SigningAlg};

const CLIENTS_YAML: &str = "\
clients:
  confidential:
    - client_id: reports
      client_secret_env_var_name: REPORTS_CLIENT_SECRET
      client_authentication_method: client_secret_basic
      scope: reports.read
";

const SERVICE_ACCOUNTS_YAML: &str = "\
permissions:
  - name: reports.read
    description: Read reports
roles:
  - name: REPORTER
    permissions: [reports.read]
serviceAccounts:
  - id: svc-reports
    clientId: reports
    roles: [REPORTER]
";

/// The seeded secret, as the environment variable the seed file names
/// would hold it.
const FIRST_SECRET: &str = "first-secret-of-the-reports-client";

const ISSUER: &str = "https://auth.example.internal";

fn main() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(run(dir.path(), 10, &mut std::io::stdout()))
}

/// Every step, reported to `out`, with secrets hashed at `bcrypt_cost`.
pub async fn run(dir: &Path, bcrypt_cost: u32, out: &mut dyn Write) -> Result<(), Box<dyn Error>> {
    // 1. A SQLite store in `dir`, migrated, with a signing key.
    let store = Store::open(&StoreConfig {
        url: format!("sqlite://{}", dir.join("auth.db").display()),
        pool_size: 4,
        pool_timeout: Duration::from_secs(5),
    })?;
    store.migrate()?;
    let encryption = KeyEncryption::new(None)?;
    let key = store.ensure_active(SigningAlg::Es256.as_str(), &mut || {
        generate_key(SigningAlg::Es256, auth_domain::now_ms(), &encryption)
            .map_err(|e| e.to_string())
    })?;
    writeln!(
        out,
        "store opened; active signing key {} ({})",
        key.kid, key.alg
    )?;

    // 2. Seed files: one confidential client linked to a service account.
    let clients = dir.join("clients.yaml");
    let accounts = dir.join("service-accounts.yaml");
    std::fs::write(&clients, CLIENTS_YAML)?;
    std::fs::write(&accounts, SERVICE_ACCOUNTS_YAML)?;
    let hasher = Arc::new(BcryptHasher::new(bcrypt_cost)?);
    let env = |name: &str| (name == "REPORTS_CLIENT_SECRET").then(|| FIRST_SECRET.to_owned());
    let policy = SecretPolicy::default();
    let seeded = auth_seed::apply(
        &store,
        &SeedSources {
            clients: Some(clients),
            service_accounts: Some(accounts),
        },
        &env,
        &SeedRules {
            min_secret_len: 16,
            policy,
        },
        hasher.as_ref(),
        auth_domain::now_ms(),
    )
    .map_err(|e| e.to_string())?;
    writeln!(
        out,
        "seeded clients {:?} and service accounts {:?}",
        seeded.created_clients, seeded.created_accounts
    )?;

    // 3. The service over the store's ports.
    let service = Arc::new(AuthService::new(
        AuthConfig {
            issuer: Some(ISSUER.to_owned()),
            ..AuthConfig::default()
        },
        Repos::from_store(store.clone(), Arc::new(|| (4, 4))),
        hasher.clone(),
        encryption,
        Arc::new(NoObserver),
    ));
    service.reload_keys()?;
    let caller = IpAddr::from([127, 0, 0, 1]);
    let first = Credentials::new(
        "reports",
        Secret::new(FIRST_SECRET),
        ClientAuthMethod::ClientSecretBasic,
    );

    // 4. Authenticate by id and secret.
    let client = service.authenticate(Some(&first), caller).await?;
    writeln!(out, "authenticated client {}", client.id)?;

    // 5. Issue a token and verify it.
    let issued = service
        .issue_token(TokenRequest {
            credentials: Some(&first),
            source: caller,
            grant_type: "client_credentials",
            scope: Some("reports.read"),
            issuer: ISSUER,
        })
        .await?;
    writeln!(
        out,
        "issued a token: scope {:?}, expires in {} s",
        issued.scope.as_deref().unwrap_or(""),
        issued.expires_in
    )?;
    let claims = service
        .verify_token(&issued.access_token)
        .await?
        .ok_or("the token just issued does not verify")?;
    writeln!(
        out,
        "verified the token: sub {}, client_id {}, permissions {:?}",
        claims.sub,
        claims.client_id,
        claims.permissions.unwrap_or_default()
    )?;

    // 6. Rotate the secret through the admin use case (the one the admin
    // API's POST .../secret/rotate calls): the old secret moves to the
    // previous slot, usable for the grace window (7 days by default), and
    // the audit row is written with the change.
    let admin = Admin::new(
        Repos::from_store(store.clone(), Arc::new(|| (4, 4))),
        hasher.clone(),
        policy,
    );
    let operator = Caller {
        sub: "embedded-example".to_owned(),
        client_id: "embedded-example".to_owned(),
        // client.write to change secrets, and every permission the client's
        // account holds: nobody hands out credentials to more than they have.
        permissions: vec!["client.write".to_owned(), "reports.read".to_owned()],
    };
    let rotated = admin.rotate_secret(&operator, "reports", None).await?;
    let second = rotated.secret;
    let grace_until = rotated
        .previous_valid_until
        .ok_or("a rotation leaves a previous secret")?;
    writeln!(
        out,
        "rotated the secret; the previous one works until {grace_until}"
    )?;

    // 7. Both secrets authenticate inside the grace window.
    let new = Credentials::new("reports", second, ClientAuthMethod::ClientSecretBasic);
    service.authenticate(Some(&new), caller).await?;
    writeln!(out, "the new secret authenticates")?;
    service.authenticate(Some(&first), caller).await?;
    writeln!(
        out,
        "the previous secret still authenticates inside its grace window"
    )?;
    Ok(())
}
