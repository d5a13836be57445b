//! The one error type of the admin surface: RFC 9457 problem details
//! (`application/problem+json`). Domain and store errors become problems
//! here and nowhere else, so every admin handler answers failures the same
//! way and no database message, secret or hash reaches a response body.

use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_domain::{Escalation, StoreError};
use auth_service::admin::AdminError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An admin API failure: its status and a human-readable detail; for a 400,
/// the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    www_authenticate: bool,
    retry_after: Option<u64>,
}

/// The body of every admin error (RFC 9457 §3.1), with `field` as an
/// extension member on 400s that concern one request field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// Always `about:blank`: the status code says what kind of problem it is.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The status code's reason phrase.
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: clean(&detail.into()),
            field: None,
            www_authenticate: false,
            retry_after: None,
        }
    }

    /// 400 naming the request field at fault: the detail reads
    /// "`field`: what is wrong".
    pub fn bad_field(field: &str, detail: impl fmt::Display) -> Self {
        let mut p = Self::new(StatusCode::BAD_REQUEST, format!("{field}: {detail}"));
        p.field = Some(clean(field));
        p
    }

    /// 400 about the request as a whole (its transport or its body's shape).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// docs/reference/proxy.md: plain HTTP while `APP_REQUIRE_HTTPS` is on.
    pub fn https_required() -> Self {
        Self::bad_request(
            "the admin API requires HTTPS (behind a proxy, send X-Forwarded-Proto: https)",
        )
    }

    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"`. The detail
    /// is the same for every cause so that it tells nothing about the token.
    pub fn invalid_token() -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "a valid bearer access token issued by this server is required",
        );
        p.www_authenticate = true;
        p
    }

    pub fn forbidden(permission: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("the access token lacks the {permission} permission"),
        )
    }

    /// 403 for a change that would let the caller gain admin permissions
    /// it does not hold, naming them.
    pub fn escalation(e: &Escalation) -> Self {
        Self::new(StatusCode::FORBIDDEN, e.to_string())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "the client's secret state has changed since the ETag given in If-Match; read it again",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {} KiB", limit / 1024),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the content type must be {expected}"),
        )
    }

    /// 503 + `Retry-After`: the database (or a worker pool) cannot serve now.
    pub fn unavailable(retry_after: u64) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server cannot handle the request now; retry later",
        );
        p.retry_after = Some(retry_after.max(1));
        p
    }

    /// 500 for a failure that is not the caller's; the cause goes to the log,
    /// never to the body.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed on the server; nothing was changed unless a later read shows it",
        )
    }

    /// The single mapping of storage failures. `NotFound` and `Duplicate`
    /// carry generic details; handlers that know which entity was missing
    /// say so with [`Problem::not_found`] / [`Problem::conflict`] instead.
    pub fn from_store(e: &StoreError, retry_after: u64) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("not found"),
            StoreError::Duplicate => Self::conflict("already exists"),
            StoreError::Conflict => Self::precondition_failed(),
            StoreError::LinkConflict {
                client_id,
                account_id,
            } => Self::conflict(format!(
                "client {client_id:?} is already linked to service account {account_id:?}"
            )),
            StoreError::Rejected(message) => Self::bad_request(message.clone()),
            StoreError::Unavailable(message) => {
                tracing::warn!(error = %message, "database unavailable on the admin API");
                Self::unavailable(retry_after)
            }
            StoreError::Other(message) => {
                tracing::error!(error = %message, "database error on the admin API");
                Self::internal()
            }
        }
    }

    /// The single mapping of the admin use cases' errors; `retry_after`
    /// is the server's usual delay, for an unavailability that names none.
    pub fn from_admin(e: AdminError, retry_after: u64) -> Self {
        match e {
            AdminError::MissingPermission(permission) => Self::forbidden(permission),
            AdminError::NotFound(detail) => Self::not_found(detail),
            AdminError::Invalid { field, message } => Self::bad_field(&field, message),
            AdminError::Rejected(detail) => Self::bad_request(detail),
            AdminError::Forbidden { missing } => Self::escalation(&Escalation { missing }),
            AdminError::Conflict(detail) => Self::conflict(detail),
            AdminError::Stale => Self::precondition_failed(),
            AdminError::Unavailable { retry_after: own } => {
                Self::unavailable(own.unwrap_or(retry_after))
            }
            AdminError::Internal => Self::internal(),
        }
    }

    /// This 400 as the input error a use case reports after finding its
    /// target ([`auth_service::admin::Parsed`]); [`Self::from_admin`] turns
    /// it back into the same problem.
    pub fn into_input_error(self) -> AdminError {
        match self.field {
            Some(field) => AdminError::Invalid {
                message: self
                    .detail
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&self.detail)
                    .to_owned(),
                field,
            },
            None => AdminError::Rejected(self.detail),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    pub fn body(&self) -> ProblemDetails {
        ProblemDetails {
            problem_type: "about:blank".into(),
            title: self.status.canonical_reason().unwrap_or("Error").into(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

/// Replaces control characters (CR, LF, TAB, …) so that no detail can split
/// a log line or a header, whatever a caller sent.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl From<crate::proxy::MiddlewareMissing> for Problem {
    fn from(_: crate::proxy::MiddlewareMissing) -> Self {
        Self::internal()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if self.www_authenticate {
            b.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ));
        }
        if let Some(secs) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        match serde_json::to_vec(&self.body()) {
            Ok(bytes) => b.body(bytes),
            Err(_) => b.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody as _;

    fn body_of(p: &Problem) -> serde_json::Value {
        let res = p.error_response();
        let bytes = res.into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_bad_field_names_it_in_detail_and_field() {
        let p = Problem::bad_field("clientId", "must not be empty");
        let b = body_of(&p);
        assert_eq!(b["type"], "about:blank");
        assert_eq!(b["title"], "Bad Request");
        assert_eq!(b["status"], 400);
        assert_eq!(b["detail"], "clientId: must not be empty");
        assert_eq!(b["field"], "clientId");
    }

    #[test]
    fn headers_follow_the_kind() {
        let r = Problem::invalid_token().error_response();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(r.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let r = Problem::from_store(&StoreError::Unavailable("pool timed out".into()), 0)
            .error_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }

    #[test]
    fn store_errors_map_once_and_never_leak_database_text() {
        assert_eq!(
            Problem::from_store(&StoreError::NotFound, 2).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            Problem::from_store(&StoreError::Duplicate, 2).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            Problem::from_store(&StoreError::Conflict, 2).status(),
            StatusCode::PRECONDITION_FAILED
        );
        let link = StoreError::LinkConflict {
            client_id: "c".into(),
            account_id: "a".into(),
        };
        assert_eq!(Problem::from_store(&link, 2).status(), StatusCode::CONFLICT);
        let other = Problem::from_store(&StoreError::Other("syntax error at SELECT".into()), 2);
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!other.detail().contains("SELECT"));
    }

    #[test]
    fn input_errors_come_back_as_the_same_problem() {
        for p in [
            Problem::bad_field("target", "must be current or previous"),
            Problem::bad_request("the request body must be a JSON object"),
        ] {
            assert_eq!(Problem::from_admin(p.clone().into_input_error(), 1), p);
        }
    }

    #[test]
    fn admin_errors_keep_their_status_and_own_retry_after() {
        let stale = Problem::from_admin(AdminError::Stale, 5);
        assert_eq!(stale, Problem::precondition_failed());
        let r = Problem::from_admin(
            AdminError::Unavailable {
                retry_after: Some(1),
            },
            5,
        )
        .error_response();
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        let r =
            Problem::from_admin(AdminError::Unavailable { retry_after: None }, 5).error_response();
        assert_eq!(r.headers().get("retry-after").unwrap(), "5");
        let p = Problem::from_admin(
            AdminError::Forbidden {
                missing: vec!["users.write".into()],
            },
            5,
        );
        assert_eq!(p.status(), StatusCode::FORBIDDEN);
        assert!(p.detail().contains("users.write"));
    }

    #[test]
    fn details_never_carry_control_characters() {
        let p = Problem::bad_field("na\nme", "bad\r\nvalue\t");
        assert!(!p.detail().contains(['\r', '\n', '\t']));
        assert_eq!(p.field(), Some("na?me"));
    }
}
