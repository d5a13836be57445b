//! The `auth_server_clients_rotation_required` and
//! `auth_server_clients_secret_expired` gauges. Counting reads every client,
//! so a background thread does it every [`REFRESH_EVERY`] rather than each
//! scrape: a scraper every few seconds would otherwise read the whole client
//! table as often, and a secret nears its expiry over days, not seconds.

use std::sync::Arc;
use std::time::Duration;

use auth_domain::{Client, ClientType, SecretPolicy};
use time::OffsetDateTime;

use crate::metrics::SecretExpiry;
use crate::state::AppState;

/// How often the gauges are recounted (docs/operations.md says so).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// How often the refresher looks whether startup is done before its first
/// count: the clients table exists only after the migrations.
const STARTUP_POLL: Duration = Duration::from_millis(100);

/// The confidential clients whose secret needs rotation (`rotationRequired`
/// of the admin API) and those whose current secret has expired. Public
/// clients have no secret and count in neither.
pub fn count(clients: &[Client], now: OffsetDateTime, policy: &SecretPolicy) -> SecretExpiry {
    let mut counts = SecretExpiry::default();
    for client in clients
        .iter()
        .filter(|c| c.client_type == ClientType::Confidential)
    {
        let status = client.secrets.status(now, policy);
        counts.rotation_required += u64::from(status.rotation_required);
        counts.expired += u64::from(status.current_expired == Some(true));
    }
    counts
}

/// Recounts once; a failed read leaves the last values (and is logged).
pub fn refresh(state: &AppState) {
    match state.repos.clients.list() {
        Ok(clients) => {
            let counts = count(&clients, auth_domain::now_ms(), &state.config.secret_policy);
            state.metrics.set_secret_expiry(counts);
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not count clients for the secret expiry gauges");
        }
    }
}

/// Counts as soon as startup is done, then every `every`, on a thread of
/// its own (the read is blocking); the thread ends with the state.
pub fn spawn_refresher(state: &actix_web::web::Data<AppState>, every: Duration) {
    let weak = Arc::downgrade(&state.clone().into_inner());
    let spawned = std::thread::Builder::new()
        .name("secret-expiry".into())
        .spawn(move || {
            loop {
                match weak.upgrade() {
                    Some(state) if state.is_started() => break,
                    Some(_) => std::thread::sleep(STARTUP_POLL),
                    None => return,
                }
            }
            loop {
                match weak.upgrade() {
                    Some(state) => refresh(&state),
                    None => return,
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the secret expiry gauge refresher");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_domain::{ClientId, ClientSettings, SecretHash, SecretSlots};

    fn client(client_type: ClientType, secrets: SecretSlots) -> Client {
        let id = ClientId::parse("c").unwrap();
        Client {
            settings: ClientSettings::defaults_for(&id),
            id,
            client_type,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            service_account_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            secrets,
            secrets_version: 0,
            incarnation: String::new(),
        }
    }

    #[test]
    fn counts_confidential_clients_by_the_state_of_their_secret() {
        let policy = SecretPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let hash =
            || SecretHash::new("$2b$04$abcdefghijklmnopqrstuuJ7hPXdZkZcQpE4mF6oGq8a5S3bq2mVa");
        let fresh = SecretSlots::default().issue(hash(), t0, &policy).unwrap();
        let clients = [
            client(ClientType::Confidential, fresh.clone()),
            client(ClientType::Confidential, SecretSlots::default()),
            client(ClientType::Public, SecretSlots::default()),
        ];
        // Just issued: only the client without a secret needs one.
        assert_eq!(
            count(&clients, t0, &policy),
            SecretExpiry {
                rotation_required: 1,
                expired: 0
            }
        );
        let expiry = fresh.current.as_ref().unwrap().expires_at;
        // Within the lead time: both confidential clients, none expired.
        let soon = expiry - policy.rotation_lead + time::Duration::seconds(1);
        assert_eq!(
            count(&clients, soon, &policy),
            SecretExpiry {
                rotation_required: 2,
                expired: 0
            }
        );
        assert_eq!(
            count(&clients, expiry, &policy),
            SecretExpiry {
                rotation_required: 2,
                expired: 1
            }
        );
    }
}
