use std::collections::BTreeMap;
use std::sync::Barrier;

use auth_domain::{
    AuditFilter, AuditLog, Bootstrap, ClientRepository, NewSigningKey, SecretSlots,
    ServiceAccountRepository, SigningKeyRepository, StoreError,
};
use time::Duration;

use crate::bootstrap::plan;
use crate::support::{account, cid, confidential, current, each_backend, ev, T0};

const THREADS: usize = 16;

/// A write's (version read, version written, slots written), or its error.
type WriteResult = Result<(i64, i64, SecretSlots), StoreError>;

#[test]
fn concurrent_secret_writes_have_one_winner_per_version() {
    const ROUNDS: usize = 4;
    each_backend(|store| {
        store.create(&confidential("svc"), &ev()).unwrap();
        let read = Barrier::new(THREADS);
        let write = Barrier::new(THREADS);
        let results: Vec<Vec<WriteResult>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (read, write) = (&read, &write);
                    s.spawn(move || {
                        (0..ROUNDS)
                            .map(|round| {
                                read.wait();
                                let seen =
                                    ClientRepository::find(store, &cid("svc")).unwrap().unwrap();
                                // Everyone reads before anyone writes, so
                                // all contend for the same version.
                                write.wait();
                                let slots = current(
                                    &format!("t{t}-r{round}"),
                                    T0 + Duration::milliseconds((round * 100 + t) as i64),
                                );
                                store
                                    .replace_secrets(
                                        &cid("svc"),
                                        seen.secrets_version,
                                        &slots,
                                        &ev(),
                                    )
                                    .map(|new| (seen.secrets_version, new, slots))
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        let mut winners: BTreeMap<i64, (i64, SecretSlots)> = BTreeMap::new();
        let mut conflicts = 0;
        for result in results.into_iter().flatten() {
            match result {
                Ok((seen, new, slots)) => {
                    assert_eq!(new, seen + 1);
                    assert!(
                        winners.insert(seen, (new, slots)).is_none(),
                        "two writes won version {seen}"
                    );
                }
                Err(StoreError::Conflict) => conflicts += 1,
                Err(other) => panic!("a write failed with {other:?}"),
            }
        }
        let versions: Vec<i64> = winners.keys().copied().collect();
        assert_eq!(versions, (0..ROUNDS as i64).collect::<Vec<_>>());
        assert_eq!(conflicts, ROUNDS * (THREADS - 1));
        let (last_version, last_slots) = winners.pop_last().unwrap().1;
        let stored = ClientRepository::find(store, &cid("svc")).unwrap().unwrap();
        assert_eq!(stored.secrets_version, last_version);
        assert_eq!(stored.secrets, last_slots, "the last winning write stands");
    });
}

#[test]
fn replicas_bootstrapping_at_once_all_succeed_and_create_each_client_once() {
    each_backend(|store| {
        let plan = plan(vec![
            (account("robot-a"), Some(cid("svc-a"))),
            (account("robot-b"), Some(cid("svc-b"))),
        ]);
        let start = Barrier::new(THREADS);
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        store.apply_bootstrap(&plan)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        let mut created: BTreeMap<String, usize> = BTreeMap::new();
        let mut accounts_created: BTreeMap<String, usize> = BTreeMap::new();
        for outcome in outcomes {
            let outcome = outcome.expect("every replica starts");
            assert_eq!(
                outcome.created_clients.len() + outcome.skipped_clients.len(),
                3
            );
            for id in outcome.created_clients {
                *created.entry(id).or_default() += 1;
            }
            for id in outcome.created_accounts {
                *accounts_created.entry(id).or_default() += 1;
            }
        }
        assert_eq!(
            created,
            BTreeMap::from([
                ("svc-a".to_owned(), 1),
                ("svc-b".to_owned(), 1),
                ("web".to_owned(), 1)
            ])
        );
        assert_eq!(accounts_created.values().sum::<usize>(), 2);
        assert_eq!(ClientRepository::list(store).unwrap().len(), 3);
        let accounts = ServiceAccountRepository::list(store).unwrap();
        assert_eq!(accounts[0].client_ids, vec!["svc-a"]);
        assert_eq!(accounts[1].client_ids, vec!["svc-b"]);
        let client_creates = AuditLog::list(store, &AuditFilter::default())
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "client.create")
            .count();
        assert_eq!(client_creates, 3);
    });
}

#[test]
fn replicas_ensuring_a_key_at_once_agree_on_one() {
    each_backend(|store| {
        let start = Barrier::new(THREADS);
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let start = &start;
                    s.spawn(move || {
                        start.wait();
                        store
                            .ensure_active("ES256", &mut || {
                                // Slow key generation widens the window in
                                // which a second caller could also find no
                                // key, were the section not serialised.
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                Ok(NewSigningKey {
                                    kid: format!("kid-{t}"),
                                    alg: "ES256".into(),
                                    private_key: vec![t as u8],
                                    public_jwk: "{}".into(),
                                    created_at: T0,
                                })
                            })
                            .unwrap()
                            .kid
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| k == &kids[0]), "{kids:?}");
        assert_eq!(SigningKeyRepository::list(store).unwrap().len(), 1);
    });
}
