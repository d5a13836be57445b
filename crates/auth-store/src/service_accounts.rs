//! `ServiceAccountRepository`. A link is the client row's
//! `service_account_id`, so a client has at most one account by
//! construction, and deleting either side removes the link (the foreign
//! key's `ON DELETE SET NULL`, or the client row itself).

use std::collections::BTreeMap;

use auth_domain::{
    ClientId, ClientType, LinkedServiceAccount, NewAuditEvent, ServiceAccount,
    ServiceAccountRepository, StoreError,
};
use diesel::prelude::*;

use crate::audit::insert_event;
use crate::clients::find_client;
use crate::conn::DbConn;
use crate::error::{from_json, to_json, DbResultExt};
use crate::schema::{clients, service_accounts};
use crate::store::Store;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = service_accounts)]
struct AccountRow {
    id: String,
    name: String,
    description: String,
    active: bool,
    roles_json: String,
    permissions_json: String,
    groups_json: String,
    attributes_json: String,
}

impl AccountRow {
    fn from_account(a: &ServiceAccount) -> Result<Self, StoreError> {
        Ok(Self {
            id: a.id.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            active: a.active,
            roles_json: to_json(&a.roles)?,
            permissions_json: to_json(&a.permissions)?,
            groups_json: to_json(&a.groups)?,
            attributes_json: to_json(&a.attributes)?,
        })
    }

    fn into_account(self) -> Result<ServiceAccount, StoreError> {
        let what = "service account";
        Ok(ServiceAccount {
            roles: from_json(&self.roles_json, what, &self.id, "roles")?,
            permissions: from_json(&self.permissions_json, what, &self.id, "permissions")?,
            groups: from_json(&self.groups_json, what, &self.id, "groups")?,
            attributes: from_json(&self.attributes_json, what, &self.id, "attributes")?,
            id: self.id,
            name: self.name,
            description: self.description,
            active: self.active,
        })
    }
}

/// Creates or replaces the account's own columns; links live on the client
/// rows and are not touched. Returns whether it was created. `ON CONFLICT
/// DO NOTHING` first, so two creators of one new id cannot collide.
pub(crate) fn upsert_account(
    conn: &mut DbConn,
    account: &ServiceAccount,
) -> Result<bool, StoreError> {
    let row = AccountRow::from_account(account)?;
    let inserted = match conn {
        DbConn::Postgres(c) => diesel::insert_into(service_accounts::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c),
        DbConn::Sqlite(c) => diesel::insert_into(service_accounts::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c),
    }
    .store()?;
    if inserted == 1 {
        return Ok(true);
    }
    diesel::update(service_accounts::table.find(&row.id))
        .set(&row)
        .execute(conn)
        .store()?;
    Ok(false)
}

fn account_exists(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    diesel::select(diesel::dsl::exists(service_accounts::table.find(id)))
        .get_result(conn)
        .store()
}

/// Why a client cannot be linked to `account_id`, if it cannot.
pub(crate) enum LinkRefusal {
    UnknownClient,
    NotConfidential,
    LinkedElsewhere(String),
}

/// Links the client to the account (which the caller has checked exists).
/// Returns whether a new link was made (`false`: it was linked already).
/// The UPDATE only claims a client that is unlinked or already ours, so a
/// concurrent link to another account cannot be overwritten.
pub(crate) fn link_client(
    conn: &mut DbConn,
    account_id: &str,
    client_id: &str,
) -> Result<Result<bool, LinkRefusal>, StoreError> {
    let Some(client) = find_client(conn, client_id)? else {
        return Ok(Err(LinkRefusal::UnknownClient));
    };
    if client.client_type != ClientType::Confidential {
        return Ok(Err(LinkRefusal::NotConfidential));
    }
    if client.service_account_id.as_deref() == Some(account_id) {
        return Ok(Ok(false));
    }
    let claimed = diesel::update(
        clients::table.find(client_id).filter(
            clients::service_account_id
                .is_null()
                .or(clients::service_account_id.eq(account_id)),
        ),
    )
    .set(clients::service_account_id.eq(account_id))
    .execute(conn)
    .store()?;
    if claimed == 1 {
        return Ok(Ok(true));
    }
    let now = clients::table
        .find(client_id)
        .select(clients::service_account_id)
        .first::<Option<String>>(conn)
        .optional()
        .store()?;
    Ok(Err(match now {
        None => LinkRefusal::UnknownClient,
        // Unlinked between the two statements (PostgreSQL, READ COMMITTED).
        Some(None) => return Err(StoreError::Conflict),
        Some(Some(other)) => LinkRefusal::LinkedElsewhere(other),
    }))
}

