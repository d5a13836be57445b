//! What makes a presented access token valid, for introspection and for
//! the admin API alike (docs/oauth.md, "When a token is valid"): one
//! definition, so the two can never disagree.

use auth_domain::{ClientId, StoreError};
use auth_token::{jti_incarnation, AccessTokenClaims};

use crate::state::AppState;

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
