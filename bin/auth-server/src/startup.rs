//! The startup sequence of `auth-server serve` (see docs/reference/operations.md#startup-sequence): bind, then — while
//! /healthz answers and /readyz says 503 — apply migrations, make sure there
//! is an active signing key of `APP_SIGNING_ALG`, load the keys, apply the
//! seed files, and declare the server ready. A database that does not answer
//! yet is waited for; every other failure stops the server with one message.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use auth_domain::{AuditOutcome, BcryptHasher, NewAuditEvent, SigningKeyRepository, StoreError};
use auth_http::{AppState, Application, HttpConfig, Repos};
use auth_seed::{SeedRules, SeedSources};
use auth_service::forwarded::TrustedProxies;
use auth_store::{Backend, Store, StoreConfig};
use auth_token::{generate_key, KeyEncryption, KeyState, SigningAlg};

use crate::config::{redact_message, redact_url, Config};

/// How often a running server re-reads signing keys and the catalogue, so
/// that `keys rotate` and another replica's seeding reach it.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Reads a seed secret variable; the process environment in production.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub fn process_env() -> EnvLookup {
    Arc::new(|name: &str| std::env::var(name).ok())
}

/// A startup failure: one message naming what is at fault, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("database {url}: {message}")]
    Database { url: String, message: String },
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("seed files:\n{0}")]
    Seed(String),
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("server: {0}")]
    Server(String),
}

/// A database failure, its URL and message with the password masked (the
/// store masks connection errors already; this covers any other path).
fn database_error(config: &Config, e: &impl std::fmt::Display) -> StartupError {
    StartupError::Database {
        url: redact_url(&config.database_url),
        message: redact_message(&e.to_string(), &config.database_url),
    }
}

/// Settings that work but deserve the operator's attention: logged by
/// `serve` at startup and printed by `check`.
pub fn warnings(config: &Config) -> Vec<String> {
    auth_store::tls_warning(&config.database_url)
        .map(|w| redact_message(&w, &config.database_url))
        .into_iter()
        .collect()
}

pub fn store_config(config: &Config) -> StoreConfig {
    StoreConfig {
        url: config.database_url.clone(),
        pool_size: config.database_pool_size,
        pool_timeout: config.database_pool_timeout,
    }
}

pub fn open_store(config: &Config) -> Result<Store, StartupError> {
    Store::open(&store_config(config)).map_err(|e| database_error(config, &e))
}

pub fn http_config(config: &Config) -> Result<HttpConfig, StartupError> {
    let trusted_proxies = match &config.forwarded_trusted_proxies {
        None => TrustedProxies::default_ranges(),
        Some(s) => TrustedProxies::parse(s).map_err(|e| {
            StartupError::Config(format!(
                "configuration: forwarded_trusted_proxies (APP_FORWARDED_TRUSTED_PROXIES): {e}"
            ))
        })?,
    };
    Ok(HttpConfig {
        bind: config.bind,
        issuer: config.issuer.clone(),
        require_https: config.require_https,
        trusted_proxies,
        forwarded_headers: config.forwarded_headers,
        secret_verify_concurrency: config.secret_verify_concurrency,
        secret_verify_queue: config.secret_verify_queue,
        token_failure_limit: config.token_failure_limit,
        token_failure_limit_per_client: config.token_failure_limit_per_client,
        secret_policy: config.secret_policy,
        pool_timeout: config.database_pool_timeout,
        retired_key_window: auth_token::RETIRED_KEY_WINDOW,
    })
}

pub fn key_encryption(config: &Config) -> Result<KeyEncryption, StartupError> {
    KeyEncryption::new(config.keys_encryption_secret.as_ref()).map_err(|e| {
        StartupError::Config(format!(
            "configuration: keys_encryption_secret (APP_KEYS_ENCRYPTION_SECRET): {e}"
        ))
    })
}

pub fn signing_alg(config: &Config) -> Result<SigningAlg, StartupError> {
    config.signing_alg.parse().map_err(|_| {
        StartupError::Config(format!(
            "configuration: signing_alg (APP_SIGNING_ALG): {:?} is not supported",
            config.signing_alg
        ))
    })
}

pub fn seed_rules(config: &Config) -> SeedRules {
    SeedRules {
        min_secret_len: config.client_secret_min_length,
        policy: config.secret_policy,
    }
}

