use auth_domain::{
    ClientAuthMethod, ClientRepository, ClientType, ScopeSet, SecretSlots, Slot, StoreError,
};
use time::Duration;

use crate::support::{cid, confidential, current, each_backend, ev, hash, public, rotated, T0};

#[test]
fn create_find_list_update_delete() {
    each_backend(|store| {
        let b = store.create(&confidential("b-service"), &ev()).unwrap();
        let a = store.create(&public("a-app"), &ev()).unwrap();
        let mut expected = confidential("b-service").into_client();
        expected.incarnation = b.incarnation.clone();
        assert_eq!(b, expected);
        assert_eq!(store.find(&cid("b-service")).unwrap(), Some(b.clone()));
        assert_eq!(store.find(&cid("a-app")).unwrap(), Some(a.clone()));
        assert_eq!(a.client_type, ClientType::Public);
        assert_eq!(a.redirect_uris, vec!["https://app.example/cb"]);
        assert_eq!(a.post_logout_redirect_uris, vec!["https://app.example/bye"]);
        assert_eq!(
            store.find(&cid("B-SERVICE")).unwrap(),
            None,
            "ids are case-sensitive"
        );

        let ids: Vec<_> = store.list().unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![cid("a-app"), cid("b-service")]);

        // Duplicate whatever the type of the existing client.
        assert_eq!(
            store.create(&confidential("b-service"), &ev()),
            Err(StoreError::Duplicate)
        );
        assert_eq!(
            store.create(&confidential("a-app"), &ev()),
            Err(StoreError::Duplicate)
        );

        let mut settings = b.settings.clone();
        settings.client_name = "Billing".into();
        settings.auth_method = ClientAuthMethod::ClientSecretPost;
        settings.scope = ScopeSet::parse("read write").unwrap();
        settings.access_token_ttl_minutes = 1440;
        let updated = store
            .update_settings(&cid("b-service"), &settings, &ev())
            .unwrap();
        assert_eq!(updated.settings, settings);
        assert_eq!(updated.secrets, b.secrets, "settings leave secrets alone");
        assert_eq!(updated.secrets_version, b.secrets_version);
        assert_eq!(
            store.find(&cid("b-service")).unwrap(),
            Some(updated.clone())
        );

        // Back to no scope: stored as NULL, read back as the empty set.
        settings.scope = ScopeSet::default();
        let cleared = store
            .update_settings(&cid("b-service"), &settings, &ev())
            .unwrap();
        assert!(cleared.settings.scope.is_empty());
        assert_eq!(
            store.update_settings(&cid("nobody"), &settings, &ev()),
            Err(StoreError::NotFound)
        );

        store.delete(&cid("b-service"), &ev()).unwrap();
        assert_eq!(store.find(&cid("b-service")).unwrap(), None);
        assert_eq!(
            store.delete(&cid("b-service"), &ev()),
            Err(StoreError::NotFound)
        );
        assert_eq!(store.list().unwrap(), vec![a]);
    });
}

#[test]
fn secrets_round_trip_with_millisecond_instants() {
    each_backend(|store| {
        let mut new = confidential("svc");
        new.secrets = rotated("now", "before", T0 + Duration::milliseconds(1));
        let created = store.create(&new, &ev()).unwrap();
        let found = store.find(&cid("svc")).unwrap().unwrap();
        assert_eq!(found.secrets, new.secrets);
        assert_eq!(found.created_at, T0);
        assert_eq!(found.created_at.millisecond(), 678);
        assert_eq!(found.secrets_version, 0);
        assert_eq!(found, created);

        let next = current(
            "next",
            T0 + Duration::seconds(1) + Duration::milliseconds(999),
        );
        assert_eq!(store.replace_secrets(&cid("svc"), 0, &next, &ev()), Ok(1));
        let found = store.find(&cid("svc")).unwrap().unwrap();
        assert_eq!(found.secrets, next);
        assert_eq!(found.secrets_version, 1);

        // Emptying both slots stores NULLs, not stale values.
        assert_eq!(
            store.replace_secrets(&cid("svc"), 1, &SecretSlots::default(), &ev()),
            Ok(2)
        );
        let found = store.find(&cid("svc")).unwrap().unwrap();
        assert_eq!(found.secrets, SecretSlots::default());
        assert_eq!(found.secrets_version, 2);
    });
}

