//! Storage ports. Adapters (auth-store) implement these traits and map their
//! own failures onto [`StoreError`], so nothing above the adapter sees a
//! database type. Every method is atomic by itself; where several rows must
//! change together (seeding) the port takes the whole change at once.
//!
//! Every change an administrator makes takes its audit event, and the store
//! writes both in one transaction: a change is never committed without its
//! event, and an event that cannot be written undoes the change.
//!
//! The methods are blocking: callers on an async runtime run them on a
//! blocking pool.

use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditFilter, NewAuditEvent};
use crate::catalogue::Catalogue;
use crate::client::{Client, ClientSettings, NewClient};
use crate::ids::ClientId;
use crate::lifecycle::{SecretSlots, Slot};
use crate::secret::SecretHash;
use crate::service_account::ServiceAccount;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row to create exists already (a unique key was violated).
    #[error("already exists")]
    Duplicate,
    #[error("not found")]
    NotFound,
    /// An optimistic-concurrency check failed: the row changed since it was read.
    #[error("changed concurrently")]
    Conflict,
    /// The client is linked to another service account.
    #[error("client {client_id:?} is already linked to service account {account_id:?}")]
    LinkConflict {
        client_id: String,
        account_id: String,
    },
    /// A change that the data does not allow (the message says why, naming
    /// the entries; it never contains a secret).
    #[error("{0}")]
    Rejected(String),
    /// No connection could be had in time, or the database did not answer.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

/// A service account with the ids of the clients linked to it, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedServiceAccount {
    pub account: ServiceAccount,
    pub client_ids: Vec<String>,
}

pub trait ClientRepository: Send + Sync {
    fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Every client, sorted by id.
    fn list(&self) -> Result<Vec<Client>, StoreError>;

    /// MUST return `Duplicate` when the id exists (whatever its type).
    /// MUST give the client a fresh [`crate::new_incarnation`], returned in
    /// the `Client` and by every later `find` and `list`.
    fn create(&self, client: &NewClient, event: &NewAuditEvent) -> Result<Client, StoreError>;

    /// MUST return `NotFound` for an unknown id.
    fn update_settings(
        &self,
        id: &ClientId,
        settings: &ClientSettings,
        event: &NewAuditEvent,
    ) -> Result<Client, StoreError>;

    /// Deletes the client and its link. MUST return `NotFound` for an unknown id.
    fn delete(&self, id: &ClientId, event: &NewAuditEvent) -> Result<(), StoreError>;

    /// Writes new secret slots iff the stored `secrets_version` equals
    /// `expected_version`, and returns the new version (`expected + 1`).
    /// MUST return `Conflict` when the version differs and `NotFound` for an
    /// unknown client; never overwrites silently.
    fn replace_secrets(
        &self,
        id: &ClientId,
        expected_version: i64,
        slots: &SecretSlots,
        event: &NewAuditEvent,
    ) -> Result<i64, StoreError>;

    /// Swaps one slot's hash from `old` to `new` iff it still holds `old`
    /// (compare-and-swap), leaving `secrets_version` alone: a hash upgrade
    /// after a successful login, which no one asked for and so is not
    /// audited. Returns whether the swap happened.
    fn upgrade_hash(
        &self,
        id: &ClientId,
        slot: Slot,
        old: &SecretHash,
        new: &SecretHash,
    ) -> Result<bool, StoreError>;
}

pub trait ServiceAccountRepository: Send + Sync {
    fn find(&self, id: &str) -> Result<Option<LinkedServiceAccount>, StoreError>;

    /// The account alone, without its linked clients: what a token needs,
    /// read on every token request for a linked client, so a store should
    /// answer it with one point read.
    fn find_account(&self, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        Ok(self.find(id)?.map(|linked| linked.account))
    }

    /// Every account, sorted by id.
    fn list(&self) -> Result<Vec<LinkedServiceAccount>, StoreError>;

