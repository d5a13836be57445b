//! Error policy: typed errors only, one enum for key handling and issuance
//! ([`TokenError`]) and one for checking a presented token ([`VerifyError`]).
//! No message ever carries key material, a plaintext key, a secret or a
//! token. Key ids and algorithm names are public (they are in the JWKS), so
//! they may appear. [`VerifyError`] messages are fixed strings because the
//! token they describe comes from outside: echoing any part of it would put
//! attacker-chosen text into logs and response bodies.

/// Failures while generating, storing, loading or using signing keys, and
/// while building claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The configured algorithm name is not one of `RS256`, `ES256`, `EdDSA`.
    #[error("unsupported signing algorithm {0:?} (expected RS256, ES256 or EdDSA)")]
    UnsupportedAlg(String),

    /// `APP_KEYS_ENCRYPTION_SECRET` is set but shorter than 32 bytes.
    #[error("APP_KEYS_ENCRYPTION_SECRET must be at least 32 bytes long")]
    EncryptionSecretTooShort,

    /// A stored private key could not be turned back into key material:
    /// wrong secret, encrypted while no secret is configured, or damaged.
    #[error("signing key {kid:?} cannot be decrypted: {reason}")]
    KeyDecrypt { kid: String, reason: &'static str },

    /// The key decrypted but is not a usable key of its stored algorithm.
    #[error("signing key {kid:?} is not a valid {alg} private key")]
    KeyInvalid { kid: String, alg: String },

    /// The stored algorithm of a key is not one this crate knows.
    #[error("signing key {kid:?} has unsupported algorithm {alg:?}")]
    KeyAlgorithm { kid: String, alg: String },

    /// No stored key is active (every key has `retired_at`).
    #[error("no active signing key (every stored key is retired)")]
    NoActiveKey,

    /// More than one stored key is active.
    #[error("more than one active signing key: {kids:?}")]
    SeveralActiveKeys { kids: Vec<String> },

    /// Two stored keys share one `kid`.
    #[error("signing key id {0:?} is stored more than once")]
    DuplicateKid(String),

    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random,

    /// A cryptographic primitive failed (key generation, HKDF, AES-GCM
    /// encryption, signing). The text comes from OpenSSL/josekit and
    /// describes the operation, not the key.
    #[error("{operation} failed: {detail}")]
    Crypto {
        operation: &'static str,
        detail: String,
    },

    /// Claims handed to `AccessTokenClaims::build` contradict each other.
    #[error("{0}")]
    InvalidClaims(String),

    /// A published key (a JWKS entry) is not one a token of ours can be
    /// verified with. The text is a fixed description, never the key.
    #[error("unusable JWKS key: {0}")]
    InvalidJwk(String),
}

impl TokenError {
    pub(crate) fn crypto(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Crypto {
            operation,
            detail: err.to_string(),
        }
    }
}

/// Why a presented access token is not accepted. [`VerifyError::UnknownKid`]
/// is separate so that the caller can reload keys from the database (another
/// replica may have rotated) and try once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not three base64url parts, a header that is not a JSON object, or a
    /// header without a string `kid`.
    #[error("the token is not a well-formed signed JWT")]
    Malformed,

    /// The header names a key that is not loaded.
    #[error("the token names an unknown signing key")]
    UnknownKid,

    /// The signature does not verify with the named key, or the header's
    /// `alg` is not that key's algorithm.
    #[error("the token's signature is invalid")]
    BadSignature,

    /// The header's `typ` is not `at+jwt` (RFC 9068 §4).
    #[error("the token is not an access token (typ is not at+jwt)")]
    WrongType,

    /// The payload is not a JSON object with every access-token claim.
    #[error("the token's claims are malformed")]
    MalformedClaims,

    /// `exp <= now`.
    #[error("the token has expired")]
    Expired,

    /// `nbf > now`.
    #[error("the token is not valid yet")]
    NotYetValid,

    /// `iss` differs from the expected issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,

    /// The key that signed it was retired longer ago than
    /// [`crate::RETIRED_KEY_WINDOW`].
    #[error("the token's signing key was retired too long ago")]
    RetiredKey,

    /// `exp - iat` is longer than [`crate::MAX_TOKEN_LIFETIME`].
    #[error("the token claims a lifetime longer than any this server issues")]
    LifetimeTooLong,

    /// `iat` is more than [`crate::MAX_ISSUED_AHEAD`] in the future.
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,

    /// `aud` differs from the audience the verifier expects (the server
    /// itself never asks for one).
    #[error("the token was issued for another audience")]
    WrongAudience,
}
