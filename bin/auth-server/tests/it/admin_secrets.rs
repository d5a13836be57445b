//! docs/reference/secret-lifecycle.md and docs/reference/admin-api.md#client-secrets over HTTP: every row of the table, the
//! ETag/If-Match rules, the lifecycle with short durations, and concurrent
//! rotations serialised without loss.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::common::*;

async fn create_client(s: &TestServer, t: &str, id: &str) {
    let r = send(json_body(
        admin(s, Method::POST, "/clients", t),
        &json!({"clientId": id}),
    ))
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

fn assert_no_store(r: &Reply) {
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
}

#[actix_web::test]
async fn issue_rotate_delete_and_metadata_follow_the_table() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        create_client(&s, &t, "rot").await;

        let r = send(admin(&s, Method::GET, "/clients/rot/secret", &t)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"clientId": "rot", "current": null, "previous": null, "rotationRequired": true})
        );
        let e0 = r.header("etag").unwrap();
        assert!(
            e0.starts_with('"') && e0.ends_with('"'),
            "a strong ETag: {e0}"
        );
        // Reading does not change the tag.
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/rot/secret", &t))
                .await
                .header("etag")
                .unwrap(),
            e0
        );

        // Nothing to rotate or delete yet.
        assert_problem(
            &send(admin(&s, Method::POST, "/clients/rot/secret/rotate", &t)).await,
            409,
        );
        assert_problem(
            &send(admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=current",
                &t,
            ))
            .await,
            404,
        );
        assert_problem(
            &send(admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=previous",
                &t,
            ))
            .await,
            404,
        );

        // Issue: 201, the plaintext once, no-store, a new ETag.
        let issued = send(admin(&s, Method::POST, "/clients/rot/secret", &t)).await;
        assert_eq!(issued.status, 201, "{:?}", issued.body);
        assert_no_store(&issued);
        let mut keys: Vec<&String> = issued.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["clientId", "clientSecret", "createdAt", "expiresAt"]);
        let s1 = issued.body["clientSecret"].as_str().unwrap().to_owned();
        assert_eq!(s1.len(), 43);
        assert!(s1
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_time(&issued.body["createdAt"]);
        assert_time(&issued.body["expiresAt"]);
        assert_eq!(
            parse_time(&issued.body["expiresAt"]) - parse_time(&issued.body["createdAt"]),
            time::Duration::days(365)
        );
        let e1 = issued.header("etag").unwrap();
        assert_ne!(e1, e0);
        assert!(authenticates(&s, "rot", &s1).await);
        assert_problem(
            &send(admin(&s, Method::POST, "/clients/rot/secret", &t)).await,
            409,
        );

        let meta = send(admin(&s, Method::GET, "/clients/rot/secret", &t)).await;
        assert_eq!(meta.header("etag").unwrap(), e1);
        assert_eq!(meta.body["current"]["createdAt"], issued.body["createdAt"]);
        assert_eq!(meta.body["current"]["expiresAt"], issued.body["expiresAt"]);
        assert_eq!(meta.body["current"]["expired"], false);
        assert_eq!(meta.body["previous"], Value::Null);
        assert_eq!(meta.body["rotationRequired"], false);
        assert!(!meta.body.to_string().contains(&s1));

        // Rotate with a stale If-Match: 412, nothing changes.
        let stale =
            send(admin(&s, Method::POST, "/clients/rot/secret/rotate", &t).header("If-Match", &e0))
                .await;
        assert_problem(&stale, 412);
        assert_eq!(
            send(admin(&s, Method::GET, "/clients/rot/secret", &t))
                .await
                .header("etag")
                .unwrap(),
            e1
        );
        // With the current one: 200.
        let rotated =
            send(admin(&s, Method::POST, "/clients/rot/secret/rotate", &t).header("If-Match", &e1))
                .await;
        assert_eq!(rotated.status, 200, "{:?}", rotated.body);
        assert_no_store(&rotated);
        let mut keys: Vec<&String> = rotated.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "clientId",
                "clientSecret",
                "createdAt",
                "expiresAt",
                "previousSecretValidUntil"
            ]
        );
        let s2 = rotated.body["clientSecret"].as_str().unwrap().to_owned();
        assert_ne!(s2, s1);
        let e2 = rotated.header("etag").unwrap();
        assert!(e2 != e1 && e2 != e0);
        assert_eq!(
            parse_time(&rotated.body["previousSecretValidUntil"])
                - parse_time(&rotated.body["createdAt"]),
            time::Duration::days(7)
        );
        // Both secrets authenticate during the grace window.
        assert!(authenticates(&s, "rot", &s1).await);
        assert!(authenticates(&s, "rot", &s2).await);
        let meta = send(admin(&s, Method::GET, "/clients/rot/secret", &t)).await;
        assert_eq!(meta.body["previous"]["createdAt"], issued.body["createdAt"]);
        assert_eq!(meta.body["previous"]["expiresAt"], issued.body["expiresAt"]);
        assert_eq!(
            meta.body["previous"]["graceExpiresAt"],
            rotated.body["previousSecretValidUntil"]
        );
        assert_eq!(meta.body["current"]["createdAt"], rotated.body["createdAt"]);
        // Two admins with the same ETag cannot both rotate.
        assert_problem(
            &send(
                admin(&s, Method::POST, "/clients/rot/secret/rotate", &t).header("If-Match", &e1),
            )
            .await,
            412,
        );
        assert!(authenticates(&s, "rot", &s2).await);

        // Delete: the target is required and must be current or previous.
        assert_bad_field(
            &send(admin(&s, Method::DELETE, "/clients/rot/secret", &t)).await,
            "target",
        );
        assert_bad_field(
            &send(admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=both",
                &t,
            ))
            .await,
            "target",
        );
        assert_bad_field(
            &send(admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=previous&target=current",
                &t,
            ))
            .await,
            "target",
        );
        assert_problem(
            &send(
                admin(
                    &s,
                    Method::DELETE,
                    "/clients/rot/secret?target=previous",
                    &t,
                )
                .header("If-Match", &e1),
            )
            .await,
            412,
        );
        let deleted = send(
            admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=previous",
                &t,
            )
            .header("If-Match", &e2),
        )
        .await;
        assert_eq!(deleted.status, 204);
        let e3 = deleted.header("etag").unwrap();
        assert_ne!(e3, e2);
        assert!(
            !authenticates(&s, "rot", &s1).await,
            "deleting previous cuts it off at once"
        );
        assert!(authenticates(&s, "rot", &s2).await);
        assert_problem(
            &send(admin(
                &s,
                Method::DELETE,
                "/clients/rot/secret?target=previous",
                &t,
            ))
            .await,
            404,
        );
        // `*` matches any existing state.
        let r = send(
            admin(&s, Method::DELETE, "/clients/rot/secret?target=current", &t)
                .header("If-Match", "*"),
        )
        .await;
        assert_eq!(r.status, 204);
        assert!(!authenticates(&s, "rot", &s2).await);
        let meta = send(admin(&s, Method::GET, "/clients/rot/secret", &t)).await;
        assert_eq!(meta.body["current"], Value::Null);
        assert_eq!(meta.body["rotationRequired"], true);
        // After a delete of current, issuing works again.
        assert_eq!(
            send(admin(&s, Method::POST, "/clients/rot/secret", &t))
                .await
                .status,
            201
        );

        // 404 for an unknown client (before 412), 400 for a public one.
        for (m, p) in [
            (Method::GET, "/clients/nobody/secret"),
            (Method::POST, "/clients/nobody/secret"),
            (Method::POST, "/clients/nobody/secret/rotate"),
            (Method::DELETE, "/clients/nobody/secret?target=current"),
            (Method::DELETE, "/clients/nobody/secret?target=bogus"),
        ] {
            assert_problem(
                &send(admin(&s, m.clone(), p, &t).header("If-Match", "\"nope\"")).await,
                404,
            );
        }
        for (m, p) in [
            (Method::GET, "/clients/web-app/secret"),
            (Method::POST, "/clients/web-app/secret"),
            (Method::POST, "/clients/web-app/secret/rotate"),
            (Method::DELETE, "/clients/web-app/secret?target=current"),
        ] {
            assert_problem(&send(admin(&s, m.clone(), p, &t)).await, 400);
        }

        // Every change is in the audit log, by the caller, without secrets.
        let events = send(admin(&s, Method::GET, "/audit-events?clientId=rot", &t))
            .await
            .body;
        let got: Vec<(String, String)> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .rev()
            .collect();
        let expected: Vec<(String, String)> = [
            ("client.create", "success"),
            ("client.secret.rotate", "failure"),
            ("client.secret.issue", "success"),
            ("client.secret.issue", "failure"),
            ("client.secret.rotate", "failure"),
            ("client.secret.rotate", "success"),
            ("client.secret.rotate", "failure"),
            ("client.secret.delete", "failure"),
            ("client.secret.delete", "success"),
            ("client.secret.delete", "success"),
            ("client.secret.issue", "success"),
        ]
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect();
        assert_eq!(got, expected, "{backend:?}");
        for e in events.as_array().unwrap() {
            assert_eq!(e["actor"], "svc-admin");
            assert_eq!(e["targetType"], "client");
            assert_eq!(e["targetId"], "rot");
        }
        let text = events.to_string();
        assert!(!text.contains(&s1) && !text.contains(&s2) && !text.contains("$2"));
        s.stop().await;
    }
}