    /// Creates or replaces the account (its links are kept). Returns `true`
    /// when it was created. Names are stored as given: callers resolve them
    /// against the catalogue first. `event(created)` is the audit event,
    /// told whether the account was created or replaced.
    fn upsert(
        &self,
        account: &ServiceAccount,
        event: &dyn Fn(bool) -> NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Deletes the account and unlinks its clients. `NotFound` if unknown.
    fn delete(&self, id: &str, event: &NewAuditEvent) -> Result<(), StoreError>;

    /// Links a confidential client to the account; linking it again to the
    /// same account succeeds. MUST return `NotFound` for an unknown account
    /// or client and `LinkConflict` when the client is linked elsewhere.
    fn link(
        &self,
        account_id: &str,
        client_id: &ClientId,
        event: &NewAuditEvent,
    ) -> Result<(), StoreError>;

    /// MUST return `NotFound` when the client is not linked to the account.
    fn unlink(
        &self,
        account_id: &str,
        client_id: &ClientId,
        event: &NewAuditEvent,
    ) -> Result<(), StoreError>;
}

pub trait CatalogRepository: Send + Sync {
    /// The built-in catalogue extended by everything stored.
    fn load(&self) -> Result<Catalogue, StoreError>;
}

/// Everything a startup seeding changes, applied in one transaction.
#[derive(Debug, Clone)]
pub struct BootstrapPlan {
    /// Catalogue entries to add or replace by name.
    pub catalogue: Catalogue,
    /// Clients to create when absent; an existing id is skipped untouched.
    /// Each created client gets a fresh incarnation, as with
    /// `ClientRepository::create`.
    pub clients: Vec<NewClient>,
    /// Accounts to create or update, each with the client to link, if any.
    pub service_accounts: Vec<(ServiceAccount, Option<ClientId>)>,
    pub actor: String,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapOutcome {
    pub created_clients: Vec<String>,
    pub skipped_clients: Vec<String>,
    pub created_accounts: Vec<String>,
    pub updated_accounts: Vec<String>,
}

pub trait Bootstrap: Send + Sync {
    /// Applies the plan atomically and writes one audit event per created
    /// client and per created or updated account. A link to a client that is
    /// not an existing confidential client MUST fail with `Rejected` naming
    /// the account and the client; a client linked to another account with
    /// `LinkConflict`. On any error nothing is changed. Replicas applying the
    /// same plan at once MUST all succeed, each client created once.
    fn apply_bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError>;
}

/// A signing key as stored. `private_key` is opaque to the store (auth-token
/// encrypts it before it gets here).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    /// When it stopped being the active key; `None` for the active key.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for NewSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A new key as the active key, without a store: what a key ring of one
/// fresh key loads (the tests' and benchmarks' rings).
impl From<NewSigningKey> for StoredSigningKey {
    fn from(key: NewSigningKey) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg,
            private_key: key.private_key,
            public_jwk: key.public_jwk,
            created_at: key.created_at,
            retired_at: None,
        }
    }
}

pub trait SigningKeyRepository: Send + Sync {
    /// Every stored key, newest first.
    fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// Under a database-wide lock: if the active key has algorithm `alg`,
    /// returns it; otherwise calls `make`, stores the result as the active
    /// key, retires the previous active key, and returns the new one.
    /// Replicas calling this at once agree on one key.
    fn ensure_active(
        &self,
        alg: &str,
        make: &mut dyn FnMut() -> Result<NewSigningKey, String>,
    ) -> Result<StoredSigningKey, StoreError>;

    /// Stores `key` as the active key and retires the previous one,
    /// atomically with the audit event.
    fn rotate(
        &self,
        key: &NewSigningKey,
        event: &NewAuditEvent,
    ) -> Result<StoredSigningKey, StoreError>;

    /// Deletes the key `kid` at once (a compromised key), under the same
    /// lock as `rotate`. When it is the active key, first stores `make()`'s
    /// key as the active one, in the same transaction, so that there is
    /// always exactly one active key; returns that new key. The audit
    /// events `events` makes (given the replacement, if any) are written in
    /// the same transaction. MUST return `NotFound` for an unknown `kid`,
    /// and change nothing when `make` fails.
    fn revoke(
        &self,
        kid: &str,
        make: &mut dyn FnMut() -> Result<NewSigningKey, String>,
        events: &dyn Fn(Option<&StoredSigningKey>) -> Vec<NewAuditEvent>,
    ) -> Result<Option<StoredSigningKey>, StoreError>;
}

pub trait RevocationRepository: Send + Sync {
    /// Records a revoked token id; revoking twice is not an error.
    fn revoke(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Forgets revocations of tokens that have expired anyway.
    fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

pub trait AuditLog: Send + Sync {
    /// An event on its own: a refused change, which changed nothing. A
    /// change's event goes with the change instead (see the module docs).
    fn record(&self, event: &NewAuditEvent) -> Result<(), StoreError>;

    /// Matching events, newest first.
    fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Readiness: whether the database answers now.
pub trait Health: Send + Sync {
    fn ping(&self) -> Result<(), StoreError>;
}
