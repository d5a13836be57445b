//! How many confidential clients need a new secret: the numbers behind the
//! `auth_server_clients_rotation_required` and
//! `auth_server_clients_secret_expired` gauges, by the same rule as the
//! admin API's `rotationRequired`.

use auth_domain::{Client, ClientType, SecretPolicy};
use time::OffsetDateTime;

/// Counts of clients by the state of their secret ([`count`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretExpiry {
    /// Confidential clients whose secret must be rotated: none, or within
    /// the rotation lead time of its expiry (`rotationRequired`).
    pub rotation_required: u64,
    /// Confidential clients whose current secret has expired: they cannot
    /// obtain tokens until a new secret is issued.
    pub expired: u64,
}

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
