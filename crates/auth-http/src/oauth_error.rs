//! OAuth 2.0 error responses (RFC 6749 §5.2) for the token, introspection
//! and revocation endpoints. The variants carry RFC names; only this module
//! turns them into status codes and headers, and every response of those
//! endpoints gets `Cache-Control: no-store` and `Pragma: no-cache`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// RFC 6749 §5.2 `invalid_request`: malformed or ambiguous request.
    InvalidRequest(String),
    /// `invalid_request` with 413: the body is larger than 16 KiB.
    PayloadTooLarge,
    /// RFC 6749 §5.2 `invalid_client`. `basic` adds `WWW-Authenticate`. The
    /// description is the same whatever the cause (no existence oracle).
    InvalidClient { basic: bool },
    /// RFC 6749 §5.2 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// RFC 6749 §5.2 `invalid_scope`.
    InvalidScope(String),
    /// RFC 6749 §5.2 `unauthorized_client`.
    UnauthorizedClient(String),
    /// RFC 8628 §3.5 `slow_down`, with the seconds to wait.
    SlowDown { retry_after: u64 },
    /// RFC 6749 §4.1.2.1 `temporarily_unavailable`, with the seconds to wait.
    TemporarilyUnavailable { retry_after: u64 },
    /// RFC 6749 §4.1.2.1 `server_error`, 500: the server is wired wrong
    /// (no forwarded-header middleware); never the caller's fault.
    ServerError,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: String,
}

/// Strips what must never reach an error body: CR, LF, TAB and every other
/// control character (RFC 6749 limits descriptions to %x20-21 / %x23-5B /
/// %x5D-7E).
pub fn clean_description(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (c == ' ' || c.is_ascii_graphic()) && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl OAuthError {
    /// The one mapping of the use cases' errors to this surface. `basic`:
    /// the client authenticated with `Authorization: Basic`, so that an
    /// `invalid_client` answer carries `WWW-Authenticate`.
    pub fn from_service(e: auth_service::OAuthError, basic: bool) -> Self {
        use auth_service::OAuthError as E;
        match e {
            E::InvalidClient => Self::InvalidClient { basic },
            E::UnsupportedGrantType => Self::UnsupportedGrantType,
            E::InvalidScope(d) => Self::InvalidScope(d),
            E::UnauthorizedClient(d) => Self::UnauthorizedClient(d),
            E::SlowDown { retry_after } => Self::SlowDown { retry_after },
            E::TemporarilyUnavailable { retry_after } => {
                Self::TemporarilyUnavailable { retry_after }
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::PayloadTooLarge => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::SlowDown { .. } => "slow_down",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::UnsupportedGrantType
            | Self::InvalidScope(_)
            | Self::UnauthorizedClient(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            Self::SlowDown { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn description(&self) -> String {
        match self {
            Self::InvalidRequest(d) | Self::InvalidScope(d) | Self::UnauthorizedClient(d) => {
                clean_description(d)
            }
            Self::PayloadTooLarge => "request body is larger than 16 KiB".into(),
            Self::InvalidClient { .. } => "client authentication failed".into(),
            Self::UnsupportedGrantType => "only the client_credentials grant is supported".into(),
            Self::SlowDown { .. } => "too many failed client authentications; retry later".into(),
            Self::TemporarilyUnavailable { .. } => {
                "the server cannot handle the request now; retry later".into()
            }
            Self::ServerError => "the request failed on the server".into(),
        }
    }

    pub fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status());
        no_store(&mut b);
        match self {
            Self::InvalidClient { basic: true } => {
                b.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"oauth2\""),
                ));
            }
            Self::SlowDown { retry_after } | Self::TemporarilyUnavailable { retry_after } => {
                b.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            _ => {}
        }
        b.json(Body {
            error: self.code(),
            error_description: self.description(),
        })
    }
}

impl From<crate::proxy::MiddlewareMissing> for OAuthError {
    fn from(_: crate::proxy::MiddlewareMissing) -> Self {
        Self::ServerError
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(b: &mut HttpResponseBuilder) {
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    b.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl actix_web::ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_never_carry_control_characters() {
        let d = clean_description("bad\r\nvalue\there\u{0}\u{7f}");
        assert!(!d.contains(['\r', '\n', '\t', '\0', '\u{7f}']));
        assert_eq!(d, "bad??value?here??");
    }

    #[test]
    fn invalid_client_asks_for_basic_only_after_basic() {
        let refused = |basic| {
            OAuthError::from_service(auth_service::OAuthError::InvalidClient, basic).response()
        };
        assert!(refused(true)
            .headers()
            .contains_key(header::WWW_AUTHENTICATE));
        assert!(!refused(false)
            .headers()
            .contains_key(header::WWW_AUTHENTICATE));
        let slow =
            OAuthError::from_service(auth_service::OAuthError::SlowDown { retry_after: 7 }, false)
                .response();
        assert_eq!(slow.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(slow.headers().get(header::RETRY_AFTER).unwrap(), "7");
    }

    #[test]
    fn statuses_follow_the_spec_table() {
        assert_eq!(
            OAuthError::InvalidRequest(String::new()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            OAuthError::PayloadTooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            OAuthError::InvalidClient { basic: false }.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            OAuthError::SlowDown { retry_after: 3 }.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            OAuthError::TemporarilyUnavailable { retry_after: 2 }.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            OAuthError::UnauthorizedClient(String::new()).code(),
            "unauthorized_client"
        );
    }
}
