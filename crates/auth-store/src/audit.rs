//! `AuditLog`: an append-only table, read newest first.

use auth_domain::time_util::{from_epoch_ms, to_epoch_ms};
use auth_domain::{AuditEvent, AuditFilter, AuditLog, NewAuditEvent, StoreError};
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::DbResultExt;
use crate::schema::audit_events;
use crate::store::Store;

/// `target_type` of events about a client (see `NewAuditEvent`).
const CLIENT_TARGET: &str = "client";

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditRow<'a> {
    at: i64,
    actor: &'a str,
    action: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    outcome: &'a str,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    outcome: String,
}

/// Appends an event inside the caller's transaction, so a change and its
/// audit record commit or roll back together.
pub(crate) fn insert_event(conn: &mut DbConn, e: &NewAuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(NewAuditRow {
            at: to_epoch_ms(e.at),
            actor: &e.actor,
            action: &e.action,
            target_type: &e.target_type,
            target_id: &e.target_id,
            outcome: e.outcome.as_str(),
        })
        .execute(conn)
        .store()?;
    Ok(())
}

impl AuditLog for Store {
    fn record(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        self.write(None, |conn| insert_event(conn, event))
    }

    fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        self.read(|conn| {
            let mut query = audit_events::table
                .select(AuditRow::as_select())
                .order((audit_events::at.desc(), audit_events::id.desc()))
                .into_boxed();
            if let Some(client_id) = &filter.client_id {
                query = query
                    .filter(audit_events::target_id.eq(client_id))
                    .filter(audit_events::target_type.eq(CLIENT_TARGET));
            }
            if let Some(since) = filter.since {
                // Stored instants are whole milliseconds: round a finer
                // `since` up, so no event before it slips in.
                let mut ms = to_epoch_ms(since);
                if from_epoch_ms(ms) < since {
                    ms += 1;
                }
                query = query.filter(audit_events::at.ge(ms));
            }
            Ok(query
                .load(conn)
                .store()?
                .into_iter()
                .map(|r| AuditEvent {
                    id: r.id,
                    at: from_epoch_ms(r.at),
                    actor: r.actor,
                    action: r.action,
                    target_type: r.target_type,
                    target_id: r.target_id,
                    outcome: r.outcome,
                })
                .collect())
        })
    }
}
