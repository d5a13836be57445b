//! Client authentication through `AuthService::authenticate`.

use std::net::IpAddr;

use auth_domain::ClientAuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
use auth_domain::{ClientType, SecretSlots};
use auth_service::{AuthConfig, Credentials, OAuthError};

use crate::support::{backends, basic, days, post, source, Counts, Fixture, SECRET, WRONG};

#[tokio::test]
async fn the_right_secret_authenticates_with_the_registered_method() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("by-basic", Basic, f.current_slots());
        f.client("by-post", Post, f.current_slots());
        let client = f
            .service
            .authenticate(Some(&basic("by-basic", SECRET)), source())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(client.id.as_str(), "by-basic", "{backend}");
        let client = f
            .service
            .authenticate(Some(&post("by-post", SECRET)), source())
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(client.id.as_str(), "by-post", "{backend}");
    }
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_client_fail_alike_and_cost_a_verification() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("known", Basic, f.current_slots());
        let refusals = [
            basic("known", WRONG),
            basic("unknown", SECRET),
            // Not even a valid client id: still one verification.
            basic("bad\u{7}id", SECRET),
        ];
        for credentials in &refusals {
            let before = f.hasher.work();
            let outcome = f.service.authenticate(Some(credentials), source()).await;
            assert_eq!(
                outcome.unwrap_err(),
                OAuthError::InvalidClient,
                "{backend}: {}",
                credentials.client_id
            );
            assert!(
                f.hasher.work() > before,
                "{backend}: {} was refused without a verification",
                credentials.client_id
            );
        }
    }
}

#[tokio::test]
async fn the_wrong_method_a_missing_secret_or_a_public_client_never_authenticate() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("by-basic", Basic, f.current_slots());
        f.client("by-post", Post, f.current_slots());
        f.stored(
            "public-app",
            ClientType::Public,
            Basic,
            SecretSlots::default(),
        );
        let refusals = [
            post("by-basic", SECRET),
            basic("by-post", SECRET),
            basic("public-app", SECRET),
            Credentials {
                client_id: "by-post".to_owned(),
                secret: None,
                method: Post,
            },
        ];
        for credentials in &refusals {
            let outcome = f.service.authenticate(Some(credentials), source()).await;
            assert_eq!(
                outcome.unwrap_err(),
                OAuthError::InvalidClient,
                "{backend}: {credentials:?}"
            );
        }
        assert_eq!(
            f.service.authenticate(None, source()).await.unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}: no credentials at all"
        );
    }
}

#[tokio::test]
async fn the_previous_secret_works_inside_its_grace_window_only() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        let now = auth_domain::now_ms();
        let rotated = |at| {
            f.slots_issued_at(at - days(30))
                .rotate(f.hash("the-new-secret-0123456789"), at, &f.policy)
                .unwrap()
        };
        // Rotated an hour ago: the old secret (SECRET) is inside its 7 days.
        f.client("in-grace", Basic, rotated(now - time::Duration::hours(1)));
        // Rotated 8 days ago: past the grace window.
        f.client("past-grace", Basic, rotated(now - days(8)));
        assert!(
            f.service
                .authenticate(Some(&basic("in-grace", SECRET)), source())
                .await
                .is_ok(),
            "{backend}: the previous secret inside its grace window"
        );
        assert_eq!(
            f.service
                .authenticate(Some(&basic("past-grace", SECRET)), source())
                .await
                .unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}: the previous secret after its grace window"
        );
        for id in ["in-grace", "past-grace"] {
            assert!(
                f.service
                    .authenticate(Some(&basic(id, "the-new-secret-0123456789")), source())
                    .await
                    .is_ok(),
                "{backend}: the current secret of {id}"
            );
        }
    }
}

#[tokio::test]
async fn an_expired_secret_is_refused() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        // The default lifetime is 365 days.
        f.client(
            "expired",
            Basic,
            f.slots_issued_at(auth_domain::now_ms() - days(366)),
        );
        assert_eq!(
            f.service
                .authenticate(Some(&basic("expired", SECRET)), source())
                .await
                .unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn failures_past_the_limit_slow_the_source_down_even_with_the_right_secret() {
    for (backend, store, _guard) in backends() {
        let config = AuthConfig {
            token_failure_limit: 2,
            ..AuthConfig::default()
        };
        let f = Fixture::with_config(&store, config);
        f.client("target", Basic, f.current_slots());
        for _ in 0..2 {
            assert_eq!(
                f.service
                    .authenticate(Some(&basic("target", WRONG)), source())
                    .await
                    .unwrap_err(),
                OAuthError::InvalidClient,
                "{backend}"
            );
        }
        let before = f.hasher.work();
        match f
            .service
            .authenticate(Some(&basic("target", SECRET)), source())
            .await
        {
            Err(OAuthError::SlowDown { retry_after }) => {
                assert!((1..=60).contains(&retry_after), "{backend}: {retry_after}");
            }
            other => panic!("{backend}: expected slow_down, got {other:?}"),
        }
        assert_eq!(
            f.hasher.work(),
            before,
            "{backend}: a refusal verifies nothing"
        );
        // Another source is not limited by this one's failures.
        let elsewhere = IpAddr::from([198, 51, 100, 7]);
        assert!(
            f.service
                .authenticate(Some(&basic("target", SECRET)), elsewhere)
                .await
                .is_ok(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_second_success_hits_the_verified_secret_cache_without_hashing() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("cached", Post, f.current_slots());
        let credentials = post("cached", SECRET);
        f.service
            .authenticate(Some(&credentials), source())
            .await
            .unwrap();
        assert_eq!(Counts::get(&f.counts.cache_misses), 1, "{backend}");
        assert_eq!(Counts::get(&f.counts.cache_hits), 0, "{backend}");
        let before = f.hasher.work();
        f.service
            .authenticate(Some(&credentials), source())
            .await
            .unwrap();
        assert_eq!(Counts::get(&f.counts.cache_hits), 1, "{backend}");
        assert_eq!(
            f.hasher.work(),
            before,
            "{backend}: a cache hit hashes nothing"
        );
        // A wrong secret never hits: it is verified and refused.
        assert_eq!(
            f.service
                .authenticate(Some(&post("cached", WRONG)), source())
                .await
                .unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}"
        );
        assert!(f.hasher.work() > before, "{backend}");
    }
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_after_a_success() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        // Stored at cost 4; a service configured for cost 5 upgrades it.
        let weak = SecretSlots::default()
            .issue(f.hash(SECRET), auth_domain::now_ms(), &f.policy)
            .unwrap();
        f.client("weak", Basic, weak);
        let stronger = Fixture::new_with_cost(&store, 5);
        stronger
            .service
            .authenticate(Some(&basic("weak", SECRET)), source())
            .await
            .unwrap();
        let id = auth_domain::ClientId::parse("weak").unwrap();
        let upgraded = crate::support::wait_until(|| {
            let stored = auth_domain::ClientRepository::find(&store, &id)
                .unwrap()
                .unwrap();
            let hash = stored.secrets.current.unwrap().hash;
            auth_domain::bcrypt_cost(hash.as_str()) == Some(5)
        })
        .await;
        assert!(upgraded, "{backend}: the hash was not upgraded to cost 5");
        // The upgraded hash still verifies the same secret.
        let fresh = Fixture::new_with_cost(&store, 5);
        assert!(fresh
            .service
            .authenticate(Some(&basic("weak", SECRET)), source())
            .await
            .is_ok());
    }
}
