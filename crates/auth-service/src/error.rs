//! The use cases' errors. OAuth failures carry the RFC 6749 names (and RFC
//! 8628's `slow_down`); the HTTP layer turns them into status codes and
//! headers in one place, an embedding service into whatever it answers.

use auth_domain::StoreError;

/// Why a client-authenticated request (token, introspection, revocation)
/// was refused. Descriptions are safe to show the caller: they never hold
/// a secret, a hash or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 §5.2 `invalid_client`. One variant whatever the cause
    /// (unknown client, wrong secret, wrong method, expired secret), so
    /// that the answer is no oracle for which clients exist.
    #[error("invalid_client: client authentication failed")]
    InvalidClient,
    /// RFC 6749 §5.2 `unsupported_grant_type`.
    #[error("unsupported_grant_type: only the client_credentials grant is supported")]
    UnsupportedGrantType,
    /// RFC 6749 §5.2 `invalid_scope`.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// RFC 6749 §5.2 `unauthorized_client`.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// RFC 8628 §3.5 `slow_down`: too many failed authentications; retry
    /// after this many seconds.
    #[error("slow_down: retry in {retry_after} s")]
    SlowDown { retry_after: u64 },
    /// RFC 6749 §4.1.2.1 `temporarily_unavailable`: the database, the
    /// verification queue or the signing keys are not available; retry
    /// after this many seconds.
    #[error("temporarily_unavailable: retry in {retry_after} s")]
    TemporarilyUnavailable { retry_after: u64 },
}

/// Why a token could not be checked (never: why it is invalid, which is
/// `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum TokenCheckError {
    /// The database failed.
    #[error("{0}")]
    Store(StoreError),
    /// The blocking pool did not run the check (the runtime shuts down).
    #[error("the token check could not run")]
    Unavailable,
}

/// Why the signing keys could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Store(StoreError),
    #[error("signing keys: {0}")]
    Keys(String),
}
