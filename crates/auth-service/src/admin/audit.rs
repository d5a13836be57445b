//! The audit log, newest first.

use auth_domain::catalogue::perms;
use auth_domain::{AuditEvent, AuditFilter};

use super::{Admin, AdminError, Caller};

impl Admin {
    /// The events matching `filter`, newest first (`users.read`).
    pub async fn audit_events(
        &self,
        caller: &Caller,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        caller.require(perms::USERS_READ)?;
        self.blocking(move |a| a.repos.audit.list(&filter).map_err(AdminError::from_store))
            .await
    }
}
