//! Semantic validation of both seed files (see docs/reference/seed-files.md): ids, methods,
//! lifetimes, scopes, duplicates, secrets from the environment, names
//! against the catalogue, and client links. Every problem is collected; an
//! operator sees all of them in one run.

use std::collections::HashMap;
use std::path::PathBuf;

use auth_domain::hasher::BCRYPT_MAX_BYTES;
use auth_domain::{
    check_access_token_ttl, check_client_name, Catalogue, ClientAuthMethod, ClientId,
    ClientSettings, ClientType, Group, Permission, Role, ScopeSet, Secret, SecretPolicy,
    ServiceAccount, ServiceAccountId, StoreError,
};

use crate::accounts::ServiceAccountsFile;
use crate::clients::ClientsFile;
use crate::error::{account_entry, client_entry, FileErrors, SeedError, SeedErrors};
use crate::locate::Seg;

/// Limits that come from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRules {
    /// Shortest seeded secret accepted, in bytes (`APP_CLIENT_SECRET_MIN_LENGTH`).
    pub min_secret_len: usize,
    /// Lifetime rules for the secrets created by seeding.
    pub policy: SecretPolicy,
}

/// Which clients already exist in the database, and their type (serve);
/// check mode passes a lookup that always answers `None`.
pub type ExistingClients<'a> = &'a dyn Fn(&ClientId) -> Result<Option<ClientType>, StoreError>;

/// Both files, parsed. A file that was not configured is `None`.
#[derive(Debug, Clone, Default)]
pub struct ParsedSeed {
    pub clients: Option<ClientsFile>,
    pub service_accounts: Option<ServiceAccountsFile>,
}

/// A client the seed will create, with its secret when it is confidential.
#[derive(Debug)]
pub(crate) struct ClientToCreate {
    pub file: PathBuf,
    pub id: ClientId,
    pub client_type: ClientType,
    pub settings: ClientSettings,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Redacted in `Debug`; read only to hash it.
    pub secret: Option<Secret>,
}

/// Everything checked and resolved; ready to become a plan.
#[derive(Debug)]
pub struct ValidatedSeed {
    pub(crate) catalogue: Catalogue,
    pub(crate) clients: Vec<ClientToCreate>,
    pub(crate) skipped: Vec<ClientId>,
    pub(crate) service_accounts: Vec<(ServiceAccount, Option<ClientId>)>,
    pub(crate) policy: SecretPolicy,
}

/// What `auth-server check` found valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckSummary {
    pub confidential_clients: usize,
    pub public_clients: usize,
    /// Clients that exist already and will not be touched (always 0 in check mode).
    pub skipped_clients: usize,
    pub service_accounts: usize,
    pub permissions: usize,
    pub roles: usize,
    pub groups: usize,
}

impl ValidatedSeed {
    /// Clients the plan will create, in file order (public entries first).
    pub fn clients_to_create(&self) -> impl Iterator<Item = (&ClientId, ClientType)> {
        self.clients.iter().map(|c| (&c.id, c.client_type))
    }

    /// Clients skipped because they exist already.
    pub fn skipped_clients(&self) -> &[ClientId] {
        &self.skipped
    }

    /// Accounts to create or update, with the client each claims.
    pub fn service_accounts(&self) -> &[(ServiceAccount, Option<ClientId>)] {
        &self.service_accounts
    }

    /// The catalogue entries the service-accounts file adds.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn summary(&self) -> CheckSummary {
        let count = |t| self.clients.iter().filter(|c| c.client_type == t).count();
        CheckSummary {
            confidential_clients: count(ClientType::Confidential),
            public_clients: count(ClientType::Public),
            skipped_clients: self.skipped.len(),
            service_accounts: self.service_accounts.len(),
            permissions: self.catalogue.permissions.len(),
            roles: self.catalogue.roles.len(),
            groups: self.catalogue.groups.len(),
        }
    }
}

/// Validates both files. `base_catalogue` is `Catalogue::builtin()` in check
/// mode and the stored catalogue when serving. Reports every problem.
pub fn validate(
    parsed: &ParsedSeed,
    env: &dyn Fn(&str) -> Option<String>,
    rules: &SeedRules,
    base_catalogue: &Catalogue,
    existing: ExistingClients<'_>,
) -> Result<ValidatedSeed, SeedErrors> {
    validate_impl(parsed, env, rules, base_catalogue, existing, true)
}

