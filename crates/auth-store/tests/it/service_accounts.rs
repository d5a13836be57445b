use auth_domain::{
    ClientRepository as Clients, ServiceAccount, ServiceAccountRepository as Accounts, StoreError,
};
use serde_json::json;

use crate::support::{account, cid, confidential, each_backend, ev, public};

fn full_account() -> ServiceAccount {
    ServiceAccount {
        name: "Billing robot".into(),
        description: "Runs the nightly billing".into(),
        active: false,
        roles: vec!["USER".into(), "ADMIN_SYSTEM".into()],
        permissions: vec!["users.read".into()],
        groups: vec!["urn:example:groups:ops".into()],
        attributes: json!({"team": "billing", "cost": {"centre": 42, "tags": ["a", "b"]}})
            .as_object()
            .unwrap()
            .clone(),
        ..account("svc-billing")
    }
}

#[test]
fn upsert_creates_then_replaces_and_lists_sorted() {
    each_backend(|store| {
        assert_eq!(store.upsert(&account("svc-z"), &|_| ev()), Ok(true));
        assert_eq!(store.upsert(&full_account(), &|_| ev()), Ok(true));
        let found = Accounts::find(store, "svc-billing").unwrap().unwrap();
        assert_eq!(found.account, full_account());
        assert!(found.client_ids.is_empty());
        // The token path's read: the same account, every field.
        assert_eq!(store.find_account("svc-billing"), Ok(Some(full_account())));
        assert_eq!(store.find_account("svc-missing"), Ok(None));

        let mut changed = full_account();
        changed.description = "Changed".into();
        changed.roles = vec![];
        changed.attributes.clear();
        changed.active = true;
        assert_eq!(store.upsert(&changed, &|_| ev()), Ok(false));
        assert_eq!(
            Accounts::find(store, "svc-billing")
                .unwrap()
                .unwrap()
                .account,
            changed
        );

        let ids: Vec<_> = Accounts::list(store)
            .unwrap()
            .into_iter()
            .map(|a| a.account.id)
            .collect();
        assert_eq!(ids, vec!["svc-billing", "svc-z"]);
        assert_eq!(Accounts::find(store, "svc-nobody").unwrap(), None);
    });
}

#[test]
fn links_are_one_account_per_client() {
    each_backend(|store| {
        for id in ["c2", "c1", "c3"] {
            store.create(&confidential(id), &ev()).unwrap();
        }
        store.create(&public("web"), &ev()).unwrap();
        store.upsert(&account("svc-a"), &|_| ev()).unwrap();
        store.upsert(&account("svc-b"), &|_| ev()).unwrap();

        store.link("svc-a", &cid("c2"), &ev()).unwrap();
        store.link("svc-a", &cid("c1"), &ev()).unwrap();
        store.link("svc-a", &cid("c1"), &ev()).unwrap(); // again: no error
        assert_eq!(
            Accounts::find(store, "svc-a").unwrap().unwrap().client_ids,
            vec!["c1", "c2"]
        );
        assert_eq!(
            Clients::find(store, &cid("c1"))
                .unwrap()
                .unwrap()
                .service_account_id
                .as_deref(),
            Some("svc-a")
        );

        assert_eq!(
            store.link("svc-b", &cid("c1"), &ev()),
            Err(StoreError::LinkConflict {
                client_id: "c1".into(),
                account_id: "svc-a".into()
            })
        );
        assert_eq!(
            store.link("svc-nobody", &cid("c3"), &ev()),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.link("svc-b", &cid("nobody"), &ev()),
            Err(StoreError::NotFound)
        );
        assert!(matches!(
            store.link("svc-b", &cid("web"), &ev()),
            Err(StoreError::Rejected(m)) if m.contains("\"web\"")
        ));

        // Upserting the account keeps its links.
        store.upsert(&account("svc-a"), &|_| ev()).unwrap();
        let listed = Accounts::list(store).unwrap();
        assert_eq!(listed[0].client_ids, vec!["c1", "c2"]);
        assert!(listed[1].client_ids.is_empty());

        assert_eq!(
            store.unlink("svc-b", &cid("c1"), &ev()),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.unlink("svc-a", &cid("c3"), &ev()),
            Err(StoreError::NotFound)
        );
        store.unlink("svc-a", &cid("c1"), &ev()).unwrap();
        assert_eq!(
            store.unlink("svc-a", &cid("c1"), &ev()),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            Accounts::find(store, "svc-a").unwrap().unwrap().client_ids,
            vec!["c2"]
        );
        // Once unlinked it may join another account.
        store.link("svc-b", &cid("c1"), &ev()).unwrap();
        assert_eq!(
            Accounts::find(store, "svc-b").unwrap().unwrap().client_ids,
            vec!["c1"]
        );
    });
}

#[test]
fn deleting_an_account_unlinks_its_clients() {
    each_backend(|store| {
        store.create(&confidential("c1"), &ev()).unwrap();
        store.upsert(&account("svc"), &|_| ev()).unwrap();
        store.link("svc", &cid("c1"), &ev()).unwrap();

        Accounts::delete(store, "svc", &ev()).unwrap();
        assert_eq!(Accounts::find(store, "svc").unwrap(), None);
        let client = Clients::find(store, &cid("c1")).unwrap().unwrap();
        assert_eq!(
            client.service_account_id, None,
            "the client stays, unlinked"
        );
        assert_eq!(
            Accounts::delete(store, "svc", &ev()),
            Err(StoreError::NotFound)
        );

        // A new account of the same id does not inherit the old links.
        store.upsert(&account("svc"), &|_| ev()).unwrap();
        assert!(Accounts::find(store, "svc")
            .unwrap()
            .unwrap()
            .client_ids
            .is_empty());
    });
}

#[test]
fn deleting_a_client_unlinks_it() {
    each_backend(|store| {
        store.create(&confidential("c1"), &ev()).unwrap();
        store.create(&confidential("c2"), &ev()).unwrap();
        store.upsert(&account("svc"), &|_| ev()).unwrap();
        store.link("svc", &cid("c1"), &ev()).unwrap();
        store.link("svc", &cid("c2"), &ev()).unwrap();

        Clients::delete(store, &cid("c1"), &ev()).unwrap();
        assert_eq!(
            Accounts::find(store, "svc").unwrap().unwrap().client_ids,
            vec!["c2"]
        );
    });
}
