//! `/clients` (see docs/reference/admin-api.md#clients): list, read, create, merge-patch and
//! delete OAuth2 clients. A client is created without a secret; the secret
//! lifecycle lives in [`super::secrets`]. No representation ever carries a
//! secret or a hash.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::client::{
    default_client_name, ACCESS_TOKEN_TTL_RANGE, DEFAULT_ACCESS_TOKEN_TTL_MINUTES,
};
use auth_domain::{
    Client, ClientAuthMethod, ClientId, ClientSettings, ClientType, NewClient, ScopeSet,
    SecretSlots, StoreError,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::AdminCaller;
use super::problem::{Problem, ProblemDetails};
use super::{
    audited, blocking, change_event, json_object, member, no_escalation_for_client, read_body,
    rfc3339_ms, Member,
};

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// A client as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub client_id: String,
    pub client_name: String,
    /// `confidential` or `public`.
    pub client_type: &'static str,
    /// `client_secret_basic` or `client_secret_post`; `none` for a public client.
    pub client_authentication_method: &'static str,
    /// Registered scopes, space-separated; null when there are none.
    pub scope: Option<String>,
    pub access_token_ttl_minutes: u32,
    pub service_account_id: Option<String>,
    /// RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.id.to_string(),
            client_name: c.settings.client_name.clone(),
            client_type: c.client_type.as_str(),
            client_authentication_method: match c.client_type {
                ClientType::Confidential => c.settings.auth_method.as_str(),
                ClientType::Public => "none",
            },
            scope: c.settings.scope.to_option_string(),
            access_token_ttl_minutes: c.settings.access_token_ttl_minutes,
            service_account_id: c.service_account_id.clone(),
            created_at: rfc3339_ms(c.created_at),
        }
    }
}

/// The body of `POST /clients` (the rules of docs/reference/seed-files.md#confidential-clients; absent or null fields
/// take their defaults).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ClientCreate {
    /// 1–255 printable ASCII characters (`%x21-7E`), unique.
    pub client_id: String,
    /// Default `Confidential Client: {clientId}`.
    pub client_name: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub client_authentication_method: Option<String>,
    /// Space-separated RFC 6749 §3.3 scope tokens; default none.
    pub scope: Option<String>,
    /// 1–1440, default 30.
    pub access_token_ttl_minutes: Option<u32>,
}

/// The body of `PATCH /clients/{clientId}` (RFC 7396 JSON merge patch): an
/// absent field is kept, `null` resets it to its default, a value replaces it.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ClientPatch {
    #[schema(nullable)]
    pub client_name: Option<String>,
    #[schema(nullable)]
    pub client_authentication_method: Option<String>,
    #[schema(nullable)]
    pub scope: Option<String>,
    #[schema(nullable)]
    pub access_token_ttl_minutes: Option<u32>,
}

const SETTINGS_FIELDS: [&str; 4] = [
    "clientName",
    "clientAuthenticationMethod",
    "scope",
    "accessTokenTtlMinutes",
];

/// A client id from a path: one that cannot be valid cannot exist either.
pub fn path_client_id(raw: &str) -> Result<ClientId, Problem> {
    ClientId::parse(raw).map_err(|_| unknown_client())
}

pub fn unknown_client() -> Problem {
    Problem::not_found("no client has this id")
}

