//! An in-memory implementation of the ports `apply` needs, with the
//! contract the ports state: all-or-nothing bootstrap, existing clients
//! skipped, links only to confidential clients, one account per client.

use std::collections::BTreeMap;
use std::sync::Mutex;

use auth_domain::{
    Bootstrap, BootstrapOutcome, BootstrapPlan, CatalogRepository, Catalogue, Client, ClientId,
    ClientRepository, ClientSettings, ClientType, NewAuditEvent, NewClient, SecretHash,
    SecretSlots, ServiceAccount, Slot, StoreError,
};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub clients: BTreeMap<String, Client>,
    pub accounts: BTreeMap<String, ServiceAccount>,
    /// Catalogue entries stored on top of the built-in ones.
    pub extensions: Catalogue,
}

#[derive(Default)]
pub struct FakeStore {
    pub state: Mutex<State>,
    /// When set, `apply_bootstrap` fails with it (after checking nothing).
    pub fail_with: Mutex<Option<StoreError>>,
    pub finds: Mutex<Vec<String>>,
    /// The actor of every plan applied.
    pub actors: Mutex<Vec<String>>,
}

impl FakeStore {
    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap().clone()
    }

    pub fn insert_client(&self, client: NewClient) {
        let mut s = self.state.lock().unwrap();
        s.clients
            .insert(client.id.to_string(), client.into_client());
    }

    pub fn insert_account(&self, account: ServiceAccount, linked: &[&str]) {
        let mut s = self.state.lock().unwrap();
        for c in linked {
            s.clients.get_mut(*c).unwrap().service_account_id = Some(account.id.clone());
        }
        s.accounts.insert(account.id.clone(), account);
    }
}

pub fn new_client(id: &str, client_type: ClientType) -> NewClient {
    let id = ClientId::parse(id).unwrap();
    NewClient {
        settings: ClientSettings::defaults_for(&id),
        id,
        client_type,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        secrets: SecretSlots::default(),
    }
}

impl ClientRepository for FakeStore {
    fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.finds.lock().unwrap().push(id.to_string());
        Ok(self.state.lock().unwrap().clients.get(id.as_str()).cloned())
    }

    fn list(&self) -> Result<Vec<Client>, StoreError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .clients
            .values()
            .cloned()
            .collect())
    }

    fn create(&self, client: &NewClient, _: &NewAuditEvent) -> Result<Client, StoreError> {
        let mut s = self.state.lock().unwrap();
        if s.clients.contains_key(client.id.as_str()) {
            return Err(StoreError::Duplicate);
        }
        let c = client.clone().into_client();
        s.clients.insert(c.id.to_string(), c.clone());
        Ok(c)
    }

    fn update_settings(
        &self,
        id: &ClientId,
        settings: &ClientSettings,
        _: &NewAuditEvent,
    ) -> Result<Client, StoreError> {
        let mut s = self.state.lock().unwrap();
        let c = s.clients.get_mut(id.as_str()).ok_or(StoreError::NotFound)?;
        c.settings = settings.clone();
        Ok(c.clone())
    }

    fn delete(&self, id: &ClientId, _: &NewAuditEvent) -> Result<(), StoreError> {
        let mut s = self.state.lock().unwrap();
        s.clients
            .remove(id.as_str())
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }

    fn replace_secrets(
        &self,
        id: &ClientId,
        expected_version: i64,
        slots: &SecretSlots,
        _: &NewAuditEvent,
    ) -> Result<i64, StoreError> {
        let mut s = self.state.lock().unwrap();
        let c = s.clients.get_mut(id.as_str()).ok_or(StoreError::NotFound)?;
        if c.secrets_version != expected_version {
            return Err(StoreError::Conflict);
        }
        c.secrets = slots.clone();
        c.secrets_version += 1;
        Ok(c.secrets_version)
    }

    fn upgrade_hash(
        &self,
        id: &ClientId,
        slot: Slot,
        old: &SecretHash,
        new: &SecretHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock().unwrap();
        let c = s.clients.get_mut(id.as_str()).ok_or(StoreError::NotFound)?;
        let held = match slot {
            Slot::Current => c.secrets.current.as_mut().map(|x| &mut x.hash),
            Slot::Previous => c.secrets.previous.as_mut().map(|x| &mut x.hash),
        };
        match held {
            Some(h) if h == old => {
                *h = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl CatalogRepository for FakeStore {
    fn load(&self) -> Result<Catalogue, StoreError> {
        let mut c = Catalogue::builtin();
        c.extend(self.state.lock().unwrap().extensions.clone())
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(c)
    }
}

impl Bootstrap for FakeStore {
    fn apply_bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
        self.actors.lock().unwrap().push(plan.actor.clone());
        if let Some(e) = self.fail_with.lock().unwrap().clone() {
            return Err(e);
        }
        let mut guard = self.state.lock().unwrap();
        // Work on a copy and commit only at the end: all or nothing.
        let mut s = guard.clone();
        let mut out = BootstrapOutcome::default();
        let ext = &mut s.extensions;
        ext.permissions
            .extend(plan.catalogue.permissions.iter().cloned());
        ext.roles.extend(plan.catalogue.roles.iter().cloned());
        ext.groups.extend(plan.catalogue.groups.iter().cloned());
        for c in &plan.clients {
            if s.clients.contains_key(c.id.as_str()) {
                out.skipped_clients.push(c.id.to_string());
            } else {
                s.clients.insert(c.id.to_string(), c.clone().into_client());
                out.created_clients.push(c.id.to_string());
            }
        }
        for (account, link) in &plan.service_accounts {
            if s.accounts
                .insert(account.id.clone(), account.clone())
                .is_some()
            {
                out.updated_accounts.push(account.id.clone());
            } else {
                out.created_accounts.push(account.id.clone());
            }
            if let Some(client_id) = link {
                let client = s
                    .clients
                    .get_mut(client_id.as_str())
                    .filter(|c| c.client_type == ClientType::Confidential)
                    .ok_or_else(|| {
                        StoreError::Rejected(format!(
                            "service account {:?} cannot be linked to client {:?}: not a \
                             confidential client",
                            account.id,
                            client_id.as_str()
                        ))
                    })?;
                match &client.service_account_id {
                    Some(other) if other != &account.id => {
                        return Err(StoreError::LinkConflict {
                            client_id: client_id.to_string(),
                            account_id: other.clone(),
                        })
                    }
                    _ => client.service_account_id = Some(account.id.clone()),
                }
            }
        }
        *guard = s;
        Ok(out)
    }
}
