use auth_domain::{
    AuditFilter, AuditLog, Bootstrap, BootstrapOutcome, BootstrapPlan, CatalogRepository,
    Catalogue, ClientId, ClientRepository as Clients, ServiceAccount,
    ServiceAccountRepository as Accounts, StoreError,
};

use crate::catalogue::extensions;
use crate::support::{account, cid, confidential, each_backend, ev, public, T0};

pub fn plan(accounts: Vec<(ServiceAccount, Option<ClientId>)>) -> BootstrapPlan {
    BootstrapPlan {
        catalogue: extensions(),
        clients: vec![confidential("svc-a"), confidential("svc-b"), public("web")],
        service_accounts: accounts,
        actor: "seed".into(),
        at: T0,
    }
}

fn standard_plan() -> BootstrapPlan {
    let mut analyst = account("robot-a");
    analyst.roles = vec!["ANALYST".into()];
    plan(vec![
        (analyst, Some(cid("svc-a"))),
        (account("robot-b"), None),
    ])
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn actions(store: &auth_store::Store) -> Vec<(String, String, String)> {
    let mut events: Vec<_> = AuditLog::list(store, &AuditFilter::default())
        .unwrap()
        .into_iter()
        // The events of the test's own direct changes are not the seed's.
        .filter(|e| e.actor != "test")
        .map(|e| {
            assert_eq!(
                (e.actor.as_str(), e.at, e.outcome.as_str()),
                ("seed", T0, "success")
            );
            (e.action, e.target_type, e.target_id)
        })
        .collect();
    events.sort();
    events
}

fn event(action: &str, target_type: &str, id: &str) -> (String, String, String) {
    (action.into(), target_type.into(), id.into())
}

#[test]
fn creates_clients_accounts_links_and_audit_events() {
    each_backend(|store| {
        let outcome = store.apply_bootstrap(&standard_plan()).unwrap();
        assert_eq!(
            outcome,
            BootstrapOutcome {
                created_clients: strings(&["svc-a", "svc-b", "web"]),
                skipped_clients: vec![],
                created_accounts: strings(&["robot-a", "robot-b"]),
                updated_accounts: vec![],
            }
        );
        let svc_a = Clients::find(store, &cid("svc-a")).unwrap().unwrap();
        assert_eq!(svc_a.secrets, confidential("svc-a").secrets);
        assert_eq!(svc_a.service_account_id.as_deref(), Some("robot-a"));
        let robot_a = Accounts::find(store, "robot-a").unwrap().unwrap();
        assert_eq!(robot_a.account.roles, vec!["ANALYST"]);
        assert_eq!(robot_a.client_ids, vec!["svc-a"]);
        assert!(store.load().unwrap().role("ANALYST").is_some());
        assert_eq!(
            actions(store),
            vec![
                event("client.create", "client", "svc-a"),
                event("client.create", "client", "svc-b"),
                event("client.create", "client", "web"),
                event("service_account.create", "service_account", "robot-a"),
                event("service_account.create", "service_account", "robot-b"),
                event("service_account.link", "service_account", "robot-a"),
            ]
        );
    });
}

#[test]
fn a_second_apply_skips_clients_and_updates_accounts() {
    each_backend(|store| {
        store.apply_bootstrap(&standard_plan()).unwrap();
        // An admin changes a seeded client; seeding must not undo it.
        let mut settings = Clients::find(store, &cid("svc-b"))
            .unwrap()
            .unwrap()
            .settings;
        settings.client_name = "Renamed by an admin".into();
        store
            .update_settings(&cid("svc-b"), &settings, &ev())
            .unwrap();

        let mut again = standard_plan();
        again.service_accounts[1].0.description = "Now described".into();
        let outcome = store.apply_bootstrap(&again).unwrap();
        assert_eq!(
            outcome,
            BootstrapOutcome {
                created_clients: vec![],
                skipped_clients: strings(&["svc-a", "svc-b", "web"]),
                created_accounts: vec![],
                updated_accounts: strings(&["robot-a", "robot-b"]),
            }
        );
        assert_eq!(
            Clients::find(store, &cid("svc-b"))
                .unwrap()
                .unwrap()
                .settings
                .client_name,
            "Renamed by an admin"
        );
        assert_eq!(
            Accounts::find(store, "robot-b")
                .unwrap()
                .unwrap()
                .account
                .description,
            "Now described"
        );
        assert_eq!(Clients::list(store).unwrap().len(), 3);
        assert_eq!(
            Accounts::find(store, "robot-a")
                .unwrap()
                .unwrap()
                .client_ids,
            vec!["svc-a"],
            "an existing link is kept, not duplicated"
        );
        let updates = actions(store)
            .into_iter()
            .filter(|(action, ..)| action == "service_account.update")
            .count();
        assert_eq!(updates, 2);
    });
}

#[test]
fn a_bad_link_rolls_back_everything_in_the_plan() {
    each_backend(|store| {
        let cases = [
            (
                plan(vec![(account("robot"), Some(cid("missing")))]),
                StoreError::Rejected(
                    "service account \"robot\": clientId \"missing\" is not a confidential client"
                        .into(),
                ),
            ),
            (
                plan(vec![(account("robot"), Some(cid("web")))]),
                StoreError::Rejected(
                    "service account \"robot\": clientId \"web\" is not a confidential client"
                        .into(),
                ),
            ),
            (
                // The same client linked to two accounts of one plan.
                plan(vec![
                    (account("robot"), Some(cid("svc-a"))),
                    (account("robot-2"), Some(cid("svc-a"))),
                ]),
                StoreError::LinkConflict {
                    client_id: "svc-a".into(),
                    account_id: "robot".into(),
                },
            ),
        ];
        for (plan, expected) in cases {
            assert_eq!(store.apply_bootstrap(&plan), Err(expected));
            assert!(
                Clients::list(store).unwrap().is_empty(),
                "clients rolled back"
            );
            assert!(
                Accounts::list(store).unwrap().is_empty(),
                "accounts rolled back"
            );
            assert_eq!(
                store.load().unwrap(),
                Catalogue::builtin(),
                "catalogue rolled back"
            );
            assert!(actions(store).is_empty(), "audit rolled back");
        }
    });
}

#[test]
fn a_client_linked_elsewhere_before_seeding_fails_the_seeding() {
    each_backend(|store| {
        store.create(&confidential("svc-a"), &ev()).unwrap();
        store.upsert(&account("manual"), &|_| ev()).unwrap();
        store.link("manual", &cid("svc-a"), &ev()).unwrap();

        assert_eq!(
            store.apply_bootstrap(&standard_plan()),
            Err(StoreError::LinkConflict {
                client_id: "svc-a".into(),
                account_id: "manual".into(),
            })
        );
        assert_eq!(Clients::list(store).unwrap().len(), 1);
        assert_eq!(Accounts::find(store, "robot-a").unwrap(), None);
    });
}

#[test]
fn seeding_gives_each_created_client_a_fresh_incarnation() {
    each_backend(|store| {
        store.apply_bootstrap(&standard_plan()).unwrap();
        let clients = Clients::list(store).unwrap();
        assert!(!clients.is_empty());
        for c in &clients {
            assert_eq!(c.incarnation.len(), 11, "{}: {:?}", c.id, c.incarnation);
        }
        let first = clients[0].clone();
        // Deleted, then seeded again: another incarnation.
        Clients::delete(store, &first.id, &crate::support::ev()).unwrap();
        store.apply_bootstrap(&standard_plan()).unwrap();
        let again = Clients::find(store, &first.id).unwrap().unwrap();
        assert_eq!(again.incarnation.len(), 11);
        assert_ne!(again.incarnation, first.incarnation);
    });
}