fn client_ids_by_account(
    conn: &mut DbConn,
    account_id: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut query = clients::table
        .filter(clients::service_account_id.is_not_null())
        .select((clients::service_account_id, clients::id))
        .order(clients::id.asc())
        .into_boxed();
    if let Some(id) = account_id {
        query = query.filter(clients::service_account_id.eq(id));
    }
    let mut by_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (account, client) in query.load::<(Option<String>, String)>(conn).store()? {
        if let Some(account) = account {
            by_account.entry(account).or_default().push(client);
        }
    }
    Ok(by_account)
}

impl ServiceAccountRepository for Store {
    fn find_account(&self, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        // On the backend's own connection, as `clients::find_client` and
        // for the same reason: the token path reads it on every request.
        self.read(|conn| {
            let query = || service_accounts::table.find(id);
            match conn {
                DbConn::Sqlite(c) => query().select(AccountRow::as_select()).get_result(c),
                DbConn::Postgres(c) => query().select(AccountRow::as_select()).get_result(c),
            }
            .optional()
            .store()?
            .map(AccountRow::into_account)
            .transpose()
        })
    }

    fn find(&self, id: &str) -> Result<Option<LinkedServiceAccount>, StoreError> {
        self.read(|conn| {
            let Some(row) = service_accounts::table
                .find(id)
                .select(AccountRow::as_select())
                .get_result(conn)
                .optional()
                .store()?
            else {
                return Ok(None);
            };
            let client_ids = client_ids_by_account(conn, Some(id))?
                .remove(id)
                .unwrap_or_default();
            Ok(Some(LinkedServiceAccount {
                account: row.into_account()?,
                client_ids,
            }))
        })
    }

    fn list(&self) -> Result<Vec<LinkedServiceAccount>, StoreError> {
        self.read(|conn| {
            let rows = service_accounts::table
                .order(service_accounts::id.asc())
                .select(AccountRow::as_select())
                .load(conn)
                .store()?;
            let mut links = client_ids_by_account(conn, None)?;
            rows.into_iter()
                .map(|row| {
                    let client_ids = links.remove(&row.id).unwrap_or_default();
                    Ok(LinkedServiceAccount {
                        account: row.into_account()?,
                        client_ids,
                    })
                })
                .collect()
        })
    }

    fn upsert(
        &self,
        account: &ServiceAccount,
        event: &dyn Fn(bool) -> NewAuditEvent,
    ) -> Result<bool, StoreError> {
        self.write(None, |conn| {
            let created = upsert_account(conn, account)?;
            insert_event(conn, &event(created))?;
            Ok(created)
        })
    }

    fn delete(&self, id: &str, event: &NewAuditEvent) -> Result<(), StoreError> {
        self.write(None, |conn| {
            match diesel::delete(service_accounts::table.find(id))
                .execute(conn)
                .store()?
            {
                0 => Err(StoreError::NotFound),
                _ => insert_event(conn, event),
            }
        })
    }

    fn link(
        &self,
        account_id: &str,
        client_id: &ClientId,
        event: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        self.write(None, |conn| {
            if !account_exists(conn, account_id)? {
                return Err(StoreError::NotFound);
            }
            match link_client(conn, account_id, client_id.as_str())? {
                Ok(_) => insert_event(conn, event),
                Err(LinkRefusal::UnknownClient) => Err(StoreError::NotFound),
                Err(LinkRefusal::NotConfidential) => Err(StoreError::Rejected(format!(
                    "client {:?} is not a confidential client",
                    client_id.as_str()
                ))),
                Err(LinkRefusal::LinkedElsewhere(other)) => Err(StoreError::LinkConflict {
                    client_id: client_id.as_str().to_owned(),
                    account_id: other,
                }),
            }
        })
    }

    fn unlink(
        &self,
        account_id: &str,
        client_id: &ClientId,
        event: &NewAuditEvent,
    ) -> Result<(), StoreError> {
        self.write(None, |conn| {
            let updated = diesel::update(
                clients::table
                    .find(client_id.as_str())
                    .filter(clients::service_account_id.eq(account_id)),
            )
            .set(clients::service_account_id.eq(None::<String>))
            .execute(conn)
            .store()?;
            match updated {
                0 => Err(StoreError::NotFound),
                _ => insert_event(conn, event),
            }
        })
    }
}