pub fn seed_sources(config: &Config) -> SeedSources {
    SeedSources {
        clients: config.seed_clients_file.clone(),
        service_accounts: config.seed_service_accounts_file.clone(),
    }
}

/// A bound application and what its startup needs.
pub struct Prepared {
    pub app: Application,
    pub state: web::Data<AppState>,
    pub store: Store,
}

/// Opens the store (no connection yet), builds the state and binds.
pub fn prepare(config: &Config, listener: Option<TcpListener>) -> Result<Prepared, StartupError> {
    prepare_with(config, listener, |repos| repos)
}

/// [`prepare`] with the storage ports passed through `wrap` first (tests put
/// a store that fails on purpose in front of the real one).
/// Every port on one store, as the server uses them.
pub fn repos(store: &Store) -> Repos {
    let pool_store = store.clone();
    let mut repos = Repos::from_store(store.clone(), Arc::new(move || pool_store.pool_state()));
    repos.local_reads = store.backend() == Backend::Sqlite;
    repos
}

pub fn prepare_with(
    config: &Config,
    listener: Option<TcpListener>,
    wrap: impl FnOnce(Repos) -> Repos,
) -> Result<Prepared, StartupError> {
    for warning in warnings(config) {
        tracing::warn!("{warning}");
    }
    let store = open_store(config)?;
    let enc = key_encryption(config)?;
    if !enc.is_enabled() {
        tracing::warn!("APP_KEYS_ENCRYPTION_SECRET is not set: signing keys are stored unencrypted in the database");
    }
    signing_alg(config)?;
    let hasher =
        BcryptHasher::new(config.bcrypt_cost).map_err(|e| StartupError::Config(e.to_string()))?;
    let repos = wrap(repos(&store));
    let state = web::Data::new(AppState::new(
        http_config(config)?,
        repos,
        Arc::new(hasher),
        enc,
    ));
    state
        .metrics
        .set_build_info(env!("CARGO_PKG_VERSION"), env!("AUTH_SERVER_GIT_COMMIT"));
    state
        .metrics
        .set_db_pool_max_connections(config.database_pool_size);
    auth_http::secret_expiry::spawn_refresher(&state, auth_http::secret_expiry::REFRESH_EVERY);
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.bind).map_err(|e| StartupError::Bind {
            addr: config.bind.to_string(),
            message: e.to_string(),
        })?,
    };
    let admin_listener = match config.admin_bind {
        None => None,
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| StartupError::Bind {
            addr: format!("{addr} (APP_ADMIN_BIND)"),
            message: e.to_string(),
        })?),
    };
    let app =
        Application::build_with_admin(state.clone(), listener, admin_listener).map_err(|e| {
            StartupError::Bind {
                addr: config.bind.to_string(),
                message: e.to_string(),
            }
        })?;
    Ok(Prepared { app, state, store })
}

