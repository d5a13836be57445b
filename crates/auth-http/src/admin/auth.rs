//! Who is calling the admin API, and may they: the [`AdminCaller`]
//! extractor checks, in the order of docs/reference/admin-api.md#order-of-checks, the transport (docs/reference/proxy.md#the-https-rule: HTTPS when
//! required → 400), then the bearer token (→ 401); handlers then call
//! [`AdminCaller::require`] for the route's permission (→ 403) before they
//! look anything up (→ 404) or read the body (→ 400/409/412).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use auth_service::TokenCheckError;

use super::problem::Problem;
use crate::proxy::effective;
use crate::state::AppState;

/// A verified admin caller: the `sub` of its token is the audit actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    sub: String,
    client_id: String,
    permissions: Vec<String>,
}

impl AdminCaller {
    /// The token's subject: the service account id, else the client id.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token's `permissions` claim (empty when it has none).
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }

    /// 403 unless the token's `permissions` claim holds `permission`.
    pub fn require(&self, permission: &str) -> Result<(), Problem> {
        if self.permissions.iter().any(|p| p == permission) {
            Ok(())
        } else {
            tracing::info!(permission, "admin request refused: permission missing");
            Err(Problem::forbidden(permission))
        }
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme name is
/// case-insensitive, RFC 6750 §2.1). `None` when the header is missing,
/// repeated, not Bearer, or empty.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then(|| token.to_owned())
}

async fn extract(req: HttpRequest) -> Result<AdminCaller, Problem> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        tracing::error!("the admin API is mounted without AppState");
        return Err(Problem::internal());
    };
    if state.config.require_https && !effective(&req)?.is_https() {
        return Err(Problem::https_required());
    }
    let Some(token) = bearer_token(&req) else {
        return Err(Problem::invalid_token());
    };
    // The token must be valid exactly as introspection defines it.
    let retry = state.retry_after_secs();
    let outcome = match state.auth.verify_token(&token).await {
        Ok(Some(claims)) => Ok(AdminCaller {
            sub: claims.sub,
            client_id: claims.client_id,
            permissions: claims.permissions.unwrap_or_default(),
        }),
        Ok(None) => Err(Problem::invalid_token()),
        Err(TokenCheckError::Store(e)) => Err(Problem::from_store(&e, retry)),
        Err(TokenCheckError::Unavailable) => Err(Problem::unavailable(retry)),
    };
    if outcome.is_err() {
        tracing::info!("admin request refused: bearer token missing or invalid");
    }
    outcome
}

impl FromRequest for AdminCaller {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_single() {
        let r = TestRequest::default()
            .insert_header(("Authorization", "bearer abc.def.ghi"))
            .to_http_request();
        assert_eq!(bearer_token(&r).as_deref(), Some("abc.def.ghi"));
        let r = TestRequest::default()
            .insert_header(("Authorization", "Basic abc"))
            .to_http_request();
        assert_eq!(bearer_token(&r), None);
        let r = TestRequest::default()
            .insert_header(("Authorization", "Bearer "))
            .to_http_request();
        assert_eq!(bearer_token(&r), None);
        let r = TestRequest::default()
            .append_header(("Authorization", "Bearer a"))
            .append_header(("Authorization", "Bearer b"))
            .to_http_request();
        assert_eq!(bearer_token(&r), None);
        assert_eq!(
            bearer_token(&TestRequest::default().to_http_request()),
            None
        );
    }

    #[test]
    fn require_answers_403_without_the_permission() {
        let caller = AdminCaller {
            sub: "svc".into(),
            client_id: "c".into(),
            permissions: vec!["client.read".into()],
        };
        assert!(caller.require("client.read").is_ok());
        assert_eq!(caller.require("client.write").unwrap_err().status(), 403);
    }
}
