//! `RevocationRepository`: revoked token ids until their tokens expire.

use auth_domain::time_util::to_epoch_ms;
use auth_domain::{RevocationRepository, StoreError};
use diesel::prelude::*;
use time::OffsetDateTime;

use crate::conn::DbConn;
use crate::error::DbResultExt;
use crate::schema::revoked_tokens;
use crate::store::Store;

#[derive(Insertable)]
#[diesel(table_name = revoked_tokens)]
struct RevokedRow<'a> {
    jti: &'a str,
    client_id: &'a str,
    expires_at: i64,
}

impl RevocationRepository for Store {
    fn revoke(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let row = RevokedRow {
            jti,
            client_id,
            expires_at: to_epoch_ms(expires_at),
        };
        // Revoking twice is not an error: the first record stands.
        self.write(None, |conn| {
            match conn {
                DbConn::Postgres(c) => diesel::insert_into(revoked_tokens::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c),
                DbConn::Sqlite(c) => diesel::insert_into(revoked_tokens::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c),
            }
            .store()?;
            Ok(())
        })
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.read(|conn| {
            diesel::select(diesel::dsl::exists(revoked_tokens::table.find(jti)))
                .get_result(conn)
                .store()
        })
    }

    fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.write(None, |conn| {
            let purged = diesel::delete(
                revoked_tokens::table.filter(revoked_tokens::expires_at.le(to_epoch_ms(now))),
            )
            .execute(conn)
            .store()?;
            Ok(purged as u64)
        })
    }
}
