//! `POST /oauth2/token` (RFC 6749 §4.4, docs/reference/token-endpoint.md): the client_credentials
//! grant, answering an RFC 9068 JWT access token.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::{Client, ScopeSet};
use auth_token::AccessTokenClaims;
use serde::Serialize;

use crate::client_auth::{authenticate_with, parse_client_request};
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
    state
        .metrics
        .inc("token_requests_total", &[("outcome", label)]);
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
    let (client, account) = authenticate_with(state, &creq, linked_account).await?;
    if creq.form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(OAuthError::UnsupportedGrantType);
    }
    let requested = ScopeSet::parse(creq.form.get("scope").map(String::as_str).unwrap_or(""))
        .map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
    let granted = client.settings.scope.grant(&requested).map_err(|s| {
        OAuthError::InvalidScope(format!("scope {s} is not registered for this client"))
    })?;
    if account.as_ref().is_some_and(|(a, _)| !a.active) {
        return Err(OAuthError::UnauthorizedClient(
            "the client's service account is inactive".into(),
        ));
    }
    let issuer = issuer_for(state, &creq.effective);
    let now = auth_domain::now_ms();
    let claims = AccessTokenClaims::build(
        &issuer,
        &client,
        &granted,
        account.as_ref().map(|(a, p)| (a, p.clone())),
        now,
    )
    .map_err(|_| OAuthError::TemporarilyUnavailable { retry_after: 1 })?;
    let ring = state.key_ring().ok_or(OAuthError::TemporarilyUnavailable {
        retry_after: state.retry_after_secs(),
    })?;
    let token = tracing::info_span!("sign_token")
        .in_scope(|| ring.sign(&claims))
        .map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::TemporarilyUnavailable { retry_after: 1 }
        })?;
    let mut b = HttpResponse::Ok();
    no_store(&mut b);
    Ok(b.json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        scope: granted.to_option_string(),
    }))
}

/// The linked service account with its effective permissions. Read with
/// the client row (blocking), before the secret is checked; whether it is
/// active is decided after the scope, in the order of docs/reference/token-endpoint.md#order-of-checks.
fn linked_account(
    st: &AppState,
    client: &Client,
) -> Result<Option<(auth_domain::ServiceAccount, Vec<String>)>, auth_domain::StoreError> {
    let Some(account_id) = client.service_account_id.as_deref() else {
        return Ok(None);
    };
    let account = st.repos.accounts.find_account(account_id)?;
    let catalogue = st.catalogue()?;
    Ok(account.map(|a| {
        let effective = catalogue.effective_permissions(&a);
        (a, effective)
    }))
}
