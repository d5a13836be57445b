//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke`
//! (RFC 7009), client-authenticated exactly like the token endpoint.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_token::{AccessTokenClaims, VerifyError};
use serde_json::json;

use crate::client_auth::{authenticate, parse_client_request, store_error};
use crate::oauth_error::{no_store, OAuthError};
use crate::state::AppState;
use crate::token_check::still_valid;

/// Verifies one of our tokens: signature (reloading keys once for a key id
/// this process has not seen), times, issuer when configured. `None` for
/// anything that is not a valid token of ours.
pub fn verify_token(
    state: &AppState,
    token: &str,
    expected_issuer: Option<&str>,
) -> Option<AccessTokenClaims> {
    let ring = state.key_ring()?;
    let now = auth_domain::now_ms();
    match ring.verify(token, now, expected_issuer) {
        Ok(c) => Some(c),
        Err(VerifyError::UnknownKid) => state
            .key_ring_with(&header_kid(token)?)?
            .verify(token, now, expected_issuer)
            .ok(),
        Err(_) => None,
    }
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

#[derive(Debug)]
enum Activity {
    Active(Box<AccessTokenClaims>),
    Inactive,
}

/// Whether a verified token is still active (see [`still_valid`]).
fn activity(
    state: &AppState,
    claims: AccessTokenClaims,
) -> Result<Activity, auth_domain::StoreError> {
    Ok(if still_valid(state, &claims)? {
        Activity::Active(Box::new(claims))
    } else {
        Activity::Inactive
    })
}

/// The issuer a token must carry: `APP_ISSUER` when set (SPEC §7 compares
/// only then); else none is required, since the signature proves origin.
fn expected_issuer(state: &AppState) -> Option<String> {
    state.config.issuer.clone()
}

/// RFC 7662 token introspection.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…, with client authentication"),
    responses((status = 200, description = "{\"active\": …} and, when active, the token's claims"),
              (status = 400, description = "invalid_request"), (status = 401, description = "invalid_client"),
              (status = 429, description = "slow_down"), (status = 503, description = "temporarily_unavailable")),
    security(("client_secret_basic" = []), ()))]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match introspect_inner(&state, &req, payload).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn introspect_inner(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let creq = parse_client_request(state, req, payload, &["token"]).await?;
    authenticate(state, &creq).await?;
    let token = creq.form.get("token").cloned().unwrap_or_default();
    let st = state.clone();
    state.note_blocking_token_check();
    let result = web::block(move || -> Result<Activity, auth_domain::StoreError> {
        let expected = expected_issuer(&st);
        match verify_token(&st, &token, expected.as_deref()) {
            Some(claims) => activity(&st, claims),
            None => Ok(Activity::Inactive),
        }
    })
    .await
    .map_err(|_| OAuthError::TemporarilyUnavailable {
        retry_after: state.retry_after_secs(),
    })?
    .map_err(|e| store_error(state, &e))?;
    let body = match result {
        Activity::Inactive => json!({"active": false}),
        Activity::Active(c) => json!({
            "active": true,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "scope": c.scope,
            "exp": c.exp,
            "iat": c.iat,
            "nbf": c.nbf,
            "jti": c.jti,
            "token_type": "Bearer",
        }),
    };
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    Ok(b.json(strip_nulls(body)))
}

fn strip_nulls(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(map) = v.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    v
}

/// RFC 7009 token revocation: a client may revoke only its own tokens;
/// anything else answers 200 and changes nothing.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…, with client authentication"),
    responses((status = 200, description = "Revoked, or nothing to do"),
              (status = 400, description = "invalid_request"), (status = 401, description = "invalid_client"),
              (status = 429, description = "slow_down"), (status = 503, description = "temporarily_unavailable")),
    security(("client_secret_basic" = []), ()))]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match revoke_inner(&state, &req, payload).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn revoke_inner(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let creq = parse_client_request(state, req, payload, &["token"]).await?;
    let client = authenticate(state, &creq).await?;
    let token = creq.form.get("token").cloned().unwrap_or_default();
    let st = state.clone();
    web::block(move || -> Result<(), auth_domain::StoreError> {
        let expected = expected_issuer(&st);
        if let Some(claims) = verify_token(&st, &token, expected.as_deref()) {
            if claims.client_id == client.id.as_str() {
                let exp = time::OffsetDateTime::from_unix_timestamp(claims.exp)
                    .unwrap_or_else(|_| auth_domain::now_ms());
                st.repos
                    .revocations
                    .revoke(&claims.jti, &claims.client_id, exp)?;
                tracing::info!("revoked an access token at its client's request");
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| OAuthError::TemporarilyUnavailable {
        retry_after: state.retry_after_secs(),
    })?
    .map_err(|e| store_error(state, &e))?;
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    Ok(b.finish())
}
