//! Clients: list, read, create (without a secret), change settings, delete.

use auth_domain::catalogue::perms;
use auth_domain::{
    Client, ClientId, ClientSettings, ClientType, NewAuditEvent, NewClient, SecretSlots,
    SettingsError, SettingsPatch, StoreError,
};

use super::{client_id, unknown_client, Admin, AdminError, Caller, Parsed};

/// A refused setting, named as the admin API names its fields.
fn settings_error(e: SettingsError) -> AdminError {
    match e {
        SettingsError::ClientName(e) => AdminError::invalid("clientName", e),
        SettingsError::PublicClientMethod => AdminError::invalid("clientAuthenticationMethod", e),
        SettingsError::AuthMethod(_) => AdminError::invalid(
            "clientAuthenticationMethod",
            "must be client_secret_basic or client_secret_post",
        ),
        SettingsError::Scope(e) => AdminError::invalid("scope", e),
        SettingsError::AccessTokenTtl(_) => {
            AdminError::invalid("accessTokenTtlMinutes", "must be an integer from 1 to 1440")
        }
    }
}

/// `client`'s settings after `patch`, or the field refused (named as the
/// admin API names it).
pub fn patched_settings(
    client: &Client,
    patch: &SettingsPatch,
) -> Result<ClientSettings, AdminError> {
    patch
        .apply(&client.id, client.client_type, client.settings.clone())
        .map_err(settings_error)
}

impl Admin {
    /// Every client, sorted by id (`client.read`).
    pub async fn list_clients(&self, caller: &Caller) -> Result<Vec<Client>, AdminError> {
        caller.require(perms::CLIENT_READ)?;
        let mut clients = self
            .blocking(|a| a.repos.clients.list().map_err(AdminError::from_store))
            .await?;
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(clients)
    }

    /// One client (`client.read`).
    pub async fn client(&self, caller: &Caller, id: &str) -> Result<Client, AdminError> {
        caller.require(perms::CLIENT_READ)?;
        self.find_client(&client_id(id)?).await
    }

    /// Creates a confidential client without a secret (`client.write`):
    /// the defaults for `id` with `settings` applied.
    pub async fn create_client(
        &self,
        caller: &Caller,
        id: ClientId,
        settings: &SettingsPatch,
    ) -> Result<Client, AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let settings = settings
            .apply(
                &id,
                ClientType::Confidential,
                ClientSettings::defaults_for(&id),
            )
            .map_err(settings_error)?;
        let new = NewClient {
            id: id.clone(),
            client_type: ClientType::Confidential,
            settings,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            created_at: auth_domain::now_ms(),
            secrets: SecretSlots::default(),
        };
        let event = Self::change_event(caller, "client.create", "client", id.as_str());
        let result = self
            .blocking(move |a| {
                a.repos.clients.create(&new, &event).map_err(|e| match e {
                    StoreError::Duplicate => {
                        AdminError::Conflict("a client with this id exists".into())
                    }
                    other => AdminError::from_store(other),
                })
            })
            .await;
        self.audited(caller, "client.create", "client", id.as_str(), result)
            .await
    }

    /// Changes a client's settings (`client.write`): the patch is applied
    /// to the settings the client has now.
    pub async fn update_client(
        &self,
        caller: &Caller,
        id: &str,
        patch: Parsed<SettingsPatch>,
    ) -> Result<Client, AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let id = client_id(id)?;
        let client = self.find_client(&id).await?;
        let settings = patched_settings(&client, &patch?)?;
        self.change_client(caller, client, "client.update", move |a, id, event| {
            a.repos.clients.update_settings(id, &settings, event)
        })
        .await
    }

    /// Deletes a client (`client.write`): it is unlinked from its service
    /// account and its tokens become inactive.
    pub async fn delete_client(&self, caller: &Caller, id: &str) -> Result<(), AdminError> {
        caller.require(perms::CLIENT_WRITE)?;
        let id = client_id(id)?;
        let client = self.find_client(&id).await?;
        self.change_client(caller, client, "client.delete", |a, id, event| {
            a.repos.clients.delete(id, event)
        })
        .await
    }

    /// Applies the rule against escalation to a change of `client`, then
    /// makes it with `write` (which commits the audit event with it), and
    /// audits the outcome as `action`. Blocking work runs off the task.
    async fn change_client<T, W>(
        &self,
        caller: &Caller,
        client: Client,
        action: &'static str,
        write: W,
    ) -> Result<T, AdminError>
    where
        T: Send + 'static,
        W: FnOnce(&Admin, &ClientId, &NewAuditEvent) -> Result<T, StoreError> + Send + 'static,
    {
        let id = client.id.clone();
        let event = Self::change_event(caller, action, "client", id.as_str());
        let who = caller.clone();
        let result = self
            .blocking(move |a| {
                a.no_escalation_for_client(&who, &client)?;
                write(a, &client.id, &event).map_err(|e| match e {
                    StoreError::NotFound => unknown_client(),
                    other => AdminError::from_store(other),
                })
            })
            .await;
        self.audited(caller, action, "client", id.as_str(), result)
            .await
    }
}
