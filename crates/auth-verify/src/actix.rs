//! actix-web extractors. Register one [`Verifier`] as app data
//! (`App::new().app_data(web::Data::new(verifier))`), then take
//! [`VerifiedToken`] or [`RequirePermission`] as a handler argument.
//!
//! Answers follow RFC 6750 §3: no bearer token → 401 with
//! `WWW-Authenticate: Bearer`; a refused token → 401 with
//! `Bearer error="invalid_token"`; a valid token without the permission →
//! 403 with `Bearer error="insufficient_scope"`. When the keys or the
//! introspection endpoint are unavailable the answer is 503 with
//! `Retry-After`: the token was not judged. Bodies are
//! `{"error": …, "error_description": …}` with fixed descriptions.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::{Claims, Error, Verifier, VerifyError};

/// The claims of the request's valid bearer token.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub Claims);

impl Deref for VerifiedToken {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// A permission name known at compile time, for [`RequirePermission`].
/// Declare one with [`permission!`](crate::permission).
pub trait Permission {
    const NAME: &'static str;
}

/// Declares a marker type for [`RequirePermission`]:
/// `auth_verify::permission!(DataRead = "data.read");`
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$meta])*
        $vis struct $name;
        impl $crate::actix::Permission for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// A valid bearer token whose `permissions` contain `P::NAME`; otherwise
/// the request is answered 401 or 403 before the handler runs.
pub struct RequirePermission<P: Permission> {
    pub claims: Claims,
    _permission: PhantomData<P>,
}

impl<P: Permission> Deref for RequirePermission<P> {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.claims
    }
}

/// The function form: `Err` (a 403 when returned from a handler) unless
/// `claims` carry `permission`.
pub fn require_permission(claims: &Claims, permission: &str) -> Result<(), Rejection> {
    if claims.has_permission(permission) {
        Ok(())
    } else {
        Err(Rejection::InsufficientScope)
    }
}

/// Why a request was not let through; answers as RFC 6750 says.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The token is missing, refused, or could not be checked.
    #[error("{0}")]
    Token(Error),
    /// The token is valid but lacks the permission.
    #[error("the token does not grant the permission this resource requires")]
    InsufficientScope,
    /// No [`Verifier`] is registered as app data: a wiring mistake.
    #[error("no token verifier is configured")]
    NotConfigured,
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Token(e) if e.is_token_refused() => StatusCode::UNAUTHORIZED,
            Self::Token(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let description = self.to_string();
        let (code, challenge) = match self {
            Self::Token(Error::Missing) => (None, Some("Bearer".to_owned())),
            Self::Token(e) if e.is_token_refused() => (
                Some("invalid_token"),
                Some(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\""
                )),
            ),
            Self::Token(_) => (Some("temporarily_unavailable"), None),
            Self::InsufficientScope => (
                Some("insufficient_scope"),
                Some(format!(
                    "Bearer error=\"insufficient_scope\", error_description=\"{description}\""
                )),
            ),
            Self::NotConfigured => (Some("server_error"), None),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        let body = match code {
            Some(code) => serde_json::json!({"error": code, "error_description": description}),
            None => serde_json::json!({"error_description": description}),
        };
        response.json(body)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(req: &HttpRequest) -> Result<String, Error> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(Error::Missing);
    };
    if values.next().is_some() {
        return Err(Error::Refused(VerifyError::Malformed));
    }
    let value = value
        .to_str()
        .map_err(|_| Error::Refused(VerifyError::Malformed))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                Err(Error::Refused(VerifyError::Malformed))
            } else {
                Ok(token.to_owned())
            }
        }
        _ => Err(Error::Missing),
    }
}

fn verifier(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<web::Data<Verifier>>()
        .map(|v| v.get_ref().clone())
        .or_else(|| req.app_data::<Verifier>().cloned())
}

async fn verify(
    verifier: Option<Verifier>,
    token: Result<String, Error>,
) -> Result<Claims, Rejection> {
    let verifier = verifier.ok_or(Rejection::NotConfigured)?;
    let token = token.map_err(Rejection::Token)?;
    verifier.verify(&token).await.map_err(Rejection::Token)
}

impl FromRequest for VerifiedToken {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (v, token) = (verifier(req), bearer(req));
        Box::pin(async move { verify(v, token).await.map(VerifiedToken) })
    }
}

impl<P: Permission + 'static> FromRequest for RequirePermission<P> {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (v, token) = (verifier(req), bearer(req));
        Box::pin(async move {
            let claims = verify(v, token).await?;
            require_permission(&claims, P::NAME)?;
            Ok(Self {
                claims,
                _permission: PhantomData,
            })
        })
    }
}