/// `clients_complete` is false when the clients file could not be parsed:
/// a link to a client that is not found then tells nothing, so it is not
/// reported (the parse error is).
pub(crate) fn validate_impl(
    parsed: &ParsedSeed,
    env: &dyn Fn(&str) -> Option<String>,
    rules: &SeedRules,
    base_catalogue: &Catalogue,
    existing: ExistingClients<'_>,
    clients_complete: bool,
) -> Result<ValidatedSeed, SeedErrors> {
    let mut v = Validator {
        env,
        rules,
        existing,
        existing_cache: HashMap::new(),
        file_types: HashMap::new(),
        errors: Vec::new(),
        out: ValidatedSeed {
            catalogue: Catalogue::default(),
            clients: Vec::new(),
            skipped: Vec::new(),
            service_accounts: Vec::new(),
            policy: rules.policy,
        },
    };
    if let Some(cf) = &parsed.clients {
        v.clients(cf);
    }
    if let Some(sf) = &parsed.service_accounts {
        v.service_accounts(sf, base_catalogue, clients_complete);
    }
    if v.errors.is_empty() {
        Ok(v.out)
    } else {
        Err(SeedErrors(v.errors))
    }
}

struct Validator<'v> {
    env: &'v dyn Fn(&str) -> Option<String>,
    rules: &'v SeedRules,
    existing: ExistingClients<'v>,
    existing_cache: HashMap<ClientId, Result<Option<ClientType>, StoreError>>,
    /// The type each client id has in the clients file (first entry wins).
    file_types: HashMap<String, ClientType>,
    errors: Vec<SeedError>,
    out: ValidatedSeed,
}

