//! Clients: create, conflicts, settings, delete, permissions, audit.

use auth_domain::catalogue::perms;
use auth_domain::{Change, ClientAuthMethod, ScopeSet, SettingsPatch};
use auth_service::admin::AdminError;

use crate::support::*;

#[test]
fn create_then_duplicate_is_a_conflict_and_both_are_audited() {
    each_backend(|fx| async move {
        let settings = SettingsPatch {
            client_name: Change::Set("Reporting".into()),
            scope: Change::Set("read write".into()),
            ..SettingsPatch::default()
        };
        let created = fx
            .admin
            .create_client(&root(), cid("reporting"), &settings)
            .await
            .unwrap();
        assert_eq!(created.settings.client_name, "Reporting");
        assert_eq!(
            created.settings.scope,
            ScopeSet::parse("read write").unwrap()
        );
        assert_eq!(created.settings.access_token_ttl_minutes, 30);
        assert!(
            created.secrets.current.is_none(),
            "created without a secret"
        );

        let again = fx
            .admin
            .create_client(&root(), cid("reporting"), &SettingsPatch::default())
            .await;
        assert_eq!(
            again.unwrap_err(),
            AdminError::Conflict("a client with this id exists".into())
        );
        let read = fx.admin.client(&root(), "reporting").await.unwrap();
        assert_eq!(
            read.settings.client_name, "Reporting",
            "the first one stays"
        );
        assert_eq!(
            audit(&fx),
            vec![
                row("svc-root", "client.create", "reporting", "success"),
                row("svc-root", "client.create", "reporting", "failure"),
            ]
        );
    });
}

#[test]
fn invalid_settings_name_the_field_and_change_nothing() {
    each_backend(|fx| async move {
        let cases = [
            (
                SettingsPatch {
                    client_name: Change::Set("  ".into()),
                    ..SettingsPatch::default()
                },
                "clientName",
            ),
            (
                SettingsPatch {
                    auth_method: Change::Set("private_key_jwt".into()),
                    ..SettingsPatch::default()
                },
                "clientAuthenticationMethod",
            ),
            (
                SettingsPatch {
                    scope: Change::Set("a  b".into()),
                    ..SettingsPatch::default()
                },
                "scope",
            ),
            (
                SettingsPatch {
                    access_token_ttl_minutes: Change::Set(1441),
                    ..SettingsPatch::default()
                },
                "accessTokenTtlMinutes",
            ),
        ];
        for (patch, field) in cases {
            let e = fx
                .admin
                .create_client(&root(), cid("bad"), &patch)
                .await
                .unwrap_err();
            assert!(
                matches!(&e, AdminError::Invalid { field: f, .. } if f == field),
                "{field}: {e:?}"
            );
        }
        assert_eq!(
            fx.admin.client(&root(), "bad").await.unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
        assert_eq!(audit(&fx), vec![], "invalid input is not audited");
    });
}

#[test]
fn update_merges_and_an_absent_client_is_not_found_before_its_patch_is_judged() {
    each_backend(|fx| async move {
        client(&fx, "svc").await;
        let patch = SettingsPatch {
            auth_method: Change::Set("client_secret_post".into()),
            access_token_ttl_minutes: Change::Set(5),
            ..SettingsPatch::default()
        };
        let updated = fx
            .admin
            .update_client(&root(), "svc", Ok(patch))
            .await
            .unwrap();
        assert_eq!(
            updated.settings.auth_method,
            ClientAuthMethod::ClientSecretPost
        );
        assert_eq!(updated.settings.access_token_ttl_minutes, 5);
        let reset = SettingsPatch {
            access_token_ttl_minutes: Change::Reset,
            ..SettingsPatch::default()
        };
        let updated = fx
            .admin
            .update_client(&root(), "svc", Ok(reset))
            .await
            .unwrap();
        assert_eq!(updated.settings.access_token_ttl_minutes, 30);
        assert_eq!(
            updated.settings.auth_method,
            ClientAuthMethod::ClientSecretPost
        );

        let unreadable = AdminError::Rejected("the request body is not valid JSON".into());
        assert_eq!(
            fx.admin
                .update_client(&root(), "nobody", Err(unreadable.clone()))
                .await
                .unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
        assert_eq!(
            fx.admin
                .update_client(&root(), "svc", Err(unreadable.clone()))
                .await
                .unwrap_err(),
            unreadable
        );
    });
}

#[test]
fn each_operation_needs_its_permission_and_a_refusal_there_is_not_audited() {
    each_backend(|fx| async move {
        client(&fx, "svc").await;
        let reader = caller("svc-reader", &[perms::CLIENT_READ]);
        assert_eq!(fx.admin.list_clients(&reader).await.unwrap().len(), 1);
        assert_eq!(
            fx.admin.delete_client(&reader, "svc").await.unwrap_err(),
            AdminError::MissingPermission(perms::CLIENT_WRITE)
        );
        assert_eq!(
            fx.admin.issue_secret(&reader, "svc").await.unwrap_err(),
            AdminError::MissingPermission(perms::CLIENT_WRITE)
        );
        let writer = caller("svc-writer", &[perms::CLIENT_WRITE]);
        assert_eq!(
            fx.admin.list_clients(&writer).await.unwrap_err(),
            AdminError::MissingPermission(perms::CLIENT_READ)
        );
        fx.admin.delete_client(&writer, "svc").await.unwrap();
        assert_eq!(
            fx.admin.delete_client(&writer, "svc").await.unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
        assert_eq!(
            audit(&fx),
            vec![
                row("svc-root", "client.create", "svc", "success"),
                row("svc-writer", "client.delete", "svc", "success"),
            ]
        );
    });
}

#[test]
fn a_change_whose_audit_event_cannot_be_written_is_not_made() {
    each_backend(|fx| async move {
        auth_store::test_support::fail_audit_inserts(&fx.url, true);
        let e = fx
            .admin
            .create_client(&root(), cid("unrecorded"), &SettingsPatch::default())
            .await
            .unwrap_err();
        assert_eq!(e, AdminError::Internal);
        auth_store::test_support::fail_audit_inserts(&fx.url, false);
        assert_eq!(
            fx.admin.client(&root(), "unrecorded").await.unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
        assert_eq!(audit(&fx), vec![]);
    });
}
