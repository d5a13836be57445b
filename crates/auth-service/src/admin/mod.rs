//! The admin use cases: clients, their secret lifecycle, service accounts,
//! the catalogue and the audit log, over the storage ports.
//!
//! Every use case is a method of [`Admin`] taking the [`Caller`] (whose
//! permissions decide, and whose `sub` is the audit actor) and typed input,
//! and answering a typed [`AdminError`]. The checks run in one order,
//! which the admin API documents: the caller's permission for the
//! operation, then the target (not found) and the input (invalid), then
//! the rule against privilege escalation (forbidden), then the state
//! (conflict, stale). Every change is written with its audit event in one
//! transaction; a refused change (forbidden, conflict, stale, a server
//! failure) is recorded as a failure, while a malformed request or an
//! absent target, which concern nothing that exists, are not recorded.
//!
//! Storage and hashing block, so the use cases are `async` and run them on
//! tokio's blocking pool (`spawn_blocking`), never on the caller's task.

mod audit;
mod catalogue;
mod clients;
mod secrets;
mod service_accounts;

use std::sync::Arc;

use auth_domain::{
    AuditOutcome, Client, ClientId, ClientType, NewAuditEvent, SecretHasher, SecretPolicy,
    ServiceAccount, StoreError,
};

pub use clients::patched_settings;
pub use secrets::{Precondition, SecretState, SecretsTag, WrittenSecret};
pub use service_accounts::AccountInput;

use crate::Repos;

/// The admin use cases, over the storage ports, the hasher for new secrets
/// and the secret lifetime rules.
#[derive(Clone)]
pub struct Admin {
    repos: Repos,
    hasher: Arc<dyn SecretHasher>,
    policy: SecretPolicy,
}

/// Who asks: the client of the bearer token, the token's subject (the audit
/// actor) and its `permissions` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub client_id: String,
    pub permissions: Vec<String>,
}

impl Caller {
    /// [`AdminError::MissingPermission`] unless the caller holds `permission`.
    pub fn require(&self, permission: &'static str) -> Result<(), AdminError> {
        if self.permissions.iter().any(|p| p == permission) {
            Ok(())
        } else {
            Err(AdminError::MissingPermission(permission))
        }
    }
}

/// Why an admin use case refused or failed. The texts are meant for the
/// operator and never carry a secret, a hash or a database message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The caller lacks the permission of the operation itself.
    #[error("the access token lacks the {0} permission")]
    MissingPermission(&'static str),
    /// The target does not exist (or the slot to delete is empty).
    #[error("{0}")]
    NotFound(String),
    /// One input field is invalid; `field` is its name in the admin API.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The store refused the input as a whole.
    #[error("{0}")]
    Rejected(String),
    /// The change affects a service account granting admin permissions the
    /// caller lacks, named (sorted) in `missing`.
    #[error("the change affects a service account granting {} which the caller's token lacks", .missing.join(", "))]
    Forbidden { missing: Vec<String> },
    /// The change contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// The secret state changed since the [`SecretsTag`] the caller gave.
    #[error(
        "the client's secret state has changed since the ETag given in If-Match; read it again"
    )]
    Stale,
    /// The database or a worker pool cannot serve now; retry after
    /// `retry_after` seconds, or after the server's usual delay when `None`.
    #[error("the server cannot handle the request now; retry later")]
    Unavailable { retry_after: Option<u64> },
    /// A failure that is not the caller's; its cause is logged.
    #[error("the request failed on the server")]
    Internal,
}

impl AdminError {
    /// How the audit log records a change that ended with this error:
    /// refusals of a real change and server failures are failures; a
    /// missing permission, an absent target and invalid input are not
    /// recorded at all.
    pub fn audit_outcome(&self) -> Option<AuditOutcome> {
        match self {
            Self::Forbidden { .. }
            | Self::Conflict(_)
            | Self::Stale
            | Self::Unavailable { .. }
            | Self::Internal => Some(AuditOutcome::Failure),
            Self::MissingPermission(_)
            | Self::NotFound(_)
            | Self::Invalid { .. }
            | Self::Rejected(_) => None,
        }
    }

    pub(crate) fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }

    /// The single mapping of storage failures. `NotFound` and `Duplicate`
    /// carry generic texts; use cases that know which entity was missing
    /// say so instead.
    pub fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Duplicate => Self::Conflict("already exists".into()),
            StoreError::Conflict => Self::Stale,
            StoreError::LinkConflict {
                client_id,
                account_id,
            } => Self::Conflict(format!(
                "client {client_id:?} is already linked to service account {account_id:?}"
            )),
            StoreError::Rejected(message) => Self::Rejected(message),
            StoreError::Unavailable(message) => {
                tracing::warn!(error = %message, "database unavailable on the admin API");
                Self::Unavailable { retry_after: None }
            }
            StoreError::Other(message) => {
                tracing::error!(error = %message, "database error on the admin API");
                Self::Internal
            }
        }
    }
}

/// Input the caller parsed before the use case ran, or the reason it could
/// not: the use case reports that reason only after finding its target, so
/// that an absent target answers "not found" whatever the input says.
pub type Parsed<T> = Result<T, AdminError>;

pub(crate) fn unknown_client() -> AdminError {
    AdminError::NotFound("no client has this id".into())
}

pub(crate) fn unknown_account() -> AdminError {
    AdminError::NotFound("no service account has this id".into())
}

/// A client id from the caller: one that cannot be valid cannot exist.
pub(crate) fn client_id(raw: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(raw).map_err(|_| unknown_client())
}

impl Admin {
    pub fn new(repos: Repos, hasher: Arc<dyn SecretHasher>, policy: SecretPolicy) -> Self {
        Self {
            repos,
            hasher,
            policy,
        }
    }

