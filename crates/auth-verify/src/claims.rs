//! The claims of a verified token, with the questions a resource server
//! asks of them.

use std::collections::BTreeMap;

use auth_token::AccessTokenClaims;
use serde_json::Value;
use time::OffsetDateTime;

/// The claims of a token that passed every check. What each means is in
/// docs/resource-servers.md.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    inner: AccessTokenClaims,
}

const NONE: &[String] = &[];

impl Claims {
    pub(crate) fn new(inner: AccessTokenClaims) -> Self {
        Self { inner }
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The caller's identity: its service account's id, or the client id
    /// when the client has no service account.
    pub fn sub(&self) -> &str {
        &self.inner.sub
    }

    pub fn issuer(&self) -> &str {
        &self.inner.iss
    }

    /// The client id again (the server issues each token for its own client).
    pub fn audience(&self) -> &str {
        &self.inner.aud
    }

    /// Unique per token; what revocation names.
    pub fn jti(&self) -> &str {
        &self.inner.jti
    }

    pub fn issued_at(&self) -> OffsetDateTime {
        at(self.inner.iat)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        at(self.inner.exp)
    }

    /// The granted OAuth scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether the caller has a service account (then `roles`,
    /// `permissions` and `groups` are present, possibly empty).
    pub fn has_service_account(&self) -> bool {
        self.inner.roles.is_some()
    }

    pub fn roles(&self) -> &[String] {
        self.inner.roles.as_deref().unwrap_or(NONE)
    }

    /// The effective permissions: granted directly or through a role.
    pub fn permissions(&self) -> &[String] {
        self.inner.permissions.as_deref().unwrap_or(NONE)
    }

    pub fn groups(&self) -> &[String] {
        self.inner.groups.as_deref().unwrap_or(NONE)
    }

    /// The service account's free-form attributes (empty when none).
    pub fn attributes(&self) -> BTreeMap<&str, &Value> {
        self.inner
            .attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.inner.attributes.as_ref()?.get(name)
    }

    /// Names are compared exactly (case-sensitive), as the server issues them.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions().iter().any(|p| p == permission)
    }

    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        self.roles().iter().any(|r| roles.contains(&r.as_str()))
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups().iter().any(|g| g == group)
    }

    /// Every claim, as the server's token type.
    pub fn raw(&self) -> &AccessTokenClaims {
        &self.inner
    }
}

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        Claims::new(serde_json::from_value(value).unwrap())
    }

    fn base() -> Value {
        json!({"iss": "https://a", "sub": "my-service", "aud": "my-service",
               "client_id": "my-service", "iat": 10, "nbf": 10, "exp": 70, "jti": "j"})
    }

    #[test]
    fn a_client_without_account_has_no_roles_permissions_or_groups() {
        let c = claims(base());
        assert!(!c.has_service_account());
        assert!(c.roles().is_empty() && c.permissions().is_empty() && c.groups().is_empty());
        assert!(!c.has_permission("data.read"));
        assert!(!c.has_any_role(&["USER"]));
        assert_eq!(c.scopes().count(), 0);
        assert!(c.attributes().is_empty());
        assert_eq!(c.expires_at().unix_timestamp(), 70);
    }

    #[test]
    fn helpers_answer_from_the_claims_exactly() {
        let mut v = base();
        v["sub"] = json!("svc-a");
        v["scope"] = json!("read write");
        v["roles"] = json!(["ANALYST", "USER"]);
        v["permissions"] = json!(["data.read", "users.read"]);
        v["groups"] = json!(["urn:example:groups:ops"]);
        v["attributes"] = json!({"team": "platform"});
        let c = claims(v);
        assert_eq!(c.sub(), "svc-a");
        assert_eq!(c.client_id(), "my-service");
        assert!(c.has_service_account());
        assert!(c.has_permission("data.read"));
        assert!(!c.has_permission("data.Read"));
        assert!(!c.has_permission("data"));
        assert!(c.has_any_role(&["ADMIN", "USER"]));
        assert!(!c.has_any_role(&["ADMIN"]));
        assert!(!c.has_any_role(&[]));
        assert!(c.in_group("urn:example:groups:ops"));
        assert!(!c.in_group("urn:example:groups"));
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["read", "write"]);
        assert!(c.has_scope("write") && !c.has_scope("admin"));
        assert_eq!(c.attribute("team"), Some(&json!("platform")));
        assert_eq!(c.attributes().len(), 1);
    }
}
