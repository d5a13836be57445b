//! The auth-server's seed files (see docs/reference/seed-files.md): the clients file and the
//! service-accounts file, their parsing with line-accurate errors, their
//! validation (which reports every problem at once and never a secret's
//! value), and the all-or-nothing bootstrap plan applied through the domain's
//! storage ports. This crate reads files and, through an injected lookup,
//! environment variables; it knows nothing of SQL, HTTP or configuration
//! sources, and it never writes anything but through the `Bootstrap` port.

mod accounts;
mod clients;
mod error;
mod locate;
mod plan;
mod validate;

pub use accounts::{parse_service_accounts_str, ServiceAccountSeed, ServiceAccountsFile};
pub use clients::{parse_clients_str, ClientsFile, ConfidentialClientSeed, PublicClientSeed};
pub use error::{SeedError, SeedErrors};
pub use plan::{apply, check, parse, SeedSources, SEED_ACTOR};
pub use validate::{validate, CheckSummary, ExistingClients, ParsedSeed, SeedRules, ValidatedSeed};
