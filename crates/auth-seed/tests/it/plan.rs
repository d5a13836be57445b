//! The bootstrap plan: existing clients, hashing, secrets as current slots.

use std::collections::HashSet;
use std::sync::Mutex;
use std::thread::ThreadId;

use auth_domain::{
    BcryptHasher, Catalogue, ClientAuthMethod, ClientId, ClientType, HashError, Secret, SecretHash,
    SecretHasher, StoreError, Verification,
};
use auth_seed::validate;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::*;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

const TWO_CLIENTS: &str = "\
clients:
  confidential:
    - client_id: old-client
      client_secret_env_var_name: OLD_SECRET
    - client_id: new-client
      client_secret_env_var_name: NEW_SECRET
      client_authentication_method: client_secret_post
      access_token_ttl_minutes: 15
      scope: read write
";

#[test]
fn existing_clients_are_skipped_and_their_variable_is_never_read() {
    let env = RecordingEnv::new(&[("NEW_SECRET", GOOD_SECRET)]);
    let existing = |id: &ClientId| -> Result<Option<ClientType>, StoreError> {
        Ok((id.as_str() == "old-client").then_some(ClientType::Confidential))
    };
    let accounts = "serviceAccounts:\n  - id: svc-old\n    clientId: old-client\n";
    let v = validate(
        &parsed(Some(TWO_CLIENTS), Some(accounts)),
        &|n| env.get(n),
        &rules(),
        &Catalogue::builtin(),
        &existing,
    )
    .unwrap();
    assert_eq!(*env.asked.borrow(), vec!["NEW_SECRET"]);
    assert_eq!(
        v.skipped_clients(),
        &[ClientId::parse("old-client").unwrap()]
    );
    let to_create: Vec<_> = v
        .clients_to_create()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(to_create, vec!["new-client"]);
    // The link to the existing confidential client resolves.
    assert_eq!(
        v.service_accounts()[0].1.as_ref().map(ClientId::as_str),
        Some("old-client")
    );
}

#[test]
fn an_existing_public_client_cannot_be_linked_even_if_the_file_says_confidential() {
    let existing = |id: &ClientId| -> Result<Option<ClientType>, StoreError> {
        Ok((id.as_str() == "old-client").then_some(ClientType::Public))
    };
    let err = validate(
        &parsed(
            Some(TWO_CLIENTS),
            Some("serviceAccounts:\n  - id: svc\n    clientId: old-client\n"),
        ),
        &env_of(&[("NEW_SECRET", GOOD_SECRET)]),
        &rules(),
        &Catalogue::builtin(),
        &existing,
    )
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(
        err.to_string()
            .contains("client \"old-client\" is a public client"),
        "{err}"
    );
}

#[test]
fn a_failing_lookup_is_reported_against_the_entry() {
    let existing = |_: &ClientId| -> Result<Option<ClientType>, StoreError> {
        Err(StoreError::Unavailable("timed out".into()))
    };
    let err = validate(
        &parsed(Some(TWO_CLIENTS), None),
        &env_of(&[("NEW_SECRET", GOOD_SECRET), ("OLD_SECRET", GOOD_SECRET)]),
        &rules(),
        &Catalogue::builtin(),
        &existing,
    )
    .unwrap_err();
    assert_eq!(err.len(), 2);
    assert!(err.0[0].to_string().contains(
        "client \"old-client\": could not check whether the client exists: database unavailable: timed out"
    ), "{err}");
}

/// A validated seed holds the clients' plaintext secrets until they are
/// hashed, and so does the plan's input; `Debug` shows neither.
#[test]
fn debug_of_a_validated_seed_and_its_plan_never_shows_a_secret() {
    let v = validate_texts(
        Some(TWO_CLIENTS),
        None,
        &[
            ("OLD_SECRET", "old-secret-old-secret"),
            ("NEW_SECRET", GOOD_SECRET),
        ],
    )
    .unwrap();
    let shown = format!("{v:?}");
    assert!(shown.contains("new-client"), "{shown}");
    assert!(
        !shown.contains(GOOD_SECRET) && !shown.contains("old-secret-old-secret"),
        "{shown}"
    );
    let plan = v
        .into_plan(&BcryptHasher::new(4).unwrap(), NOW, "tester")
        .unwrap();
    let shown = format!("{plan:?}");
    assert!(
        !shown.contains(GOOD_SECRET) && !shown.contains("$2b$04$"),
        "{shown}"
    );
}

