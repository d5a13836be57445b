//! `/clients/{clientId}/secret` (see docs/reference/secret-lifecycle.md, docs/reference/admin-api.md#client-secrets): issue,
//! rotate, delete and describe a confidential client's two secret slots.
//!
//! Every write is a compare-and-swap on the client's `secrets_version`
//! (`ClientRepository::replace_secrets`), which is also what the strong
//! `ETag` is made from. With `If-Match`, a version that moved is a 412.
//! Without it, a lost race re-reads the client and applies the same change
//! to the new state, so concurrent rotations are serialised: each answers
//! 200 with a secret that was current when it was committed, and none is
//! lost (the last two committed remain current and previous).
//!
//! A new secret is hashed once per request, before the retry loop, on
//! actix's blocking pool behind a small semaphore of its own — not on the
//! verification pool, so that a flood of token requests filling that queue
//! cannot turn an administrator's rotation into a 503, and a burst of admin
//! rotations cannot occupy more than two threads with BCrypt.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use auth_domain::catalogue::perms;
use auth_domain::{
    generate_secret, Client, ClientId, ClientType, Secret, SecretHash, SecretSlots, SlotTarget,
    StoreError,
};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::auth::AdminCaller;
use super::clients::{find_client, path_client_id, unknown_client};
use super::problem::{Problem, ProblemDetails};
use super::{audited, blocking, change_event, no_escalation_for_client, query_params, rfc3339_ms};
use crate::state::AppState;

/// BCrypt jobs of the admin API running at once, process-wide.
static ADMIN_HASHING: Semaphore = Semaphore::const_new(2);

/// Compare-and-swap attempts before a write gives up with 503. Every lost
/// attempt means another write succeeded, so this is only reached under a
/// storm of more concurrent writers than it.
const MAX_ATTEMPTS: usize = 100;

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

/// The strong entity tag of a client's secret state: its `secrets_version`,
/// qualified by the client's creation instant so that a client deleted and
/// created again under the same id never repeats an old tag.
pub fn etag(client: &Client, version: i64) -> String {
    format!(
        "\"v{version}-{}\"",
        auth_domain::time_util::to_epoch_ms(client.created_at)
    )
}

/// `If-Match` (RFC 9110 §13.1.1): `*` or a list of strong tags; a weak tag
/// never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Tags(Vec<String>),
}

impl IfMatch {
    pub fn from_request(req: &HttpRequest) -> Option<Self> {
        let mut tags = Vec::new();
        let mut any = false;
        for value in req.headers().get_all(header::IF_MATCH) {
            let Ok(value) = value.to_str() else {
                tags.push(String::new());
                continue;
            };
            for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    any = true;
                } else {
                    tags.push(tag.to_owned());
                }
            }
        }
        if any {
            Some(Self::Any)
        } else if tags.is_empty() && req.headers().get(header::IF_MATCH).is_none() {
            None
        } else {
            Some(Self::Tags(tags))
        }
    }

    pub fn matches(&self, current: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t == current),
        }
    }
}

/// A confidential client, or 404 (unknown) / 400 (public).
async fn confidential(state: &web::Data<AppState>, id: &ClientId) -> Result<Client, Problem> {
    let client = find_client(state, id).await?;
    if client.client_type == ClientType::Public {
        return Err(Problem::bad_field(
            "clientId",
            "is a public client, which has no secrets",
        ));
    }
    Ok(client)
}

/// A fresh secret and its hash at the configured cost.
async fn new_secret(state: &web::Data<AppState>) -> Result<(Secret, SecretHash), Problem> {
    let secret = generate_secret().map_err(|_| {
        tracing::error!("the OS random number generator failed");
        Problem::internal()
    })?;
    let _permit = ADMIN_HASHING
        .acquire()
        .await
        .map_err(|_| Problem::internal())?;
    let to_hash = secret.clone();
    let hash = blocking(state, move |st| {
        st.hasher.hash(&to_hash).map_err(|e| {
            tracing::error!(error = %e, "hashing a new client secret failed");
            Problem::internal()
        })
    })
    .await?;
    Ok((secret, hash))
}

