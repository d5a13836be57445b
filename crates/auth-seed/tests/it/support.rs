//! Helpers shared by the test modules.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use auth_domain::{Catalogue, ClientId, ClientType, SecretPolicy, StoreError};
use auth_seed::{
    parse_clients_str, parse_service_accounts_str, validate, ParsedSeed, SeedErrors, SeedRules,
    ValidatedSeed,
};

pub const CLIENTS_PATH: &str = "seed/clients.yaml";
pub const ACCOUNTS_PATH: &str = "seed/service-accounts.yaml";

/// A secret of a valid length (24 bytes).
pub const GOOD_SECRET: &str = "s3cret-value-for-testing";

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn example(name: &str) -> String {
    std::fs::read_to_string(examples_dir().join(name)).unwrap()
}

pub fn rules() -> SeedRules {
    SeedRules {
        min_secret_len: 16,
        policy: SecretPolicy::default(),
    }
}

/// An environment made of the given pairs.
pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

/// An environment that remembers every variable asked for.
pub struct RecordingEnv {
    pub values: HashMap<String, String>,
    pub asked: RefCell<Vec<String>>,
}

impl RecordingEnv {
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        Self {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            asked: RefCell::new(Vec::new()),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().push(name.to_owned());
        self.values.get(name).cloned()
    }
}

pub fn no_existing(_: &ClientId) -> Result<Option<ClientType>, StoreError> {
    Ok(None)
}

pub fn parsed(clients: Option<&str>, accounts: Option<&str>) -> ParsedSeed {
    ParsedSeed {
        clients: clients.map(|c| parse_clients_str(Path::new(CLIENTS_PATH), c).unwrap()),
        service_accounts: accounts
            .map(|a| parse_service_accounts_str(Path::new(ACCOUNTS_PATH), a).unwrap()),
    }
}

/// Parses and validates in check mode (built-in catalogue, empty database).
pub fn validate_texts(
    clients: Option<&str>,
    accounts: Option<&str>,
    env: &[(&str, &str)],
) -> Result<ValidatedSeed, SeedErrors> {
    validate(
        &parsed(clients, accounts),
        &env_of(env),
        &rules(),
        &Catalogue::builtin(),
        &no_existing,
    )
}

/// The errors of a validation that must fail, as display lines.
pub fn error_lines(
    clients: Option<&str>,
    accounts: Option<&str>,
    env: &[(&str, &str)],
) -> Vec<String> {
    let errs = validate_texts(clients, accounts, env).unwrap_err();
    errs.to_string().lines().map(str::to_owned).collect()
}