/// `/clients/{id}` with the id percent-encoded as one path segment.
pub fn location(id: &ClientId) -> String {
    let mut out = String::from("/clients/");
    for b in id.as_str().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Applies the settings members of `map` to `base`: absent keeps, null
/// resets to the default for `id`, a value is validated and replaces.
fn apply_settings(
    map: &Map<String, Value>,
    id: &ClientId,
    client_type: ClientType,
    base: ClientSettings,
) -> Result<ClientSettings, Problem> {
    let mut s = base;
    match member::<String>(map, "clientName", "a string")? {
        Member::Absent => {}
        Member::Null => s.client_name = default_client_name(id),
        Member::Value(name) => {
            if name.trim().is_empty()
                || name.chars().count() > 255
                || name.chars().any(char::is_control)
            {
                return Err(Problem::bad_field(
                    "clientName",
                    "must be 1-255 characters, not blank, without control characters",
                ));
            }
            s.client_name = name;
        }
    }
    match member::<String>(map, "clientAuthenticationMethod", "a string")? {
        Member::Absent => {}
        Member::Null => s.auth_method = ClientAuthMethod::default(),
        Member::Value(m) => {
            if client_type == ClientType::Public {
                return Err(Problem::bad_field(
                    "clientAuthenticationMethod",
                    "a public client has no authentication method",
                ));
            }
            s.auth_method = m.parse().map_err(|_| {
                Problem::bad_field(
                    "clientAuthenticationMethod",
                    "must be client_secret_basic or client_secret_post",
                )
            })?;
        }
    }
    match member::<String>(map, "scope", "a string of space-separated scope tokens")? {
        Member::Absent => {}
        Member::Null => s.scope = ScopeSet::default(),
        Member::Value(scope) => {
            s.scope = ScopeSet::parse(&scope).map_err(|e| Problem::bad_field("scope", e))?
        }
    }
    let ttl_rule = "an integer from 1 to 1440";
    match member::<u32>(map, "accessTokenTtlMinutes", ttl_rule)? {
        Member::Absent => {}
        Member::Null => s.access_token_ttl_minutes = DEFAULT_ACCESS_TOKEN_TTL_MINUTES,
        Member::Value(ttl) if ACCESS_TOKEN_TTL_RANGE.contains(&ttl) => {
            s.access_token_ttl_minutes = ttl
        }
        Member::Value(_) => {
            return Err(Problem::bad_field(
                "accessTokenTtlMinutes",
                format!("must be {ttl_rule}"),
            ))
        }
    }
    Ok(s)
}

impl ClientCreate {
    /// Parses and validates the body into the client to create.
    pub fn parse(body: &[u8]) -> Result<(Self, ClientSettings), Problem> {
        let mut known = vec!["clientId"];
        known.extend(SETTINGS_FIELDS);
        let map = json_object(body, &known)?;
        let id = match member::<String>(&map, "clientId", "a string")? {
            Member::Value(id) => {
                ClientId::parse(&id).map_err(|e| Problem::bad_field("clientId", e))?
            }
            Member::Absent | Member::Null => {
                return Err(Problem::bad_field("clientId", "is required"))
            }
        };
        let settings = apply_settings(
            &map,
            &id,
            ClientType::Confidential,
            ClientSettings::defaults_for(&id),
        )?;
        let parsed = Self {
            client_id: id.into_string(),
            client_name: member(&map, "clientName", "a string")?.into_option(),
            client_authentication_method: member(&map, "clientAuthenticationMethod", "a string")?
                .into_option(),
            scope: member(&map, "scope", "a string")?.into_option(),
            access_token_ttl_minutes: member(&map, "accessTokenTtlMinutes", "an integer")?
                .into_option(),
        };
        Ok((parsed, settings))
    }
}

impl ClientPatch {
    /// Parses the patch and applies it to `client`'s settings.
    pub fn apply(body: &[u8], client: &Client) -> Result<ClientSettings, Problem> {
        let mut known = vec!["clientId"];
        known.extend(SETTINGS_FIELDS);
        let map = json_object(body, &known)?;
        if map.contains_key("clientId") {
            return Err(Problem::bad_field(
                "clientId",
                "cannot be changed; create a new client instead",
            ));
        }
        apply_settings(
            &map,
            &client.id,
            client.client_type,
            client.settings.clone(),
        )
    }
}

fn json_response(status: actix_web::http::StatusCode, view: &ClientView) -> HttpResponse {
    HttpResponse::build(status).json(view)
}

/// Every client, sorted by id.
#[utoipa::path(get, path = "/clients", tag = "admin: clients",
    responses(
        (status = 200, description = "Every client, sorted by id", body = [ClientView]),
        (status = 400, description = "Plain HTTP while HTTPS is required", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.read"])))]
pub async fn list(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_READ)?;
    let clients = blocking(&state, |st| {
        st.repos
            .clients
            .list()
            .map_err(|e| Problem::from_store(&e, st.retry_after_secs()))
    })
    .await?;
    let mut views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
    views.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(HttpResponse::Ok().json(views))
}

/// Finds a client or answers 404.
pub async fn find_client(
    state: &web::Data<crate::AppState>,
    id: &ClientId,
) -> Result<Client, Problem> {
    let id = id.clone();
    blocking(state, move |st| {
        st.repos
            .clients
            .find(&id)
            .map_err(|e| Problem::from_store(&e, st.retry_after_secs()))
    })
    .await?
    .ok_or_else(unknown_client)
}

/// One client.
#[utoipa::path(get, path = "/clients/{clientId}", tag = "admin: clients",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.read"])))]
pub async fn get(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_READ)?;
    let id = path_client_id(&path)?;
    let client = find_client(&state, &id).await?;
    Ok(json_response(
        actix_web::http::StatusCode::OK,
        &ClientView::from(&client),
    ))
}

/// Creates a confidential client without a secret (issue one with
/// `POST /clients/{clientId}/secret`).
#[utoipa::path(post, path = "/clients", tag = "admin: clients",
    request_body(content = ClientCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = ClientView,
            headers(("Location" = String, description = "/clients/{clientId}"))),
        (status = 400, description = "A field is invalid (named in `field`), or an unknown field", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A client with this id exists", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn create(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let body = read_body(&req, payload, &[JSON]).await?;
    let (parsed, settings) = ClientCreate::parse(&body)?;
    let id = ClientId::parse(&parsed.client_id).map_err(|e| Problem::bad_field("clientId", e))?;
    let new = NewClient {
        id: id.clone(),
        client_type: ClientType::Confidential,
        settings,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        created_at: auth_domain::now_ms(),
        secrets: SecretSlots::default(),
    };
    let event = change_event(&caller, "client.create", "client", id.as_str());
    let result = blocking(&state, move |st| {
        st.repos.clients.create(&new, &event).map_err(|e| match e {
            StoreError::Duplicate => Problem::conflict("a client with this id exists"),
            other => Problem::from_store(&other, st.retry_after_secs()),
        })
    })
    .await;
    let created = audited(
        &state,
        &caller,
        "client.create",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&created.id)))
        .json(ClientView::from(&created)))
}

