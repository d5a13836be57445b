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

    /// Not a compact JWS with a JSON header naming a `kid`.
    #[error("the token is not a well-formed signed JWT")]
    Malformed,

    /// The header names a key the server does not publish, even after
    /// fetching its keys again.
    #[error("the token names a signing key the server does not publish")]
    UnknownKey,

    /// The signature does not verify with the named key, or the header's
    /// `alg` is not the algorithm the server's key declares.
    #[error("the token's signature is invalid")]
    BadSignature,

    /// The header's `typ` is not `at+jwt` (RFC 9068).
    #[error("the token is not an access token (typ is not at+jwt)")]
    WrongType,

    /// The payload lacks a claim every access token has, or has one of the
    /// wrong type.
    #[error("the token's claims are malformed")]
    MalformedClaims,

    /// `exp` is past, beyond the leeway.
    #[error("the token has expired")]
    Expired,

    /// `nbf` is ahead, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,

    /// `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,

    /// `aud` is not the configured audience.
    #[error("the token was issued for another audience")]
    WrongAudience,

    /// `exp - iat` is over 24 hours: longer than the server ever issues.
    #[error("the token claims a lifetime longer than the server issues")]
    LifetimeTooLong,

    /// `iat` lies further ahead than the clock leeway allows.
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,

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

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Malformed => Self::Malformed,
            // A retired key is one the server stopped publishing.
            VerifyError::UnknownKid | VerifyError::RetiredKey => Self::UnknownKey,
            VerifyError::BadSignature => Self::BadSignature,
            VerifyError::WrongType => Self::WrongType,
            VerifyError::MalformedClaims => Self::MalformedClaims,
            VerifyError::Expired => Self::Expired,
            VerifyError::NotYetValid => Self::NotYetValid,
            VerifyError::WrongIssuer => Self::WrongIssuer,
            VerifyError::WrongAudience => Self::WrongAudience,
            VerifyError::LifetimeTooLong => Self::LifetimeTooLong,
            VerifyError::IssuedInFuture => Self::IssuedInFuture,
        }
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
