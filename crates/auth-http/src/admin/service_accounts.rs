//! `/service-accounts` (see docs/reference/admin-api.md#service-accounts): list, read,
//! create-or-replace and delete accounts, and link or unlink clients. Names
//! of roles, permissions and groups are resolved against the catalogue
//! before anything is stored; a change shows in the next token issued,
//! since the token endpoint reads the account on every grant.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::{LinkedServiceAccount, ServiceAccountId};
use auth_service::admin::AccountInput;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::AdminCaller;
use super::problem::{Problem, ProblemDetails};
use super::responses::{
    BearerUsersRead, BearerUsersWriteNoEscalation, BodyTooLarge, NoSuchAccount, NotJson,
    PublicClient,
};
use super::{json_object, member, read_body};
use crate::state::AppState;

/// A service account as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub active: bool,
    /// The clients linked to it, sorted.
    pub client_ids: Vec<String>,
    pub roles: Vec<String>,
    /// The permissions given directly (not those of its roles).
    pub permissions: Vec<String>,
    pub groups: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl From<&LinkedServiceAccount> for ServiceAccountView {
    fn from(l: &LinkedServiceAccount) -> Self {
        let a = &l.account;
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            active: a.active,
            client_ids: l.client_ids.clone(),
            roles: a.roles.clone(),
            permissions: a.permissions.clone(),
            groups: a.groups.clone(),
            attributes: a.attributes.clone(),
        }
    }
}

auth_service::account_input! {
    /// The body of `PUT /service-accounts/{id}`: the fields of docs/reference/seed-files.md#service-accounts without
    /// `id` and `clientId`. Absent or null fields take the defaults of docs/reference/seed-files.md#service-accounts (the
    /// account is replaced, not patched).
    #[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub struct ServiceAccountPut;
    attributes { #[schema(value_type = Option<Object>)] }
}

const PUT_FIELDS: [&str; 7] = [
    "name",
    "description",
    "active",
    "roles",
    "permissions",
    "groups",
    "attributes",
];

impl ServiceAccountPut {
    /// The body of `PUT /service-accounts/{id}`, each member of the right
    /// JSON type (the use case checks the values).
    pub fn parse(body: &[u8]) -> Result<AccountInput, Problem> {
        let map = json_object(body, &PUT_FIELDS)?;
        let text =
            |name: &str| member::<String>(&map, name, "a string").map(super::Member::into_option);
        let names = |name: &str| {
            member::<Vec<String>>(&map, name, "an array of names").map(super::Member::into_option)
        };
        Ok(AccountInput {
            name: text("name")?,
            description: text("description")?,
            active: member::<bool>(&map, "active", "true or false")?.into_option(),
            roles: names("roles")?,
            permissions: names("permissions")?,
            groups: names("groups")?,
            attributes: member::<Map<String, Value>>(&map, "attributes", "an object")?
                .into_option(),
        })
    }
}

/// Every service account, sorted by id.
#[utoipa::path(get, path = "/service-accounts", tag = "admin: service accounts",
    responses(
        (status = 200, description = "Every service account, sorted by id", body = [ServiceAccountView]),
        BearerUsersRead,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_READ)?;
    let accounts = session.run(async |a, c| a.list_accounts(c).await).await?;
    let views: Vec<ServiceAccountView> = accounts.iter().map(ServiceAccountView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One service account.
#[utoipa::path(get, path = "/service-accounts/{id}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded")),
    responses(
        (status = 200, description = "The account", body = ServiceAccountView),
        BearerUsersRead,
        NoSuchAccount,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_READ)?;
    let account = session.run(async |a, c| a.account(c, &path).await).await?;
    Ok(HttpResponse::Ok().json(ServiceAccountView::from(&account)))
}

/// Creates or replaces a service account (its client links are kept).
#[utoipa::path(put, path = "/service-accounts/{id}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded")),
    request_body(content = ServiceAccountPut, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ServiceAccountView),
        (status = 200, description = "Replaced", body = ServiceAccountView),
        (status = 400, description = "A field is invalid or unknown, or names something the catalogue lacks (all named)", body = ProblemDetails, content_type = "application/problem+json"),
        BearerUsersWriteNoEscalation,
        BodyTooLarge,
        NotJson,
    ),
    security(("bearer" = ["users.write"])))]
pub async fn put(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_WRITE)?;
    let body = read_body(&req, payload, &["application/json"]).await?;
    let id = ServiceAccountId::parse(&path).map_err(|e| Problem::bad_field("id", e))?;
    let input = ServiceAccountPut::parse(&body)?;
    let (created, stored) = session
        .run(async |a, c| a.put_account(c, &id, input).await)
        .await?;
    let mut b = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(b.json(ServiceAccountView::from(&stored)))
}

/// Deletes a service account and unlinks its clients.
#[utoipa::path(delete, path = "/service-accounts/{id}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded")),
    responses(
        (status = 204, description = "Deleted"),
        BearerUsersWriteNoEscalation,
        NoSuchAccount,
    ),
    security(("bearer" = ["users.write"])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_WRITE)?;
    session
        .run(async |a, c| a.delete_account(c, &path).await)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Links a confidential client to the account.
#[utoipa::path(put, path = "/service-accounts/{id}/clients/{clientId}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded"),
           ("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Linked (or already linked to this account)"),
        PublicClient,
        BearerUsersWriteNoEscalation,
        (status = 404, description = "No such account or client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The client is linked to another account", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn link(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_WRITE)?;
    let (account_id, client_id) = path.into_inner();
    session
        .run(async |a, c| a.link(c, &account_id, &client_id).await)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unlinks a client from the account.
#[utoipa::path(delete, path = "/service-accounts/{id}/clients/{clientId}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded"),
           ("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Unlinked"),
        BearerUsersWriteNoEscalation,
        (status = 404, description = "No such account or client, or the client is not linked to it", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn unlink(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let session = caller.with(&state, perms::USERS_WRITE)?;
    let (account_id, client_id) = path.into_inner();
    session
        .run(async |a, c| a.unlink(c, &account_id, &client_id).await)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_reads_absent_and_null_as_defaults() {
        assert_eq!(
            ServiceAccountPut::parse(b"{}").unwrap(),
            AccountInput::default()
        );
        let input =
            ServiceAccountPut::parse(br#"{"name":null,"active":false,"roles":["USER","USER"]}"#)
                .unwrap();
        assert_eq!(input.name, None);
        assert_eq!(input.active, Some(false));
        assert_eq!(input.roles, Some(vec!["USER".into(), "USER".into()]));
    }

    #[test]
    fn put_refuses_id_client_id_unknown_fields_and_wrong_types() {
        for (body, field) in [
            (&br#"{"id":"x"}"#[..], "id"),
            (br#"{"clientId":"x"}"#, "clientId"),
            (br#"{"roles":"USER"}"#, "roles"),
            (br#"{"active":"yes"}"#, "active"),
            (br#"{"attributes":[1]}"#, "attributes"),
        ] {
            assert_eq!(
                ServiceAccountPut::parse(body).unwrap_err().field(),
                Some(field)
            );
        }
    }
}
