//! `/service-accounts` (see docs/reference/admin-api.md#service-accounts): list, read,
//! create-or-replace and delete accounts, and link or unlink clients. Names
//! of roles, permissions and groups are resolved against the catalogue
//! before anything is stored; a change shows in the next token issued,
//! since the token endpoint reads the account on every grant.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::{CatalogueError, ClientType, LinkedServiceAccount, ServiceAccount, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::AdminCaller;
use super::clients::{find_client, path_client_id};
use super::problem::{Problem, ProblemDetails};
use super::{audited, blocking, change_event, json_object, member, no_escalation, read_body};
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

/// The body of `PUT /service-accounts/{id}`: the fields of docs/reference/seed-files.md#service-accounts without
/// `id` and `clientId`. Absent or null fields take the defaults of docs/reference/seed-files.md#service-accounts (the
/// account is replaced, not patched).
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ServiceAccountPut {
    /// Default: the id.
    pub name: Option<String>,
    /// Default: empty.
    pub description: Option<String>,
    /// Default: true.
    pub active: Option<bool>,
    /// Role names of the catalogue; default none.
    pub roles: Option<Vec<String>>,
    /// Permission names of the catalogue; default none.
    pub permissions: Option<Vec<String>>,
    /// Group names of the catalogue; default none.
    pub groups: Option<Vec<String>>,
    /// Free-form claims copied into the token; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
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
    pub fn parse(body: &[u8]) -> Result<Self, Problem> {
        let map = json_object(body, &PUT_FIELDS)?;
        let text = |name: &str| -> Result<Option<String>, Problem> {
            let v = member::<String>(&map, name, "a string")?.into_option();
            if v.as_deref()
                .is_some_and(|s| s.chars().any(char::is_control))
            {
                return Err(Problem::bad_field(
                    name,
                    "must not contain control characters",
                ));
            }
            Ok(v)
        };
        let names = |name: &str| -> Result<Option<Vec<String>>, Problem> {
            member::<Vec<String>>(&map, name, "an array of names").map(super::Member::into_option)
        };
        Ok(Self {
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

    pub fn into_account(self, id: &str) -> ServiceAccount {
        let defaults = ServiceAccount::new(id);
        ServiceAccount {
            id: defaults.id,
            name: self.name.unwrap_or(defaults.name),
            description: self.description.unwrap_or(defaults.description),
            active: self.active.unwrap_or(defaults.active),
            roles: dedup(self.roles.unwrap_or_default()),
            permissions: dedup(self.permissions.unwrap_or_default()),
            groups: dedup(self.groups.unwrap_or_default()),
            attributes: self.attributes.unwrap_or(defaults.attributes),
        }
    }
}

/// Names in the order given, each once.
fn dedup(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// An account id from a path, for creation: 1–255 printable ASCII
/// characters, like a client id.
fn new_account_id(raw: &str) -> Result<String, Problem> {
    auth_domain::ClientId::parse(raw)
        .map(auth_domain::ClientId::into_string)
        .map_err(|e| Problem::bad_field("id", e))
}

fn unknown_account() -> Problem {
    Problem::not_found("no service account has this id")
}

/// The 400 for names the catalogue does not know, naming every one.
fn unresolved_problem(errors: &[CatalogueError]) -> Problem {
    let field = match errors.first() {
        Some(CatalogueError::UnknownRole(_)) => "roles",
        Some(CatalogueError::UnknownPermission(_)) => "permissions",
        _ => "groups",
    };
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Problem::bad_field(
        field,
        format!("not in the catalogue: {}", listed.join(", ")),
    )
}

async fn find_account(
    state: &web::Data<AppState>,
    id: String,
) -> Result<LinkedServiceAccount, Problem> {
    blocking(state, move |st| {
        st.repos
            .accounts
            .find(&id)
            .map_err(|e| Problem::from_store(&e, st.retry_after_secs()))
    })
    .await?
    .ok_or_else(unknown_account)
}

/// Every service account, sorted by id.
#[utoipa::path(get, path = "/service-accounts", tag = "admin: service accounts",
    responses(
        (status = 200, description = "Every service account, sorted by id", body = [ServiceAccountView]),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.read", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.read"])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_READ)?;
    let accounts = blocking(&state, |st| {
        st.repos
            .accounts
            .list()
            .map_err(|e| Problem::from_store(&e, st.retry_after_secs()))
    })
    .await?;
    let mut views: Vec<ServiceAccountView> =
        accounts.iter().map(ServiceAccountView::from).collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(HttpResponse::Ok().json(views))
}

/// One service account.
#[utoipa::path(get, path = "/service-accounts/{id}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded")),
    responses(
        (status = 200, description = "The account", body = ServiceAccountView),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.read", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.read"])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_READ)?;
    let account = find_account(&state, path.into_inner()).await?;
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
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn put(
    state: web::Data<AppState>,
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_WRITE)?;
    let body = read_body(&req, payload, &["application/json"]).await?;
    let id = new_account_id(&path)?;
    let account = ServiceAccountPut::parse(&body)?.into_account(&id);
    let who = caller.clone();
    let result = blocking(&state, move |st| {
        let retry = st.retry_after_secs();
        let catalogue = st
            .repos
            .catalogue
            .load()
            .map_err(|e| Problem::from_store(&e, retry))?;
        let unresolved = catalogue.unresolved(&account);
        if !unresolved.is_empty() {
            return Err(unresolved_problem(&unresolved));
        }
        let before = st
            .repos
            .accounts
            .find_account(&account.id)
            .map_err(|e| Problem::from_store(&e, retry))?;
        let mut affected = vec![&account];
        affected.extend(before.as_ref());
        no_escalation(st, &who, &affected)?;
        let created = st
            .repos
            .accounts
            .upsert(&account, &|created| {
                let action = if created {
                    "service_account.create"
                } else {
                    "service_account.update"
                };
                change_event(&who, action, "service_account", &account.id)
            })
            .map_err(|e| Problem::from_store(&e, retry))?;
        let stored = st
            .repos
            .accounts
            .find(&account.id)
            .map_err(|e| Problem::from_store(&e, retry))?;
        stored.map(|s| (created, s)).ok_or_else(unknown_account)
    })
    .await;
    let action = match &result {
        Ok((true, _)) => "service_account.create",
        _ => "service_account.update",
    };
    let (created, stored) =
        audited(&state, &caller, action, "service_account", &id, result).await?;
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
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_WRITE)?;
    let id = path.into_inner();
    let existing = find_account(&state, id.clone()).await?;
    let target = id.clone();
    let who = caller.clone();
    let result = blocking(&state, move |st| {
        no_escalation(st, &who, &[&existing.account])?;
        let event = change_event(&who, "service_account.delete", "service_account", &target);
        st.repos
            .accounts
            .delete(&target, &event)
            .map_err(|e| match e {
                StoreError::NotFound => unknown_account(),
                other => Problem::from_store(&other, st.retry_after_secs()),
            })
    })
    .await;
    audited(
        &state,
        &caller,
        "service_account.delete",
        "service_account",
        &id,
        result,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Links a confidential client to the account.
#[utoipa::path(put, path = "/service-accounts/{id}/clients/{clientId}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded"),
           ("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Linked (or already linked to this account)"),
        (status = 400, description = "A public client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such account or client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The client is linked to another account", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn link(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_WRITE)?;
    let (account_id, raw_client) = path.into_inner();
    let linked = find_account(&state, account_id.clone()).await?;
    let client_id = path_client_id(&raw_client)?;
    let client = find_client(&state, &client_id).await?;
    if client.client_type == ClientType::Public {
        return Err(Problem::bad_field(
            "clientId",
            "is a public client, which cannot be linked to a service account",
        ));
    }
    let target = client_id.clone();
    let who = caller.clone();
    let result = blocking(&state, move |st| {
        // The client will carry the account's permissions in its tokens.
        no_escalation(st, &who, &[&linked.account])?;
        let event = change_event(&who, "service_account.link", "client", target.as_str());
        st.repos.accounts.link(&account_id, &target, &event).map_err(|e| match e {
            StoreError::NotFound => Problem::not_found("the service account or the client no longer exists"),
            StoreError::LinkConflict { account_id: other, .. } => {
                Problem::conflict(format!("the client is linked to another service account ({other:?}); unlink it there first"))
            }
            other => Problem::from_store(&other, st.retry_after_secs()),
        })
    })
    .await;
    audited(
        &state,
        &caller,
        "service_account.link",
        "client",
        client_id.as_str(),
        result,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unlinks a client from the account.
#[utoipa::path(delete, path = "/service-accounts/{id}/clients/{clientId}", tag = "admin: service accounts",
    params(("id" = String, Path, description = "The account id, percent-encoded"),
           ("clientId" = String, Path, description = "The client id, percent-encoded")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks users.write, or an admin permission that the affected service account grants (named in the detail)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such account or client, or the client is not linked to it", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users.write"])))]