#[test]
fn replace_secrets_refuses_a_stale_version() {
    each_backend(|store| {
        store.create(&confidential("svc"), &ev()).unwrap();
        let first = current("first", T0 + Duration::hours(1));
        let second = current("second", T0 + Duration::hours(2));
        assert_eq!(store.replace_secrets(&cid("svc"), 0, &first, &ev()), Ok(1));
        assert_eq!(
            store.replace_secrets(&cid("svc"), 0, &second, &ev()),
            Err(StoreError::Conflict)
        );
        assert_eq!(
            store.replace_secrets(&cid("svc"), 7, &second, &ev()),
            Err(StoreError::Conflict)
        );
        let found = store.find(&cid("svc")).unwrap().unwrap();
        assert_eq!(found.secrets, first, "a stale write changes nothing");
        assert_eq!(found.secrets_version, 1);
        assert_eq!(
            store.replace_secrets(&cid("nobody"), 0, &second, &ev()),
            Err(StoreError::NotFound)
        );
    });
}

#[test]
fn upgrade_hash_swaps_only_the_expected_hash_and_keeps_the_version() {
    each_backend(|store| {
        let mut new = confidential("svc");
        new.secrets = rotated("cur", "prev", T0);
        store.create(&new, &ev()).unwrap();
        let id = cid("svc");

        assert_eq!(
            store.upgrade_hash(&id, Slot::Current, &hash("wrong"), &hash("x")),
            Ok(false)
        );
        // The previous slot's hash is not the current slot's.
        assert_eq!(
            store.upgrade_hash(&id, Slot::Current, &hash("prev"), &hash("x")),
            Ok(false)
        );
        assert_eq!(store.find(&id).unwrap().unwrap().secrets, new.secrets);

        assert_eq!(
            store.upgrade_hash(&id, Slot::Current, &hash("cur"), &hash("cur-2")),
            Ok(true)
        );
        assert_eq!(
            store.upgrade_hash(&id, Slot::Previous, &hash("prev"), &hash("prev-2")),
            Ok(true)
        );
        // A second upgrade from the same old hash lost the race.
        assert_eq!(
            store.upgrade_hash(&id, Slot::Current, &hash("cur"), &hash("cur-3")),
            Ok(false)
        );
        let found = store.find(&id).unwrap().unwrap();
        assert_eq!(
            found.secrets_version, 0,
            "a hash upgrade is not a new secret state"
        );
        let current = found.secrets.current.unwrap();
        let previous = found.secrets.previous.unwrap();
        assert_eq!(current.hash, hash("cur-2"));
        assert_eq!(previous.hash, hash("prev-2"));
        let expected = new.secrets.current.unwrap();
        assert_eq!(
            (current.created_at, current.expires_at),
            (expected.created_at, expected.expires_at)
        );
        assert_eq!(
            store.upgrade_hash(&cid("nobody"), Slot::Current, &hash("cur"), &hash("x")),
            Ok(false)
        );
    });
}

#[test]
fn every_creation_gets_a_fresh_incarnation_kept_by_reads_and_updates() {
    each_backend(|store| {
        let first = store.create(&confidential("b-service"), &ev()).unwrap();
        assert_eq!(first.incarnation.len(), 11, "{:?}", first.incarnation);
        assert!(!first.incarnation.contains('.'));
        let found = store.find(&cid("b-service")).unwrap().unwrap();
        assert_eq!(found.incarnation, first.incarnation);
        assert_eq!(store.list().unwrap()[0].incarnation, first.incarnation);
        let updated = store
            .update_settings(&cid("b-service"), &first.settings, &ev())
            .unwrap();
        assert_eq!(updated.incarnation, first.incarnation);
        store
            .replace_secrets(&cid("b-service"), 0, &SecretSlots::default(), &ev())
            .unwrap();
        assert_eq!(
            store.find(&cid("b-service")).unwrap().unwrap().incarnation,
            first.incarnation
        );

        // Deleted and created again under the same id: another incarnation.
        store.delete(&cid("b-service"), &ev()).unwrap();
        let second = store.create(&confidential("b-service"), &ev()).unwrap();
        assert_eq!(second.incarnation.len(), 11);
        assert_ne!(second.incarnation, first.incarnation);
        assert_eq!(
            store.find(&cid("b-service")).unwrap().unwrap().incarnation,
            second.incarnation
        );
        // Another client gets its own.
        let other = store.create(&public("a-app"), &ev()).unwrap();
        assert_ne!(other.incarnation, second.incarnation);
    });
}

#[test]
fn a_client_stored_before_incarnations_existed_reads_as_legacy() {
    each_backend(|store| {
        // A row as the earlier schema wrote it: no incarnation column given.
        auth_store::test_support::execute_sql(
            store,
            "INSERT INTO clients (id, client_type, client_name, auth_method, \
             access_token_ttl_minutes, redirect_uris_json, post_logout_redirect_uris_json, \
             created_at, secrets_version) \
             VALUES ('old-service', 'confidential', 'Old', 'client_secret_basic', 30, '[]', '[]', 0, 0)",
        );
        let old = store.find(&cid("old-service")).unwrap().unwrap();
        assert_eq!(old.incarnation, "");
    });
}
