use auth_domain::{AuditFilter, AuditLog, AuditOutcome, Health, NewAuditEvent};
use time::{Duration, OffsetDateTime};

use crate::support::{each_backend, T0};

fn event(at: OffsetDateTime, action: &str, target_type: &str, target_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor: "admin-client".into(),
        action: action.into(),
        target_type: target_type.into(),
        target_id: target_id.into(),
        outcome: AuditOutcome::Success,
    }
}

#[test]
fn events_list_newest_first_filtered_by_client_and_since() {
    each_backend(|store| {
        let t1 = T0 + Duration::milliseconds(1);
        let t2 = T0 + Duration::seconds(2);
        store
            .record(&event(T0, "client.create", "client", "svc"))
            .unwrap();
        store
            .record(&event(t2, "client.secret.rotate", "client", "svc"))
            .unwrap();
        store
            .record(&NewAuditEvent {
                outcome: AuditOutcome::Failure,
                ..event(t1, "service_account.update", "service_account", "svc")
            })
            .unwrap();
        store
            .record(&event(t1, "client.create", "client", "other"))
            .unwrap();

        let all = AuditLog::list(store, &AuditFilter::default()).unwrap();
        let seen: Vec<_> = all
            .iter()
            .map(|e| (e.at, e.action.as_str(), e.target_id.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (t2, "client.secret.rotate", "svc"),
                // Same instant: the later record first.
                (t1, "client.create", "other"),
                (t1, "service_account.update", "svc"),
                (T0, "client.create", "svc"),
            ]
        );
        assert_eq!(all[2].outcome, "failure");
        assert_eq!(all[0].outcome, "success");
        assert_eq!(all[0].actor, "admin-client");
        assert!(all[0].id > all[3].id);

        let for_svc = store
            .list(&AuditFilter {
                client_id: Some("svc".into()),
                since: None,
            })
            .unwrap();
        let actions: Vec<_> = for_svc.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            vec!["client.secret.rotate", "client.create"],
            "only events whose target is the client"
        );

        let since_t1 = store
            .list(&AuditFilter {
                client_id: None,
                since: Some(t1),
            })
            .unwrap();
        assert_eq!(since_t1.len(), 3, "since is inclusive");
        let both = store
            .list(&AuditFilter {
                client_id: Some("svc".into()),
                since: Some(t1),
            })
            .unwrap();
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].at, t2);
        let just_after_t1 = store
            .list(&AuditFilter {
                client_id: None,
                since: Some(t1 + Duration::microseconds(1)),
            })
            .unwrap();
        assert_eq!(just_after_t1.len(), 1, "a sub-millisecond since rounds up");
    });
}

#[test]
fn ping_answers_when_the_database_does() {
    each_backend(|store| store.ping().unwrap());
}

/// Every change that takes an audit event commits with it or not at all:
/// with the audit table refusing inserts (a trigger), each fails and leaves
/// the data as it was; without the trigger, each writes its event.
#[test]
fn a_change_is_never_committed_without_its_audit_event() {
    use auth_domain::{
        ClientRepository as Clients, ServiceAccountRepository as Accounts, SigningKeyRepository,
    };
    use auth_store::test_support::fail_audit_inserts;

    use crate::support::{account, cid, confidential, current, each_backend_with_url, ev};

    each_backend_with_url(|store, url| {
        let key = |kid: &str| auth_domain::NewSigningKey {
            kid: kid.into(),
            alg: "RS256".into(),
            private_key: vec![1, 2, 3],
            public_jwk: "{}".into(),
            created_at: T0,
        };
        Clients::create(store, &confidential("linked"), &ev()).unwrap();
        Clients::create(store, &confidential("loose"), &ev()).unwrap();
        Accounts::upsert(store, &account("svc"), &|_| ev()).unwrap();
        Accounts::link(store, "svc", &cid("linked"), &ev()).unwrap();
        store.rotate(&key("k1"), &ev()).unwrap();
        let clients = Clients::list(store).unwrap();
        let accounts = Accounts::list(store).unwrap();
        let keys = SigningKeyRepository::list(store).unwrap();
        let events = AuditLog::list(store, &AuditFilter::default())
            .unwrap()
            .len();

        fail_audit_inserts(url, true);
        let mut renamed = account("svc");
        renamed.name = "renamed".into();
        let mut settings = confidential("loose").settings;
        settings.client_name = "renamed".into();
        let failures: Vec<(&str, Result<(), auth_domain::StoreError>)> = vec![
            (
                "create",
                Clients::create(store, &confidential("new"), &ev()).map(drop),
            ),
            (
                "update_settings",
                Clients::update_settings(store, &cid("loose"), &settings, &ev()).map(drop),
            ),
            (
                "delete client",
                Clients::delete(store, &cid("loose"), &ev()),
            ),
            (
                "replace_secrets",
                Clients::replace_secrets(store, &cid("loose"), 0, &current("new", T0), &ev())
                    .map(drop),
            ),
            (
                "upsert new",
                Accounts::upsert(store, &account("svc-new"), &|_| ev()).map(drop),
            ),
            (
                "upsert existing",
                Accounts::upsert(store, &renamed, &|_| ev()).map(drop),
            ),
            ("link", Accounts::link(store, "svc", &cid("loose"), &ev())),
            (
                "unlink",
                Accounts::unlink(store, "svc", &cid("linked"), &ev()),
            ),
            ("delete account", Accounts::delete(store, "svc", &ev())),
            ("rotate key", store.rotate(&key("k2"), &ev()).map(drop)),
        ];
        fail_audit_inserts(url, false);
        for (what, result) in failures {
            assert!(
                matches!(result, Err(auth_domain::StoreError::Other(_))),
                "{what}: {result:?}"
            );
        }
        assert_eq!(Clients::list(store).unwrap(), clients);
        assert_eq!(Accounts::list(store).unwrap(), accounts);
        assert_eq!(SigningKeyRepository::list(store).unwrap(), keys);
        assert_eq!(
            AuditLog::list(store, &AuditFilter::default())
                .unwrap()
                .len(),
            events
        );

        // Without the trigger the same change goes through with its event.
        Clients::delete(store, &cid("loose"), &ev()).unwrap();
        assert_eq!(
            AuditLog::list(store, &AuditFilter::default())
                .unwrap()
                .len(),
            events + 1
        );
    });
}
