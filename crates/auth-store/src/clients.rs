//! `ClientRepository`: one row per client, the two secret slots as
//! nullable columns, `secrets_version` for optimistic concurrency.

use auth_domain::lifecycle::{CurrentSecret, PreviousSecret};
use auth_domain::time_util::{from_epoch_ms, to_epoch_ms};
use auth_domain::{
    new_incarnation, Client, ClientAuthMethod, ClientId, ClientRepository, ClientSettings,
    ClientType, NewAuditEvent, NewClient, ScopeSet, SecretHash, SecretSlots, Slot, StoreError,
};
use diesel::prelude::*;

use crate::audit::insert_event;
use crate::conn::DbConn;
use crate::error::{corrupt, from_json, to_json, DbResultExt};
use crate::schema::clients;
use crate::store::Store;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
pub(crate) struct ClientRow {
    id: String,
    client_type: String,
    client_name: String,
    auth_method: String,
    scope: Option<String>,
    access_token_ttl_minutes: i32,
    redirect_uris_json: String,
    post_logout_redirect_uris_json: String,
    service_account_id: Option<String>,
    created_at: i64,
    #[diesel(embed)]
    secrets: SecretColumns,
    secrets_version: i64,
    incarnation: String,
}

/// The secret columns, all written at once (an empty slot is NULLs); a
/// client row embeds them, so that they are listed once.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(
    table_name = clients,
    treat_none_as_null = true,
    treat_none_as_default_value = false
)]
pub(crate) struct SecretColumns {
    current_hash: Option<String>,
    current_created_at: Option<i64>,
    current_expires_at: Option<i64>,
    previous_hash: Option<String>,
    previous_created_at: Option<i64>,
    previous_expires_at: Option<i64>,
    previous_grace_expires_at: Option<i64>,
}

