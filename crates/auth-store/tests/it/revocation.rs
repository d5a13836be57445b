use auth_domain::RevocationRepository;
use time::Duration;

use crate::support::{each_backend, T0};

#[test]
fn revoked_ids_are_remembered_until_their_tokens_expire() {
    each_backend(|store| {
        assert!(!store.is_revoked("jti-1").unwrap());
        store
            .revoke("jti-1", "svc", T0 + Duration::minutes(5))
            .unwrap();
        store
            .revoke("jti-1", "svc", T0 + Duration::minutes(5))
            .unwrap();
        store
            .revoke("jti-2", "svc", T0 + Duration::minutes(30))
            .unwrap();
        assert!(store.is_revoked("jti-1").unwrap());
        assert!(store.is_revoked("jti-2").unwrap());
        assert!(!store.is_revoked("jti-3").unwrap());

        assert_eq!(store.purge_expired(T0).unwrap(), 0);
        // A token expiring exactly now is expired.
        assert_eq!(store.purge_expired(T0 + Duration::minutes(5)).unwrap(), 1);
        assert!(!store.is_revoked("jti-1").unwrap());
        assert!(store.is_revoked("jti-2").unwrap());
    });
}