/// Retries `op` while the database is unavailable (logging each wait), so a
/// server started before its database becomes ready once the database does.
fn with_database<T>(
    what: &str,
    mut op: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut wait = Duration::from_millis(250);
    loop {
        match op() {
            Err(StoreError::Unavailable(message)) => {
                tracing::warn!(step = what, error = %message, retry_in_ms = wait.as_millis() as u64, "database unavailable during startup");
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Makes sure the active key has the configured algorithm, creating one
/// under the store's lock when there is none or the algorithm changed.
pub fn ensure_signing_key(
    store: &Store,
    config: &Config,
    enc: &KeyEncryption,
) -> Result<(), StartupError> {
    let alg = signing_alg(config)?;
    let mut failure: Option<String> = None;
    let result = with_database("signing key", || {
        store.ensure_active(alg.as_str(), &mut || {
            generate_key(alg, auth_domain::now_ms(), enc).map_err(|e| {
                failure = Some(e.to_string());
                e.to_string()
            })
        })
    });
    match result {
        Ok(key) => {
            tracing::info!(kid = %key.kid, alg = %key.alg, "active signing key");
            Ok(())
        }
        Err(e) => Err(StartupError::Keys(failure.unwrap_or_else(|| e.to_string()))),
    }
}

/// Migrations, signing key, seeding; then ready.
pub fn bootstrap(
    prepared_state: &AppState,
    store: &Store,
    config: &Config,
    env: &EnvLookup,
) -> Result<(), StartupError> {
    let db_err = |e: StoreError| database_error(config, &e);
    with_database("migrations", || store.migrate()).map_err(db_err)?;
    ensure_signing_key(store, config, &prepared_state.key_encryption)?;
    with_database("load signing keys", || {
        match prepared_state.auth.reload_keys() {
            Ok(_) => Ok(()),
            Err(auth_service::ReloadError::Store(e)) => Err(e),
            Err(auth_service::ReloadError::Keys(m)) => Err(StoreError::Rejected(m)),
        }
    })
    .map_err(|e| StartupError::Keys(e.to_string()))?;
    let sources = seed_sources(config);
    if sources.clients.is_some() || sources.service_accounts.is_some() {
        let hasher = prepared_state.hasher.clone();
        let env = env.clone();
        let lookup = move |name: &str| env(name);
        let outcome = auth_seed::apply(
            store,
            &sources,
            &lookup,
            &seed_rules(config),
            hasher.as_ref(),
            auth_domain::now_ms(),
        )
        .map_err(|e| StartupError::Seed(e.to_string()))?;
        for id in &outcome.skipped_clients {
            tracing::info!(client_id = %id.escape_debug(), "seeded client exists already; left unchanged");
        }
    }
    // A failed authentication must cost what a verification against the
    // costliest stored hash does, from the first request on: let the hasher
    // see every stored hash once (later reads raise it further).
    let clients = with_database("read stored secret hashes", || {
        prepared_state.repos.clients.list()
    })
    .map_err(db_err)?;
    for client in &clients {
        for hash in client.secrets.hashes() {
            prepared_state.hasher.observe(hash);
        }
    }
    tracing::info!(
        bcrypt_cost = prepared_state.hasher.failure_cost(),
        "a failed client authentication costs two verifications at this BCrypt cost, the highest stored"
    );
    // Seeding may have extended the catalogue.
    prepared_state.auth.refresh_from_store();
    prepared_state.set_ready();
    tracing::info!("ready");
    Ok(())
}

/// `auth-server serve`: runs until SIGTERM (a drain, then a graceful stop
/// of up to 30 s: [`crate::shutdown`]) or until startup fails.
pub async fn serve(config: Config, env: EnvLookup) -> Result<(), StartupError> {
    let prepared = prepare(&config, None)?;
    actix_web::rt::spawn(crate::shutdown::on_signals(
        prepared.app.handle(),
        prepared.app.drain(),
        config.shutdown_drain,
    ));
    tracing::info!(
        bind = %config.bind,
        admin_bind = ?config.admin_bind.map(|a| a.to_string()),
        database = %redact_url(&config.database_url),
        "listening"
    );
    let handle = prepared.app.handle();
    let state = prepared.state.clone();
    let store = prepared.store.clone();
    let server = actix_web::rt::spawn(prepared.app.run_until_stopped());
    let boot_state = state.clone();
    let boot = web::block(move || bootstrap(&boot_state, &store, &config, &env))
        .await
        .map_err(|e| StartupError::Server(e.to_string()))
        .and_then(|r| r);
    if let Err(e) = boot {
        handle.stop(false).await;
        return Err(e);
    }
    state.auth.spawn_refresher(REFRESH_EVERY);
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StartupError::Server(e.to_string())),
        Err(e) => Err(StartupError::Server(e.to_string())),
    }
}

/// `auth-server migrate`.
pub fn migrate(config: &Config) -> Result<(), StartupError> {
    let store = open_store(config)?;
    store.migrate().map_err(|e| database_error(config, &e))
}

/// `auth-server keys rotate`: a new active key; the old ones stay published.
pub fn rotate_keys(config: &Config) -> Result<String, StartupError> {
    let store = open_store(config)?;
    let db_err = |e: StoreError| database_error(config, &e);
    store.migrate().map_err(db_err)?;
    let enc = key_encryption(config)?;
    let alg = signing_alg(config)?;
    let now = auth_domain::now_ms();
    let key = generate_key(alg, now, &enc).map_err(|e| StartupError::Keys(e.to_string()))?;
    let event = NewAuditEvent {
        at: now,
        actor: "cli".into(),
        action: "signing_key.rotate".into(),
        target_type: "signing_key".into(),
        target_id: key.kid.clone(),
        outcome: AuditOutcome::Success,
    };
    let stored = store.rotate(&key, &event).map_err(db_err)?;
    Ok(stored.kid)
}

/// `auth-server keys list`: one row per stored key, newest first, with its
/// state now (active, retired and still verifying, or expired).
pub fn list_keys(config: &Config) -> Result<String, StartupError> {
    let store = open_store(config)?;
    let db_err = |e: StoreError| StartupError::Database {
        url: redact_url(&config.database_url),
        message: e.to_string(),
    };
    store.migrate().map_err(db_err)?;
    let keys = SigningKeyRepository::list(&store).map_err(db_err)?;
    let now = auth_domain::now_ms();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let instant = |t: time::OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .format(&format)
            .unwrap_or_else(|_| t.unix_timestamp().to_string())
    };
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|k| {
            [
                k.kid.clone(),
                k.alg.clone(),
                instant(k.created_at),
                k.retired_at.map_or_else(|| "-".to_owned(), instant),
                KeyState::of(k.retired_at, now, auth_token::RETIRED_KEY_WINDOW)
                    .describe()
                    .to_owned(),
            ]
        })
        .collect();
    Ok(table(["KID", "ALG", "CREATED", "RETIRED", "STATE"], &rows))
}

