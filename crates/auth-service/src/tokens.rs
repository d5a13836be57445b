//! Access tokens: issuance by the client_credentials grant (RFC 6749 §4.4,
//! RFC 9068 JWTs), the one definition of a valid token (used by
//! introspection and by the admin API's bearer check alike, so the two can
//! never disagree), introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Verification has two halves. The signature half needs only the
//! in-memory key ring and runs on the calling async task; a key id this
//! process has not loaded waits, asynchronously, for a shared reload. Only
//! a token that passes it reaches the database half, whose two point reads
//! run on the blocking pool. So a flood of forged tokens never holds a
//! blocking thread.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use auth_domain::{Client, ClientId, ScopeSet, ServiceAccount, StoreError};
use auth_token::{header_kid, jti_incarnation, AccessTokenClaims, VerifyError};

use crate::authn::Credentials;
use crate::error::{OAuthError, TokenCheckError};
use crate::AuthService;

/// A token request (RFC 6749 §4.4.2).
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    pub credentials: Option<&'a Credentials>,
    /// The caller's address, for the failure throttle.
    pub source: IpAddr,
    /// Only `client_credentials` is supported.
    pub grant_type: &'a str,
    /// The requested scope, space-separated; `None` asks for none.
    pub scope: Option<&'a str>,
    /// The `iss` of the token.
    pub issuer: &'a str,
}

/// An issued access token. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scope, when any was granted.
    pub scope: Option<String>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A client's linked service account with its effective permissions.
type LinkedAccount = Option<(ServiceAccount, Vec<String>)>;

impl AuthService {
    /// The client_credentials grant, with checks in this order: client
    /// authentication, grant type, scope syntax, scope registered for the
    /// client, linked service account active; then the claims are built
    /// and signed with the active key.
    pub async fn issue_token(
        self: &Arc<Self>,
        request: TokenRequest<'_>,
    ) -> Result<IssuedToken, OAuthError> {
        let (client, account) = self
            .authenticate_with(request.credentials, request.source, linked_account)
            .await?;
        if request.grant_type != "client_credentials" {
            return Err(OAuthError::UnsupportedGrantType);
        }
        let requested = ScopeSet::parse(request.scope.unwrap_or(""))
            .map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
        let granted = client.settings.scope.grant(&requested).map_err(|s| {
            OAuthError::InvalidScope(format!("scope {s} is not registered for this client"))
        })?;
        if account.as_ref().is_some_and(|(a, _)| !a.active) {
            return Err(OAuthError::UnauthorizedClient(
                "the client's service account is inactive".into(),
            ));
        }
        let claims = AccessTokenClaims::build(
            request.issuer,
            &client,
            &granted,
            account.as_ref().map(|(a, p)| (a, p.clone())),
            auth_domain::now_ms(),
        )
        .map_err(|_| OAuthError::TemporarilyUnavailable { retry_after: 1 })?;
        let ring = self.key_ring().ok_or(OAuthError::TemporarilyUnavailable {
            retry_after: self.config.retry_after_secs(),
        })?;
        let token = tracing::info_span!("sign_token", client_id = %client.id.as_str())
            .in_scope(|| ring.sign(&claims))
            .map_err(|e| {
                tracing::error!(error = %e, "signing an access token failed");
                OAuthError::TemporarilyUnavailable { retry_after: 1 }
            })?;
        Ok(IssuedToken {
            access_token: token,
            expires_in: claims.exp - claims.iat,
            scope: granted.to_option_string(),
        })
    }

    /// The one definition of a valid access token: `Some(claims)` for a
    /// valid one, `None` for anything else (forged, foreign, expired,
    /// over-long, revoked, of a deleted or re-created client, signed by a
    /// key retired too long ago or revoked). An error only when the check
    /// could not be made.
    pub async fn verify_token(
        self: &Arc<Self>,
        token: &str,
    ) -> Result<Option<AccessTokenClaims>, TokenCheckError> {
        let Some(claims) = self.verify_signature(token).await else {
            return Ok(None);
        };
        self.blocking_token_checks.fetch_add(1, Ordering::Relaxed);
        let service = self.clone();
        tokio::task::spawn_blocking(move || {
            service
                .still_valid(&claims)
                .map(|valid| valid.then_some(claims))
        })
        .await
        .map_err(|_| TokenCheckError::Unavailable)?
        .map_err(TokenCheckError::Store)
    }

