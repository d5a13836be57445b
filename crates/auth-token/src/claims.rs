//! The claims of the RFC 9068 access token, exactly as the table of docs/reference/token-endpoint.md#the-access-token
//! pins them.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use auth_domain::{Client, ClientType, ScopeSet, ServiceAccount};

use crate::error::TokenError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The linked service account's id, else the client id.
    pub sub: String,
    /// The client id, as a string (never an array).
    pub aud: String,
    pub client_id: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Granted scopes, space-separated; absent when none were granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Present (possibly empty) exactly when a service account is linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The effective permissions (direct plus from roles), sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The service account's attributes, only when there are some.
    #[serde(default, skip_serializing_if = "no_attributes")]
    pub attributes: Option<Map<String, Value>>,
}

fn no_attributes(attributes: &Option<Map<String, Value>>) -> bool {
    attributes.as_ref().is_none_or(Map::is_empty)
}

impl AccessTokenClaims {
    /// The claims of a token for `client`, granted `granted`, at `now`.
    /// `account` is the linked service account with its effective
    /// permissions (the caller resolves roles through the catalogue).
    ///
    /// Refuses a public client (docs/reference/seed-files.md#the-clients-file: never a client_credentials token)
    /// and an account other than the one the client is linked to, because
    /// either would mean the caller put the wrong identity into a token.
    pub fn build(
        issuer: &str,
        client: &Client,
        granted: &ScopeSet,
        account: Option<(&ServiceAccount, Vec<String>)>,
        now: OffsetDateTime,
    ) -> Result<Self, TokenError> {
        if client.client_type == ClientType::Public {
            return Err(TokenError::InvalidClaims(format!(
                "client {:?} is public and cannot be issued access tokens",
                client.id.as_str()
            )));
        }
        if let Some((acc, _)) = &account {
            if client.service_account_id.as_deref() != Some(acc.id.as_str()) {
                return Err(TokenError::InvalidClaims(format!(
                    "service account {:?} is not the one linked to client {:?}",
                    acc.id,
                    client.id.as_str()
                )));
            }
        }
        let iat = now.unix_timestamp();
        let ttl_seconds = i64::from(client.settings.access_token_ttl_minutes) * 60;
        let client_id = client.id.as_str().to_owned();
        let mut claims = Self {
            iss: issuer.to_owned(),
            sub: client_id.clone(),
            aud: client_id.clone(),
            client_id,
            iat,
            nbf: iat,
            exp: iat + ttl_seconds,
            jti: jti_for(&client.incarnation)?,
            scope: granted.to_option_string(),
            roles: None,
            permissions: None,
            groups: None,
            attributes: None,
        };
        if let Some((acc, effective_permissions)) = account {
            claims.sub = acc.id.clone();
            claims.roles = Some(sorted(acc.roles.iter().cloned()));
            claims.permissions = Some(sorted(effective_permissions));
            claims.groups = Some(sorted(acc.groups.iter().cloned()));
            claims.attributes = (!acc.attributes.is_empty()).then(|| acc.attributes.clone());
        }
        Ok(claims)
    }

    /// The instant the token stops being valid (for revocation records).
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A new `jti`: `<incarnation>.<random id>`, or the random id alone for a
/// legacy client (incarnation `""`). The client's incarnation rides in the
/// `jti` rather than in a claim of its own, so the token's claim set stays
/// exactly RFC 9068's plus ours; base64url never contains a `.`, so the
/// split is unambiguous.
fn jti_for(incarnation: &str) -> Result<String, TokenError> {
    let random = random_id()?;
    Ok(if incarnation.is_empty() {
        random
    } else {
        format!("{incarnation}.{random}")
    })
}

/// The client incarnation a `jti` was issued under: the part before the
/// first `.`, or `""` (legacy) when there is none. A token is valid only
/// while its client's stored incarnation equals this.
pub fn jti_incarnation(jti: &str) -> &str {
    jti.split_once('.')
        .map_or("", |(incarnation, _)| incarnation)
}

fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// 16 bytes from the OS CSPRNG, base64url without padding (22 characters):
/// used for `jti` and `kid`.
pub(crate) fn random_id() -> Result<String, TokenError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| TokenError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use auth_domain::{ClientId, ClientSettings, NewClient, SecretSlots};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://auth.example.test";

