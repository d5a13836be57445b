//! The auth-server's vocabulary and rules: client ids, scopes, confidential
//! and public clients, the two-slot secret lifecycle of docs/reference/secret-lifecycle.md, service
//! accounts and the role/permission/group catalogue, and the storage ports
//! that adapters implement. This crate does no I/O: it knows nothing of SQL,
//! HTTP, files or environment variables, and every time-dependent rule is a
//! function of an explicit `now`.

pub mod audit;
pub mod catalogue;
pub mod client;
pub mod duration;
pub mod escalation;
pub mod hasher;
pub mod ids;
pub mod lifecycle;
pub mod ports;
pub mod scope;
pub mod secret;
pub mod service_account;
pub mod time_util;

pub use audit::{AuditEvent, AuditFilter, AuditOutcome, NewAuditEvent};
pub use catalogue::{Catalogue, CatalogueError, Group, Permission, Role};
pub use client::{
    check_access_token_ttl, check_client_name, new_incarnation, Change, Client, ClientAuthMethod,
    ClientSettings, ClientType, InvalidClientName, NewClient, SettingsError, SettingsPatch,
    TtlOutOfRange,
};
pub use duration::{parse_duration, DurationError};
pub use escalation::{check_no_escalation, Escalation, ADMIN_PERMISSIONS};
pub use hasher::{bcrypt_cost, upgraded_hash, BcryptHasher, HashError, SecretHasher, Verification};
pub use ids::{ClientId, ClientIdError, IdError, ServiceAccountId};
pub use lifecycle::{
    AuthFailure, CurrentSecret, LifecycleError, PreviousSecret, SecretPolicy, SecretSlots,
    SecretStatus, Slot, SlotTarget,
};
pub use ports::{
    AuditLog, Bootstrap, BootstrapOutcome, BootstrapPlan, CatalogRepository, ClientRepository,
    Health, LinkedServiceAccount, NewSigningKey, RevocationRepository, ServiceAccountRepository,
    SigningKeyRepository, StoreError, StoredSigningKey,
};
pub use scope::{ScopeError, ScopeSet};
pub use secret::{generate_secret, Secret, SecretHash};
pub use service_account::ServiceAccount;
pub use time_util::{now_ms, truncate_ms};
