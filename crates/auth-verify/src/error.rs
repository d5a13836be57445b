//! Why a token was not accepted. Every message is a fixed sentence naming
//! the check that failed: the token comes from outside, so no part of it
//! (nor a key, nor the service's client secret) is ever put into one.

use auth_token::VerifyError;

/// A token refused, or a token that could not be checked right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `Authorization: Bearer …` credentials were presented (extractors only).
    #[error("no bearer token was presented")]
    Missing,

    /// A check of the token itself failed (shape, signature, `typ`,
    /// claims, lifetime, issuer, audience): the same rules, and the same
    /// messages, as the server's own verification in `auth-token`.
    #[error(transparent)]
    Refused(#[from] VerifyError),

    /// The header names a key the server does not publish, even after
    /// fetching its keys again.
    #[error("the token names a signing key the server does not publish")]
    UnknownKey,

    /// Introspection mode: the server answered that the token is not
    /// active (revoked, or its client deleted).
    #[error("the server reports the token as no longer active")]
    Inactive,

    /// The server's keys could not be fetched and the last good keys are
    /// older than the configured bound: the verifier fails closed.
    #[error("the signing keys of the server are unavailable")]
    KeysUnavailable,

    /// Introspection mode: the server could not be asked (unreachable, an
    /// error answer, or it refused this service's credentials).
    #[error("the token could not be introspected at the server")]
    IntrospectionUnavailable,
}

impl Error {
    /// `true` when the token itself was refused (an HTTP API answers 401);
    /// `false` when it could not be checked now (answer 503 and retry).
    pub fn is_token_refused(&self) -> bool {
        !matches!(self, Self::KeysUnavailable | Self::IntrospectionUnavailable)
    }
}

/// A configuration the verifier cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("the issuer must be an http(s) URL without a trailing slash")]
    Issuer,
    #[error("{0} must be an http(s) URL")]
    Url(&'static str),
    #[error("the clock leeway may be at most 5 minutes")]
    Leeway,
    #[error("{0} must be more than zero")]
    Zero(&'static str),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
    #[error("discovery failed: {0}")]
    Discovery(String),
}
