//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke`
//! (RFC 7009), client-authenticated exactly like the token endpoint.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::client_auth::parse_client_request;
use crate::oauth_error::{no_store, OAuthError};
use crate::state::AppState;

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
    let token = creq.form.get("token").map_or("", String::as_str);
    let result = state
        .auth
        .introspect(creq.presented.as_ref(), creq.effective.source, token)
        .await
        .map_err(|e| OAuthError::from_service(e, creq.basic_used()))?;
    let body = match result {
        None => json!({"active": false}),
        Some(c) => json!({
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
    let token = creq.form.get("token").map_or("", String::as_str);
    state
        .auth
        .revoke(creq.presented.as_ref(), creq.effective.source, token)
        .await
        .map_err(|e| OAuthError::from_service(e, creq.basic_used()))?;
    Ok(revoked_or_nothing_to_do())
}

/// RFC 7009 §2.2: 200 whether the token was revoked now, before, or is
/// not one the client may revoke.
fn revoked_or_nothing_to_do() -> HttpResponse {
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    b.finish()
}
