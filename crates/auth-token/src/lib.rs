//! Access tokens for auth-server: signing-key generation (RS256, ES256,
//! EdDSA) with private keys encrypted at rest, the loaded key ring that
//! signs RFC 9068 access tokens and verifies them for introspection and the
//! admin API, the published JWKS, and the token's claims built from domain
//! types (docs/reference/configuration.md `APP_SIGNING_ALG`/`APP_KEYS_ENCRYPTION_SECRET`, docs/reference/token-endpoint.md#the-access-token "The
//! access token", docs/reference/endpoints.md). Its boundary: it works on `auth-domain` values handed
//! to it and does no I/O. Storing keys (`SigningKeyRepository`), checking
//! revocation, and deciding when to reload keys belong to the callers.

mod alg;
mod claims;
mod encryption;
mod error;
mod keys;
mod validate;

pub use alg::SigningAlg;
pub use claims::{jti_incarnation, AccessTokenClaims};
pub use encryption::{KeyEncryption, MIN_SECRET_BYTES};
pub use error::{TokenError, VerifyError};
pub use keys::{
    generate_key, KeyRing, KeyState, ACCESS_TOKEN_TYPE, MAX_ISSUED_AHEAD, MAX_TOKEN_LIFETIME,
    RETIRED_KEY_WINDOW,
};
pub use validate::{header_kid, verify_access_token, PublicKey, Validation, MAX_LEEWAY};
