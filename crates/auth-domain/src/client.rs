//! OAuth2 clients (docs/reference/seed-files.md#the-clients-file, docs/reference/admin-api.md). Confidential clients hold two secret
//! slots; public clients are stored from the seed file but can never use the
//! client_credentials grant.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::ids::ClientId;
use crate::lifecycle::SecretSlots;
use crate::scope::{ScopeError, ScopeSet};

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

/// A client name that breaks [`check_client_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1-255 characters, not blank, without control characters")]
pub struct InvalidClientName;

/// The rule for a client name given by an operator (seed file or admin
/// API): 1–255 characters, not only whitespace, and no control character,
/// which could split a log line or a terminal's output.
pub fn check_client_name(name: &str) -> Result<(), InvalidClientName> {
    if name.trim().is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(InvalidClientName);
    }
    Ok(())
}

/// An access-token lifetime outside [`ACCESS_TOKEN_TTL_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is out of range: must be 1 to 1440 minutes")]
pub struct TtlOutOfRange(pub i64);

/// The access-token lifetime in minutes, if within
/// [`ACCESS_TOKEN_TTL_RANGE`].
pub fn check_access_token_ttl(minutes: i64) -> Result<u32, TtlOutOfRange> {
    u32::try_from(minutes)
        .ok()
        .filter(|m| ACCESS_TOKEN_TTL_RANGE.contains(m))
        .ok_or(TtlOutOfRange(minutes))
}

/// One setting in a [`SettingsPatch`] (RFC 7396 merge-patch semantics).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    /// Keep the current value.
    #[default]
    Keep,
    /// Back to the default.
    Reset,
    Set(T),
}

/// A change to a client's settings as an operator wrote it; [`apply`]
/// checks every value.
///
/// [`apply`]: SettingsPatch::apply
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsPatch {
    pub client_name: Change<String>,
    pub auth_method: Change<String>,
    pub scope: Change<String>,
    pub access_token_ttl_minutes: Change<i64>,
}

/// A client setting refused, in the order [`SettingsPatch::apply`] checks
/// them: name, method, scope, lifetime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    ClientName(#[from] InvalidClientName),
    #[error("a public client has no authentication method")]
    PublicClientMethod,
    #[error("{0}")]
    AuthMethod(String),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    AccessTokenTtl(#[from] TtlOutOfRange),
}

impl SettingsPatch {
    /// The settings of client `id` (of type `client_type`) after the patch:
    /// a reset takes the default for that id, a value must pass the rule
    /// the seed files apply too.
    pub fn apply(
        &self,
        id: &ClientId,
        client_type: ClientType,
        base: ClientSettings,
    ) -> Result<ClientSettings, SettingsError> {
        let mut s = base;
        match &self.client_name {
            Change::Keep => {}
            Change::Reset => s.client_name = default_client_name(id),
            Change::Set(name) => {
                check_client_name(name)?;
                s.client_name = name.clone();
            }
        }
        match &self.auth_method {
            Change::Keep => {}
            Change::Reset => s.auth_method = ClientAuthMethod::default(),
            Change::Set(_) if client_type == ClientType::Public => {
                return Err(SettingsError::PublicClientMethod)
            }
            Change::Set(m) => s.auth_method = m.parse().map_err(SettingsError::AuthMethod)?,
        }
        match &self.scope {
            Change::Keep => {}
            Change::Reset => s.scope = ScopeSet::default(),
            Change::Set(scope) => s.scope = ScopeSet::parse(scope)?,
        }
        match self.access_token_ttl_minutes {
            Change::Keep => {}
            Change::Reset => s.access_token_ttl_minutes = DEFAULT_ACCESS_TOKEN_TTL_MINUTES,
            Change::Set(ttl) => s.access_token_ttl_minutes = check_access_token_ttl(ttl)?,
        }
        Ok(s)
    }
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

    fn id() -> ClientId {
        ClientId::parse("svc").unwrap()
    }

    #[test]
    fn names_must_be_printable_and_not_blank() {
        assert!(check_client_name("Reporting service").is_ok());
        assert!(check_client_name(&"é".repeat(255)).is_ok());
        for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(256)] {
            assert_eq!(check_client_name(bad), Err(InvalidClientName), "{bad:?}");
        }
    }

    #[test]
    fn lifetimes_are_one_minute_to_a_day() {
        assert_eq!(check_access_token_ttl(1), Ok(1));
        assert_eq!(check_access_token_ttl(1440), Ok(1440));
        for bad in [0, -5, 1441, i64::MAX] {
            assert_eq!(check_access_token_ttl(bad), Err(TtlOutOfRange(bad)));
        }
    }

    #[test]
    fn a_patch_keeps_resets_and_sets_and_checks_in_field_order() {
        let mut base = ClientSettings::defaults_for(&id());
        base.client_name = "Old".into();
        base.access_token_ttl_minutes = 60;
        let patch = SettingsPatch {
            client_name: Change::Reset,
            auth_method: Change::Set("client_secret_post".into()),
            scope: Change::Set("read write".into()),
            access_token_ttl_minutes: Change::Keep,
        };
        let s = patch
            .apply(&id(), ClientType::Confidential, base.clone())
            .unwrap();
        assert_eq!(s.client_name, "Confidential Client: svc");
        assert_eq!(s.auth_method, ClientAuthMethod::ClientSecretPost);
        assert_eq!(s.scope, ScopeSet::parse("read write").unwrap());
        assert_eq!(s.access_token_ttl_minutes, 60);

        let bad = SettingsPatch {
            client_name: Change::Set(" ".into()),
            access_token_ttl_minutes: Change::Set(0),
            ..SettingsPatch::default()
        };
        assert!(matches!(
            bad.apply(&id(), ClientType::Confidential, base.clone()),
            Err(SettingsError::ClientName(_))
        ));
        let method = SettingsPatch {
            auth_method: Change::Set("nonsense".into()),
            ..SettingsPatch::default()
        };
        assert_eq!(
            method.apply(&id(), ClientType::Public, base.clone()),
            Err(SettingsError::PublicClientMethod)
        );
        assert!(matches!(
            method.apply(&id(), ClientType::Confidential, base),
            Err(SettingsError::AuthMethod(_))
        ));
    }
}
