//! Service accounts: create or replace, links, the escalation rule, audit.

use auth_domain::catalogue::perms;
use auth_domain::ServiceAccountId;
use auth_service::admin::{AccountInput, AdminError};

use crate::support::*;

fn said(s: &str) -> ServiceAccountId {
    ServiceAccountId::parse(s).unwrap()
}

#[test]
fn create_replace_link_and_unlink_are_each_audited() {
    each_backend(|fx| async move {
        client(&fx, "reporting").await;
        let input = AccountInput {
            roles: Some(vec!["USER".into()]),
            ..AccountInput::default()
        };
        let (created, stored) = fx
            .admin
            .put_account(&root(), &said("svc-reporting"), input)
            .await
            .unwrap();
        assert!(created);
        assert_eq!(stored.account.name, "svc-reporting");
        assert_eq!(stored.account.roles, vec!["USER"]);
        let renamed = AccountInput {
            name: Some("Reporting".into()),
            ..AccountInput::default()
        };
        let (created, stored) = fx
            .admin
            .put_account(&root(), &said("svc-reporting"), renamed)
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(stored.account.name, "Reporting");
        assert!(stored.account.roles.is_empty(), "replaced, not patched");

        fx.admin
            .link(&root(), "svc-reporting", "reporting")
            .await
            .unwrap();
        let linked = fx.admin.account(&root(), "svc-reporting").await.unwrap();
        assert_eq!(linked.client_ids, vec!["reporting"]);
        let client = fx.admin.client(&root(), "reporting").await.unwrap();
        assert_eq!(client.service_account_id.as_deref(), Some("svc-reporting"));

        fx.admin
            .put_account(&root(), &said("svc-other"), AccountInput::default())
            .await
            .unwrap();
        assert!(matches!(
            fx.admin.link(&root(), "svc-other", "reporting").await,
            Err(AdminError::Conflict(m)) if m.contains("svc-reporting")
        ));

        fx.admin
            .unlink(&root(), "svc-reporting", "reporting")
            .await
            .unwrap();
        assert_eq!(
            fx.admin
                .unlink(&root(), "svc-reporting", "reporting")
                .await
                .unwrap_err(),
            AdminError::NotFound("the client is not linked to this service account".into())
        );
        assert_eq!(
            fx.admin
                .link(&root(), "svc-nobody", "reporting")
                .await
                .unwrap_err(),
            AdminError::NotFound("no service account has this id".into())
        );
        let rows: Vec<_> = audit(&fx).into_iter().skip(1).collect();
        assert_eq!(
            rows,
            vec![
                row(
                    "svc-root",
                    "service_account.create",
                    "svc-reporting",
                    "success"
                ),
                row(
                    "svc-root",
                    "service_account.update",
                    "svc-reporting",
                    "success"
                ),
                row("svc-root", "service_account.link", "reporting", "success"),
                row("svc-root", "service_account.create", "svc-other", "success"),
                row("svc-root", "service_account.link", "reporting", "failure"),
                row("svc-root", "service_account.unlink", "reporting", "success"),
            ]
        );
    });
}

#[test]
fn escalation_is_forbidden_naming_what_is_missing_after_lookups_and_before_conflicts() {
    each_backend(|fx| async move {
        client(&fx, "admin-client").await;
        let powerful = AccountInput {
            permissions: Some(vec![perms::USERS_WRITE.into(), perms::CLIENT_READ.into()]),
            ..AccountInput::default()
        };
        fx.admin
            .put_account(&root(), &said("svc-admin"), powerful.clone())
            .await
            .unwrap();
        fx.admin
            .link(&root(), "svc-admin", "admin-client")
            .await
            .unwrap();
        fx.admin
            .issue_secret(&root(), "admin-client")
            .await
            .unwrap();
        let rows_before = audit(&fx).len();

        let writer = caller("svc-writer", &[perms::CLIENT_WRITE, perms::USERS_WRITE]);
        let missing = AdminError::Forbidden {
            missing: vec![perms::CLIENT_READ.into()],
        };
        // Rotating the secret of a client linked to a more powerful account
        // would let the caller log in as it.
        assert_eq!(
            fx.admin
                .rotate_secret(&writer, "admin-client", None)
                .await
                .unwrap_err(),
            missing
        );
        // The secret already exists (a conflict), but the escalation is
        // judged first.
        assert_eq!(
            fx.admin
                .issue_secret(&writer, "admin-client")
                .await
                .unwrap_err(),
            missing
        );
        // Granting an account power the caller lacks.
        assert_eq!(
            fx.admin
                .put_account(&writer, &said("svc-new"), powerful)
                .await
                .unwrap_err(),
            missing
        );
        // Absent targets are not found before the rule is applied.
        assert_eq!(
            fx.admin
                .rotate_secret(&writer, "nobody", None)
                .await
                .unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
        // Unknown names are invalid before the rule is applied.
        let unknown = AccountInput {
            roles: Some(vec!["NO_SUCH_ROLE".into()]),
            permissions: Some(vec![perms::CLIENT_READ.into()]),
            ..AccountInput::default()
        };
        assert!(matches!(
            fx.admin.put_account(&writer, &said("svc-new"), unknown).await,
            Err(AdminError::Invalid { field, .. }) if field == "roles"
        ));

        let state = fx
            .admin
            .secret_state(&root(), "admin-client")
            .await
            .unwrap();
        assert!(state.client.secrets.previous.is_none(), "not rotated");
        assert_eq!(
            fx.admin.account(&root(), "svc-new").await.unwrap_err(),
            AdminError::NotFound("no service account has this id".into())
        );
        let refusals: Vec<_> = audit(&fx).into_iter().skip(rows_before).collect();
        assert_eq!(
            refusals,
            vec![
                row(
                    "svc-writer",
                    "client.secret.rotate",
                    "admin-client",
                    "failure"
                ),
                row(
                    "svc-writer",
                    "client.secret.issue",
                    "admin-client",
                    "failure"
                ),
                row("svc-writer", "service_account.update", "svc-new", "failure"),
            ]
        );
    });
}

#[test]
fn deleting_an_account_unlinks_its_clients() {
    each_backend(|fx| async move {
        client(&fx, "reporting").await;
        fx.admin
            .put_account(&root(), &said("svc-reporting"), AccountInput::default())
            .await
            .unwrap();
        fx.admin
            .link(&root(), "svc-reporting", "reporting")
            .await
            .unwrap();
        fx.admin
            .delete_account(&root(), "svc-reporting")
            .await
            .unwrap();
        let client = fx.admin.client(&root(), "reporting").await.unwrap();
        assert_eq!(client.service_account_id, None);
        assert_eq!(
            fx.admin
                .delete_account(&root(), "svc-reporting")
                .await
                .unwrap_err(),
            AdminError::NotFound("no service account has this id".into())
        );
        assert!(fx.admin.list_accounts(&root()).await.unwrap().is_empty());
        let last = audit(&fx).pop().unwrap();
        assert_eq!(
            last,
            row(
                "svc-root",
                "service_account.delete",
                "svc-reporting",
                "success"
            )
        );
    });
}
