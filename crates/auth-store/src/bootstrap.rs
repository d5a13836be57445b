//! `Bootstrap`: the seeding of docs/reference/seed-files.md as one transaction.

use auth_domain::{
    AuditOutcome, Bootstrap, BootstrapOutcome, BootstrapPlan, NewAuditEvent, StoreError,
};

use crate::audit::insert_event;
use crate::catalog::upsert_catalogue;
use crate::clients::{insert_if_absent, ClientRow};
use crate::conn::DbConn;
use crate::service_accounts::{link_client, upsert_account, LinkRefusal};
use crate::store::{Lock, Store};

impl Bootstrap for Store {
    /// Replicas starting together all run this: on PostgreSQL the bootstrap
    /// advisory lock, on SQLite the IMMEDIATE transaction, makes them apply
    /// it one after the other, so the first creates and the rest skip.
    fn apply_bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
        let rows = plan
            .clients
            .iter()
            .map(ClientRow::from_new)
            .collect::<Result<Vec<_>, _>>()?;
        self.write(Some(Lock::Bootstrap), |conn| {
            let mut outcome = BootstrapOutcome::default();
            let audit = |conn: &mut DbConn, action: &str, target_type: &str, target_id: &str| {
                insert_event(
                    conn,
                    &NewAuditEvent {
                        at: plan.at,
                        actor: plan.actor.clone(),
                        action: action.to_owned(),
                        target_type: target_type.to_owned(),
                        target_id: target_id.to_owned(),
                        outcome: AuditOutcome::Success,
                    },
                )
            };

            upsert_catalogue(conn, &plan.catalogue)?;

            for (client, row) in plan.clients.iter().zip(&rows) {
                let id = client.id.as_str().to_owned();
                if insert_if_absent(conn, row)? {
                    audit(conn, "client.create", "client", &id)?;
                    outcome.created_clients.push(id);
                } else {
                    outcome.skipped_clients.push(id);
                }
            }

            for (account, client_id) in &plan.service_accounts {
                if upsert_account(conn, account)? {
                    audit(
                        conn,
                        "service_account.create",
                        "service_account",
                        &account.id,
                    )?;
                    outcome.created_accounts.push(account.id.clone());
                } else {
                    audit(
                        conn,
                        "service_account.update",
                        "service_account",
                        &account.id,
                    )?;
                    outcome.updated_accounts.push(account.id.clone());
                }
                let Some(client_id) = client_id else {
                    continue;
                };
                match link_client(conn, &account.id, client_id.as_str())? {
                    Ok(true) => {
                        audit(conn, "service_account.link", "service_account", &account.id)?
                    }
                    Ok(false) => {}
                    Err(LinkRefusal::UnknownClient | LinkRefusal::NotConfidential) => {
                        return Err(StoreError::Rejected(format!(
                            "service account {:?}: clientId {:?} is not a confidential client",
                            account.id,
                            client_id.as_str()
                        )))
                    }
                    Err(LinkRefusal::LinkedElsewhere(other)) => {
                        return Err(StoreError::LinkConflict {
                            client_id: client_id.as_str().to_owned(),
                            account_id: other,
                        })
                    }
                }
            }
            Ok(outcome)
        })
    }
}