/// Columns padded to their widest cell, two spaces apart; the last column
/// is not padded.
fn table(header: [&str; 5], rows: &[[String; 5]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out
    };
    let mut lines = vec![line(header)];
    lines.extend(rows.iter().map(|r| line(r.each_ref().map(String::as_str))));
    lines.join("\n")
}

/// `auth-server keys revoke KID`: deletes the key; when it was the active
/// one, a new key of `APP_SIGNING_ALG` takes over in the same transaction.
/// Returns the new active key's id, if one was made. Running servers drop
/// the key at their next key reload.
pub fn revoke_key(config: &Config, kid: &str) -> Result<Option<String>, StartupError> {
    let store = open_store(config)?;
    let db_err = |e: StoreError| StartupError::Database {
        url: redact_url(&config.database_url),
        message: e.to_string(),
    };
    store.migrate().map_err(db_err)?;
    let enc = key_encryption(config)?;
    let alg = signing_alg(config)?;
    let now = auth_domain::now_ms();
    let event = |action: &str, target: &str| NewAuditEvent {
        at: now,
        actor: "cli".into(),
        action: action.into(),
        target_type: "signing_key".into(),
        target_id: target.to_owned(),
        outcome: AuditOutcome::Success,
    };
    // The events go in the revocation's own transaction: a key is never
    // removed (or replaced) without its record.
    let events = |new: Option<&auth_domain::StoredSigningKey>| {
        let mut events: Vec<NewAuditEvent> = new
            .map(|k| event("signing_key.rotate", &k.kid))
            .into_iter()
            .collect();
        events.push(event("signing_key.revoke", kid));
        events
    };
    let replacement = match SigningKeyRepository::revoke(
        &store,
        kid,
        &mut || generate_key(alg, now, &enc).map_err(|e| e.to_string()),
        &events,
    ) {
        Ok(r) => r,
        Err(StoreError::NotFound) => {
            return Err(StartupError::Keys(format!(
                "no signing key with kid {kid:?} (see auth-server keys list)"
            )))
        }
        Err(e) => return Err(db_err(e)),
    };
    Ok(replacement.map(|k| k.kid))
}

/// `auth-server check`: every problem, without touching the database.
pub fn check(config: &Config, env: &EnvLookup) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    if let Err(e) = auth_store::validate_database_url(&config.database_url) {
        problems.push(format!(
            "configuration: database_url (APP_DATABASE_URL): {e}"
        ));
    }
    if let Err(e) = http_config(config) {
        problems.push(e.to_string());
    }
    if let Err(e) = key_encryption(config) {
        problems.push(e.to_string());
    }
    let sources = seed_sources(config);
    let lookup = |name: &str| env(name);
    let summary = match auth_seed::check(&sources, &lookup, &seed_rules(config)) {
        Ok(s) => Some(s),
        Err(errors) => {
            problems.extend(errors.to_string().lines().map(str::to_owned));
            None
        }
    };
    if problems.is_empty() {
        Ok(summary
            .map(|s| {
                format!(
                    "configuration and seed files are valid: {} confidential and {} public client(s), {} service account(s), {} extra permission(s), {} extra role(s), {} group(s)",
                    s.confidential_clients, s.public_clients, s.service_accounts, s.permissions, s.roles, s.groups
                )
            })
            .unwrap_or_else(|| "configuration is valid".into()))
    } else {
        Err(problems)
    }
}
