//! Persistence of the auth-server: diesel repositories that implement every
//! storage port of `auth_domain::ports` on SQLite (bundled, the embedded
//! default) and PostgreSQL (production, several replicas), chosen at run
//! time by the database URL. This crate owns the schema, the embedded
//! migrations, the connection pool and the concurrency rules (SQLite
//! `BEGIN IMMEDIATE`, PostgreSQL advisory locks, optimistic
//! `secrets_version`). Its boundary: callers see [`Store`], its config and
//! `auth_domain::StoreError`, never a diesel or r2d2 type; it knows nothing
//! of HTTP, tokens or seed files.

mod audit;
mod bootstrap;
mod catalog;
mod clients;
mod conn;
mod dburl;
mod error;
mod revocation;
mod schema;
mod service_accounts;
mod signing_keys;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use dburl::{redact_password, tls_warning};
pub use store::{validate_database_url, Backend, Store, StoreConfig};