    /// Runs blocking work (storage, hashing) on tokio's blocking pool; a
    /// pool that cannot run it makes the use case unavailable.
    async fn blocking<T, F>(&self, f: F) -> Result<T, AdminError>
    where
        F: FnOnce(&Admin) -> Result<T, AdminError> + Send + 'static,
        T: Send + 'static,
    {
        let admin = self.clone();
        tokio::task::spawn_blocking(move || f(&admin))
            .await
            .map_err(|_| AdminError::Unavailable { retry_after: None })?
    }

    /// The audit event of a change by `caller`, made now. The store writes
    /// it in the transaction of the change: a change is never committed
    /// without its event.
    fn change_event(
        caller: &Caller,
        action: &str,
        target_type: &str,
        target_id: &str,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at: auth_domain::now_ms(),
            actor: caller.sub.clone(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            outcome: AuditOutcome::Success,
        }
    }

    /// Logs a change's `result` and, for a refusal worth recording, writes
    /// its failure event (a success's event was committed with it), then
    /// passes the result on. A refusal changed nothing, so it has no
    /// transaction to join; an audit write that fails is logged at error
    /// level and the answer is the refusal either way.
    async fn audited<T>(
        &self,
        caller: &Caller,
        action: &str,
        target_type: &str,
        target_id: &str,
        result: Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let outcome = match &result {
            Ok(_) => Some(AuditOutcome::Success),
            Err(e) => e.audit_outcome(),
        };
        if let Some(outcome) = outcome {
            let event = NewAuditEvent {
                outcome,
                ..Self::change_event(caller, action, target_type, target_id)
            };
            log_change(&event);
            if outcome == AuditOutcome::Failure {
                let repos = self.repos.clone();
                let action = event.action.clone();
                let written = tokio::task::spawn_blocking(move || repos.audit.record(&event)).await;
                if !matches!(written, Ok(Ok(()))) {
                    tracing::error!(%action, "could not write a refused admin change to the audit log");
                }
            }
        }
        result
    }

    /// The one place the rule against privilege escalation
    /// ([`auth_domain::check_no_escalation`]) is applied: forbidden, naming
    /// the missing admin permissions, unless the caller holds every admin
    /// permission of every account in `affected` (as it is before the
    /// change and as it will be after it). The catalogue is read afresh: a
    /// decision about power must not rest on a cached copy. Blocking.
    fn no_escalation(
        &self,
        caller: &Caller,
        affected: &[&ServiceAccount],
    ) -> Result<(), AdminError> {
        if affected.is_empty() {
            return Ok(());
        }
        let catalogue = self
            .repos
            .catalogue
            .load()
            .map_err(AdminError::from_store)?;
        auth_domain::check_no_escalation(&caller.permissions, &catalogue, affected.iter().copied())
            .map_err(|e| {
                tracing::info!(missing = ?e.missing, "admin request refused: privilege escalation");
                AdminError::Forbidden { missing: e.missing }
            })
    }

    /// [`Self::no_escalation`] for a change to a client (its settings, its
    /// secrets, its existence): the affected account is the one it is
    /// linked to, whose permissions its tokens carry. Blocking.
    fn no_escalation_for_client(&self, caller: &Caller, client: &Client) -> Result<(), AdminError> {
        let Some(account_id) = &client.service_account_id else {
            return Ok(());
        };
        let account = self
            .repos
            .accounts
            .find_account(account_id)
            .map_err(AdminError::from_store)?;
        self.no_escalation(caller, &account.iter().collect::<Vec<_>>())
    }

    /// A client, or not found.
    async fn find_client(&self, id: &ClientId) -> Result<Client, AdminError> {
        let id = id.clone();
        self.blocking(move |a| a.repos.clients.find(&id).map_err(AdminError::from_store))
            .await?
            .ok_or_else(unknown_client)
    }

    /// A confidential client, or not found / invalid (a public client has
    /// no secrets and no service account).
    async fn find_confidential(&self, id: &ClientId, why: &str) -> Result<Client, AdminError> {
        let client = self.find_client(id).await?;
        if client.client_type == ClientType::Public {
            return Err(AdminError::invalid(
                "clientId",
                format!("is a public client, which {why}"),
            ));
        }
        Ok(client)
    }
}

fn log_change(event: &NewAuditEvent) {
    tracing::info!(
        target: "auth_server::audit",
        actor = %event.actor.escape_debug(),
        action = %event.action,
        target_type = %event.target_type,
        target_id = %event.target_id.escape_debug(),
        outcome = event.outcome.as_str(),
        "admin change"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_refusals_and_failures_are_audited_as_failures() {
        let failure = Some(AuditOutcome::Failure);
        assert_eq!(AdminError::Conflict("x".into()).audit_outcome(), failure);
        assert_eq!(AdminError::Stale.audit_outcome(), failure);
        assert_eq!(AdminError::Internal.audit_outcome(), failure);
        assert_eq!(
            AdminError::Unavailable { retry_after: None }.audit_outcome(),
            failure
        );
        assert_eq!(
            AdminError::Forbidden {
                missing: vec!["users.write".into()]
            }
            .audit_outcome(),
            failure
        );
        assert_eq!(AdminError::NotFound("x".into()).audit_outcome(), None);
        assert_eq!(AdminError::invalid("f", "bad").audit_outcome(), None);
        assert_eq!(
            AdminError::MissingPermission("client.write").audit_outcome(),
            None
        );
    }

    #[test]
    fn store_errors_never_carry_database_text() {
        let e = AdminError::from_store(StoreError::Other("syntax error at SELECT".into()));
        assert_eq!(e, AdminError::Internal);
        assert!(!e.to_string().contains("SELECT"));
        assert_eq!(
            AdminError::from_store(StoreError::Conflict),
            AdminError::Stale
        );
    }
}
