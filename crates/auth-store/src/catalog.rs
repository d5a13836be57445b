//! `CatalogRepository`: only the extensions are stored; the built-in
//! catalogue comes from auth-domain, so a new release's built-ins apply
//! without a migration.

use auth_domain::{CatalogRepository, Catalogue, Group, Permission, Role, StoreError};
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{from_json, to_json, DbResultExt};
use crate::schema::{catalog_groups, catalog_permissions, catalog_roles};
use crate::store::Store;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = catalog_permissions)]
struct PermissionRow {
    name: String,
    description: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = catalog_roles)]
struct RoleRow {
    name: String,
    description: String,
    permissions_json: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = catalog_groups)]
struct GroupRow {
    name: String,
    description: String,
}

/// Adds or replaces each entry by name. Delete-then-insert inside the
/// caller's transaction is portable across both backends.
pub(crate) fn upsert_catalogue(conn: &mut DbConn, c: &Catalogue) -> Result<(), StoreError> {
    for p in &c.permissions {
        diesel::delete(catalog_permissions::table.find(&p.name))
            .execute(conn)
            .store()?;
        diesel::insert_into(catalog_permissions::table)
            .values(PermissionRow {
                name: p.name.clone(),
                description: p.description.clone(),
            })
            .execute(conn)
            .store()?;
    }
    for r in &c.roles {
        diesel::delete(catalog_roles::table.find(&r.name))
            .execute(conn)
            .store()?;
        diesel::insert_into(catalog_roles::table)
            .values(RoleRow {
                name: r.name.clone(),
                description: r.description.clone(),
                permissions_json: to_json(&r.permissions)?,
            })
            .execute(conn)
            .store()?;
    }
    for g in &c.groups {
        diesel::delete(catalog_groups::table.find(&g.name))
            .execute(conn)
            .store()?;
        diesel::insert_into(catalog_groups::table)
            .values(GroupRow {
                name: g.name.clone(),
                description: g.description.clone(),
            })
            .execute(conn)
            .store()?;
    }
    Ok(())
}

impl CatalogRepository for Store {
    fn load(&self) -> Result<Catalogue, StoreError> {
        // One snapshot: a replica seeding at this moment commits roles and
        // the permissions they name together.
        self.read_snapshot(|conn| {
            let permissions = catalog_permissions::table
                .order(catalog_permissions::name.asc())
                .select(PermissionRow::as_select())
                .load(conn)
                .store()?;
            let roles = catalog_roles::table
                .order(catalog_roles::name.asc())
                .select(RoleRow::as_select())
                .load(conn)
                .store()?;
            let groups = catalog_groups::table
                .order(catalog_groups::name.asc())
                .select(GroupRow::as_select())
                .load(conn)
                .store()?;
            let stored = Catalogue {
                permissions: permissions
                    .into_iter()
                    .map(|p| Permission {
                        name: p.name,
                        description: p.description,
                    })
                    .collect(),
                roles: roles
                    .into_iter()
                    .map(|r| {
                        Ok(Role {
                            permissions: from_json(
                                &r.permissions_json,
                                "role",
                                &r.name,
                                "permissions",
                            )?,
                            name: r.name,
                            description: r.description,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?,
                groups: groups
                    .into_iter()
                    .map(|g| Group {
                        name: g.name,
                        description: g.description,
                    })
                    .collect(),
            };
            let mut catalogue = Catalogue::builtin();
            catalogue.extend(stored).map_err(|e| {
                StoreError::Other(format!("the stored catalogue is inconsistent: {e}"))
            })?;
            Ok(catalogue)
        })
    }
}
