//! The secret lifecycle: issue, rotate with a grace window, delete,
//! preconditions.

use auth_domain::{BcryptHasher, SecretPolicy, Slot, SlotTarget};
use auth_service::admin::{AdminError, Precondition, SecretsTag};
use time::Duration;

use crate::support::*;

#[test]
fn rotation_keeps_the_previous_secret_for_the_grace_window() {
    each_backend(|fx| async move {
        client(&fx, "svc").await;
        let first = fx.admin.issue_secret(&root(), "svc").await.unwrap();
        assert_eq!(first.previous_valid_until, None);
        assert_eq!(
            fx.admin.issue_secret(&root(), "svc").await.unwrap_err(),
            AdminError::Conflict(
                "the client already has a current secret; rotate it instead".into()
            )
        );

        let second = fx
            .admin
            .rotate_secret(&root(), "svc", Some(&Precondition::OneOf(vec![first.tag])))
            .await
            .unwrap();
        assert_ne!(second.secret.expose(), first.secret.expose());
        assert_ne!(second.tag, first.tag);
        let grace = SecretPolicy::default().grace;
        assert_eq!(
            second.previous_valid_until,
            Some(second.current.created_at + grace)
        );

        let state = fx.admin.secret_state(&root(), "svc").await.unwrap();
        assert_eq!(state.tag, second.tag);
        let previous = state.client.secrets.previous.clone().unwrap();
        assert_eq!(previous.hash, first.current.hash);
        let hasher = BcryptHasher::new(4).unwrap();
        let slots = &state.client.secrets;
        let now = state.at;
        assert_eq!(
            slots.authenticate(&first.secret, now, &hasher).unwrap().0,
            Slot::Previous
        );
        assert_eq!(
            slots.authenticate(&second.secret, now, &hasher).unwrap().0,
            Slot::Current
        );
        assert!(
            slots
                .authenticate(&first.secret, now + grace + Duration::seconds(1), &hasher)
                .is_err(),
            "the previous secret stops after the grace window"
        );
        assert_eq!(
            audit(&fx)[1..],
            [
                row("svc-root", "client.secret.issue", "svc", "success"),
                row("svc-root", "client.secret.issue", "svc", "failure"),
                row("svc-root", "client.secret.rotate", "svc", "success"),
            ]
        );
    });
}

#[test]
fn a_stale_precondition_is_refused_and_audited_and_changes_nothing() {
    each_backend(|fx| async move {
        client(&fx, "svc").await;
        let issued = fx.admin.issue_secret(&root(), "svc").await.unwrap();
        let stale = SecretsTag {
            version: issued.tag.version - 1,
            ..issued.tag
        };
        let e = fx
            .admin
            .rotate_secret(&root(), "svc", Some(&Precondition::OneOf(vec![stale])))
            .await
            .unwrap_err();
        assert_eq!(e, AdminError::Stale);
        let e = fx
            .admin
            .delete_secret(
                &root(),
                "svc",
                Ok(SlotTarget::Current),
                Some(&Precondition::OneOf(vec![])),
            )
            .await
            .unwrap_err();
        assert_eq!(e, AdminError::Stale);
        let state = fx.admin.secret_state(&root(), "svc").await.unwrap();
        assert_eq!(state.tag, issued.tag, "nothing was written");
        assert_eq!(
            state.client.secrets.current.unwrap().hash,
            issued.current.hash
        );
        let outcomes: Vec<_> = audit(&fx).into_iter().map(|r| (r.1, r.3)).collect();
        assert_eq!(
            outcomes[2..],
            [
                ("client.secret.rotate".to_owned(), "failure".to_owned()),
                ("client.secret.delete".to_owned(), "failure".to_owned()),
            ]
        );
        let any = fx
            .admin
            .rotate_secret(&root(), "svc", Some(&Precondition::Any))
            .await;
        assert!(any.is_ok(), "{any:?}");
    });
}

#[test]
fn deleting_an_empty_slot_is_not_found_whatever_the_precondition() {
    each_backend(|fx| async move {
        client(&fx, "svc").await;
        let issued = fx.admin.issue_secret(&root(), "svc").await.unwrap();
        let e = fx
            .admin
            .delete_secret(
                &root(),
                "svc",
                Ok(SlotTarget::Previous),
                Some(&Precondition::OneOf(vec![])),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e,
            AdminError::NotFound("the client has no previous secret".into())
        );
        let rotated = fx.admin.rotate_secret(&root(), "svc", None).await.unwrap();
        let tag = fx
            .admin
            .delete_secret(
                &root(),
                "svc",
                Ok(SlotTarget::Previous),
                Some(&Precondition::OneOf(vec![rotated.tag])),
            )
            .await
            .unwrap();
        assert_eq!(tag.version, rotated.tag.version + 1);
        let state = fx.admin.secret_state(&root(), "svc").await.unwrap();
        assert!(state.client.secrets.previous.is_none());
        assert!(state
            .client
            .secrets
            .authenticate(&issued.secret, state.at, &BcryptHasher::new(4).unwrap())
            .is_err());
        // An unknown client is not found before its unusable target is judged.
        let unknown_target = Err(AdminError::Invalid {
            field: "target".into(),
            message: "must be current or previous".into(),
        });
        assert_eq!(
            fx.admin
                .delete_secret(&root(), "nobody", unknown_target, None)
                .await
                .unwrap_err(),
            AdminError::NotFound("no client has this id".into())
        );
    });
}
