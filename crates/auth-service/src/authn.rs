//! Client authentication (RFC 6749 §2.3) for the token, introspection and
//! revocation use cases: the failure throttle, the client lookup, the one
//! eligibility rule ([`auth_domain::Client::accepts`]), one secret
//! verification on the bounded pool whatever the outcome (a dummy one for
//! an unknown client), the verified-secret cache, sharing of identical
//! verifications in flight, failure recording and the hash upgrade.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use auth_domain::{
    AuthFailure, Client, ClientAuthMethod, ClientId, Secret, SecretHash, SecretSlots, Slot,
    StoreError, Verification,
};

use crate::error::OAuthError;
use crate::verify_pool::PoolFull;
use crate::AuthService;

/// What one secret verification comes to: the slot matched (and whether
/// its hash should be upgraded), why it failed, or no room to run it.
pub type VerifyOutcome = Result<Result<(Slot, Verification), AuthFailure>, PoolFull>;

/// The credentials a caller presents: a client id, the secret if any, and
/// how it was presented. `Debug` never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<Secret>,
    pub method: ClientAuthMethod,
}

impl Credentials {
    /// A client id and secret as presented with `method`.
    pub fn new(client_id: impl Into<String>, secret: Secret, method: ClientAuthMethod) -> Self {
        Self {
            client_id: client_id.into(),
            secret: Some(secret),
            method,
        }
    }
}

/// What the caller reads about a client together with its row (in the same
/// blocking call), before the secret is checked; only an authenticated
/// caller gets it.
pub(crate) type AlsoRead<T> = fn(&AuthService, &Client) -> Result<T, StoreError>;

impl AuthService {
    /// Throttle → client lookup → one verification. Returns the
    /// authenticated confidential client; `credentials` `None` (no client
    /// authentication presented) is `invalid_client`. `source` is the
    /// caller's address, which the failure throttle counts by.
    pub async fn authenticate(
        self: &Arc<Self>,
        credentials: Option<&Credentials>,
        source: IpAddr,
    ) -> Result<Client, OAuthError> {
        self.authenticate_with(credentials, source, |_, _| Ok(()))
            .await
            .map(|(client, ())| client)
    }

