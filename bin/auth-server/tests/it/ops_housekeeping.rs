//! Housekeeping (docs/operations.md): revocation records are purged once
//! the tokens they name have expired, so the table does not grow without
//! bound; records of tokens still valid stay.

use auth_domain::RevocationRepository as _;

use crate::common::*;

#[actix_web::test]
async fn the_periodic_refresh_purges_revocations_of_expired_tokens_only() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let store = open_store(&s);
        let now = auth_domain::now_ms();
        store
            .revoke(
                "expired-jti",
                "my-service",
                now - time::Duration::seconds(5),
            )
            .unwrap();
        store
            .revoke("valid-jti", "my-service", now + time::Duration::minutes(30))
            .unwrap();
        assert!(store.is_revoked("expired-jti").unwrap());

        // What the store refresher runs every few seconds.
        let st = s.state.clone();
        actix_web::web::block(move || st.auth.refresh_from_store())
            .await
            .unwrap();

        assert!(
            !store.is_revoked("expired-jti").unwrap(),
            "{backend:?}: the record of an expired token is still there"
        );
        assert!(
            store.is_revoked("valid-jti").unwrap(),
            "{backend:?}: the record of a valid token was purged"
        );
        s.stop().await;
    }
}
