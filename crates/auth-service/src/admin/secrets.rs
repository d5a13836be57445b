//! A confidential client's two secret slots: issue, rotate, delete,
//! describe (see docs/reference/secret-lifecycle.md).
//!
//! Every write is a compare-and-swap on the client's `secrets_version`
//! (`ClientRepository::replace_secrets`), which is also what the
//! [`SecretsTag`] is made of. With a [`Precondition`], a version that moved
//! is [`AdminError::Stale`]. Without one, a lost race re-reads the client
//! and applies the same change to the new state, so concurrent rotations
//! are serialised: each succeeds with a secret that was current when it
//! was committed, and none is lost (the last two committed remain current
//! and previous).
//!
//! A new secret is hashed once per request, before the retry loop, on the
//! blocking pool behind a small semaphore of its own — not on the token
//! path's verification pool, so that a flood of token requests cannot make
//! an administrator's rotation unavailable, and a burst of rotations cannot
//! occupy more than two threads with BCrypt.

use std::fmt;

use auth_domain::catalogue::perms;
use auth_domain::{
    generate_secret, Client, CurrentSecret, LifecycleError, NewAuditEvent, Secret, SecretHash,
    SecretPolicy, SecretSlots, SecretStatus, SlotTarget, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::{client_id, unknown_client, Admin, AdminError, Caller, Parsed};

/// BCrypt jobs of the admin use cases running at once, process-wide.
static ADMIN_HASHING: Semaphore = Semaphore::const_new(2);

/// Compare-and-swap attempts before a write gives up as unavailable. Every
/// lost attempt means another write succeeded, so this is only reached
/// under a storm of more concurrent writers than it.
const MAX_ATTEMPTS: usize = 100;

/// What a client's secret state is, for optimistic concurrency: its
/// `secrets_version`, qualified by the client's creation instant so that a
/// client deleted and created again under the same id never repeats an
/// old tag. Shown as `v{version}-{created at, ms since the epoch}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretsTag {
    pub version: i64,
    pub created_at_ms: i64,
}

impl SecretsTag {
    /// The tag of `client`'s secret state at `version`.
    pub fn of(client: &Client, version: i64) -> Self {
        Self {
            version,
            created_at_ms: auth_domain::time_util::to_epoch_ms(client.created_at),
        }
    }

    /// The tag shown as `s` by [`fmt::Display`], exactly (no other spelling
    /// of the same numbers).
    pub fn parse(s: &str) -> Option<Self> {
        let (version, created) = s.strip_prefix('v')?.split_once('-')?;
        let tag = Self {
            version: version.parse().ok()?,
            created_at_ms: created.parse().ok()?,
        };
        (tag.to_string() == s).then_some(tag)
    }
}

impl fmt::Display for SecretsTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}-{}", self.version, self.created_at_ms)
    }
}

/// The secret state a change is meant for (HTTP's `If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Any state (`*`).
    Any,
    /// One of these states; an empty list matches none.
    OneOf(Vec<SecretsTag>),
}

impl Precondition {
    fn check(&self, client: &Client) -> Result<(), AdminError> {
        let now = SecretsTag::of(client, client.secrets_version);
        match self {
            Self::Any => Ok(()),
            Self::OneOf(tags) if tags.contains(&now) => Ok(()),
            Self::OneOf(_) => Err(AdminError::Stale),
        }
    }
}

/// A secret just issued or rotated in: the plaintext (shown this once; its
/// `Debug` is redacted), the slot it is in, and the new state.
#[derive(Debug)]
pub struct WrittenSecret {
    pub client: Client,
    pub secret: Secret,
    pub current: CurrentSecret,
    /// After a rotation: until when the previous secret still authenticates.
    pub previous_valid_until: Option<OffsetDateTime>,
    pub tag: SecretsTag,
}

/// The slots of a client as read at `at`, with what the lifetime rules say
/// of them then.
#[derive(Debug, Clone)]
pub struct SecretState {
    pub client: Client,
    pub status: SecretStatus,
    pub at: OffsetDateTime,
    pub tag: SecretsTag,
}

