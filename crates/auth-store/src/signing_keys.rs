//! `SigningKeyRepository`. The active key is the one row with no
//! `retired_at`; a partial unique index keeps it the only one.

use auth_domain::time_util::{from_epoch_ms, to_epoch_ms};
use auth_domain::{
    NewAuditEvent, NewSigningKey, SigningKeyRepository, StoreError, StoredSigningKey,
};
use diesel::prelude::*;

use crate::audit::insert_event;
use crate::conn::DbConn;
use crate::error::DbResultExt;
use crate::schema::signing_keys;
use crate::store::{Lock, Store};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, treat_none_as_default_value = false)]
struct KeyRow {
    kid: String,
    alg: String,
    private_key: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<KeyRow> for StoredSigningKey {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            private_key: r.private_key,
            public_jwk: r.public_jwk,
            created_at: from_epoch_ms(r.created_at),
            retired_at: r.retired_at.map(from_epoch_ms),
        }
    }
}

fn active_key(conn: &mut DbConn) -> Result<Option<KeyRow>, StoreError> {
    signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .select(KeyRow::as_select())
        .get_result(conn)
        .optional()
        .store()
}

/// Retires the active key as of the new key's creation and stores the new
/// one as active. The caller holds the signing-key lock.
fn install(conn: &mut DbConn, key: &NewSigningKey) -> Result<StoredSigningKey, StoreError> {
    let created_at = to_epoch_ms(key.created_at);
    diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
        .set(signing_keys::retired_at.eq(created_at))
        .execute(conn)
        .store()?;
    let row = KeyRow {
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        private_key: key.private_key.clone(),
        public_jwk: key.public_jwk.clone(),
        created_at,
        retired_at: None,
    };
    diesel::insert_into(signing_keys::table)
        .values(&row)
        .execute(conn)
        .store()?;
    Ok(row.into())
}

impl SigningKeyRepository for Store {
    fn list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.read(|conn| {
            Ok(signing_keys::table
                .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
                .select(KeyRow::as_select())
                .load(conn)
                .store()?
                .into_iter()
                .map(StoredSigningKey::from)
                .collect())
        })
    }

    fn ensure_active(
        &self,
        alg: &str,
        make: &mut dyn FnMut() -> Result<NewSigningKey, String>,
    ) -> Result<StoredSigningKey, StoreError> {
        self.write(Some(Lock::SigningKeys), |conn| {
            if let Some(active) = active_key(conn)?.filter(|k| k.alg == alg) {
                return Ok(active.into());
            }
            let key = make().map_err(|e| {
                StoreError::Other(format!("could not create a {alg} signing key: {e}"))
            })?;
            install(conn, &key)
        })
    }

    fn rotate(
        &self,
        key: &NewSigningKey,
        event: &NewAuditEvent,
    ) -> Result<StoredSigningKey, StoreError> {
        self.write(Some(Lock::SigningKeys), |conn| {
            let stored = install(conn, key)?;
            insert_event(conn, event)?;
            Ok(stored)
        })
    }

    fn revoke(
        &self,
        kid: &str,
        make: &mut dyn FnMut() -> Result<NewSigningKey, String>,
        events: &dyn Fn(Option<&StoredSigningKey>) -> Vec<NewAuditEvent>,
    ) -> Result<Option<StoredSigningKey>, StoreError> {
        self.write(Some(Lock::SigningKeys), |conn| {
            let target = signing_keys::table
                .find(kid)
                .select(KeyRow::as_select())
                .get_result(conn)
                .optional()
                .store()?
                .ok_or(StoreError::NotFound)?;
            // The replacement goes in first (retiring the revoked key), so
            // the one-active-key rule holds at every statement.
            let replacement = match target.retired_at {
                Some(_) => None,
                None => {
                    let key = make().map_err(|e| {
                        StoreError::Other(format!(
                            "could not create a signing key to replace {kid}: {e}"
                        ))
                    })?;
                    Some(install(conn, &key)?)
                }
            };
            diesel::delete(signing_keys::table.find(kid))
                .execute(conn)
                .store()?;
            for event in events(replacement.as_ref()) {
                insert_event(conn, &event)?;
            }
            Ok(replacement)
        })
    }
}