fn short_lifecycle() -> Spawn {
    let mut opts = Spawn::default();
    opts.settings
        .insert("APP_CLIENT_SECRET_TTL".into(), "PT6S".into());
    opts.settings.insert(
        "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW".into(),
        "PT3S".into(),
    );
    opts.settings.insert(
        "APP_CLIENT_SECRET_ROTATION_REQUIRED_BEFORE_EXPIRY".into(),
        "PT4S".into(),
    );
    opts.settings
        .insert("APP_TOKEN_FAILURE_LIMIT".into(), "0".into());
    opts.settings
        .insert("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".into(), "0".into());
    opts
}

#[actix_web::test]
async fn the_lifecycle_runs_end_to_end_with_short_durations() {
    for backend in backends() {
        let s = spawn(backend, short_lifecycle()).await;
        // The seeded admin secret lives six seconds: mint the token now.
        let t = admin_token(&s).await;
        create_client(&s, &t, "life").await;

        let issued = send(admin(&s, Method::POST, "/clients/life/secret", &t)).await;
        assert_eq!(issued.status, 201);
        let s1 = issued.body["clientSecret"].as_str().unwrap().to_owned();
        let t1 = parse_time(&issued.body["createdAt"]);
        assert_eq!(
            parse_time(&issued.body["expiresAt"]) - t1,
            time::Duration::seconds(6)
        );
        let meta = send(admin(&s, Method::GET, "/clients/life/secret", &t)).await;
        assert_eq!(
            meta.body["rotationRequired"], false,
            "two seconds before the lead time starts"
        );

        // rotationRequired flips at expiresAt - 4 s, before the secret expires.
        sleep_until(t1 + time::Duration::milliseconds(2200)).await;
        let meta = send(admin(&s, Method::GET, "/clients/life/secret", &t)).await;
        assert_eq!(meta.body["rotationRequired"], true);
        assert_eq!(meta.body["current"]["expired"], false);
        assert!(authenticates(&s, "life", &s1).await);

        // Rotate: both secrets authenticate.
        let rotated = send(admin(&s, Method::POST, "/clients/life/secret/rotate", &t)).await;
        assert_eq!(rotated.status, 200);
        let s2 = rotated.body["clientSecret"].as_str().unwrap().to_owned();
        let t2 = parse_time(&rotated.body["createdAt"]);
        assert_eq!(
            parse_time(&rotated.body["previousSecretValidUntil"]),
            t2 + time::Duration::seconds(3)
        );
        assert!(authenticates(&s, "life", &s1).await);
        assert!(authenticates(&s, "life", &s2).await);
        let meta = send(admin(&s, Method::GET, "/clients/life/secret", &t)).await;
        assert_eq!(meta.body["rotationRequired"], false);

        // After the grace window the old secret is refused.
        sleep_until(t2 + time::Duration::milliseconds(3200)).await;
        assert!(
            !authenticates(&s, "life", &s1).await,
            "{backend:?}: the previous secret outlived its grace window"
        );
        assert!(authenticates(&s, "life", &s2).await);

        // Rotate again, then delete previous: s2 is cut off at once.
        let rotated = send(admin(&s, Method::POST, "/clients/life/secret/rotate", &t)).await;
        let s3 = rotated.body["clientSecret"].as_str().unwrap().to_owned();
        let t3 = parse_time(&rotated.body["createdAt"]);
        assert!(authenticates(&s, "life", &s2).await);
        let r = send(admin(
            &s,
            Method::DELETE,
            "/clients/life/secret?target=previous",
            &t,
        ))
        .await;
        assert_eq!(r.status, 204);
        assert!(!authenticates(&s, "life", &s2).await);
        assert!(authenticates(&s, "life", &s3).await);

        // An expired current secret is refused and shows as expired.
        sleep_until(t3 + time::Duration::milliseconds(6200)).await;
        assert!(!authenticates(&s, "life", &s3).await);
        let meta = send(admin(&s, Method::GET, "/clients/life/secret", &t)).await;
        assert_eq!(meta.body["current"]["expired"], true);
        assert_eq!(meta.body["rotationRequired"], true);
        // Rotating an expired secret is allowed and revives the client.
        let rotated = send(admin(&s, Method::POST, "/clients/life/secret/rotate", &t)).await;
        assert_eq!(rotated.status, 200);
        let s4 = rotated.body["clientSecret"].as_str().unwrap().to_owned();
        assert!(authenticates(&s, "life", &s4).await);
        assert!(
            !authenticates(&s, "life", &s3).await,
            "an expired previous secret stays expired"
        );
        s.stop().await;
    }
}

