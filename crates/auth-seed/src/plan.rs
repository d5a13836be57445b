//! From validated seed files to a bootstrap plan, and the whole startup
//! seeding: read, validate against the store, hash, apply in one go.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use auth_domain::{
    truncate_ms, Bootstrap, BootstrapOutcome, BootstrapPlan, CatalogRepository, Catalogue,
    ClientId, ClientRepository, HashError, NewClient, Secret, SecretHash, SecretHasher,
    SecretSlots, StoreError,
};
use time::OffsetDateTime;

use crate::accounts::parse_service_accounts_str;
use crate::clients::parse_clients_str;
use crate::error::{account_entry, client_entry, FileErrors, SeedError, SeedErrors};
use crate::locate::Seg;
use crate::validate::{
    validate_impl, CheckSummary, ExistingClients, ParsedSeed, SeedRules, ValidatedSeed,
};

/// The audit actor of changes made by startup seeding.
pub const SEED_ACTOR: &str = "seed";

/// Where the seed files are; either may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSources {
    pub clients: Option<PathBuf>,
    pub service_accounts: Option<PathBuf>,
}

fn read(path: &Path) -> Result<String, SeedError> {
    std::fs::read_to_string(path)
        .map_err(|e| SeedError::in_file(path, format!("cannot read the seed file: {e}")))
}

/// Parses whatever parses, so that check and startup can still validate the
/// other file and show every problem at once. The flag tells whether the
/// clients file (if configured) parsed.
fn parse_partial(src: &SeedSources) -> (ParsedSeed, Vec<SeedError>, bool) {
    let mut errors = Vec::new();
    let mut parsed = ParsedSeed::default();
    let mut clients_ok = true;
    if let Some(path) = &src.clients {
        match read(path)
            .map_err(SeedErrors::from)
            .and_then(|t| parse_clients_str(path, &t))
        {
            Ok(f) => parsed.clients = Some(f),
            Err(mut e) => {
                clients_ok = false;
                errors.append(&mut e.0);
            }
        }
    }
    if let Some(path) = &src.service_accounts {
        match read(path)
            .map_err(SeedErrors::from)
            .and_then(|t| parse_service_accounts_str(path, &t))
        {
            Ok(f) => parsed.service_accounts = Some(f),
            Err(mut e) => errors.append(&mut e.0),
        }
    }
    (parsed, errors, clients_ok)
}

/// Reads and parses both files. A missing or unreadable file is an error
/// naming it; so is every syntax error (one per file: YAML parsing stops at
/// the first).
pub fn parse(src: &SeedSources) -> Result<ParsedSeed, SeedErrors> {
    let (parsed, errors, _) = parse_partial(src);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(SeedErrors(errors))
    }
}

fn parse_and_validate(
    src: &SeedSources,
    env: &dyn Fn(&str) -> Option<String>,
    rules: &SeedRules,
    base: &Catalogue,
    existing: ExistingClients<'_>,
) -> Result<(ParsedSeed, ValidatedSeed), SeedErrors> {
    let (parsed, mut errors, clients_ok) = parse_partial(src);
    match validate_impl(&parsed, env, rules, base, existing, clients_ok) {
        Ok(v) if errors.is_empty() => Ok((parsed, v)),
        Ok(_) => Err(SeedErrors(errors)),
        Err(mut e) => {
            errors.append(&mut e.0);
            Err(SeedErrors(errors))
        }
    }
}

/// `auth-server check`: parses and validates both files as a self-contained
/// bootstrap against the built-in catalogue, reading the secret variables of
/// every confidential client. No database, no hashing, nothing written.
pub fn check(
    src: &SeedSources,
    env: &dyn Fn(&str) -> Option<String>,
    rules: &SeedRules,
) -> Result<CheckSummary, SeedErrors> {
    let none = |_: &ClientId| Ok(None);
    parse_and_validate(src, env, rules, &Catalogue::builtin(), &none).map(|(_, v)| v.summary())
}