/// The secret lifecycle's refusals (the secret table of
/// docs/reference/admin-api.md#client-secrets).
fn lifecycle_error(e: &LifecycleError) -> AdminError {
    match e {
        LifecycleError::CurrentExists => AdminError::Conflict(
            "the client already has a current secret; rotate it instead".into(),
        ),
        LifecycleError::NoCurrent => AdminError::Conflict(
            "the client has no current secret to rotate; issue one first".into(),
        ),
        LifecycleError::SlotEmpty(SlotTarget::Current) => {
            AdminError::NotFound("the client has no current secret".into())
        }
        LifecycleError::SlotEmpty(SlotTarget::Previous) => {
            AdminError::NotFound("the client has no previous secret".into())
        }
    }
}

type SlotChange<'c> = &'c dyn Fn(&SecretSlots) -> Result<SecretSlots, LifecycleError>;

/// Issue or rotate: the slots with a new hash made current at `now`.
type NewSlots = fn(
    &SecretSlots,
    SecretHash,
    OffsetDateTime,
    &SecretPolicy,
) -> Result<SecretSlots, LifecycleError>;

/// The client as last read, the slots written and the new version.
type Written = (Client, SecretSlots, i64);

impl Admin {
    /// The slots' metadata and whether a rotation is due (`client.write`).
    pub async fn secret_state(&self, caller: &Caller, id: &str) -> Result<SecretState, AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let client = self
            .find_confidential(&client_id(id)?, "has no secrets")
            .await?;
        let at = auth_domain::now_ms();
        Ok(SecretState {
            status: client.secrets.status(at, &self.policy),
            tag: SecretsTag::of(&client, client.secrets_version),
            client,
            at,
        })
    }

    /// Issues a first current secret (`client.write`).
    pub async fn issue_secret(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<WrittenSecret, AdminError> {
        self.new_secret_for(caller, id, None).await
    }

    /// Rotates (`client.write`): the current secret becomes the previous
    /// one, valid for the grace window, and a new current secret is made.
    /// No current secret is a conflict whatever `precondition` says: the
    /// rotation would fail without it too (RFC 9110 §13.2.1).
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<&Precondition>,
    ) -> Result<WrittenSecret, AdminError> {
        self.new_secret_for(caller, id, Some(precondition)).await
    }

    /// Issues (`rotation` is `None`) or rotates (with its optional
    /// precondition) a secret of client `id`.
    async fn new_secret_for(
        &self,
        caller: &Caller,
        id: &str,
        rotation: Option<Option<&Precondition>>,
    ) -> Result<WrittenSecret, AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let id = client_id(id)?;
        let client = self.find_confidential(&id, "has no secrets").await?;
        let (action, change): (_, NewSlots) = match rotation {
            None => ("client.secret.issue", SecretSlots::issue),
            Some(_) => ("client.secret.rotate", SecretSlots::rotate),
        };
        let result = async {
            // Refuse before paying for a hash when the answer is known.
            self.no_escalation_for(caller, &client).await?;
            let pinned = match rotation {
                None if client.secrets.current.is_some() => {
                    return Err(lifecycle_error(&LifecycleError::CurrentExists))
                }
                None => None,
                Some(_) if client.secrets.current.is_none() => {
                    return Err(lifecycle_error(&LifecycleError::NoCurrent))
                }
                Some(precondition) => {
                    if let Some(p) = precondition {
                        p.check(&client)?;
                    }
                    precondition.cloned()
                }
            };
            let (secret, hash) = self.new_secret().await?;
            let policy = self.policy;
            let event = Self::change_event(caller, action, "client", id.as_str());
            let written = self
                .blocking(move |a| {
                    let apply = |slots: &SecretSlots| {
                        change(slots, hash.clone(), auth_domain::now_ms(), &policy)
                    };
                    a.write_slots(client, pinned.as_ref(), &apply, &event)
                })
                .await?;
            Ok((secret, written))
        }
        .await;
        let (secret, (client, slots, version)) = self
            .audited(caller, action, "client", id.as_str(), result)
            .await?;
        let previous_valid_until = match rotation {
            None => None,
            Some(_) => Some(slots.previous_valid_until().ok_or(AdminError::Internal)?),
        };
        Ok(WrittenSecret {
            tag: SecretsTag::of(&client, version),
            current: slots.current.ok_or(AdminError::Internal)?,
            client,
            secret,
            previous_valid_until,
        })
    }

    /// Empties one slot at once (`client.write`): `Previous` cuts the old
    /// secret off before its grace window ends, `Current` revokes the
    /// current one. An empty slot is not found, before any precondition:
    /// deleting it would fail without one too. Answers the new state.
    pub async fn delete_secret(
        &self,
        caller: &Caller,
        id: &str,
        target: Parsed<SlotTarget>,
        precondition: Option<&Precondition>,
    ) -> Result<SecretsTag, AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let id = client_id(id)?;
        let client = self.find_confidential(&id, "has no secrets").await?;
        let target = target?;
        let result = async {
            self.no_escalation_for(caller, &client).await?;
            client
                .secrets
                .delete(target)
                .map_err(|e| lifecycle_error(&e))?;
            if let Some(p) = precondition {
                p.check(&client)?;
            }
            let pinned = precondition.cloned();
            let event = Self::change_event(caller, "client.secret.delete", "client", id.as_str());
            self.blocking(move |a| {
                let change = |slots: &SecretSlots| slots.delete(target);
                a.write_slots(client, pinned.as_ref(), &change, &event)
            })
            .await
        }
        .await;
        let (client, _, version) = self
            .audited(
                caller,
                "client.secret.delete",
                "client",
                id.as_str(),
                result,
            )
            .await?;
        Ok(SecretsTag::of(&client, version))
    }

    async fn no_escalation_for(&self, caller: &Caller, client: &Client) -> Result<(), AdminError> {
        let (who, client) = (caller.clone(), client.clone());
        self.blocking(move |a| a.no_escalation_for_client(&who, &client))
            .await
    }

    /// A fresh secret and its hash at the configured cost.
    async fn new_secret(&self) -> Result<(Secret, SecretHash), AdminError> {
        let secret = generate_secret().map_err(|_| {
            tracing::error!("the OS random number generator failed");
            AdminError::Internal
        })?;
        let _permit = ADMIN_HASHING
            .acquire()
            .await
            .map_err(|_| AdminError::Internal)?;
        let to_hash = secret.clone();
        let hash = self
            .blocking(move |a| {
                a.hasher.hash(&to_hash).map_err(|e| {
                    tracing::error!(error = %e, "hashing a new client secret failed");
                    AdminError::Internal
                })
            })
            .await?;
        Ok((secret, hash))
    }

    /// Applies `change` to the client's slots and stores the result by
    /// compare-and-swap, re-reading and re-applying after a lost race
    /// unless the caller pinned the state with a precondition (then:
    /// stale). Blocking.
    fn write_slots(
        &self,
        mut client: Client,
        pinned: Option<&Precondition>,
        change: SlotChange<'_>,
        event: &NewAuditEvent,
    ) -> Result<Written, AdminError> {
        for _ in 0..MAX_ATTEMPTS {
            let next = change(&client.secrets).map_err(|e| lifecycle_error(&e))?;
            match self.repos.clients.replace_secrets(
                &client.id,
                client.secrets_version,
                &next,
                event,
            ) {
                Ok(version) => return Ok((client, next, version)),
                Err(StoreError::Conflict) if pinned.is_some() => return Err(AdminError::Stale),
                Err(StoreError::Conflict) => {
                    client = self
                        .repos
                        .clients
                        .find(&client.id)
                        .map_err(AdminError::from_store)?
                        .ok_or_else(unknown_client)?;
                }
                Err(StoreError::NotFound) => return Err(unknown_client()),
                Err(e) => return Err(AdminError::from_store(e)),
            }
        }
        tracing::warn!(
            attempts = MAX_ATTEMPTS,
            "a secret write lost every compare-and-swap attempt"
        );
        Err(AdminError::Unavailable {
            retry_after: Some(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_only_their_own_spelling() {
        let tag = SecretsTag {
            version: 3,
            created_at_ms: 1_700_000_000_123,
        };
        assert_eq!(tag.to_string(), "v3-1700000000123");
        assert_eq!(SecretsTag::parse("v3-1700000000123"), Some(tag));
        for other in ["v03-1700000000123", "3-1", "v3", "v3-+1", "W/v3-1", ""] {
            assert_eq!(SecretsTag::parse(other), None, "{other}");
        }
    }
}
