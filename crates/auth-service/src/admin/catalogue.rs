//! The catalogue of roles, permissions and groups: the built-in one
//! extended by the seed files.

use auth_domain::catalogue::perms;
use auth_domain::Catalogue;

use super::{Admin, AdminError, Caller};

impl Admin {
    /// The catalogue as stored (`users.read`).
    pub async fn catalogue(&self, caller: &Caller) -> Result<Catalogue, AdminError> {
        caller.require(perms::USERS_READ)?;
        self.blocking(|a| a.repos.catalogue.load().map_err(AdminError::from_store))
            .await
    }
}