#[actix_web::test]
async fn sixteen_parallel_rotations_are_serialised_and_none_is_lost() {
    for backend in backends() {
        let mut opts = Spawn::default();
        opts.settings
            .insert("APP_TOKEN_FAILURE_LIMIT".into(), "0".into());
        opts.settings
            .insert("APP_TOKEN_FAILURE_LIMIT_PER_CLIENT".into(), "0".into());
        let s = spawn(backend, opts).await;
        let t = admin_token(&s).await;
        create_client(&s, &t, "busy").await;
        let issued = send(admin(&s, Method::POST, "/clients/busy/secret", &t)).await;
        let s0 = issued.body["clientSecret"].as_str().unwrap().to_owned();

        let mut tasks = Vec::new();
        for _ in 0..16 {
            let rb = admin(&s, Method::POST, "/clients/busy/secret/rotate", &t);
            tasks.push(actix_web::rt::spawn(async move { send(rb).await }));
        }
        let mut returned: Vec<(i64, String)> = Vec::new();
        for task in tasks {
            let r = task.await.unwrap();
            assert_eq!(r.status, 200, "{backend:?}: {:?}", r.body);
            returned.push((
                etag_version(&r.header("etag").unwrap()),
                r.body["clientSecret"].as_str().unwrap().to_owned(),
            ));
        }
        returned.sort();
        // Each rotation committed its own version, one after another.
        let versions: BTreeSet<i64> = returned.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions.len(), 16, "{backend:?}: {returned:?}");
        assert_eq!(versions.last().unwrap() - versions.first().unwrap(), 15);

        // The last two returned are current and previous; every other
        // returned secret (and the first one) fails now.
        let (last, second_last) = (&returned[15].1, &returned[14].1);
        assert!(
            authenticates(&s, "busy", last).await,
            "{backend:?}: the last rotation's secret was lost"
        );
        assert!(
            authenticates(&s, "busy", second_last).await,
            "{backend:?}: the previous secret was lost"
        );
        for (v, secret) in &returned[..14] {
            assert!(
                !authenticates(&s, "busy", secret).await,
                "{backend:?}: version {v} still authenticates"
            );
        }
        assert!(!authenticates(&s, "busy", &s0).await);

        let meta = send(admin(&s, Method::GET, "/clients/busy/secret", &t)).await;
        assert_eq!(etag_version(&meta.header("etag").unwrap()), returned[15].0);

        let events = send(admin(&s, Method::GET, "/audit-events?clientId=busy", &t))
            .await
            .body;
        let rotations = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "client.secret.rotate" && e["outcome"] == "success")
            .count();
        assert_eq!(rotations, 16, "{backend:?}");
        assert!(!events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "failure"));
        s.stop().await;
    }
}