/// Applies `change` to the client's slots and stores the result by
/// compare-and-swap, re-reading and re-applying after a lost race unless
/// the caller pinned the version with `If-Match` (then: 412). Blocking.
fn write_slots(
    st: &AppState,
    mut client: Client,
    pinned: bool,
    change: &dyn Fn(&SecretSlots) -> Result<SecretSlots, Problem>,
    event: &auth_domain::NewAuditEvent,
) -> Result<(Client, SecretSlots, i64), Problem> {
    let retry = st.retry_after_secs();
    for _ in 0..MAX_ATTEMPTS {
        let next = change(&client.secrets)?;
        match st
            .repos
            .clients
            .replace_secrets(&client.id, client.secrets_version, &next, event)
        {
            Ok(version) => return Ok((client, next, version)),
            Err(StoreError::Conflict) if pinned => return Err(Problem::precondition_failed()),
            Err(StoreError::Conflict) => {
                client = st
                    .repos
                    .clients
                    .find(&client.id)
                    .map_err(|e| Problem::from_store(&e, retry))?
                    .ok_or_else(unknown_client)?;
            }
            Err(StoreError::NotFound) => return Err(unknown_client()),
            Err(e) => return Err(Problem::from_store(&e, retry)),
        }
    }
    tracing::warn!(
        attempts = MAX_ATTEMPTS,
        "a secret write lost every compare-and-swap attempt"
    );
    Err(Problem::unavailable(1))
}

/// `Cache-Control: no-store` (and `Pragma: no-cache`) for responses that
/// carry a secret, plus the state's ETag.
fn secret_response(status: StatusCode, tag: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    b.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    b.insert_header((header::ETAG, tag.to_owned()));
    b
}

fn check_if_match(if_match: Option<&IfMatch>, client: &Client) -> Result<(), Problem> {
    match if_match {
        Some(m) if !m.matches(&etag(client, client.secrets_version)) => {
            Err(Problem::precondition_failed())
        }
        _ => Ok(()),
    }
}