/// A printable rendering of a variable name taken from a file: plain when
/// it is an ordinary name, quoted and escaped otherwise.
fn var_display(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

impl Validator<'_> {
    fn lookup(&mut self, id: &ClientId) -> Result<Option<ClientType>, StoreError> {
        if let Some(hit) = self.existing_cache.get(id) {
            return hit.clone();
        }
        let answer = (self.existing)(id);
        self.existing_cache.insert(id.clone(), answer.clone());
        answer
    }

    /// Checks what public and confidential entries share: the id's form,
    /// uniqueness, the scope, and whether the client exists already.
    /// Returns the id and whether it must be created.
    fn client_common(
        &mut self,
        fe: &mut FileErrors<'_>,
        (list, index): (&'static str, usize),
        raw_id: &str,
        scope: Option<&str>,
        client_type: ClientType,
        first_seen: &mut HashMap<String, (&'static str, usize)>,
    ) -> (Option<ClientId>, ScopeSet, bool) {
        let entry = client_entry(raw_id);
        let base = [Seg::Key("clients"), Seg::Key(list), Seg::Index(index)];
        let field_path = |f: &'static str| [&base[..], &[Seg::Key(f)]].concat();
        let id = match ClientId::parse(raw_id) {
            Ok(id) => Some(id),
            Err(e) => {
                fe.push(
                    &entry,
                    Some("client_id"),
                    &field_path("client_id"),
                    e.to_string(),
                );
                None
            }
        };
        if let Some(&(first_list, first_index)) = first_seen.get(raw_id) {
            let first_line = fe.line(&[
                Seg::Key("clients"),
                Seg::Key(first_list),
                Seg::Index(first_index),
            ]);
            let message = match first_line {
                Some(l) => format!("duplicate client_id: {raw_id:?} is already listed at line {l}"),
                None => format!("duplicate client_id: {raw_id:?} is listed more than once"),
            };
            fe.push(&entry, Some("client_id"), &field_path("client_id"), message);
        } else {
            first_seen.insert(raw_id.to_owned(), (list, index));
            self.file_types.insert(raw_id.to_owned(), client_type);
        }
        let scope = match ScopeSet::parse(scope.unwrap_or("")) {
            Ok(s) => s,
            Err(e) => {
                fe.push(&entry, Some("scope"), &field_path("scope"), e.to_string());
                ScopeSet::default()
            }
        };
        let mut create = true;
        if let Some(id) = &id {
            match self.lookup(id) {
                Ok(Some(t)) => {
                    tracing::info!(
                        client_id = %id,
                        existing_type = t.as_str(),
                        "client exists already; its seed entry is skipped, not applied"
                    );
                    self.out.skipped.push(id.clone());
                    create = false;
                }
                Ok(None) => {}
                Err(e) => fe.push(
                    &entry,
                    None,
                    &base,
                    format!("could not check whether the client exists: {e}"),
                ),
            }
        }
        (id, scope, create)
    }

    fn clients(&mut self, cf: &ClientsFile) {
        let mut fe = FileErrors::new(&cf.path, &cf.source);
        let mut first_seen = HashMap::new();
        for (i, p) in cf.public.iter().enumerate() {
            let errors_before = fe.errors.len();
            let (id, scope, create) = self.client_common(
                &mut fe,
                ("public", i),
                &p.client_id,
                p.scope.as_deref(),
                ClientType::Public,
                &mut first_seen,
            );
            if let Some(Err(e)) = p.client_name.as_deref().map(check_client_name) {
                fe.push(
                    &client_entry(&p.client_id),
                    Some("client_name"),
                    &[
                        Seg::Key("clients"),
                        Seg::Key("public"),
                        Seg::Index(i),
                        Seg::Key("client_name"),
                    ],
                    e.to_string(),
                );
            }
            let clean = fe.errors.len() == errors_before;
            if let (true, Some(id), true) = (clean, id, create) {
                let mut settings = ClientSettings::defaults_for(&id);
                settings.client_name = p
                    .client_name
                    .clone()
                    .unwrap_or_else(|| format!("Public Client: {id}"));
                settings.scope = scope;
                self.out.clients.push(ClientToCreate {
                    file: cf.path.clone(),
                    id,
                    client_type: ClientType::Public,
                    settings,
                    redirect_uris: p.redirect_uris.clone(),
                    post_logout_redirect_uris: p.post_logout_redirect_uris.clone(),
                    secret: None,
                });
            }
        }
        for (i, c) in cf.confidential.iter().enumerate() {
            let base = [Seg::Key("clients"), Seg::Key("confidential"), Seg::Index(i)];
            let field_path = |f: &'static str| [&base[..], &[Seg::Key(f)]].concat();
            let entry = client_entry(&c.client_id);
            let errors_before = fe.errors.len();
            let (id, scope, create) = self.client_common(
                &mut fe,
                ("confidential", i),
                &c.client_id,
                c.scope.as_deref(),
                ClientType::Confidential,
                &mut first_seen,
            );
            // The default name is not the operator's, and may be longer
            // than a written one can be (a 255-character id).
            if c.client_name != format!("Confidential Client: {}", c.client_id) {
                if let Err(e) = check_client_name(&c.client_name) {
                    fe.push(
                        &entry,
                        Some("client_name"),
                        &field_path("client_name"),
                        e.to_string(),
                    );
                }
            }
            let method = match c.client_authentication_method.parse::<ClientAuthMethod>() {
                Ok(m) => Some(m),
                Err(e) => {
                    fe.push(
                        &entry,
                        Some("client_authentication_method"),
                        &field_path("client_authentication_method"),
                        e,
                    );
                    None
                }
            };
            let ttl = match check_access_token_ttl(c.access_token_ttl_minutes) {
                Ok(t) => Some(t),
                Err(e) => {
                    fe.push(
                        &entry,
                        Some("access_token_ttl_minutes"),
                        &field_path("access_token_ttl_minutes"),
                        e.to_string(),
                    );
                    None
                }
            };
            // The variable of a client that exists already is not needed,
            // so it is not read at all.
            let secret = if create {
                self.secret(
                    &mut fe,
                    &entry,
                    &field_path("client_secret_env_var_name"),
                    c,
                )
            } else {
                None
            };
            let clean = fe.errors.len() == errors_before;
            if let (true, true, Some(id), Some(method), Some(ttl), Some(secret)) =
                (clean, create, id, method, ttl, secret)
            {
                self.out.clients.push(ClientToCreate {
                    file: cf.path.clone(),
                    settings: ClientSettings {
                        client_name: c.client_name.clone(),
                        auth_method: method,
                        scope,
                        access_token_ttl_minutes: ttl,
                    },
                    id,
                    client_type: ClientType::Confidential,
                    redirect_uris: Vec::new(),
                    post_logout_redirect_uris: Vec::new(),
                    secret: Some(secret),
                });
            }
        }
        self.errors.append(&mut fe.errors);
    }

    /// Reads and checks a client's secret. Messages name the client and the
    /// variable and never carry the value, not even its exact length.
    fn secret(
        &mut self,
        fe: &mut FileErrors<'_>,
        entry: &str,
        path: &[Seg<'_>],
        c: &crate::clients::ConfidentialClientSeed,
    ) -> Option<Secret> {
        const FIELD: &str = "client_secret_env_var_name";
        let name = c.client_secret_env_var_name.as_str();
        if name.is_empty() {
            fe.push(
                entry,
                Some(FIELD),
                path,
                "must name an environment variable".into(),
            );
            return None;
        }
        let shown = var_display(name);
        let value = match (self.env)(name) {
            None => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!("environment variable {shown} is not set"),
                );
                return None;
            }
            Some(v) if v.is_empty() => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!("environment variable {shown} is empty"),
                );
                return None;
            }
            Some(v) => Secret::new(v),
        };
        let min = self.rules.min_secret_len;
        if value.byte_len() < min {
            fe.push(
                entry,
                Some(FIELD),
                path,
                format!(
                    "the secret in environment variable {shown} is too short: it must be at \
                     least {min} bytes (APP_CLIENT_SECRET_MIN_LENGTH)"
                ),
            );
            return None;
        }
        if value.byte_len() > BCRYPT_MAX_BYTES {
            fe.push(
                entry,
                Some(FIELD),
                path,
                format!(
                    "the secret in environment variable {shown} is too long: it must be at \
                     most {BCRYPT_MAX_BYTES} bytes (BCrypt's limit; secrets are never truncated)"
                ),
            );
            return None;
        }
        Some(value)
    }

    fn service_accounts(
        &mut self,
        sf: &ServiceAccountsFile,
        base_catalogue: &Catalogue,
        clients_complete: bool,
    ) {
        let mut fe = FileErrors::new(&sf.path, &sf.source);
        let cat = &sf.catalogue;
        check_names(
            &mut fe,
            "permission",
            "permissions",
            cat.permissions.iter().map(|p| &p.name),
        );
        check_names(&mut fe, "role", "roles", cat.roles.iter().map(|r| &r.name));
        check_names(
            &mut fe,
            "group",
            "groups",
            cat.groups.iter().map(|g| &g.name),
        );

        let merged = merge(base_catalogue, cat);
        for (i, role) in cat.roles.iter().enumerate() {
            for (j, p) in role.permissions.iter().enumerate() {
                if merged.permission(p).is_none() {
                    fe.push(
                        &format!("role {:?}", role.name),
                        Some("permissions"),
                        &[
                            Seg::Key("roles"),
                            Seg::Index(i),
                            Seg::Key("permissions"),
                            Seg::Index(j),
                        ],
                        format!("unknown permission {p:?}"),
                    );
                }
            }
        }

        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        let mut claims: HashMap<&str, &str> = HashMap::new();
        for (i, seed) in sf.service_accounts.iter().enumerate() {
            let a = &seed.account;
            let entry = account_entry(&a.id);
            let base = [Seg::Key("serviceAccounts"), Seg::Index(i)];
            let at = |f: &'static str| [&base[..], &[Seg::Key(f)]].concat();
            let errors_before = fe.errors.len();
            if let Err(e) = ServiceAccountId::parse(&a.id) {
                fe.push(&entry, Some("id"), &at("id"), e.to_string());
            }
            if let Some(&first) = first_seen.get(a.id.as_str()) {
                let line = fe.line(&[Seg::Key("serviceAccounts"), Seg::Index(first)]);
                let message = match line {
                    Some(l) => format!("duplicate id: {:?} is already listed at line {l}", a.id),
                    None => format!("duplicate id: {:?} is listed more than once", a.id),
                };
                fe.push(&entry, Some("id"), &at("id"), message);
            } else {
                first_seen.insert(&a.id, i);
            }
            let references: [Reference<'_>; 3] = [
                ("roles", "role", &a.roles, &|n| merged.role(n).is_some()),
                ("permissions", "permission", &a.permissions, &|n| {
                    merged.permission(n).is_some()
                }),
                ("groups", "group", &a.groups, &|n| merged.group(n).is_some()),
            ];
            for (field, kind, names, known) in references {
                for (j, name) in names.iter().enumerate().filter(|(_, n)| !known(n)) {
                    fe.push(
                        &entry,
                        Some(field),
                        &[&base[..], &[Seg::Key(field), Seg::Index(j)]].concat(),
                        format!("unknown {kind} {name:?}"),
                    );
                }
            }
            let link = match &seed.client_id {
                None => None,
                Some(raw) => self.link(&mut fe, &entry, &at("clientId"), raw, clients_complete),
            };
            if let Some(raw) = &seed.client_id {
                if let Some(other) = claims.get(raw.as_str()) {
                    fe.push(
                        &entry,
                        Some("clientId"),
                        &at("clientId"),
                        format!(
                            "client {raw:?} is already claimed by service account {other:?}; \
                             a client can be linked to one service account only"
                        ),
                    );
                } else {
                    claims.insert(raw, &a.id);
                }
            }
            if fe.errors.len() == errors_before {
                self.out.service_accounts.push((a.clone(), link));
            }
        }
        self.out.catalogue = cat.clone();
        self.errors.append(&mut fe.errors);
    }

    /// Resolves `clientId`: it must be a confidential client, either seeded
    /// now or already in the database. An existing client wins over the
    /// file's entry, since that entry will be skipped.
    fn link(
        &mut self,
        fe: &mut FileErrors<'_>,
        entry: &str,
        path: &[Seg<'_>],
        raw: &str,
        clients_complete: bool,
    ) -> Option<ClientId> {
        const FIELD: &str = "clientId";
        let id = match ClientId::parse(raw) {
            Ok(id) => id,
            Err(e) => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!("{raw:?} is not a valid client id: {e}"),
                );
                return None;
            }
        };
        let kind = match self.lookup(&id) {
            Ok(Some(t)) => Some(t),
            Ok(None) => self.file_types.get(raw).copied(),
            Err(e) => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!("could not check whether client {raw:?} exists: {e}"),
                );
                return None;
            }
        };
        match kind {
            Some(ClientType::Confidential) => Some(id),
            Some(ClientType::Public) => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!(
                        "client {raw:?} is a public client; only a confidential client can be \
                         linked to a service account"
                    ),
                );
                None
            }
            None if !clients_complete => None,
            None => {
                fe.push(
                    entry,
                    Some(FIELD),
                    path,
                    format!(
                        "client {raw:?} is not a confidential client in the clients file or \
                         the database"
                    ),
                );
                None
            }
        }
    }
}