#[test]
fn into_plan_hashes_at_cost_4_and_installs_the_current_secret() {
    let v = validate_texts(
        Some(TWO_CLIENTS),
        None,
        &[
            ("OLD_SECRET", "old-secret-old-secret"),
            ("NEW_SECRET", GOOD_SECRET),
        ],
    )
    .unwrap();
    let rules = rules();
    let plan = v
        .into_plan(&BcryptHasher::new(4).unwrap(), NOW, "tester")
        .unwrap();
    let now_ms = datetime!(2026-03-01 12:00:00.123 UTC);
    assert_eq!(plan.actor, "tester");
    assert_eq!(plan.at, now_ms);
    assert_eq!(plan.clients.len(), 2);
    let verifier = BcryptHasher::new(4).unwrap();
    let new = &plan.clients[1];
    assert_eq!(new.id.as_str(), "new-client");
    assert_eq!(new.client_type, ClientType::Confidential);
    assert_eq!(new.settings.auth_method, ClientAuthMethod::ClientSecretPost);
    assert_eq!(new.settings.access_token_ttl_minutes, 15);
    assert_eq!(new.settings.scope.to_string(), "read write");
    assert_eq!(new.created_at, now_ms);
    let current = new.secrets.current.as_ref().unwrap();
    assert!(current.hash.as_str().starts_with("$2b$04$"));
    assert_eq!(current.created_at, now_ms);
    assert_eq!(current.expires_at, now_ms + rules.policy.ttl);
    assert_eq!(current.expires_at, now_ms + Duration::days(365));
    assert!(new.secrets.previous.is_none());
    assert_eq!(
        verifier.verify(&Secret::new(GOOD_SECRET), &current.hash),
        Verification::Match
    );
    assert_eq!(
        verifier.verify(&Secret::new("old-secret-old-secret"), &current.hash),
        Verification::Mismatch
    );
    // Nothing of the secret is in the plan's Debug output.
    assert!(!format!("{plan:?}").contains(GOOD_SECRET));
}

/// Hashes with BCrypt cost 4 and remembers which threads did the work.
struct ThreadRecordingHasher {
    inner: BcryptHasher,
    threads: Mutex<Vec<ThreadId>>,
}

impl SecretHasher for ThreadRecordingHasher {
    fn hash(&self, secret: &Secret) -> Result<SecretHash, HashError> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.inner.hash(secret)
    }
    fn verify(&self, presented: &Secret, stored: &SecretHash) -> Verification {
        self.inner.verify(presented, stored)
    }
    fn verify_dummy(&self, presented: &Secret) -> Verification {
        self.inner.verify_dummy(presented)
    }
    fn observe(&self, stored: &SecretHash) {
        self.inner.observe(stored)
    }
    fn failure_cost(&self) -> u32 {
        self.inner.failure_cost()
    }
}

#[test]
fn eight_clients_are_hashed_in_parallel_each_with_its_own_secret() {
    let mut text = String::from("clients:\n  confidential:\n");
    let mut env = Vec::new();
    for i in 0..8 {
        text.push_str(&format!(
            "    - client_id: client-{i}\n      client_secret_env_var_name: SECRET_{i}\n"
        ));
        env.push((format!("SECRET_{i}"), format!("secret-number-{i}-padding")));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let v = validate_texts(Some(&text), None, &env_refs).unwrap();
    let hasher = ThreadRecordingHasher {
        inner: BcryptHasher::new(4).unwrap(),
        threads: Mutex::new(Vec::new()),
    };
    let plan = v.into_plan(&hasher, NOW, "t").unwrap();

    assert_eq!(plan.clients.len(), 8);
    let verifier = BcryptHasher::new(4).unwrap();
    for (i, c) in plan.clients.iter().enumerate() {
        assert_eq!(c.id.as_str(), format!("client-{i}"));
        let hash = &c.secrets.current.as_ref().unwrap().hash;
        for (j, (_, secret)) in env.iter().enumerate() {
            let want = if i == j {
                Verification::Match
            } else {
                Verification::Mismatch
            };
            assert_eq!(
                verifier.verify(&Secret::new(secret.clone()), hash),
                want,
                "client {i} secret {j}"
            );
        }
    }

    let threads = hasher.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 8, "each secret is hashed once");
    assert!(
        !threads.contains(&std::thread::current().id()),
        "hashing runs on worker threads"
    );
    let distinct: HashSet<_> = threads.iter().collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(distinct.len(), cores.min(8), "one worker per core");
}

#[test]
fn a_plan_with_nothing_to_create_hashes_nothing() {
    let hasher = ThreadRecordingHasher {
        inner: BcryptHasher::new(4).unwrap(),
        threads: Mutex::new(Vec::new()),
    };
    let v = validate_texts(None, Some("serviceAccounts:\n  - id: a\n"), &[]).unwrap();
    let plan = v.into_plan(&hasher, NOW, "t").unwrap();
    assert!(plan.clients.is_empty());
    assert_eq!(plan.service_accounts.len(), 1);
    assert!(hasher.threads.lock().unwrap().is_empty());
}
