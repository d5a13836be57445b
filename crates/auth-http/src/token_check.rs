//! What makes a presented access token valid, for introspection and for
//! the admin API alike (docs/oauth.md, "When an access token is valid"):
//! one definition, so the two can never disagree.
//!
//! The check has two halves. The signature half ([`verify_signature`])
//! needs only the in-memory key ring and runs on the calling async worker;
//! a key id this process has not loaded waits, asynchronously, for a shared
//! reload. Only a token that passes it reaches the database half
//! ([`still_valid`]), whose two point reads run on the blocking pool. So a
//! flood of forged tokens never holds a blocking thread.

use actix_web::web;
use auth_domain::{ClientId, StoreError};
use auth_token::{jti_incarnation, AccessTokenClaims, VerifyError};

use crate::state::AppState;

/// Why a token could not be checked (never: why it is invalid).
#[derive(Debug)]
pub enum CheckError {
    /// The database failed (a 503 when it is unavailable).
    Store(StoreError),
    /// The blocking pool did not run the check (shutting down).
    Unavailable,
}

/// The whole check: `Some(claims)` for a valid token, `None` for anything
/// else (forged, foreign, expired, over-long, revoked, of a deleted or
/// re-created client, signed by a key retired too long ago or revoked).
pub async fn check(
    state: &web::Data<AppState>,
    token: &str,
) -> Result<Option<AccessTokenClaims>, CheckError> {
    let Some(claims) = verify_signature(state, token).await else {
        return Ok(None);
    };
    state.note_blocking_token_check();
    let st = state.clone();
    web::block(move || still_valid(&st, &claims).map(|valid| valid.then_some(claims)))
        .await
        .map_err(|_| CheckError::Unavailable)?
        .map_err(CheckError::Store)
}

/// The signature half: one of our keys that is active or inside its
/// retirement window, the times and lifetime bounds, and the issuer when
/// `APP_ISSUER` is set (else the signature alone proves the origin). A key
/// id this process has not loaded waits for the shared reload once.
pub async fn verify_signature(
    state: &web::Data<AppState>,
    token: &str,
) -> Option<AccessTokenClaims> {
    let ring = state.key_ring()?;
    let issuer = state.config.issuer.as_deref();
    match ring.verify(token, auth_domain::now_ms(), issuer) {
        Ok(claims) => Some(claims),
        Err(VerifyError::UnknownKid) => state
            .key_ring_with(&header_kid(token)?)
            .await?
            .verify(token, auth_domain::now_ms(), issuer)
            .ok(),
        Err(_) => None,
    }
}

/// The database half of validity, for a token whose signature and times
/// have been checked: it is not revoked, and its client exists **and is the
/// client it was issued to** — the stored client's incarnation equals the
/// one in the token's `jti`. A client deleted and created again under the
/// same id (by the admin API or by seeding) has a new incarnation, so the
/// tokens of the earlier one stay invalid. Blocking: two point reads.
pub fn still_valid(state: &AppState, claims: &AccessTokenClaims) -> Result<bool, StoreError> {
    if state.repos.revocations.is_revoked(&claims.jti)? {
        return Ok(false);
    }
    let Ok(id) = ClientId::parse(&claims.client_id) else {
        return Ok(false);
    };
    Ok(state
        .repos
        .clients
        .find(&id)?
        .is_some_and(|client| client.incarnation == jti_incarnation(&claims.jti)))
}

/// The `kid` of a JWS compact token's header, if it has one.
fn header_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("kid")?.as_str().map(str::to_owned)
}