/// Changes a client's settings (JSON merge patch).
#[utoipa::path(patch, path = "/clients/{clientId}", tag = "admin: clients",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    request_body(content = ClientPatch, content_type = "application/merge-patch+json",
        description = "`application/merge-patch+json` or `application/json`; `null` resets a field to its default"),
    responses(
        (status = 200, description = "The changed client", body = ClientView),
        (status = 400, description = "A field is invalid, unknown, or is clientId", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Neither merge-patch+json nor json", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn update(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let body = read_body(&req, payload, &[MERGE_PATCH, JSON]).await?;
    let id = path_client_id(&path)?;
    let client = find_client(&state, &id).await?;
    let settings = ClientPatch::apply(&body, &client)?;
    let target = id.clone();
    let event = change_event(&caller, "client.update", "client", id.as_str());
    let result = match no_escalation_for_client(&state, &caller, &client).await {
        Err(p) => Err(p),
        Ok(()) => {
            blocking(&state, move |st| {
                st.repos
                    .clients
                    .update_settings(&target, &settings, &event)
                    .map_err(|e| match e {
                        StoreError::NotFound => unknown_client(),
                        other => Problem::from_store(&other, st.retry_after_secs()),
                    })
            })
            .await
        }
    };
    let updated = audited(
        &state,
        &caller,
        "client.update",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    Ok(json_response(
        actix_web::http::StatusCode::OK,
        &ClientView::from(&updated),
    ))
}

/// Deletes a client: it is unlinked from its service account and its tokens
/// become inactive.
#[utoipa::path(delete, path = "/clients/{clientId}", tag = "admin: clients",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["client.write"])))]
pub async fn delete(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::CLIENT_WRITE)?;
    let id = path_client_id(&path)?;
    let client = find_client(&state, &id).await?;
    let target = id.clone();
    let event = change_event(&caller, "client.delete", "client", id.as_str());
    let result = match no_escalation_for_client(&state, &caller, &client).await {
        Err(p) => Err(p),
        Ok(()) => {
            blocking(&state, move |st| {
                st.repos
                    .clients
                    .delete(&target, &event)
                    .map_err(|e| match e {
                        StoreError::NotFound => unknown_client(),
                        other => Problem::from_store(&other, st.retry_after_secs()),
                    })
            })
            .await
        }
    };
    audited(
        &state,
        &caller,
        "client.delete",
        "client",
        id.as_str(),
        result,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_encodes_the_id_as_one_segment() {
        assert_eq!(
            location(&ClientId::parse("my-service").unwrap()),
            "/clients/my-service"
        );
        assert_eq!(
            location(&ClientId::parse("a/b:c%").unwrap()),
            "/clients/a%2Fb%3Ac%25"
        );
    }

    #[test]
    fn create_applies_defaults_and_names_bad_fields() {
        let (_, s) = ClientCreate::parse(br#"{"clientId":"x"}"#).unwrap();
        assert_eq!(s.client_name, "Confidential Client: x");
        assert_eq!(s.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(s.access_token_ttl_minutes, 30);
        assert!(s.scope.is_empty());
        let cases: [(&[u8], &str); 8] = [
            (br#"{}"#, "clientId"),
            (br#"{"clientId":""}"#, "clientId"),
            (br#"{"clientId":"a b"}"#, "clientId"),
            (
                br#"{"clientId":"x","accessTokenTtlMinutes":0}"#,
                "accessTokenTtlMinutes",
            ),
            (
                br#"{"clientId":"x","accessTokenTtlMinutes":1441}"#,
                "accessTokenTtlMinutes",
            ),
            (
                br#"{"clientId":"x","clientAuthenticationMethod":"none"}"#,
                "clientAuthenticationMethod",
            ),
            (br#"{"clientId":"x","scope":"a  b"}"#, "scope"),
            (br#"{"clientId":"x","clientSecret":"s"}"#, "clientSecret"),
        ];
        for (body, field) in cases {
            let e = ClientCreate::parse(body).unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.field(), Some(field), "{}", String::from_utf8_lossy(body));
        }
    }
}