impl ValidatedSeed {
    /// Hashes the secrets of the clients to create (in parallel across the
    /// cores: at a production cost each hash takes tens of milliseconds) and
    /// builds the plan. Each secret becomes its client's current secret,
    /// created at `now`.
    pub fn into_plan(
        self,
        hasher: &dyn SecretHasher,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<BootstrapPlan, SeedErrors> {
        let now = truncate_ms(now);
        let secrets: Vec<&Secret> = self
            .clients
            .iter()
            .filter_map(|c| c.secret.as_ref())
            .collect();
        let mut hashes = hash_in_parallel(hasher, &secrets).into_iter();
        let mut errors = Vec::new();
        let mut clients = Vec::with_capacity(self.clients.len());
        for c in self.clients {
            let mut slots = SecretSlots::default();
            if c.secret.is_some() {
                let hashed = hashes
                    .next()
                    .unwrap_or_else(|| Err(HashError::Failed("no hash was produced".into())))
                    .map_err(|e| e.to_string())
                    .and_then(|h| slots.issue(h, now, &self.policy).map_err(|e| e.to_string()));
                match hashed {
                    Ok(s) => slots = s,
                    Err(message) => {
                        errors.push(SeedError {
                            file: c.file.clone(),
                            line: None,
                            entry: Some(client_entry(c.id.as_str())),
                            field: Some("client_secret_env_var_name".into()),
                            message: format!("could not hash the secret: {message}"),
                        });
                        continue;
                    }
                }
            }
            clients.push(NewClient {
                id: c.id,
                client_type: c.client_type,
                settings: c.settings,
                redirect_uris: c.redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                created_at: now,
                secrets: slots,
            });
        }
        if !errors.is_empty() {
            return Err(SeedErrors(errors));
        }
        Ok(BootstrapPlan {
            catalogue: self.catalogue,
            clients,
            service_accounts: self.service_accounts,
            actor: actor.to_owned(),
            at: now,
        })
    }
}

/// Hashes every secret, in order, on up to `available_parallelism` scoped
/// threads, each taking one contiguous chunk.
fn hash_in_parallel(
    hasher: &dyn SecretHasher,
    secrets: &[&Secret],
) -> Vec<Result<SecretHash, HashError>> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let threads = std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, secrets.len());
    let chunk = secrets.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = secrets
            .chunks(chunk)
            .map(|part| {
                let handle =
                    scope.spawn(move || part.iter().map(|s| hasher.hash(s)).collect::<Vec<_>>());
                (part.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, handle)| match handle.join() {
                Ok(results) => results,
                Err(_) => (0..len)
                    .map(|_| Err(HashError::Failed("the hashing thread panicked".into())))
                    .collect(),
            })
            .collect()
    })
}

/// Startup seeding (`auth-server serve`): parse both files, validate them
/// against the stored catalogue and clients, hash the new secrets, and apply
/// everything in one transaction. Nothing is changed on any error.
pub fn apply<S>(
    store: &S,
    src: &SeedSources,
    env: &dyn Fn(&str) -> Option<String>,
    rules: &SeedRules,
    hasher: &dyn SecretHasher,
    now: OffsetDateTime,
) -> Result<BootstrapOutcome, SeedErrors>
where
    S: Bootstrap + ClientRepository + CatalogRepository,
{
    let base = CatalogRepository::load(store)
        .map_err(|e| SeedError::store(format!("could not load the catalogue: {e}")))?;
    let existing =
        |id: &ClientId| ClientRepository::find(store, id).map(|c| c.map(|c| c.client_type));
    let (parsed, validated) = parse_and_validate(src, env, rules, &base, &existing)?;
    let plan = validated.into_plan(hasher, now, SEED_ACTOR)?;
    let outcome = store
        .apply_bootstrap(&plan)
        .map_err(|e| SeedErrors::from(store_error(&parsed, e)))?;
    tracing::info!(
        created_clients = outcome.created_clients.len(),
        skipped_clients = outcome.skipped_clients.len(),
        created_accounts = outcome.created_accounts.len(),
        updated_accounts = outcome.updated_accounts.len(),
        "seed files applied"
    );
    Ok(outcome)
}

/// Names the account that caused a refused link where one can be found.
fn store_error(parsed: &ParsedSeed, err: StoreError) -> SeedError {
    let Some(sf) = &parsed.service_accounts else {
        return SeedError::store(format!("could not apply the seed files: {err}"));
    };
    let claimant = |pred: &dyn Fn(&str, &str) -> bool| {
        sf.service_accounts.iter().enumerate().find_map(|(i, s)| {
            s.client_id
                .as_deref()
                .filter(|c| pred(&s.account.id, c))
                .map(|c| (i, s.account.id.as_str(), c))
        })
    };
    let found = match &err {
        StoreError::LinkConflict {
            client_id,
            account_id,
        } => claimant(&|_, c| c == client_id).map(|(i, id, c)| {
            (
                i,
                id,
                format!("client {c:?} is already linked to service account {account_id:?}"),
            )
        }),
        StoreError::Rejected(message) => {
            claimant(&|a, c| message.contains(a) && message.contains(c))
                .map(|(i, id, _)| (i, id, message.clone()))
        }
        _ => None,
    };
    match found {
        Some((i, id, message)) => FileErrors::new(&sf.path, &sf.source).error(
            &account_entry(id),
            Some("clientId"),
            &[
                Seg::Key("serviceAccounts"),
                Seg::Index(i),
                Seg::Key("clientId"),
            ],
            message,
        ),
        None => SeedError::store(format!("could not apply the seed files: {err}")),
    }
}
