//! The admin API's rule against privilege escalation, after Kubernetes
//! RBAC's: a caller may change what a service account is, or who can act as
//! it (its clients and their secrets), only if the caller already holds
//! every admin permission the account grants, before and after the change.
//! Without it, `client.write` alone could rotate the secret of a client
//! linked to an administrator's account and log in as it, and `users.write`
//! alone could link its own client to such an account.
//!
//! Domain permissions (anything but the four admin permissions) are outside
//! the rule: the admin API's power is what it protects, so a caller holding
//! all four manages every account.

use std::collections::BTreeSet;

use crate::catalogue::{perms, Catalogue};
use crate::service_account::ServiceAccount;

/// The permissions that govern the admin API itself.
pub const ADMIN_PERMISSIONS: [&str; 4] = [
    perms::CLIENT_READ,
    perms::CLIENT_WRITE,
    perms::USERS_READ,
    perms::USERS_WRITE,
];

/// A refused change: the admin permissions the affected accounts grant and
/// the caller lacks, sorted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the change affects a service account granting {} which the caller's token lacks", .missing.join(", "))]
pub struct Escalation {
    pub missing: Vec<String>,
}

/// Allows the change iff every admin permission among the effective
/// permissions (direct and through roles, resolved with `catalogue`) of
/// every account in `affected` is in `caller_permissions`. Pass the
/// account as it is before the change and as it will be after it (either
/// absent when it does not exist on that side).
pub fn check_no_escalation<'a>(
    caller_permissions: &[String],
    catalogue: &Catalogue,
    affected: impl IntoIterator<Item = &'a ServiceAccount>,
) -> Result<(), Escalation> {
    let mut missing = BTreeSet::new();
    for account in affected {
        for p in catalogue.effective_permissions(account) {
            if ADMIN_PERMISSIONS.contains(&p.as_str()) && !caller_permissions.contains(&p) {
                missing.insert(p);
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Escalation {
            missing: missing.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::tests::extended;

    fn account(roles: &[&str], permissions: &[&str]) -> ServiceAccount {
        ServiceAccount {
            roles: roles.iter().map(|s| s.to_string()).collect(),
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            ..ServiceAccount::new("svc")
        }
    }

    fn caller(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn catalogue() -> Catalogue {
        extended("OPS", &["data.read", "users.write"], &[])
    }

    #[test]
    fn client_write_alone_cannot_touch_an_admin_account() {
        let admin = account(&["ADMIN_SYSTEM"], &[]);
        let err =
            check_no_escalation(&caller(&["client.write"]), &catalogue(), [&admin]).unwrap_err();
        assert_eq!(err.missing, ["client.read", "users.read", "users.write"]);
        assert!(err
            .to_string()
            .contains("client.read, users.read, users.write"));
    }

    #[test]
    fn permissions_through_roles_count_and_both_sides_are_checked() {
        let c = catalogue();
        let before = account(&[], &["users.read"]);
        let after = account(&["OPS"], &[]);
        let err = check_no_escalation(&caller(&["users.read"]), &c, [&before, &after]).unwrap_err();
        assert_eq!(err.missing, ["users.write"]);
        // Taking a permission away also needs it.
        let err =
            check_no_escalation(&caller(&["users.write"]), &c, [&before, &after]).unwrap_err();
        assert_eq!(err.missing, ["users.read"]);
        check_no_escalation(
            &caller(&["users.read", "users.write"]),
            &c,
            [&before, &after],
        )
        .unwrap();
    }

    #[test]
    fn domain_permissions_are_outside_the_rule() {
        let c = catalogue();
        let data = account(&[], &["data.read"]);
        check_no_escalation(&[], &c, [&data]).unwrap();
        check_no_escalation(&caller(&["client.write"]), &c, []).unwrap();
        let everything = account(&["ADMIN_SYSTEM", "OPS"], &["data.read"]);
        check_no_escalation(&caller(&ADMIN_PERMISSIONS), &c, [&everything]).unwrap();
    }
}
