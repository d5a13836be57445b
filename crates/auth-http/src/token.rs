//! `POST /oauth2/token` (RFC 6749 §4.4, docs/reference/token-endpoint.md): the client_credentials
//! grant, answering an RFC 9068 JWT access token.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_service::TokenRequest;
use serde::Serialize;

use crate::client_auth::parse_client_request;
use crate::discovery::issuer_for;
use crate::oauth_error::{no_store, OAuthError};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Issues an access token for an authenticated confidential client.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, optional scope; client_id and client_secret for client_secret_post"),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope or unauthorized_client"),
        (status = 401, description = "invalid_client"),
        (status = 413, description = "Body over 16 KiB"),
        (status = 429, description = "slow_down: too many failed authentications"),
        (status = 503, description = "temporarily_unavailable"),
    ),
    security(("client_secret_basic" = []), ())
)]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let outcome = issue(&state, &req, payload).await;
    let label = match &outcome {
        Ok(_) => "issued",
        Err(e) => e.code(),
    };
    state.metrics.token_request(label);
    match outcome {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn issue(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let creq = parse_client_request(state, req, payload, &["grant_type"]).await?;
    let issuer = issuer_for(state, &creq.effective);
    let issued = state
        .auth
        .issue_token(TokenRequest {
            credentials: creq.presented.as_ref(),
            source: creq.effective.source,
            grant_type: creq.form.get("grant_type").map_or("", String::as_str),
            scope: creq.form.get("scope").map(String::as_str),
            issuer: &issuer,
        })
        .await
        .map_err(|e| OAuthError::from_service(e, creq.basic_used()))?;
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    Ok(b.json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
    }))
}
