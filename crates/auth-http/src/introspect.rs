//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke`
//! (RFC 7009), client-authenticated exactly like the token endpoint.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use auth_service::{AuthService, Credentials};
use serde_json::json;

use crate::client_auth::parse_client_request;
use crate::oauth_error::{no_store, OAuthError};
use crate::state::AppState;

/// The failures of both endpoints, which are client authentication's:
/// documented once so that the two cannot drift apart.
#[derive(utoipa::IntoResponses)]
pub enum ClientAuthFailure {
    #[response(status = 400, description = "invalid_request")]
    InvalidRequest,
    #[response(status = 401, description = "invalid_client")]
    InvalidClient,
    #[response(status = 429, description = "slow_down")]
    SlowDown,
    #[response(status = 503, description = "temporarily_unavailable")]
    TemporarilyUnavailable,
}

/// RFC 7662 token introspection.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…, with client authentication"),
    responses((status = 200, description = "{\"active\": …} and, when active, the token's claims"),
              ClientAuthFailure),
    security(("client_secret_basic" = []), ()))]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let result = with_token(&state, &req, payload, AuthService::introspect).await;
    let body = match result {
        Ok(None) => json!({"active": false}),
        Ok(Some(c)) => json!({
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
        Err(e) => return e.response(),
    };
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    b.json(strip_nulls(body))
}

/// What both endpoints do before their answer: authenticate the client
/// from the form, which must carry `token`, and hand both to the use case;
/// its errors carry `WWW-Authenticate` when the client used Basic.
async fn with_token<T>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
    use_case: impl AsyncFnOnce(
        &Arc<AuthService>,
        Option<&Credentials>,
        IpAddr,
        &str,
    ) -> Result<T, auth_service::OAuthError>,
) -> Result<T, OAuthError> {
    let creq = parse_client_request(state, req, payload, &["token"]).await?;
    let token = creq.form.get("token").map_or("", String::as_str);
    use_case(
        &state.auth,
        creq.presented.as_ref(),
        creq.effective.source,
        token,
    )
    .await
    .map_err(|e| OAuthError::from_service(e, creq.basic_used()))
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
    responses((status = 200, description = "Revoked, or nothing to do"), ClientAuthFailure),
    security(("client_secret_basic" = []), ()))]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let result = with_token(&state, &req, payload, AuthService::revoke).await;
    match result {
        Ok(()) => revoked_or_nothing_to_do(),
        Err(e) => e.response(),
    }
}

/// RFC 7009 §2.2: 200 whether the token was revoked now, before, or is
/// not one the client may revoke.
fn revoked_or_nothing_to_do() -> HttpResponse {
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    b.finish()
}
