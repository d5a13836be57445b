//! OAuth2 clients (docs/reference/seed-files.md#the-clients-file, docs/reference/admin-api.md). Confidential clients hold two secret
//! slots; public clients are stored from the seed file but can never use the
//! client_credentials grant.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::ids::ClientId;
use crate::lifecycle::SecretSlots;
use crate::scope::ScopeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

impl fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            other => Err(format!(
                "{other:?} is not a supported method (client_secret_basic or client_secret_post)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// The settings of a client that the admin API may change (everything but
/// the id, type, secrets and link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub client_name: String,
    pub auth_method: ClientAuthMethod,
    pub scope: ScopeSet,
    pub access_token_ttl_minutes: u32,
}

pub const DEFAULT_ACCESS_TOKEN_TTL_MINUTES: u32 = 30;
pub const ACCESS_TOKEN_TTL_RANGE: std::ops::RangeInclusive<u32> = 1..=1440;

impl ClientSettings {
    /// the defaults of docs/reference/seed-files.md#confidential-clients for a client id.
    pub fn defaults_for(id: &ClientId) -> Self {
        Self {
            client_name: default_client_name(id),
            auth_method: ClientAuthMethod::default(),
            scope: ScopeSet::default(),
            access_token_ttl_minutes: DEFAULT_ACCESS_TOKEN_TTL_MINUTES,
        }
    }
}

pub fn default_client_name(id: &ClientId) -> String {
    format!("Confidential Client: {id}")
}

/// A client as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: ClientId,
    pub client_type: ClientType,
    pub settings: ClientSettings,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub service_account_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub secrets: SecretSlots,
    /// Bumped by every secret issue, rotation and deletion (never by a hash
    /// upgrade); optimistic concurrency and the admin API's ETag use it.
    pub secrets_version: i64,
    /// A random value the store gives the client each time it is created
    /// ([`new_incarnation`]); its tokens carry it, so a client deleted and
    /// created again under the same id is told apart from the one before.
    /// `""` for a client stored before incarnations existed ("legacy").
    /// Internal: never shown by the admin API.
    pub incarnation: String,
}

impl Client {
    /// Whether this client may authenticate with `method` at all: only a
    /// confidential client can, and only with the method it is registered
    /// for (a client_secret_basic client presenting its secret in the body
    /// is refused like a wrong secret). The one eligibility rule of the
    /// token, introspection and revocation endpoints.
    pub fn accepts(&self, method: ClientAuthMethod) -> bool {
        self.client_type == ClientType::Confidential && self.settings.auth_method == method
    }
}

/// A client to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClient {
    pub id: ClientId,
    pub client_type: ClientType,
    pub settings: ClientSettings,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub created_at: OffsetDateTime,
    pub secrets: SecretSlots,
}

impl NewClient {
    pub fn into_client(self) -> Client {
        Client {
            id: self.id,
            client_type: self.client_type,
            settings: self.settings,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            service_account_id: None,
            created_at: self.created_at,
            secrets: self.secrets,
            secrets_version: 0,
            incarnation: String::new(),
        }
    }
}

/// A fresh client incarnation: 8 bytes from the OS CSPRNG, base64url
/// without padding (11 characters, never a `.`). Stores call it for every
/// client they create, whatever the path (admin API, seeding).
pub fn new_incarnation() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(client_type: ClientType, auth_method: ClientAuthMethod) -> Client {
        let id = ClientId::parse("billing").unwrap();
        let mut settings = ClientSettings::defaults_for(&id);
        settings.auth_method = auth_method;
        NewClient {
            id,
            client_type,
            settings,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            secrets: SecretSlots::default(),
        }
        .into_client()
    }

    #[test]
    fn only_a_confidential_client_with_its_registered_method_is_accepted() {
        use ClientAuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
        let basic = client(ClientType::Confidential, Basic);
        assert!(basic.accepts(Basic));
        assert!(!basic.accepts(Post));
        let post = client(ClientType::Confidential, Post);
        assert!(post.accepts(Post));
        assert!(!post.accepts(Basic));
        let public = client(ClientType::Public, Basic);
        assert!(!public.accepts(Basic));
        assert!(!public.accepts(Post));
    }
}