pub async fn unlink(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    caller.require(perms::USERS_WRITE)?;
    let (account_id, raw_client) = path.into_inner();
    let linked = find_account(&state, account_id.clone()).await?;
    let client_id = path_client_id(&raw_client)?;
    let target = client_id.clone();
    let who = caller.clone();
    let result = blocking(&state, move |st| {
        // Taking the account's permissions away from the client's holder
        // is a change to who has them, as much as granting them.
        no_escalation(st, &who, &[&linked.account])?;
        st.repos
            .accounts
            .unlink(
                &account_id,
                &target,
                &change_event(&who, "service_account.unlink", "client", target.as_str()),
            )
            .map_err(|e| match e {
                StoreError::NotFound => {
                    Problem::not_found("the client is not linked to this service account")
                }
                other => Problem::from_store(&other, st.retry_after_secs()),
            })
    })
    .await;
    audited(
        &state,
        &caller,
        "service_account.unlink",
        "client",
        client_id.as_str(),
        result,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_applies_section_2_2_defaults() {
        let a = ServiceAccountPut::parse(b"{}")
            .unwrap()
            .into_account("svc-x");
        assert_eq!(a, ServiceAccount::new("svc-x"));
        let a =
            ServiceAccountPut::parse(br#"{"name":null,"active":false,"roles":["USER","USER"]}"#)
                .unwrap()
                .into_account("s");
        assert_eq!(a.name, "s");
        assert!(!a.active);
        assert_eq!(a.roles, vec!["USER"]);
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

    #[test]
    fn unresolved_names_are_all_listed() {
        let p = unresolved_problem(&[
            CatalogueError::UnknownRole("NOPE".into()),
            CatalogueError::UnknownGroup("g".into()),
        ]);
        assert_eq!(p.field(), Some("roles"));
        assert!(p.detail().contains("NOPE") && p.detail().contains("\"g\""));
    }
}