impl From<&SecretSlots> for SecretColumns {
    fn from(slots: &SecretSlots) -> Self {
        let current = slots.current.as_ref();
        let previous = slots.previous.as_ref();
        Self {
            current_hash: current.map(|c| c.hash.as_str().to_owned()),
            current_created_at: current.map(|c| to_epoch_ms(c.created_at)),
            current_expires_at: current.map(|c| to_epoch_ms(c.expires_at)),
            previous_hash: previous.map(|p| p.hash.as_str().to_owned()),
            previous_created_at: previous.map(|p| to_epoch_ms(p.created_at)),
            previous_expires_at: previous.map(|p| to_epoch_ms(p.expires_at)),
            previous_grace_expires_at: previous.map(|p| to_epoch_ms(p.grace_expires_at)),
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
struct SettingsColumns {
    client_name: String,
    auth_method: String,
    scope: Option<String>,
    access_token_ttl_minutes: i32,
}

impl TryFrom<&ClientSettings> for SettingsColumns {
    type Error = StoreError;

    fn try_from(s: &ClientSettings) -> Result<Self, StoreError> {
        Ok(Self {
            client_name: s.client_name.clone(),
            auth_method: s.auth_method.as_str().to_owned(),
            scope: s.scope.to_option_string(),
            access_token_ttl_minutes: i32::try_from(s.access_token_ttl_minutes).map_err(|_| {
                StoreError::Rejected(format!(
                    "access token TTL of {} minutes is out of range",
                    s.access_token_ttl_minutes
                ))
            })?,
        })
    }
}

impl ClientRow {
    /// The row of a client about to be created, with a fresh incarnation:
    /// every create path (the port's `create`, seeding) goes through here.
    pub(crate) fn from_new(c: &NewClient) -> Result<Self, StoreError> {
        let incarnation = new_incarnation().map_err(|e| {
            StoreError::Other(format!("no random incarnation for client {}: {e}", c.id))
        })?;
        let settings = SettingsColumns::try_from(&c.settings)?;
        Ok(Self {
            id: c.id.as_str().to_owned(),
            client_type: c.client_type.as_str().to_owned(),
            client_name: settings.client_name,
            auth_method: settings.auth_method,
            scope: settings.scope,
            access_token_ttl_minutes: settings.access_token_ttl_minutes,
            redirect_uris_json: to_json(&c.redirect_uris)?,
            post_logout_redirect_uris_json: to_json(&c.post_logout_redirect_uris)?,
            service_account_id: None,
            created_at: to_epoch_ms(c.created_at),
            secrets: SecretColumns::from(&c.secrets),
            secrets_version: 0,
            incarnation,
        })
    }

    pub(crate) fn into_client(self) -> Result<Client, StoreError> {
        let bad = |column: &str| corrupt("client", &self.id, column);
        let id = ClientId::parse(&self.id).map_err(|_| bad("id"))?;
        let client_type = match self.client_type.as_str() {
            "confidential" => ClientType::Confidential,
            "public" => ClientType::Public,
            _ => return Err(bad("client_type")),
        };
        let auth_method: ClientAuthMethod =
            self.auth_method.parse().map_err(|_| bad("auth_method"))?;
        let scope =
            ScopeSet::parse(self.scope.as_deref().unwrap_or_default()).map_err(|_| bad("scope"))?;
        let access_token_ttl_minutes = u32::try_from(self.access_token_ttl_minutes)
            .map_err(|_| bad("access_token_ttl_minutes"))?;
        let secrets = self.secrets;
        let current = match (
            secrets.current_hash,
            secrets.current_created_at,
            secrets.current_expires_at,
        ) {
            (Some(hash), Some(created), Some(expires)) => Some(CurrentSecret {
                hash: SecretHash::new(hash),
                created_at: from_epoch_ms(created),
                expires_at: from_epoch_ms(expires),
            }),
            (None, None, None) => None,
            _ => return Err(bad("current secret")),
        };
        let previous = match (
            secrets.previous_hash,
            secrets.previous_created_at,
            secrets.previous_expires_at,
            secrets.previous_grace_expires_at,
        ) {
            (Some(hash), Some(created), Some(expires), Some(grace)) => Some(PreviousSecret {
                hash: SecretHash::new(hash),
                created_at: from_epoch_ms(created),
                expires_at: from_epoch_ms(expires),
                grace_expires_at: from_epoch_ms(grace),
            }),
            (None, None, None, None) => None,
            _ => return Err(bad("previous secret")),
        };
        Ok(Client {
            settings: ClientSettings {
                client_name: self.client_name,
                auth_method,
                scope,
                access_token_ttl_minutes,
            },
            client_type,
            redirect_uris: from_json(
                &self.redirect_uris_json,
                "client",
                &self.id,
                "redirect_uris",
            )?,
            post_logout_redirect_uris: from_json(
                &self.post_logout_redirect_uris_json,
                "client",
                &self.id,
                "post_logout_redirect_uris",
            )?,
            service_account_id: self.service_account_id,
            created_at: from_epoch_ms(self.created_at),
            secrets: SecretSlots { current, previous },
            secrets_version: self.secrets_version,
            incarnation: self.incarnation,
            id,
        })
    }
}

pub(crate) fn find_client(conn: &mut DbConn, id: &str) -> Result<Option<Client>, StoreError> {
    // The token path's one query, so two things keep it cheap:
    // - it runs on the backend's own connection, where the query's type
    //   identifies its prepared statement; through the `MultiConnection`
    //   enum diesel must build the SQL text on every call to find the
    //   cached statement by it;
    // - `get_result`, never `first`, for point reads: `first` adds
    //   `LIMIT ?`, and SQLite built with STAT4 (as the bundled one is)
    //   re-prepares a statement each time its LIMIT parameter is bound (11 %
    //   of the server's CPU on the token path, before).
    let query = || clients::table.find(id);
    match conn {
        DbConn::Sqlite(c) => query().select(ClientRow::as_select()).get_result(c),
        DbConn::Postgres(c) => query().select(ClientRow::as_select()).get_result(c),
    }
    .optional()
    .store()?
    .map(ClientRow::into_client)
    .transpose()
}

/// Inserts the client unless its id exists; returns whether it did. The
/// backends' `ON CONFLICT DO NOTHING` makes this safe against a concurrent
/// insert of the same id, which a look-then-insert is not.
pub(crate) fn insert_if_absent(conn: &mut DbConn, row: &ClientRow) -> Result<bool, StoreError> {
    let inserted = match conn {
        DbConn::Postgres(c) => diesel::insert_into(clients::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c),
        DbConn::Sqlite(c) => diesel::insert_into(clients::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c),
    }
    .store()?;
    Ok(inserted == 1)
}

impl ClientRepository for Store {
    fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.read(|conn| find_client(conn, id.as_str()))
    }

    fn list(&self) -> Result<Vec<Client>, StoreError> {
        self.read(|conn| {
            clients::table
                .order(clients::id.asc())
                .select(ClientRow::as_select())
                .load(conn)
                .store()?
                .into_iter()
                .map(ClientRow::into_client)
                .collect()
        })
    }

    fn create(&self, client: &NewClient, event: &NewAuditEvent) -> Result<Client, StoreError> {
        let row = ClientRow::from_new(client)?;
        self.write(None, |conn| {
            diesel::insert_into(clients::table)
                .values(&row)
                .execute(conn)
                .store()?;
            insert_event(conn, event)
        })?;
        // Built from the row just written, so it equals what `find` returns.
        row.into_client()
    }

    fn update_settings(
        &self,
        id: &ClientId,
        settings: &ClientSettings,
        event: &NewAuditEvent,
    ) -> Result<Client, StoreError> {
        let columns = SettingsColumns::try_from(settings)?;
        self.write(None, |conn| {
            let updated = diesel::update(clients::table.find(id.as_str()))
                .set(&columns)
                .execute(conn)
                .store()?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            insert_event(conn, event)?;
            find_client(conn, id.as_str())?.ok_or(StoreError::NotFound)
        })
    }

    fn delete(&self, id: &ClientId, event: &NewAuditEvent) -> Result<(), StoreError> {
        self.write(None, |conn| {
            match diesel::delete(clients::table.find(id.as_str()))
                .execute(conn)
                .store()?
            {
                0 => Err(StoreError::NotFound),
                _ => insert_event(conn, event),
            }
        })
    }

    fn replace_secrets(
        &self,
        id: &ClientId,
        expected_version: i64,
        slots: &SecretSlots,
        event: &NewAuditEvent,
    ) -> Result<i64, StoreError> {
        let columns = SecretColumns::from(slots);
        self.write(None, |conn| {
            let updated = diesel::update(
                clients::table
                    .find(id.as_str())
                    .filter(clients::secrets_version.eq(expected_version)),
            )
            .set((
                &columns,
                clients::secrets_version.eq(clients::secrets_version + 1),
            ))
            .execute(conn)
            .store()?;
            if updated == 1 {
                insert_event(conn, event)?;
                return Ok(expected_version + 1);
            }
            // Inside the same transaction, so the answer is about the row
            // the UPDATE saw.
            let exists = diesel::select(diesel::dsl::exists(clients::table.find(id.as_str())))
                .get_result::<bool>(conn)
                .store()?;
            Err(if exists {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            })
        })
    }

    fn upgrade_hash(
        &self,
        id: &ClientId,
        slot: Slot,
        old: &SecretHash,
        new: &SecretHash,
    ) -> Result<bool, StoreError> {
        self.write(None, |conn| {
            let target = clients::table.find(id.as_str());
            let updated = match slot {
                Slot::Current => {
                    diesel::update(target.filter(clients::current_hash.eq(old.as_str())))
                        .set(clients::current_hash.eq(new.as_str()))
                        .execute(conn)
                }
                Slot::Previous => {
                    diesel::update(target.filter(clients::previous_hash.eq(old.as_str())))
                        .set(clients::previous_hash.eq(new.as_str()))
                        .execute(conn)
                }
            }
            .store()?;
            Ok(updated == 1)
        })
    }
}
