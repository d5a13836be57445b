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

        let all = store.list(&AuditFilter::default()).unwrap();
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
