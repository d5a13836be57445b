//! The service-accounts seed file (see docs/reference/seed-files.md#the-service-accounts-file): camelCase, every level
//! closed to unknown fields. Names are resolved by validation.

use std::path::{Path, PathBuf};

use auth_domain::{Catalogue, Group, Permission, Role, ServiceAccount};
use serde::Deserialize;

use crate::error::{SeedError, SeedErrors};

/// A service account as written in the file, with the defaults of docs/reference/seed-files.md#service-accounts
/// applied (`name` = `id`, empty description, active, empty lists and
/// attributes), and the client it claims.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccountSeed {
    pub account: ServiceAccount,
    pub client_id: Option<String>,
}

/// A parsed service-accounts file.
#[derive(Debug, Clone)]
pub struct ServiceAccountsFile {
    pub path: PathBuf,
    /// The catalogue entries the file adds (not merged with anything yet).
    pub catalogue: Catalogue,
    pub service_accounts: Vec<ServiceAccountSeed>,
    pub(crate) source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    permissions: Option<Vec<RawNamed>>,
    roles: Option<Vec<RawRole>>,
    groups: Option<Vec<RawNamed>>,
    service_accounts: Option<Vec<RawAccount>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamed {
    name: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    description: Option<String>,
    permissions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAccount {
    id: String,
    name: Option<String>,
    description: Option<String>,
    active: Option<bool>,
    client_id: Option<String>,
    roles: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Parses a service-accounts file's text. An empty file is a file with
/// nothing in it.
pub fn parse_service_accounts_str(
    path: &Path,
    yaml: &str,
) -> Result<ServiceAccountsFile, SeedErrors> {
    crate::error::check_yaml(path, yaml)?;
    let raw: Option<RawFile> =
        serde_norway::from_str(yaml).map_err(|e| SeedError::syntax(path, yaml, &e))?;
    let raw = raw.unwrap_or(RawFile {
        permissions: None,
        roles: None,
        groups: None,
        service_accounts: None,
    });
    let catalogue = Catalogue {
        permissions: raw
            .permissions
            .unwrap_or_default()
            .into_iter()
            .map(|p| Permission {
                name: p.name,
                description: p.description.unwrap_or_default(),
            })
            .collect(),
        roles: raw
            .roles
            .unwrap_or_default()
            .into_iter()
            .map(|r| Role {
                name: r.name,
                description: r.description.unwrap_or_default(),
                permissions: r.permissions,
            })
            .collect(),
        groups: raw
            .groups
            .unwrap_or_default()
            .into_iter()
            .map(|g| Group {
                name: g.name,
                description: g.description.unwrap_or_default(),
            })
            .collect(),
    };
    let service_accounts = raw
        .service_accounts
        .unwrap_or_default()
        .into_iter()
        .map(|a| ServiceAccountSeed {
            client_id: a.client_id,
            account: ServiceAccount {
                name: a.name.unwrap_or_else(|| a.id.clone()),
                description: a.description.unwrap_or_default(),
                active: a.active.unwrap_or(true),
                roles: a.roles.unwrap_or_default(),
                permissions: a.permissions.unwrap_or_default(),
                groups: a.groups.unwrap_or_default(),
                attributes: a.attributes.unwrap_or_default(),
                id: a.id,
            },
        })
        .collect();
    Ok(ServiceAccountsFile {
        path: path.to_path_buf(),
        catalogue,
        service_accounts,
        source: yaml.to_owned(),
    })
}