/// An account's list of names of one kind: field, kind, names, and whether
/// a name resolves.
type Reference<'r> = (&'r str, &'r str, &'r [String], &'r dyn Fn(&str) -> bool);

/// Catalogue entries of one kind need a name, and one entry per name.
fn check_names<'n>(
    fe: &mut FileErrors<'_>,
    kind: &str,
    list: &'static str,
    names: impl Iterator<Item = &'n String>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let path = [Seg::Key(list), Seg::Index(i), Seg::Key("name")];
        let entry = format!("{kind} {name:?}");
        if name.is_empty() {
            fe.push(&entry, Some("name"), &path, "must not be empty".into());
        }
        if let Some(&first) = seen.get(name.as_str()) {
            let line = fe.line(&[Seg::Key(list), Seg::Index(first)]);
            let message = match line {
                Some(l) => format!("duplicate {kind}: {name:?} is already listed at line {l}"),
                None => format!("duplicate {kind}: {name:?} is listed more than once"),
            };
            fe.push(&entry, Some("name"), &path, message);
        } else {
            seen.insert(name, i);
        }
    }
}

/// The base catalogue with the file's entries added or replacing by name.
fn merge(base: &Catalogue, extra: &Catalogue) -> Catalogue {
    fn upsert<T: Clone>(list: &mut Vec<T>, item: &T, name: impl Fn(&T) -> &str) {
        match list.iter_mut().find(|x| name(x) == name(item)) {
            Some(slot) => *slot = item.clone(),
            None => list.push(item.clone()),
        }
    }
    let mut out = base.clone();
    for p in &extra.permissions {
        upsert(&mut out.permissions, p, |x: &Permission| &x.name);
    }
    for r in &extra.roles {
        upsert(&mut out.roles, r, |x: &Role| &x.name);
    }
    for g in &extra.groups {
        upsert(&mut out.groups, g, |x: &Group| &x.name);
    }
    out
}