    /// [`Self::authenticate`], reading what the caller needs next about the
    /// client (`also`, e.g. its service account) in the same blocking call
    /// as the client row: one hop to the blocking pool per request instead
    /// of two. `also` runs for every client found, before the secret is
    /// checked; only an authenticated caller gets its result.
    pub(crate) async fn authenticate_with<T: Send + 'static>(
        self: &Arc<Self>,
        credentials: Option<&Credentials>,
        source: IpAddr,
        also: AlsoRead<T>,
    ) -> Result<(Client, T), OAuthError> {
        let Some(presented) = credentials.cloned() else {
            return Err(OAuthError::InvalidClient);
        };
        if let Err(retry) = self
            .throttle
            .check(&presented.client_id, source, Instant::now())
        {
            return Err(OAuthError::SlowDown {
                retry_after: retry.0,
            });
        }
        let (client, mut extra) = match self.read_client(&presented.client_id, also).await? {
            Some((c, t)) => (Some(c), Some(t)),
            None => (None, None),
        };
        let secret = presented.secret.clone().unwrap_or_else(|| Secret::new(""));
        let has_secret = presented.secret.is_some();
        let method = presented.method;
        let eligible = client
            .as_ref()
            .is_some_and(|c| has_secret && c.accepts(method));
        if let Some(c) = client.as_ref().filter(|_| eligible) {
            // The row was read just now, so only slots usable at this instant
            // (expiry and grace checked) can hit.
            let now = auth_domain::now_ms();
            let hit = c.secrets.usable(now).iter().any(|(_, hash)| {
                self.secret_cache
                    .hit(c.id.as_str(), hash.as_str(), secret.expose())
            });
            if hit {
                if let Some(t) = extra.take() {
                    self.observer.secret_cache(true);
                    return Ok((c.clone(), t));
                }
            }
            self.observer.secret_cache(false);
        }
        let flight = self.flight_key(&presented.client_id, client.as_ref(), eligible, &secret);
        // The check above and this admission are separate so that the cheap
        // refusal comes before the database read; the admission is what holds
        // under concurrency: it counts this verification against the failure
        // limits until it ends, so simultaneous guesses cannot all pass before
        // the first failure is recorded. Every return below but a failure (a
        // success, a 503) drops the attempt and so stops it counting.
        let attempt = self
            .throttle
            .begin(
                &presented.client_id,
                source,
                flight.as_ref(),
                Instant::now(),
            )
            .map_err(|retry| OAuthError::SlowDown {
                retry_after: retry.seconds(),
            })?;
        let slots = client
            .as_ref()
            .filter(|_| eligible)
            .map(|c| c.secrets.clone());
        let verify = || self.verify(slots, secret.clone());
        // A request sharing another's verification still holds a place in the
        // verification queue while it waits, so the queue's bound (more →
        // temporarily_unavailable) counts requests, shared or not.
        let (outcome, ran) = match flight {
            Some(key) => self
                .verifications
                .run(key, || self.verify_pool.reserve(), verify)
                .await
                .unwrap_or_else(|full| (Err(full), true)),
            None => (verify().await, true),
        };
        if !ran {
            self.observer.verification_shared();
        }
        let Ok(outcome) = outcome else {
            self.observer.verification_rejected();
            return Err(OAuthError::TemporarilyUnavailable { retry_after: 1 });
        };
        match (outcome, client, extra) {
            (Ok((slot, verification)), Some(client), Some(extra)) => {
                if let Some(hash) = slot_hash(&client, slot) {
                    self.secret_cache
                        .remember(client.id.as_str(), hash.as_str(), secret.expose());
                }
                // One upgrade per verification, not one per request sharing it.
                if ran && verification == Verification::MatchNeedsRehash {
                    if let Some(secret) = presented.secret {
                        self.upgrade_hash_in_background(&client, slot, secret);
                    }
                }
                Ok((client, extra))
            }
            (result, _, _) => {
                let reason = match result {
                    Err(AuthFailure::Expired) => "expired",
                    Err(AuthFailure::NoSecret) => "no_secret",
                    _ => "mismatch",
                };
                tracing::info!(reason, "client authentication failed");
                attempt.failed(Instant::now());
                Err(OAuthError::InvalidClient)
            }
        }
    }

    /// The client row and what `also` reads with it; `None` for an id that
    /// is not a valid client id or not stored. On the calling thread when
    /// the database is embedded and a connection is idle, else on the
    /// blocking pool.
    async fn read_client<T: Send + 'static>(
        self: &Arc<Self>,
        client_id: &str,
        also: AlsoRead<T>,
    ) -> Result<Option<(Client, T)>, OAuthError> {
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        let span = tracing::info_span!("db_read", client_id = %id.as_str());
        let lookup = move |service: &AuthService| -> Result<_, StoreError> {
            let _entered = span.enter();
            match service.repos.clients.find(&id)? {
                Some(c) => {
                    let extra = also(service, &c)?;
                    Ok(Some((c, extra)))
                }
                None => Ok(None),
            }
        };
        let found = if self.repos.can_read_inline() {
            lookup(self)
        } else {
            let service = self.clone();
            tokio::task::spawn_blocking(move || lookup(&service))
                .await
                .map_err(|_| OAuthError::TemporarilyUnavailable {
                    retry_after: self.config.retry_after_secs(),
                })?
        };
        found.map_err(|e| self.store_error(&e))
    }

    /// One verification on the pool: against the slots of an eligible
    /// client, else (unknown or public client, wrong method, missing
    /// secret) a dummy one of the same cost as any other failure.
    async fn verify(&self, slots: Option<SecretSlots>, secret: Secret) -> VerifyOutcome {
        let started = Instant::now();
        let hasher = self.hasher.clone();
        let span = tracing::info_span!("secret_verification");
        let outcome = self
            .verify_pool
            .run(move || {
                let _entered = span.enter();
                let now = auth_domain::now_ms();
                match slots {
                    Some(slots) => slots.authenticate(&secret, now, hasher.as_ref()),
                    None => {
                        let _ = SecretSlots::default().authenticate(&secret, now, hasher.as_ref());
                        Err(AuthFailure::Mismatch)
                    }
                }
            })
            .await;
        self.observer.secret_verification(started.elapsed());
        outcome
    }

    /// The [`crate::in_flight`] key of a verification: everything its
    /// outcome depends on — the client id, what the row says (eligibility,
    /// secrets version, the hashes usable now) and the presented secret.
    fn flight_key(
        &self,
        client_id: &str,
        client: Option<&Client>,
        eligible: bool,
        secret: &Secret,
    ) -> Option<crate::in_flight::Key> {
        let now = auth_domain::now_ms();
        let (version, usable) = match client {
            Some(c) => (
                c.secrets_version,
                c.secrets
                    .usable(now)
                    .iter()
                    .map(|(_, hash)| hash.as_str().to_owned())
                    .collect::<Vec<_>>(),
            ),
            None => (0, Vec::new()),
        };
        let version = version.to_be_bytes();
        let row = [u8::from(client.is_some()), u8::from(eligible)];
        let mut parts: Vec<&[u8]> = vec![
            client_id.as_bytes(),
            &row,
            &version,
            secret.expose().as_bytes(),
        ];
        parts.extend(usable.iter().map(|h| h.as_bytes()));
        self.secret_cache.flight_key(&parts)
    }

    /// Re-hashes a secret that verified against a weaker hash (the policy
    /// is [`auth_domain::upgraded_hash`]), off the request path, by
    /// compare-and-swap on the old hash: a concurrent rotation wins, and
    /// the secret state's version (its ETag) does not change.
    fn upgrade_hash_in_background(self: &Arc<Self>, client: &Client, slot: Slot, secret: Secret) {
        let Some(old) = slot_hash(client, slot) else {
            return;
        };
        let service = self.clone();
        let id = client.id.clone();
        tokio::spawn(async move {
            let hasher = service.hasher.clone();
            let to_hash = secret.clone();
            let hashed = service.verify_pool.run(move || hasher.hash(&to_hash)).await;
            let Ok(Ok(fresh)) = hashed else {
                // A full pool or a failed hash leaves the old hash in place; the
                // next verification that misses the cache tries again.
                service.observer.hash_upgrade("skipped");
                return;
            };
            let Some(new) = auth_domain::upgraded_hash(&old, fresh) else {
                service.observer.hash_upgrade("skipped");
                return;
            };
            let repos = service.repos.clone();
            let (swap_id, swap_old, swap_new) = (id.clone(), old, new.clone());
            let swapped = tokio::task::spawn_blocking(move || {
                repos
                    .clients
                    .upgrade_hash(&swap_id, slot, &swap_old, &swap_new)
            })
            .await;
            match swapped {
                Ok(Ok(true)) => {
                    // The new hash is of this very secret: remember it, so the
                    // upgrade does not cost the client one more cold request.
                    service
                        .secret_cache
                        .remember(id.as_str(), new.as_str(), secret.expose());
                    service.observer.hash_upgrade("stored");
                    tracing::info!("upgraded a client secret hash to the configured cost");
                }
                Ok(Ok(false)) => service.observer.hash_upgrade("superseded"),
                _ => {
                    service.observer.hash_upgrade("failed");
                    tracing::warn!("could not store an upgraded client secret hash");
                }
            }
        });
    }
}

/// The stored hash of one slot of the row as read.
fn slot_hash(client: &Client, slot: Slot) -> Option<SecretHash> {
    match slot {
        Slot::Current => client.secrets.current.as_ref().map(|c| c.hash.clone()),
        Slot::Previous => client.secrets.previous.as_ref().map(|p| p.hash.clone()),
    }
}
