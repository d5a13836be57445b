//! `GET /roles`, `/permissions`, `/groups` (see docs/reference/admin-api.md, `users.read`): the
//! built-in catalogue extended by the seed files, sorted by name.

use actix_web::{web, HttpResponse};
use auth_domain::catalogue::perms;
use auth_domain::Catalogue;
use serde::Serialize;

use super::auth::AdminCaller;
use super::problem::Problem;
use super::responses::BearerUsersRead;

use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    /// The permissions the role grants, sorted.
    pub permissions: Vec<String>,
}

/// A permission or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NamedView {
    pub name: String,
    pub description: String,
}

async fn load(state: &web::Data<AppState>, caller: &AdminCaller) -> Result<Catalogue, Problem> {
    caller
        .with(state, perms::USERS_READ)?
        .run(async |a, c| a.catalogue(c).await)
        .await
}

fn sorted<T>(mut items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
    items.sort_by(|a, b| name(a).cmp(name(b)));
    items
}

/// Every role, sorted by name.
#[utoipa::path(get, path = "/roles", tag = "admin: catalogue",
    responses(
        (status = 200, description = "Every role, sorted by name", body = [RoleView]),
        BearerUsersRead,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn roles(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    let c = load(&state, &caller).await?;
    let views = c
        .roles
        .into_iter()
        .map(|r| {
            let mut permissions = r.permissions;
            permissions.sort();
            RoleView {
                name: r.name,
                description: r.description,
                permissions,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(sorted(views, |r: &RoleView| &r.name)))
}

/// Every permission, sorted by name.
#[utoipa::path(get, path = "/permissions", tag = "admin: catalogue",
    responses(
        (status = 200, description = "Every permission, sorted by name", body = [NamedView]),
        BearerUsersRead,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn permissions(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    let c = load(&state, &caller).await?;
    let views = c
        .permissions
        .into_iter()
        .map(|p| NamedView {
            name: p.name,
            description: p.description,
        })
        .collect();
    Ok(HttpResponse::Ok().json(sorted(views, |p: &NamedView| &p.name)))
}

/// Every group, sorted by name.
#[utoipa::path(get, path = "/groups", tag = "admin: catalogue",
    responses(
        (status = 200, description = "Every group, sorted by name", body = [NamedView]),
        BearerUsersRead,
    ),
    security(("bearer" = ["users.read"])))]
pub async fn groups(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, Problem> {
    let c = load(&state, &caller).await?;
    let views = c
        .groups
        .into_iter()
        .map(|g| NamedView {
            name: g.name,
            description: g.description,
        })
        .collect();
    Ok(HttpResponse::Ok().json(sorted(views, |g: &NamedView| &g.name)))
}
