//! `/clients` (see docs/reference/admin-api.md#clients): list, read, create, merge-patch and
//! delete OAuth2 clients. A client is created without a secret; the secret
//! lifecycle lives in [`super::secrets`]. No representation ever carries a
//! secret or a hash.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::{Client, ClientId, ClientSettings, ClientType, SettingsPatch};
use auth_service::admin::patched_settings;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::AdminCaller;
use super::problem::{Problem, ProblemDetails};
use super::responses::{
    BearerClientRead, BearerClientWrite, BearerClientWriteNoEscalation, BodyTooLarge,
    DatabaseUnavailable, NoSuchClient, NotJson,
};
use super::{json_object, member, read_body, rfc3339_ms, Member};

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

/// The settings members of `map`, each of the right JSON type (whether
/// its value is acceptable is the use case's rule).
fn settings_patch(map: &Map<String, Value>) -> Result<SettingsPatch, Problem> {
    Ok(SettingsPatch {
        client_name: member(map, "clientName", "a string")?.into_change(),
        auth_method: member(map, "clientAuthenticationMethod", "a string")?.into_change(),
        scope: member(map, "scope", "a string of space-separated scope tokens")?.into_change(),
        access_token_ttl_minutes: member(
            map,
            "accessTokenTtlMinutes",
            "an integer from 1 to 1440",
        )?
        .into_change(),
    })
}

impl ClientCreate {
    /// The id and settings of the body of `POST /clients`.
    pub fn parse(body: &[u8]) -> Result<(ClientId, SettingsPatch), Problem> {
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
        Ok((id, settings_patch(&map)?))
    }
}

impl ClientPatch {
    /// The body of `PATCH /clients/{clientId}`.
    pub fn parse(body: &[u8]) -> Result<SettingsPatch, Problem> {
        let mut known = vec!["clientId"];
        known.extend(SETTINGS_FIELDS);
        let map = json_object(body, &known)?;
        if map.contains_key("clientId") {
            return Err(Problem::bad_field(
                "clientId",
                "cannot be changed; create a new client instead",
            ));
        }
        settings_patch(&map)
    }

    /// `client`'s settings after the patch in `body`, as `PATCH` would
    /// store them.
    pub fn apply(body: &[u8], client: &Client) -> Result<ClientSettings, Problem> {
        let patch = Self::parse(body)?;
        patched_settings(client, &patch).map_err(|e| Problem::from_admin(e, 1))
    }
}

/// Every client, sorted by id.
#[utoipa::path(get, path = "/clients", tag = "admin: clients",
    responses(
        (status = 200, description = "Every client, sorted by id", body = [ClientView]),
        (status = 400, description = "Plain HTTP while HTTPS is required", body = ProblemDetails, content_type = "application/problem+json"),
        BearerClientRead,
        DatabaseUnavailable,
    ),
    security(("bearer" = ["client.read"])))]
pub async fn list(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_READ)?;
    let clients = session.run(async |a, c| a.list_clients(c).await).await?;
    let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One client.
#[utoipa::path(get, path = "/clients/{clientId}", tag = "admin: clients",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        BearerClientRead,
        NoSuchClient,
    ),
    security(("bearer" = ["client.read"])))]
pub async fn get(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_READ)?;
    let client = session.run(async |a, c| a.client(c, &path).await).await?;
    Ok(HttpResponse::Ok().json(ClientView::from(&client)))
}

/// Creates a confidential client without a secret (issue one with
/// `POST /clients/{clientId}/secret`).
#[utoipa::path(post, path = "/clients", tag = "admin: clients",
    request_body(content = ClientCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; Location names it", body = ClientView,
            headers(("Location" = String, description = "/clients/{clientId}"))),
        (status = 400, description = "A field is invalid (named in `field`), or an unknown field", body = ProblemDetails, content_type = "application/problem+json"),
        BearerClientWrite,
        (status = 409, description = "A client with this id exists", body = ProblemDetails, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn create(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    let body = read_body(&req, payload, &[JSON]).await?;
    let (id, settings) = ClientCreate::parse(&body)?;
    let created = session
        .run(async |a, c| a.create_client(c, id, &settings).await)
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
        BearerClientWriteNoEscalation,
        NoSuchClient,
        BodyTooLarge,
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
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    let body = read_body(&req, payload, &[MERGE_PATCH, JSON]).await?;
    // A missing client is a 404 whatever the body says: the use case
    // reports a body it cannot use only after finding the client.
    let patch = ClientPatch::parse(&body).map_err(Problem::into_input_error);
    let updated = session
        .run(async |a, c| a.update_client(c, &path, patch).await)
        .await?;
    Ok(HttpResponse::Ok().json(ClientView::from(&updated)))
}

/// Deletes a client: it is unlinked from its service account and its tokens
/// become inactive.
#[utoipa::path(delete, path = "/clients/{clientId}", tag = "admin: clients",
    params(("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Deleted"),
        BearerClientWriteNoEscalation,
        NoSuchClient,
    ),
    security(("bearer" = ["client.write"])))]
pub async fn delete(
    state: web::Data<crate::AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::CLIENT_WRITE)?;
    session
        .run(async |a, c| a.delete_client(c, &path).await)
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
    fn create_and_patch_bodies_name_the_field_of_a_shape_error() {
        let (id, patch) = ClientCreate::parse(br#"{"clientId":"x","scope":null}"#).unwrap();
        assert_eq!(id.as_str(), "x");
        assert_eq!(patch.scope, auth_domain::Change::Reset);
        assert_eq!(patch.client_name, auth_domain::Change::Keep);
        let cases: [(&[u8], &str); 5] = [
            (br#"{}"#, "clientId"),
            (br#"{"clientId":""}"#, "clientId"),
            (br#"{"clientId":"a b"}"#, "clientId"),
            (
                br#"{"clientId":"x","accessTokenTtlMinutes":"30"}"#,
                "accessTokenTtlMinutes",
            ),
            (br#"{"clientId":"x","clientSecret":"s"}"#, "clientSecret"),
        ];
        for (body, field) in cases {
            let e = ClientCreate::parse(body).unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.field(), Some(field), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            ClientPatch::parse(br#"{"clientId":"y"}"#)
                .unwrap_err()
                .field(),
            Some("clientId")
        );
    }
}