    /// RFC 7662 introspection: authenticates the caller, then checks the
    /// token as [`Self::verify_token`] does (`None`: inactive).
    pub async fn introspect(
        self: &Arc<Self>,
        credentials: Option<&Credentials>,
        source: IpAddr,
        token: &str,
    ) -> Result<Option<AccessTokenClaims>, OAuthError> {
        self.authenticate(credentials, source).await?;
        self.verify_token(token).await.map_err(|e| match e {
            TokenCheckError::Store(e) => self.store_error(&e),
            TokenCheckError::Unavailable => OAuthError::TemporarilyUnavailable {
                retry_after: self.config.retry_after_secs(),
            },
        })
    }

    /// RFC 7009 revocation: authenticates the caller; a client may revoke
    /// only its own tokens, and anything else (a token of another client,
    /// not ours, expired) succeeds and changes nothing.
    pub async fn revoke(
        self: &Arc<Self>,
        credentials: Option<&Credentials>,
        source: IpAddr,
        token: &str,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(credentials, source).await?;
        let Some(claims) = self.verify_signature(token).await else {
            return Ok(());
        };
        if claims.client_id != client.id.as_str() {
            return Ok(());
        }
        let service = self.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let exp = time::OffsetDateTime::from_unix_timestamp(claims.exp)
                .unwrap_or_else(|_| auth_domain::now_ms());
            service
                .repos
                .revocations
                .revoke(&claims.jti, &claims.client_id, exp)?;
            tracing::info!("revoked an access token at its client's request");
            Ok(())
        })
        .await
        .map_err(|_| OAuthError::TemporarilyUnavailable {
            retry_after: self.config.retry_after_secs(),
        })?
        .map_err(|e| self.store_error(&e))
    }

    /// The signature half: one of our keys that is active or inside its
    /// retirement window, the times and lifetime bounds, and the issuer
    /// when one is configured (else the signature alone proves the
    /// origin). A key id this process has not loaded waits for the shared
    /// reload once.
    async fn verify_signature(&self, token: &str) -> Option<AccessTokenClaims> {
        let ring = self.key_ring()?;
        let issuer = self.config.issuer.as_deref();
        match ring.verify(token, auth_domain::now_ms(), issuer) {
            Ok(claims) => Some(claims),
            Err(VerifyError::UnknownKid) => self
                .key_ring_with(&header_kid(token)?)
                .await?
                .verify(token, auth_domain::now_ms(), issuer)
                .ok(),
            Err(_) => None,
        }
    }

    /// The database half of validity, for a token whose signature and
    /// times have been checked: it is not revoked, and its client exists
    /// **and is the client it was issued to** — the stored client's
    /// incarnation equals the one in the token's `jti`. A client deleted
    /// and created again under the same id (by the admin API or by seeding)
    /// has a new incarnation, so the tokens of the earlier one stay
    /// invalid. Blocking: two point reads.
    fn still_valid(&self, claims: &AccessTokenClaims) -> Result<bool, StoreError> {
        if self.repos.revocations.is_revoked(&claims.jti)? {
            return Ok(false);
        }
        let Ok(id) = ClientId::parse(&claims.client_id) else {
            return Ok(false);
        };
        Ok(self
            .repos
            .clients
            .find(&id)?
            .is_some_and(|client| client.incarnation == jti_incarnation(&claims.jti)))
    }
}

/// The linked service account with its effective permissions. Read with
/// the client row (blocking), before the secret is checked; whether it is
/// active is decided after the scope.
fn linked_account(service: &AuthService, client: &Client) -> Result<LinkedAccount, StoreError> {
    let Some(account_id) = client.service_account_id.as_deref() else {
        return Ok(None);
    };
    let account = service.repos.accounts.find_account(account_id)?;
    let catalogue = service.catalogue()?;
    Ok(account.map(|a| {
        let effective = catalogue.effective_permissions(&a);
        (a, effective)
    }))
}
