//! Token issuance, the one verification function, revocation and the key
//! reload on an unknown key id, through `AuthService`.

use auth_domain::ClientAuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
use auth_domain::{NewAuditEvent, SigningKeyRepository};
use auth_service::{OAuthError, TokenRequest};
use auth_token::{generate_key, KeyEncryption, SigningAlg};

use crate::support::{backends, basic, event, post, source, Counts, Fixture, SECRET};

const ISSUER: &str = "https://auth.example.test";

fn request<'a>(
    credentials: &'a auth_service::Credentials,
    scope: Option<&'a str>,
) -> TokenRequest<'a> {
    TokenRequest {
        credentials: Some(credentials),
        source: source(),
        grant_type: "client_credentials",
        scope,
        issuer: ISSUER,
    }
}

#[tokio::test]
async fn an_issued_token_verifies_with_its_claims() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("issuer-test", Post, f.current_slots());
        let credentials = post("issuer-test", SECRET);
        let issued = f
            .service
            .issue_token(request(&credentials, Some("read")))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            issued.expires_in,
            30 * 60,
            "{backend}: the default lifetime"
        );
        assert_eq!(issued.scope.as_deref(), Some("read"), "{backend}");
        assert!(
            !format!("{issued:?}").contains(&issued.access_token),
            "{backend}: Debug shows the token"
        );
        let claims = f
            .service
            .verify_token(&issued.access_token)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{backend}: the token just issued does not verify"));
        assert_eq!(claims.client_id, "issuer-test", "{backend}");
        assert_eq!(claims.sub, "issuer-test", "{backend}");
        assert_eq!(claims.iss, ISSUER, "{backend}");
        assert_eq!(claims.scope.as_deref(), Some("read"), "{backend}");
        // Introspection: the same verdict, for an authenticated caller.
        let introspected = f
            .service
            .introspect(Some(&credentials), source(), &issued.access_token)
            .await
            .unwrap();
        assert_eq!(introspected, Some(claims), "{backend}");
        // Anything else is simply not valid.
        for bogus in ["", "not.a.token", &format!("{}x", issued.access_token)] {
            assert_eq!(
                f.service.verify_token(bogus).await.unwrap(),
                None,
                "{backend}: {bogus:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_grant_type_and_the_scope_are_checked_after_authentication() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("scoped", Basic, f.current_slots());
        let credentials = basic("scoped", SECRET);
        let wrong_grant = TokenRequest {
            grant_type: "password",
            ..request(&credentials, None)
        };
        assert_eq!(
            f.service.issue_token(wrong_grant).await.unwrap_err(),
            OAuthError::UnsupportedGrantType,
            "{backend}"
        );
        match f
            .service
            .issue_token(request(&credentials, Some("read admin")))
            .await
        {
            Err(OAuthError::InvalidScope(d)) => assert!(d.contains("admin"), "{backend}: {d}"),
            other => panic!("{backend}: expected invalid_scope, got {other:?}"),
        }
        // A wrong secret is invalid_client whatever else is wrong.
        let wrong = basic("scoped", "wrong-secret-0123456789");
        let wrong_everything = TokenRequest {
            grant_type: "password",
            ..request(&wrong, Some("admin"))
        };
        assert_eq!(
            f.service.issue_token(wrong_everything).await.unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_linked_account_puts_its_permissions_in_the_token_unless_inactive() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.seed(
            "clients:\n  confidential:\n    - client_id: linked\n      client_secret_env_var_name: S\n    - client_id: dormant\n      client_secret_env_var_name: S\n",
            "serviceAccounts:\n  - id: svc-linked\n    clientId: linked\n    roles: [USER]\n  - id: svc-dormant\n    clientId: dormant\n    active: false\n",
        );
        let linked = basic("linked", SECRET);
        let issued = f
            .service
            .issue_token(request(&linked, None))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let claims = f
            .service
            .verify_token(&issued.access_token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claims.sub, "svc-linked", "{backend}");
        assert_eq!(claims.roles, Some(vec!["USER".to_owned()]), "{backend}");
        assert!(claims.permissions.is_some(), "{backend}");
        match f
            .service
            .issue_token(request(&basic("dormant", SECRET), None))
            .await
        {
            Err(OAuthError::UnauthorizedClient(d)) => {
                assert!(d.contains("inactive"), "{backend}: {d}");
            }
            other => panic!("{backend}: expected unauthorized_client, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_revoked_token_no_longer_verifies_and_only_its_client_may_revoke_it() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("owner", Basic, f.current_slots());
        f.client("other", Basic, f.current_slots());
        let owner = basic("owner", SECRET);
        let token = f
            .service
            .issue_token(request(&owner, None))
            .await
            .unwrap()
            .access_token;
        // Another client's revocation succeeds and changes nothing.
        f.service
            .revoke(Some(&basic("other", SECRET)), source(), &token)
            .await
            .unwrap();
        assert!(
            f.service.verify_token(&token).await.unwrap().is_some(),
            "{backend}: revoked by another client"
        );
        f.service
            .revoke(Some(&owner), source(), &token)
            .await
            .unwrap();
        assert_eq!(
            f.service.verify_token(&token).await.unwrap(),
            None,
            "{backend}: still valid after its revocation"
        );
        // Revoking needs client authentication.
        assert_eq!(
            f.service
                .revoke(
                    Some(&basic("owner", "wrong-secret-0123456789")),
                    source(),
                    &token
                )
                .await
                .unwrap_err(),
            OAuthError::InvalidClient,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn tokens_of_a_deleted_and_recreated_client_stay_invalid() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("reborn", Basic, f.current_slots());
        let credentials = basic("reborn", SECRET);
        let old = f
            .service
            .issue_token(request(&credentials, None))
            .await
            .unwrap()
            .access_token;
        f.delete("reborn");
        assert_eq!(
            f.service.verify_token(&old).await.unwrap(),
            None,
            "{backend}"
        );
        f.client("reborn", Basic, f.current_slots());
        assert_eq!(
            f.service.verify_token(&old).await.unwrap(),
            None,
            "{backend}: a token of the earlier incarnation verifies"
        );
        let new = f
            .service
            .issue_token(request(&credentials, None))
            .await
            .unwrap()
            .access_token;
        assert!(
            f.service.verify_token(&new).await.unwrap().is_some(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_token_signed_by_a_key_loaded_after_startup_verifies_after_one_reload() {
    for (backend, store, _guard) in backends() {
        let f = Fixture::new(&store);
        f.client("rotating", Basic, f.current_slots());
        // Another replica rotates the signing key and signs with the new one.
        let enc = KeyEncryption::new(None).unwrap();
        let key = generate_key(SigningAlg::Es256, auth_domain::now_ms(), &enc).unwrap();
        let id = auth_domain::ClientId::parse("rotating").unwrap();
        let rotate_event = NewAuditEvent {
            action: "signing_key.rotate".to_owned(),
            target_type: "signing_key".to_owned(),
            target_id: key.kid.clone(),
            ..event("signing_key.rotate", &id)
        };
        store.rotate(&key, &rotate_event).unwrap();
        let replica = f.replica();
        replica.reload_keys().unwrap();
        let token = replica
            .issue_token(request(&basic("rotating", SECRET), None))
            .await
            .unwrap()
            .access_token;
        assert!(
            !f.service.key_ring().unwrap().contains_kid(&key.kid),
            "{backend}: the first service must not know the new key yet"
        );
        let claims = f.service.verify_token(&token).await.unwrap();
        assert!(
            claims.is_some(),
            "{backend}: the new key's token was refused"
        );
        assert_eq!(Counts::get(&f.counts.unknown_kid_reloads), 1, "{backend}");
        // Known now: no further reload.
        assert!(f.service.verify_token(&token).await.unwrap().is_some());
        assert_eq!(Counts::get(&f.counts.unknown_kid_reloads), 1, "{backend}");
    }
}
