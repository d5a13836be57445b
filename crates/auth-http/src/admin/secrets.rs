//! `/clients/{clientId}/secret` (see docs/reference/secret-lifecycle.md, docs/reference/admin-api.md#client-secrets): issue,
//! rotate, delete and describe a confidential client's two secret slots.
//!
//! The strong `ETag` is the use cases' [`SecretsTag`] in quotes; `If-Match`
//! becomes their [`Precondition`]. The lifecycle itself (compare-and-swap,
//! retries, hashing) is in [`auth_service::admin`].

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use auth_domain::catalogue::perms;
use auth_domain::SlotTarget;
use auth_service::admin::{Precondition, SecretsTag, WrittenSecret};
use serde::Serialize;

use super::auth::AdminCaller;
use super::problem::{Problem, ProblemDetails};
use super::responses::{
    BearerClientWrite, BearerClientWriteNoEscalation, DatabaseUnavailable, IfMatchFailed,
    NoSuchClient, PublicClient,
};
use super::{query_params, rfc3339_ms};
use crate::state::AppState;

/// `POST /clients/{clientId}/secret`: the one time the plaintext is shown.
/// `Debug` leaves the plaintext out.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedSecret {
    pub client_id: String,
    pub client_secret: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// `POST /clients/{clientId}/secret/rotate`: the new secret, shown once, and
/// until when the previous one still authenticates. `Debug` leaves the
/// plaintext out.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// `min(graceExpiresAt, previous.expiresAt)`.
    #[schema(format = DateTime)]
    pub previous_secret_valid_until: String,
}

// The plaintext is serialised once, into the response; a `Debug` of these
// values (a log line, a test failure, a panic message) must not carry it.
impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field(
                "previous_secret_valid_until",
                &self.previous_secret_valid_until,
            )
            .finish()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentSecretView {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub expired: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecretView {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub grace_expires_at: String,
}

/// `GET /clients/{clientId}/secret`: the slots' metadata, never a secret or
/// a hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretMetadata {
    pub client_id: String,
    pub current: Option<CurrentSecretView>,
    pub previous: Option<PreviousSecretView>,
    pub rotation_required: bool,
}

/// The strong entity tag of a secret state.
pub fn etag(tag: SecretsTag) -> String {
    format!("\"{tag}\"")
}

/// `If-Match` (RFC 9110 §13.1.1): `*` or a list of strong tags. A weak tag,
/// or one this server never made, matches no state.
pub fn if_match(req: &HttpRequest) -> Option<Precondition> {
    let mut values = req.headers().get_all(header::IF_MATCH).peekable();
    values.peek()?;
    let mut tags = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                return Some(Precondition::Any);
            }
            let opaque = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
            tags.extend(opaque.and_then(SecretsTag::parse));
        }
    }
    Some(Precondition::OneOf(tags))
}

/// `Cache-Control: no-store` (and `Pragma: no-cache`) for responses that
/// carry a secret, plus the state's ETag.
fn secret_response(status: StatusCode, tag: SecretsTag) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    b.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    b.insert_header((header::ETAG, etag(tag)));
    b
}

/// Issues a first current secret.
#[utoipa::path(post, path = "/clients/{clientId}/secret", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 201, description = "The new secret, shown this once", body = IssuedSecret,
            headers(("ETag" = String, description = "The new secret state"), ("Cache-Control" = String, description = "no-store"))),
        PublicClient,
        BearerClientWriteNoEscalation,
        NoSuchClient,
        (status = 409, description = "A current secret exists: rotate instead", body = ProblemDetails, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn issue(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    let WrittenSecret {
        client,
        secret,
        current,
        tag,
        ..
    } = session
        .run(async |a, c| a.issue_secret(c, &path).await)
        .await?;
    Ok(
        secret_response(StatusCode::CREATED, tag).json(IssuedSecret {
            client_id: client.id.to_string(),
            client_secret: secret.expose().to_owned(),
            created_at: rfc3339_ms(current.created_at),
            expires_at: rfc3339_ms(current.expires_at),
        }),
    )
}

/// Rotates: the current secret becomes the previous one (valid for the
/// grace window) and a new current secret is returned.
#[utoipa::path(post, path = "/clients/{clientId}/secret/rotate", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the secret state this rotation is meant for")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret,
            headers(("ETag" = String, description = "The new secret state"), ("Cache-Control" = String, description = "no-store"))),
        PublicClient,
        BearerClientWriteNoEscalation,
        NoSuchClient,
        (status = 409, description = "No current secret to rotate", body = ProblemDetails, content_type = "application/problem+json"),
        IfMatchFailed,
        DatabaseUnavailable,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    let WrittenSecret {
        client,
        secret,
        current,
        previous_valid_until,
        tag,
    } = session
        .run(async |a, c| a.rotate_secret(c, &path, if_match(&req).as_ref()).await)
        .await?;
    let valid_until = previous_valid_until.ok_or_else(Problem::internal)?;
    Ok(secret_response(StatusCode::OK, tag).json(RotatedSecret {
        client_id: client.id.to_string(),
        client_secret: secret.expose().to_owned(),
        created_at: rfc3339_ms(current.created_at),
        expires_at: rfc3339_ms(current.expires_at),
        previous_secret_valid_until: rfc3339_ms(valid_until),
    }))
}

