//! Authorization server metadata (RFC 8414), the OpenID-style alias, and the
//! JWKS (see docs/reference/endpoints.md). Served over plain HTTP too (see docs/reference/proxy.md).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::proxy::{effective, EffectiveRequest, MiddlewareMissing};
use crate::state::AppState;

/// `APP_ISSUER`, else `{scheme}://{host}` of the effective request.
pub fn issuer_for(state: &AppState, eff: &EffectiveRequest) -> String {
    match &state.config.issuer {
        Some(i) => i.clone(),
        None => format!("{}://{}", eff.scheme, eff.host),
    }
}

fn metadata(state: &AppState, eff: &EffectiveRequest) -> serde_json::Value {
    let issuer = issuer_for(state, eff);
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": [],
        "scopes_supported": [],
    })
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "RFC 8414 metadata", content_type = "application/json")))]
pub async fn oauth_metadata(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, MiddlewareMissing> {
    Ok(HttpResponse::Ok().json(metadata(&state, &effective(&req)?)))
}

/// The same metadata at the OpenID Connect discovery location.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "Discovery metadata", content_type = "application/json")))]
pub async fn openid_configuration(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, MiddlewareMissing> {
    Ok(HttpResponse::Ok().json(metadata(&state, &effective(&req)?)))
}

/// The public signing keys: the active one and retired ones still needed.
#[utoipa::path(get, path = "/oauth2/jwks", tag = "discovery",
    responses((status = 200, description = "JSON Web Key Set", content_type = "application/json"),
              (status = 503, description = "Startup not finished")))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match state.auth.key_ring() {
        Some(ring) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
            .json(ring.jwks()),
        None => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(json!({"error": "temporarily_unavailable"})),
    }
}
