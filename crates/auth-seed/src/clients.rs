//! The clients seed file (see docs/reference/seed-files.md#the-clients-file): syntax and types only. Whether ids,
//! methods, lifetimes and scopes are valid is decided by validation, which
//! reports every problem at once.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::{SeedError, SeedErrors};

/// A confidential client as written in the file, with the defaults of docs/reference/seed-files.md#confidential-clients
/// applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfidentialClientSeed {
    pub client_id: String,
    pub client_secret_env_var_name: String,
    /// Defaults to `Confidential Client: {client_id}`.
    pub client_name: String,
    /// Defaults to `client_secret_basic`.
    pub client_authentication_method: String,
    /// Defaults to 30.
    pub access_token_ttl_minutes: i64,
    pub scope: Option<String>,
}

/// A public client as written in the file. Fields this server does not know
/// are dropped (with a warning) and listed in `ignored_fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicClientSeed {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scope: Option<String>,
    pub ignored_fields: Vec<String>,
}

/// A parsed clients file.
#[derive(Debug, Clone)]
pub struct ClientsFile {
    pub path: PathBuf,
    pub public: Vec<PublicClientSeed>,
    pub confidential: Vec<ConfidentialClientSeed>,
    /// Kept to find the lines of semantic errors later.
    pub(crate) source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    clients: Option<RawClients>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClients {
    public: Option<Vec<PublicClientSeed>>,
    confidential: Option<Vec<RawConfidential>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfidential {
    client_id: String,
    client_secret_env_var_name: String,
    client_name: Option<String>,
    client_authentication_method: Option<String>,
    access_token_ttl_minutes: Option<i64>,
    scope: Option<String>,
}

const PUBLIC_FIELDS: &[&str] = &[
    "client_id",
    "client_name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scope",
];

/// Public entries ignore unknown fields (see docs/reference/seed-files.md#the-clients-file) but must still reject a
/// known field given twice or of the wrong type. A hand-written visitor keeps
/// serde_norway's positions, which `#[serde(flatten)]` would lose.
impl<'de> Deserialize<'de> for PublicClientSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PublicVisitor)
    }
}

struct PublicVisitor;

impl<'de> Visitor<'de> for PublicVisitor {
    type Value = PublicClientSeed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a public client mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), E> {
            if slot.replace(value).is_some() {
                return Err(E::duplicate_field(name));
            }
            Ok(())
        }
        let mut client_id = None;
        let mut client_name = None;
        let mut redirect_uris = None;
        let mut post_logout = None;
        let mut scope = None;
        let mut ignored = Vec::new();
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            match key.as_str() {
                Some("client_id") => {
                    once(&mut client_id, map.next_value::<String>()?, "client_id")?
                }
                Some("client_name") => once(
                    &mut client_name,
                    map.next_value::<Option<String>>()?,
                    "client_name",
                )?,
                Some("redirect_uris") => once(
                    &mut redirect_uris,
                    map.next_value::<Option<Vec<String>>>()?,
                    "redirect_uris",
                )?,
                Some("post_logout_redirect_uris") => once(
                    &mut post_logout,
                    map.next_value::<Option<Vec<String>>>()?,
                    "post_logout_redirect_uris",
                )?,
                Some("scope") => once(&mut scope, map.next_value::<Option<String>>()?, "scope")?,
                _ => {
                    ignored.push(key_name(&key));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let client_id =
            client_id.ok_or_else(|| <A::Error as de::Error>::missing_field("client_id"))?;
        Ok(PublicClientSeed {
            client_id,
            client_name: client_name.flatten(),
            redirect_uris: redirect_uris.flatten().unwrap_or_default(),
            post_logout_redirect_uris: post_logout.flatten().unwrap_or_default(),
            scope: scope.flatten(),
            ignored_fields: ignored,
        })
    }
}

fn key_name(key: &serde_norway::Value) -> String {
    match key {
        serde_norway::Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_else(|_| "<non-scalar key>".to_owned()),
    }
}

/// Parses a clients file's text. An empty file, `clients:` or `clients: {}`
/// is a file with no clients.
pub fn parse_clients_str(path: &Path, yaml: &str) -> Result<ClientsFile, SeedErrors> {
    crate::error::check_yaml(path, yaml)?;
    let raw: Option<RawFile> =
        serde_norway::from_str(yaml).map_err(|e| SeedError::syntax(path, yaml, &e))?;
    let clients = raw.and_then(|r| r.clients).unwrap_or(RawClients {
        public: None,
        confidential: None,
    });
    let public = clients.public.unwrap_or_default();
    for p in public.iter().filter(|p| !p.ignored_fields.is_empty()) {
        tracing::warn!(
            file = %path.display(),
            client_id = %p.client_id,
            fields = ?p.ignored_fields,
            "ignoring fields a public client does not have ({})",
            PUBLIC_FIELDS.join(", ")
        );
    }
    let confidential = clients
        .confidential
        .unwrap_or_default()
        .into_iter()
        .map(|c| ConfidentialClientSeed {
            client_name: c
                .client_name
                .unwrap_or_else(|| format!("Confidential Client: {}", c.client_id)),
            client_authentication_method: c
                .client_authentication_method
                .unwrap_or_else(|| "client_secret_basic".to_owned()),
            access_token_ttl_minutes: c.access_token_ttl_minutes.unwrap_or(30),
            client_id: c.client_id,
            client_secret_env_var_name: c.client_secret_env_var_name,
            scope: c.scope,
        })
        .collect();
    Ok(ClientsFile {
        path: path.to_path_buf(),
        public,
        confidential,
        source: yaml.to_owned(),
    })
}