/// Empties one slot at once: `?target=previous` cuts the old secret off
/// before its grace window ends; `?target=current` revokes the current one.
#[utoipa::path(delete, path = "/clients/{clientId}/secret", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded"),
           ("target" = String, Query, description = "`current` or `previous`"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the secret state this deletion is meant for")),
    responses(
        (status = 204, description = "Deleted", headers(("ETag" = String, description = "The new secret state"))),
        (status = 400, description = "A public client, or target missing or not current/previous", body = ProblemDetails, content_type = "application/problem+json"),
        BearerClientWriteNoEscalation,
        (status = 404, description = "No such client, or that slot is empty", body = ProblemDetails, content_type = "application/problem+json"),
        IfMatchFailed,
        DatabaseUnavailable,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    // The slot is named after the client is found: an unknown client is a
    // 404 whatever the query says.
    let target = query_params(&req, &["target"])
        .and_then(|params| match params.first().map(|(_, v)| v.as_str()) {
            None => Err(Problem::bad_field(
                "target",
                "is required: current or previous",
            )),
            Some(t) => SlotTarget::parse(t)
                .ok_or_else(|| Problem::bad_field("target", "must be current or previous")),
        })
        .map_err(Problem::into_input_error);
    let tag = session
        .run(async |a, c| {
            a.delete_secret(c, &path, target, if_match(&req).as_ref())
                .await
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::ETAG, etag(tag)))
        .finish())
}

/// The metadata of both slots and whether a rotation is due.
#[utoipa::path(get, path = "/clients/{clientId}/secret", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 200, description = "The secret state", body = SecretMetadata,
            headers(("ETag" = String, description = "The secret state, for If-Match"))),
        PublicClient,
        BearerClientWrite,
        NoSuchClient,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn metadata(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    let state_now = session
        .run(async |a, c| a.secret_state(c, &path).await)
        .await?;
    let (client, status, now) = (&state_now.client, &state_now.status, state_now.at);
    let body = SecretMetadata {
        client_id: client.id.to_string(),
        current: client.secrets.current.as_ref().map(|c| CurrentSecretView {
            created_at: rfc3339_ms(c.created_at),
            expires_at: rfc3339_ms(c.expires_at),
            expired: status.current_expired.unwrap_or(now >= c.expires_at),
        }),
        previous: client
            .secrets
            .previous
            .as_ref()
            .map(|p| PreviousSecretView {
                created_at: rfc3339_ms(p.created_at),
                expires_at: rfc3339_ms(p.expires_at),
                grace_expires_at: rfc3339_ms(p.grace_expires_at),
            }),
        rotation_required: status.rotation_required,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(state_now.tag)))
        .json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const PLAINTEXT: &str = "Zq3-plaintext-secret-shown-once-8d7e";

    #[test]
    fn debug_of_an_issued_or_rotated_secret_never_shows_the_plaintext() {
        let issued = IssuedSecret {
            client_id: "my-service".into(),
            client_secret: PLAINTEXT.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: "2027-01-01T00:00:00.000Z".into(),
        };
        let rotated = RotatedSecret {
            client_id: "my-service".into(),
            client_secret: PLAINTEXT.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: "2027-01-01T00:00:00.000Z".into(),
            previous_secret_valid_until: "2026-01-08T00:00:00.000Z".into(),
        };
        for shown in [
            format!("{issued:?}"),
            format!("{rotated:?}"),
            format!("{issued:#?}"),
        ] {
            assert!(!shown.contains(PLAINTEXT), "{shown}");
            assert!(shown.contains("my-service"), "{shown}");
        }
        // The response body still carries it: shown once, to the caller.
        assert!(serde_json::to_string(&issued).unwrap().contains(PLAINTEXT));
        assert!(serde_json::to_string(&rotated).unwrap().contains(PLAINTEXT));
    }

    #[test]
    fn if_match_accepts_star_and_lists_and_never_weak_tags() {
        let with = |v: &str| {
            if_match(
                &TestRequest::default()
                    .insert_header(("If-Match", v))
                    .to_http_request(),
            )
        };
        let tag = |version| SecretsTag {
            version,
            created_at_ms: 0,
        };
        assert_eq!(if_match(&TestRequest::default().to_http_request()), None);
        assert_eq!(with("*"), Some(Precondition::Any));
        assert_eq!(with("\"v1-0\", *"), Some(Precondition::Any));
        assert_eq!(
            with("\"v0-0\", \"v1-0\""),
            Some(Precondition::OneOf(vec![tag(0), tag(1)]))
        );
        assert_eq!(etag(tag(1)), "\"v1-0\"");
        for never in ["W/\"v1-0\"", "", "v1-0", "\"v01-0\""] {
            assert_eq!(with(never), Some(Precondition::OneOf(vec![])), "{never}");
        }
    }
}
