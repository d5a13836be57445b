//! `GET /audit-events` (see docs/reference/admin-api.md, `users.read`): the audit log, newest
//! first, optionally only the events about one client and only those at or
//! after an instant.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::{AuditEvent, AuditFilter};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::AdminCaller;
use super::problem::{Problem, ProblemDetails};
use super::responses::BearerUsersRead;
use super::{query_params, rfc3339_ms};
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// Who: the `sub` of the admin token, or the seeding or key-rotation actor.
    pub actor: String,
    /// What, e.g. `client.secret.rotate`.
    pub action: String,
    /// `client`, `service_account` or `signing_key`.
    pub target_type: String,
    pub target_id: String,
    /// `success` or `failure`.
    pub outcome: String,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: rfc3339_ms(e.at),
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            outcome: e.outcome,
        }
    }
}

/// The filter of the query string; unknown or repeated parameters and a
/// `since` that is not RFC 3339 are 400s naming the parameter.
pub fn filter_of(req: &HttpRequest) -> Result<AuditFilter, Problem> {
    let mut filter = AuditFilter::default();
    for (k, v) in query_params(req, &["clientId", "since"])? {
        match k.as_str() {
            "clientId" => filter.client_id = Some(v),
            _ => {
                let since = OffsetDateTime::parse(&v, &Rfc3339).map_err(|_| {
                    Problem::bad_field(
                        "since",
                        "must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00.000Z",
                    )
                })?;
                filter.since = Some(since);
            }
        }
    }
    Ok(filter)
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit-events", tag = "admin: audit",
    params(("clientId" = Option<String>, Query, description = "Only events about this client"),
           ("since" = Option<String>, Query, description = "Only events at or after this RFC 3339 instant")),
    responses(
        (status = 200, description = "Matching events, newest first", body = [AuditEventView]),
        (status = 400, description = "since is not RFC 3339, or an unknown parameter", body = ProblemDetails, content_type = "application/problem+json"),
        BearerUsersRead,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_READ)?;
    let filter = filter_of(&req)?;
    let events = session
        .run(async |a, c| a.audit_events(c, filter).await)
        .await?;
    let views: Vec<AuditEventView> = events.into_iter().map(AuditEventView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn since_must_be_rfc3339() {
        let r =
            TestRequest::with_uri("/audit-events?since=2026-01-01T00:00:00.000Z&clientId=a%2Fb")
                .to_http_request();
        let f = filter_of(&r).unwrap();
        assert_eq!(f.client_id.as_deref(), Some("a/b"));
        assert_eq!(
            f.since,
            Some(time::macros::datetime!(2026-01-01 00:00:00 UTC))
        );
        let r = TestRequest::with_uri("/audit-events?since=yesterday").to_http_request();
        assert_eq!(filter_of(&r).unwrap_err().field(), Some("since"));
    }
}
