use auth_domain::{NewSigningKey, SigningKeyRepository, StoreError};
use time::{Duration, OffsetDateTime};

use crate::support::{each_backend, ev, T0};

fn key(kid: &str, alg: &str, created_at: OffsetDateTime) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        alg: alg.into(),
        private_key: format!("encrypted {kid}\0\u{ff}").into_bytes(),
        public_jwk: format!(r#"{{"kid":"{kid}","alg":"{alg}"}}"#),
        created_at,
    }
}

fn kids(store: &auth_store::Store) -> Vec<(String, bool)> {
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.retired_at.is_none()))
        .collect()
}

#[test]
fn ensure_active_keeps_a_key_of_the_same_alg_and_replaces_one_of_another() {
    each_backend(|store| {
        let mut calls = 0;
        let first = store
            .ensure_active("RS256", &mut || {
                calls += 1;
                Ok(key("k1", "RS256", T0))
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(first.kid, "k1");
        assert_eq!(first.retired_at, None);
        assert_eq!(first.private_key, key("k1", "RS256", T0).private_key);
        assert_eq!(first.created_at, T0);

        let again = store
            .ensure_active("RS256", &mut || {
                calls += 1;
                Ok(key("k-unwanted", "RS256", T0))
            })
            .unwrap();
        assert_eq!(calls, 1, "a key of the same alg is reused");
        assert_eq!(again, first);

        let later = T0 + Duration::days(3) + Duration::milliseconds(1);
        let es = store
            .ensure_active("ES256", &mut || Ok(key("k2", "ES256", later)))
            .unwrap();
        assert_eq!((es.kid.as_str(), es.alg.as_str()), ("k2", "ES256"));
        let listed = store.list().unwrap();
        assert_eq!(listed[0], es);
        assert_eq!(listed[1].kid, "k1");
        assert_eq!(listed[1].retired_at, Some(later), "retired when replaced");
    });
}

#[test]
fn ensure_active_stores_nothing_when_the_key_cannot_be_made() {
    each_backend(|store| {
        let err = store
            .ensure_active("EdDSA", &mut || Err("no entropy".into()))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Other(m) if m.contains("no entropy")),
            "{err:?}"
        );
        assert!(store.list().unwrap().is_empty());
    });
}

#[test]
fn rotate_makes_the_new_key_active_and_keeps_the_old_ones() {
    each_backend(|store| {
        store.rotate(&key("k1", "RS256", T0), &ev()).unwrap();
        let t1 = T0 + Duration::hours(1);
        let t2 = T0 + Duration::hours(2);
        let k2 = store.rotate(&key("k2", "RS256", t1), &ev()).unwrap();
        assert_eq!(k2.retired_at, None);
        store.rotate(&key("k3", "ES256", t2), &ev()).unwrap();
        assert_eq!(
            kids(store),
            vec![
                ("k3".into(), true),
                ("k2".into(), false),
                ("k1".into(), false)
            ]
        );
        let listed = store.list().unwrap();
        assert_eq!(listed[1].retired_at, Some(t2));
        assert_eq!(listed[2].retired_at, Some(t1));

        // A kid in use: refused, and the active key stays active.
        assert_eq!(
            store.rotate(&key("k2", "RS256", T0 + Duration::hours(3)), &ev()),
            Err(StoreError::Duplicate)
        );
        assert_eq!(
            kids(store),
            vec![
                ("k3".into(), true),
                ("k2".into(), false),
                ("k1".into(), false)
            ]
        );
    });
}

#[test]
fn revoke_deletes_a_retired_key_and_replaces_the_active_one_first() {
    each_backend(|store| {
        store.rotate(&key("k1", "RS256", T0), &ev()).unwrap();
        store
            .rotate(&key("k2", "RS256", T0 + Duration::hours(1)), &ev())
            .unwrap();
        let mut calls = 0;
        // A retired key: deleted, nothing made.
        let made = store
            .revoke(
                "k1",
                &mut || {
                    calls += 1;
                    Ok(key("k-unwanted", "RS256", T0))
                },
                &|_| Vec::new(),
            )
            .unwrap();
        assert_eq!((made, calls), (None, 0));
        assert_eq!(kids(store), [("k2".to_owned(), true)]);

        // Unknown: NotFound, nothing changes.
        assert_eq!(
            store.revoke("k1", &mut || Ok(key("k-x", "RS256", T0)), &|_| Vec::new()),
            Err(StoreError::NotFound)
        );
        // The active key, when no replacement can be made: nothing changes.
        assert!(store
            .revoke("k2", &mut || Err("no randomness".into()), &|_| Vec::new())
            .is_err());
        assert_eq!(kids(store), [("k2".to_owned(), true)]);

        // The active key: the replacement becomes active, the key is gone.
        let later = T0 + Duration::hours(2);
        let made = store
            .revoke("k2", &mut || Ok(key("k3", "ES256", later)), &|_| Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!((made.kid.as_str(), made.retired_at), ("k3", None));
        assert_eq!(kids(store), [("k3".to_owned(), true)]);
    });
}