/// An empty slot is a 404 and a missing current secret a 409, whatever
/// `If-Match` says: a stale tag cannot turn "there is nothing to delete or
/// rotate" into a 412 that invites a re-read and a pointless retry.
#[actix_web::test]
async fn an_empty_slot_answers_before_a_stale_if_match() {
    for backend in backends() {
        let s = spawn(backend, Spawn::default()).await;
        let t = admin_token(&s).await;
        create_client(&s, &t, "empty").await;
        let stale = "\"v99-0\"";

        // No secret at all: both slots are 404, rotate is 409.
        for target in ["current", "previous"] {
            let r = send(
                admin(
                    &s,
                    Method::DELETE,
                    &format!("/clients/empty/secret?target={target}"),
                    &t,
                )
                .header("If-Match", stale),
            )
            .await;
            assert_problem(&r, 404);
        }
        let r = send(
            admin(&s, Method::POST, "/clients/empty/secret/rotate", &t).header("If-Match", stale),
        )
        .await;
        assert_problem(&r, 409);

        // A current secret but no previous one: previous is 404, current 412.
        let issued = send(admin(&s, Method::POST, "/clients/empty/secret", &t)).await;
        assert_eq!(issued.status, 201);
        let r = send(
            admin(
                &s,
                Method::DELETE,
                "/clients/empty/secret?target=previous",
                &t,
            )
            .header("If-Match", stale),
        )
        .await;
        assert_problem(&r, 404);
        let r = send(
            admin(
                &s,
                Method::DELETE,
                "/clients/empty/secret?target=current",
                &t,
            )
            .header("If-Match", stale),
        )
        .await;
        assert_problem(&r, 412);
        // Nothing was changed by any of it.
        let meta = send(admin(&s, Method::GET, "/clients/empty/secret", &t)).await;
        assert_eq!(meta.header("etag"), issued.header("etag"));
        s.stop().await;
    }
}
