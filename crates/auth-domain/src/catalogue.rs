//! Roles, permissions and groups (see docs/reference/seed-files.md#the-service-accounts-file). The built-in catalogue has
//! permissions `client.read`, `client.write`, `users.read`, `users.write`,
//! roles `USER` (none) and `ADMIN_SYSTEM` (all four), and no groups; a seed
//! file may extend it.

use std::collections::BTreeSet;

use crate::service_account::ServiceAccount;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub description: String,
}

/// The permissions the admin API checks.
pub mod perms {
    pub const CLIENT_READ: &str = "client.read";
    pub const CLIENT_WRITE: &str = "client.write";
    pub const USERS_READ: &str = "users.read";
    pub const USERS_WRITE: &str = "users.write";
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub permissions: Vec<Permission>,
    pub roles: Vec<Role>,
    pub groups: Vec<Group>,
}

/// A name that does not resolve, with what kind of name it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown permission {0:?}")]
    UnknownPermission(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("role {role:?} names unknown permission {permission:?}")]
    RoleWithUnknownPermission { role: String, permission: String },
}

impl Catalogue {
    pub fn builtin() -> Self {
        let p = |name: &str, description: &str| Permission {
            name: name.into(),
            description: description.into(),
        };
        Self {
            permissions: vec![
                p(
                    perms::CLIENT_READ,
                    "Read OAuth2 clients and their secret metadata",
                ),
                p(
                    perms::CLIENT_WRITE,
                    "Create, change and delete OAuth2 clients and their secrets",
                ),
                p(
                    perms::USERS_READ,
                    "Read service accounts, the catalogue and the audit log",
                ),
                p(
                    perms::USERS_WRITE,
                    "Create, change and delete service accounts and their links",
                ),
            ],
            roles: vec![
                Role {
                    name: "USER".into(),
                    description: "A plain user; no permissions".into(),
                    permissions: vec![],
                },
                Role {
                    name: "ADMIN_SYSTEM".into(),
                    description: "Administers clients and service accounts".into(),
                    permissions: vec![
                        perms::CLIENT_READ.into(),
                        perms::CLIENT_WRITE.into(),
                        perms::USERS_READ.into(),
                        perms::USERS_WRITE.into(),
                    ],
                },
            ],
            groups: vec![],
        }
    }

    pub fn permission(&self, name: &str) -> Option<&Permission> {
        self.permissions.iter().find(|p| p.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Adds or replaces entries by name (a seed file's extensions), then
    /// checks that every role's permissions resolve.
    pub fn extend(&mut self, other: Catalogue) -> Result<(), CatalogueError> {
        for p in other.permissions {
            upsert(&mut self.permissions, p, |x| &x.name);
        }
        for r in other.roles {
            upsert(&mut self.roles, r, |x| &x.name);
        }
        for g in other.groups {
            upsert(&mut self.groups, g, |x| &x.name);
        }
        self.check_roles()
    }

    pub fn check_roles(&self) -> Result<(), CatalogueError> {
        for r in &self.roles {
            if let Some(missing) = r.permissions.iter().find(|p| self.permission(p).is_none()) {
                return Err(CatalogueError::RoleWithUnknownPermission {
                    role: r.name.clone(),
                    permission: missing.clone(),
                });
            }
        }
        Ok(())
    }

    /// Every name of the account that does not resolve (empty = all do).
    pub fn unresolved(&self, account: &ServiceAccount) -> Vec<CatalogueError> {
        let mut out = Vec::new();
        out.extend(
            account
                .roles
                .iter()
                .filter(|n| self.role(n).is_none())
                .cloned()
                .map(CatalogueError::UnknownRole),
        );
        out.extend(
            account
                .permissions
                .iter()
                .filter(|n| self.permission(n).is_none())
                .cloned()
                .map(CatalogueError::UnknownPermission),
        );
        out.extend(
            account
                .groups
                .iter()
                .filter(|n| self.group(n).is_none())
                .cloned()
                .map(CatalogueError::UnknownGroup),
        );
        out
    }

    /// Direct permissions plus those of the account's roles, sorted and
    /// without duplicates: the token's `permissions` claim.
    pub fn effective_permissions(&self, account: &ServiceAccount) -> Vec<String> {
        let mut set: BTreeSet<String> = account.permissions.iter().cloned().collect();
        for role in account.roles.iter().filter_map(|n| self.role(n)) {
            set.extend(role.permissions.iter().cloned());
        }
        set.into_iter().collect()
    }
}

fn upsert<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &String) {
    match list.iter_mut().find(|x| key(x) == key(&item)) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The built-in catalogue with a `data.read` permission, a role `role`
    /// granting `permissions`, and `groups`: the extension the tests of the
    /// catalogue and of the escalation rule work on.
    pub(crate) fn extended(role: &str, permissions: &[&str], groups: &[&str]) -> Catalogue {
        let mut c = Catalogue::builtin();
        c.extend(Catalogue {
            permissions: vec![Permission {
                name: "data.read".into(),
                description: String::new(),
            }],
            roles: vec![Role {
                name: role.into(),
                description: String::new(),
                permissions: permissions.iter().map(|s| s.to_string()).collect(),
            }],
            groups: groups
                .iter()
                .map(|g| Group {
                    name: g.to_string(),
                    description: String::new(),
                })
                .collect(),
        })
        .unwrap();
        c
    }

    fn account(roles: &[&str], permissions: &[&str], groups: &[&str]) -> ServiceAccount {
        ServiceAccount {
            roles: roles.iter().map(|s| s.to_string()).collect(),
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            ..ServiceAccount::new("svc")
        }
    }

    #[test]
    fn builtin_admin_role_grants_all_four_permissions() {
        let c = Catalogue::builtin();
        let eff = c.effective_permissions(&account(&["ADMIN_SYSTEM"], &[], &[]));
        assert_eq!(
            eff,
            vec!["client.read", "client.write", "users.read", "users.write"]
        );
        assert!(c
            .effective_permissions(&account(&["USER"], &[], &[]))
            .is_empty());
    }

    #[test]
    fn effective_permissions_merge_direct_and_role_sorted() {
        let c = extended("ANALYST", &["data.read"], &["urn:g:ops"]);
        let eff = c.effective_permissions(&account(
            &["ANALYST"],
            &["users.read", "data.read"],
            &["urn:g:ops"],
        ));
        assert_eq!(eff, vec!["data.read", "users.read"]);
    }

    #[test]
    fn unresolved_names_are_reported_by_kind() {
        let c = Catalogue::builtin();
        let errs = c.unresolved(&account(&["NOPE"], &["x.y"], &["g"]));
        assert_eq!(
            errs,
            vec![
                CatalogueError::UnknownRole("NOPE".into()),
                CatalogueError::UnknownPermission("x.y".into()),
                CatalogueError::UnknownGroup("g".into()),
            ]
        );
    }

    #[test]
    fn a_role_with_an_unknown_permission_is_refused() {
        let mut c = Catalogue::builtin();
        let err = c
            .extend(Catalogue {
                roles: vec![Role {
                    name: "R".into(),
                    description: String::new(),
                    permissions: vec!["missing".into()],
                }],
                ..Catalogue::default()
            })
            .unwrap_err();
        assert_eq!(
            err,
            CatalogueError::RoleWithUnknownPermission {
                role: "R".into(),
                permission: "missing".into()
            }
        );
    }
}