    fn client(scope: &str, ttl_minutes: u32, account: Option<&str>) -> Client {
        let id = ClientId::parse("my-service").unwrap();
        let mut settings = ClientSettings::defaults_for(&id);
        settings.scope = ScopeSet::parse(scope).unwrap();
        settings.access_token_ttl_minutes = ttl_minutes;
        let mut c = NewClient {
            id,
            client_type: ClientType::Confidential,
            settings,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
            secrets: SecretSlots::default(),
        }
        .into_client();
        c.service_account_id = account.map(str::to_owned);
        c
    }

    fn account() -> ServiceAccount {
        let mut a = ServiceAccount::new("svc-my-service");
        a.roles = vec!["USER".into(), "ADMIN_SYSTEM".into()];
        a.groups = vec!["urn:g:b".into(), "urn:g:a".into()];
        a.permissions = vec!["data.read".into()];
        a.attributes.insert("team".into(), json!("ops"));
        a
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
            + time::Duration::milliseconds(750)
    }

    #[test]
    fn client_without_account_has_exactly_the_client_claims() {
        let c = client("read write", 60, None);
        let granted = ScopeSet::parse("read write").unwrap();
        let claims = AccessTokenClaims::build(ISSUER, &c, &granted, None, now()).unwrap();
        let v = serde_json::to_value(&claims).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "aud",
                "client_id",
                "exp",
                "iat",
                "iss",
                "jti",
                "nbf",
                "scope",
                "sub"
            ]
        );
        assert_eq!(v["iss"], ISSUER);
        assert_eq!(v["sub"], "my-service");
        assert_eq!(v["aud"], "my-service");
        assert_eq!(v["client_id"], "my-service");
        assert_eq!(v["iat"], 1_700_000_000);
        assert_eq!(v["nbf"], 1_700_000_000);
        assert_eq!(v["exp"], 1_700_000_000 + 3600);
        assert_eq!(v["scope"], "read write");
        assert!(v["jti"].as_str().unwrap().len() >= 22);
    }

    #[test]
    fn linked_account_adds_sorted_roles_permissions_groups_and_attributes() {
        let c = client("read", 30, Some("svc-my-service"));
        let acc = account();
        let effective = vec![
            "users.write".into(),
            "data.read".into(),
            "client.read".into(),
            "data.read".into(),
        ];
        let claims = AccessTokenClaims::build(
            ISSUER,
            &c,
            &ScopeSet::parse("read").unwrap(),
            Some((&acc, effective)),
            now(),
        )
        .unwrap();
        let v = serde_json::to_value(&claims).unwrap();
        assert_eq!(v["sub"], "svc-my-service");
        assert_eq!(v["aud"], "my-service");
        assert_eq!(v["client_id"], "my-service");
        assert_eq!(v["roles"], json!(["ADMIN_SYSTEM", "USER"]));
        assert_eq!(
            v["permissions"],
            json!(["client.read", "data.read", "users.write"])
        );
        assert_eq!(v["groups"], json!(["urn:g:a", "urn:g:b"]));
        assert_eq!(v["attributes"], json!({"team": "ops"}));
        assert_eq!(
            v["exp"].as_i64().unwrap() - v["iat"].as_i64().unwrap(),
            1800
        );
    }

    #[test]
    fn linked_account_with_nothing_still_carries_empty_arrays_but_no_attributes() {
        let c = client("", 5, Some("svc-bare"));
        let acc = ServiceAccount::new("svc-bare");
        let claims = AccessTokenClaims::build(
            ISSUER,
            &c,
            &ScopeSet::default(),
            Some((&acc, vec![])),
            now(),
        )
        .unwrap();
        let v = serde_json::to_value(&claims).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(v["roles"], json!([]));
        assert_eq!(v["permissions"], json!([]));
        assert_eq!(v["groups"], json!([]));
        assert!(!obj.contains_key("attributes"));
        assert!(!obj.contains_key("scope"));
        assert_eq!(v["exp"].as_i64().unwrap() - v["iat"].as_i64().unwrap(), 300);
    }

    #[test]
    fn empty_scope_and_empty_attributes_are_omitted() {
        let c = client("", 30, None);
        let mut claims =
            AccessTokenClaims::build(ISSUER, &c, &ScopeSet::default(), None, now()).unwrap();
        assert_eq!(claims.scope, None);
        claims.attributes = Some(Map::new());
        let v = serde_json::to_value(&claims).unwrap();
        let obj = v.as_object().unwrap();
        for absent in ["scope", "attributes", "roles", "permissions", "groups"] {
            assert!(!obj.contains_key(absent), "{absent} present");
        }
    }

    #[test]
    fn exp_minus_iat_is_the_ttl_for_every_allowed_ttl_edge() {
        for ttl in [1u32, 30, 1440] {
            let c = client("", ttl, None);
            let claims =
                AccessTokenClaims::build(ISSUER, &c, &ScopeSet::default(), None, now()).unwrap();
            assert_eq!(claims.exp - claims.iat, i64::from(ttl) * 60);
            assert_eq!(claims.nbf, claims.iat);
            assert_eq!(claims.expires_at().unix_timestamp(), claims.exp);
        }
    }

    #[test]
    fn jti_carries_the_client_incarnation() {
        let mut c = client("", 30, None);
        c.incarnation = "AbCdEfGhIjK".into();
        let claims =
            AccessTokenClaims::build(ISSUER, &c, &ScopeSet::default(), None, now()).unwrap();
        let (incarnation, random) = claims.jti.split_once('.').unwrap();
        assert_eq!(incarnation, "AbCdEfGhIjK");
        assert_eq!(random.len(), 22);
        assert_eq!(jti_incarnation(&claims.jti), "AbCdEfGhIjK");

        // A legacy client (no incarnation): a plain random jti, read as "".
        c.incarnation = String::new();
        let legacy =
            AccessTokenClaims::build(ISSUER, &c, &ScopeSet::default(), None, now()).unwrap();
        assert!(!legacy.jti.contains('.'), "{}", legacy.jti);
        assert_eq!(jti_incarnation(&legacy.jti), "");
        assert_eq!(jti_incarnation("x.y.z"), "x");
        assert_eq!(jti_incarnation(".y"), "");
    }

    #[test]
    fn jti_differs_across_calls() {
        let c = client("", 30, None);
        let jtis: HashSet<String> = (0..200)
            .map(|_| {
                AccessTokenClaims::build(ISSUER, &c, &ScopeSet::default(), None, now())
                    .unwrap()
                    .jti
            })
            .collect();
        assert_eq!(jtis.len(), 200);
    }

    #[test]
    fn refuses_public_clients_and_foreign_accounts() {
        let mut public = client("", 30, None);
        public.client_type = ClientType::Public;
        assert!(matches!(
            AccessTokenClaims::build(ISSUER, &public, &ScopeSet::default(), None, now()),
            Err(TokenError::InvalidClaims(_))
        ));
        let linked_elsewhere = client("", 30, Some("svc-other"));
        let acc = account();
        assert!(matches!(
            AccessTokenClaims::build(
                ISSUER,
                &linked_elsewhere,
                &ScopeSet::default(),
                Some((&acc, vec![])),
                now()
            ),
            Err(TokenError::InvalidClaims(_))
        ));
        let unlinked = client("", 30, None);
        assert!(AccessTokenClaims::build(
            ISSUER,
            &unlinked,
            &ScopeSet::default(),
            Some((&acc, vec![])),
            now()
        )
        .is_err());
    }

    #[test]
    fn claims_round_trip_through_json() {
        let c = client("read", 30, Some("svc-my-service"));
        let acc = account();
        let claims = AccessTokenClaims::build(
            ISSUER,
            &c,
            &ScopeSet::parse("read").unwrap(),
            Some((&acc, vec!["data.read".into()])),
            now(),
        )
        .unwrap();
        let text = serde_json::to_string(&claims).unwrap();
        assert_eq!(
            serde_json::from_str::<AccessTokenClaims>(&text).unwrap(),
            claims
        );
    }
}