/// Issues a first current secret.
#[utoipa::path(post, path = "/clients/{clientId}/secret", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 201, description = "The new secret, shown this once", body = IssuedSecret,
            headers(("ETag" = String, description = "The new secret state"), ("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "A public client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A current secret exists: rotate instead", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn issue(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let id = path_client_id(&path)?;
    let client = confidential(&state, &id).await?;
    // Refuse before paying for a hash when the answer is already known.
    let precheck = async {
        no_escalation_for_client(&state, &caller, &client).await?;
        match client.secrets.current {
            Some(_) => Err(Problem::from_lifecycle(
                &auth_domain::LifecycleError::CurrentExists,
            )),
            None => Ok(()),
        }
    }
    .await;
    if let Err(p) = precheck {
        let refused = Err(p);
        return audited(
            &state,
            &caller,
            "client.secret.issue",
            "client",
            id.as_str(),
            refused,
        )
        .await;
    }
    let result = match new_secret(&state).await {
        Ok((secret, hash)) => {
            let policy = state.config.secret_policy;
            let event = change_event(&caller, "client.secret.issue", "client", id.as_str());
            blocking(&state, move |st| {
                let change = |slots: &SecretSlots| {
                    slots
                        .issue(hash.clone(), auth_domain::now_ms(), &policy)
                        .map_err(|e| Problem::from_lifecycle(&e))
                };
                write_slots(st, client, false, &change, &event)
            })
            .await
            .map(|written| (secret, written))
        }
        Err(p) => Err(p),
    };
    let (secret, (client, slots, version)) = audited(
        &state,
        &caller,
        "client.secret.issue",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    let Some(current) = slots.current else {
        return Err(Problem::internal());
    };
    Ok(
        secret_response(StatusCode::CREATED, &etag(&client, version)).json(IssuedSecret {
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
        (status = 400, description = "A public client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "No current secret to rotate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the secret state", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let id = path_client_id(&path)?;
    let client = confidential(&state, &id).await?;
    let if_match = IfMatch::from_request(&req);
    // A missing current secret is a 409 whatever If-Match says: the request
    // would fail without the precondition too (RFC 9110 §13.2.1).
    let precheck = async {
        no_escalation_for_client(&state, &caller, &client).await?;
        if client.secrets.current.is_none() {
            return Err(Problem::from_lifecycle(
                &auth_domain::LifecycleError::NoCurrent,
            ));
        }
        check_if_match(if_match.as_ref(), &client)
    }
    .await;
    let result = match precheck {
        Err(p) => Err(p),
        Ok(()) => match new_secret(&state).await {
            Ok((secret, hash)) => {
                let policy = state.config.secret_policy;
                let pinned = if_match.is_some();
                let event = change_event(&caller, "client.secret.rotate", "client", id.as_str());
                blocking(&state, move |st| {
                    let change = |slots: &SecretSlots| {
                        slots
                            .rotate(hash.clone(), auth_domain::now_ms(), &policy)
                            .map_err(|e| Problem::from_lifecycle(&e))
                    };
                    write_slots(st, client, pinned, &change, &event)
                })
                .await
                .map(|written| (secret, written))
            }
            Err(p) => Err(p),
        },
    };
    let (secret, (client, slots, version)) = audited(
        &state,
        &caller,
        "client.secret.rotate",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    let (Some(current), Some(valid_until)) = (slots.current.as_ref(), slots.previous_valid_until())
    else {
        return Err(Problem::internal());
    };
    Ok(
        secret_response(StatusCode::OK, &etag(&client, version)).json(RotatedSecret {
            client_id: client.id.to_string(),
            client_secret: secret.expose().to_owned(),
            created_at: rfc3339_ms(current.created_at),
            expires_at: rfc3339_ms(current.expires_at),
            previous_secret_valid_until: rfc3339_ms(valid_until),
        }),
    )
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
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client, or that slot is empty", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the secret state", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let id = path_client_id(&path)?;
    let client = confidential(&state, &id).await?;
    let params = query_params(&req, &["target"])?;
    let target = match params.first().map(|(_, v)| v.as_str()) {
        None => {
            return Err(Problem::bad_field(
                "target",
                "is required: current or previous",
            ))
        }
        Some(t) => SlotTarget::parse(t)
            .ok_or_else(|| Problem::bad_field("target", "must be current or previous"))?,
    };
    let if_match = IfMatch::from_request(&req);
    // An empty slot is a 404 and so comes before a 412: deleting it would
    // fail without the precondition too (RFC 9110 §13.2.1).
    let precheck = async {
        no_escalation_for_client(&state, &caller, &client).await?;
        client
            .secrets
            .delete(target)
            .map_err(|e| Problem::from_lifecycle(&e))?;
        check_if_match(if_match.as_ref(), &client)
    }
    .await;
    let result = match precheck {
        Err(p) => Err(p),
        Ok(()) => {
            let pinned = if_match.is_some();
            let event = change_event(&caller, "client.secret.delete", "client", id.as_str());
            blocking(&state, move |st| {
                let change = |slots: &SecretSlots| {
                    slots
                        .delete(target)
                        .map_err(|e| Problem::from_lifecycle(&e))
                };
                write_slots(st, client, pinned, &change, &event)
            })
            .await
        }
    };
    let (client, _, version) = audited(
        &state,
        &caller,
        "client.secret.delete",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::ETAG, etag(&client, version)))
        .finish())
}

/// The metadata of both slots and whether a rotation is due.
#[utoipa::path(get, path = "/clients/{clientId}/secret", tag = "admin: client secrets",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 200, description = "The secret state", body = SecretMetadata,
            headers(("ETag" = String, description = "The secret state, for If-Match"))),
        (status = 400, description = "A public client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn metadata(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let id = path_client_id(&path)?;
    let client = confidential(&state, &id).await?;
    let now = auth_domain::now_ms();
    let status = client.secrets.status(now, &state.config.secret_policy);
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
        .insert_header((header::ETAG, etag(&client, client.secrets_version)))
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
        assert_eq!(
            IfMatch::from_request(&TestRequest::default().to_http_request()),
            None
        );
        let r = TestRequest::default()
            .insert_header(("If-Match", "*"))
            .to_http_request();
        assert!(IfMatch::from_request(&r).unwrap().matches("\"v1-0\""));
        let r = TestRequest::default()
            .insert_header(("If-Match", "\"v0-0\", \"v1-0\""))
            .to_http_request();
        let m = IfMatch::from_request(&r).unwrap();
        assert!(m.matches("\"v1-0\""));
        assert!(!m.matches("\"v2-0\""));
        let r = TestRequest::default()
            .insert_header(("If-Match", "W/\"v1-0\""))
            .to_http_request();
        assert!(!IfMatch::from_request(&r).unwrap().matches("\"v1-0\""));
        let r = TestRequest::default()
            .insert_header(("If-Match", ""))
            .to_http_request();
        assert!(!IfMatch::from_request(&r).unwrap().matches("\"v1-0\""));
    }
}
