//! Service accounts: list, read, create-or-replace, delete, and the links
//! of clients to them. Names of roles, permissions and groups are resolved
//! against the catalogue before anything is stored; a change shows in the
//! next token issued, since issuance reads the account on every grant.

use auth_domain::catalogue::perms;
use auth_domain::{
    CatalogueError, LinkedServiceAccount, ServiceAccount, ServiceAccountId, StoreError,
};

use super::{client_id, unknown_account, Admin, AdminError, Caller};

/// Declares a struct with the fields of [`AccountInput`], each with its
/// type and documentation, and the given attributes: the HTTP layer
/// declares the schema of its `PUT` body with it, so that the fields are
/// written once for the use case and its OpenAPI document. The attributes
/// inside `attributes { … }` go on the `attributes` field (a schema
/// generator may need telling what a JSON object is); the crate using it
/// depends on serde_json, whose map that field is.
#[macro_export]
macro_rules! account_input {
    (
        $(#[$($meta:tt)*])*
        $vis:vis struct $name:ident;
        attributes { $(#[$($attributes_meta:tt)*])* }
    ) => {
        $(#[$($meta)*])*
        $vis struct $name {
            /// Default: the id.
            pub name: Option<String>,
            /// Default: empty.
            pub description: Option<String>,
            /// Default: true.
            pub active: Option<bool>,
            /// Role names of the catalogue; default none.
            pub roles: Option<Vec<String>>,
            /// Permission names of the catalogue; default none.
            pub permissions: Option<Vec<String>>,
            /// Group names of the catalogue; default none.
            pub groups: Option<Vec<String>>,
            /// Free-form claims copied into the token; default `{}`.
            $(#[$($attributes_meta)*])*
            pub attributes: Option<::serde_json::Map<String, ::serde_json::Value>>,
        }
    };
}

account_input! {
    /// A service account as an operator writes it (the fields of
    /// docs/reference/seed-files.md#service-accounts but the id and the
    /// client): `None` takes the default. The account is replaced, not
    /// patched.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct AccountInput;
    attributes {}
}

impl AccountInput {
    /// The account with id `id`: defaults filled in, each name listed once
    /// (in the order given). A name or description must not hold control
    /// characters, which could split a log line or a terminal's output.
    pub fn into_account(self, id: &ServiceAccountId) -> Result<ServiceAccount, AdminError> {
        for (field, text) in [("name", &self.name), ("description", &self.description)] {
            if text
                .as_deref()
                .is_some_and(|s| s.chars().any(char::is_control))
            {
                return Err(AdminError::invalid(
                    field,
                    "must not contain control characters",
                ));
            }
        }
        let defaults = ServiceAccount::new(id.as_str());
        Ok(ServiceAccount {
            id: defaults.id,
            name: self.name.unwrap_or(defaults.name),
            description: self.description.unwrap_or(defaults.description),
            active: self.active.unwrap_or(defaults.active),
            roles: dedup(self.roles.unwrap_or_default()),
            permissions: dedup(self.permissions.unwrap_or_default()),
            groups: dedup(self.groups.unwrap_or_default()),
            attributes: self.attributes.unwrap_or(defaults.attributes),
        })
    }
}

/// Names in the order given, each once.
fn dedup(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Names the catalogue does not know, every one, under the field of the
/// first.
fn unresolved_error(errors: &[CatalogueError]) -> AdminError {
    let field = match errors.first() {
        Some(CatalogueError::UnknownRole(_)) => "roles",
        Some(CatalogueError::UnknownPermission(_)) => "permissions",
        _ => "groups",
    };
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    AdminError::invalid(
        field,
        format!("not in the catalogue: {}", listed.join(", ")),
    )
}

impl Admin {
    async fn find_account(&self, id: &str) -> Result<LinkedServiceAccount, AdminError> {
        let id = id.to_owned();
        self.blocking(move |a| a.repos.accounts.find(&id).map_err(AdminError::from_store))
            .await?
            .ok_or_else(unknown_account)
    }

    /// Every service account with its clients, sorted by id (`users.read`).
    pub async fn list_accounts(
        &self,
        caller: &Caller,
    ) -> Result<Vec<LinkedServiceAccount>, AdminError> {
        caller.require(perms::USERS_READ)?;
        let mut accounts = self
            .blocking(|a| a.repos.accounts.list().map_err(AdminError::from_store))
            .await?;
        accounts.sort_by(|a, b| a.account.id.cmp(&b.account.id));
        Ok(accounts)
    }

    /// One service account with its clients (`users.read`).
    pub async fn account(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<LinkedServiceAccount, AdminError> {
        caller.require(perms::USERS_READ)?;
        self.find_account(id).await
    }

    /// Creates or replaces a service account, keeping its client links
    /// (`users.write`). Answers whether it was created, and the account as
    /// stored.
    pub async fn put_account(
        &self,
        caller: &Caller,
        id: &ServiceAccountId,
        input: AccountInput,
    ) -> Result<(bool, LinkedServiceAccount), AdminError> {
        caller.require(perms::USERS_WRITE)?;
        let account = input.into_account(id)?;
        let who = caller.clone();
        let result = self
            .blocking(move |a| {
                let catalogue = a.repos.catalogue.load().map_err(AdminError::from_store)?;
                let unresolved = catalogue.unresolved(&account);
                if !unresolved.is_empty() {
                    return Err(unresolved_error(&unresolved));
                }
                let before = a
                    .repos
                    .accounts
                    .find_account(&account.id)
                    .map_err(AdminError::from_store)?;
                let mut affected = vec![&account];
                affected.extend(before.as_ref());
                a.no_escalation(&who, &affected)?;
                let created = a
                    .repos
                    .accounts
                    .upsert(&account, &|created| {
                        Self::change_event(
                            &who,
                            put_action(created),
                            "service_account",
                            &account.id,
                        )
                    })
                    .map_err(AdminError::from_store)?;
                let stored = a
                    .repos
                    .accounts
                    .find(&account.id)
                    .map_err(AdminError::from_store)?;
                stored.map(|s| (created, s)).ok_or_else(unknown_account)
            })
            .await;
        let action = put_action(matches!(result, Ok((true, _))));
        self.audited(caller, action, "service_account", id.as_str(), result)
            .await
    }

    /// Deletes a service account and unlinks its clients (`users.write`).
    pub async fn delete_account(&self, caller: &Caller, id: &str) -> Result<(), AdminError> {
        caller.require(perms::USERS_WRITE)?;
        let existing = self.find_account(id).await?;
        let who = caller.clone();
        let target = id.to_owned();
        let result = self
            .blocking(move |a| {
                a.no_escalation(&who, &[&existing.account])?;
                let event =
                    Self::change_event(&who, "service_account.delete", "service_account", &target);
                a.repos
                    .accounts
                    .delete(&target, &event)
                    .map_err(|e| match e {
                        StoreError::NotFound => unknown_account(),
                        other => AdminError::from_store(other),
                    })
            })
            .await;
        self.audited(
            caller,
            "service_account.delete",
            "service_account",
            id,
            result,
        )
        .await
    }

    /// Links a confidential client to the account (`users.write`); linking
    /// it again to the same account changes nothing.
    pub async fn link(
        &self,
        caller: &Caller,
        account_id: &str,
        client: &str,
    ) -> Result<(), AdminError> {
        self.change_link(caller, account_id, client, Link::Add)
            .await
    }

    /// Unlinks a client from the account (`users.write`).
    pub async fn unlink(
        &self,
        caller: &Caller,
        account_id: &str,
        client: &str,
    ) -> Result<(), AdminError> {
        self.change_link(caller, account_id, client, Link::Remove)
            .await
    }

    /// Applies the rule against escalation to the account, then links or
    /// unlinks the client (the store commits the audit event with it), and
    /// audits the outcome on the client. The rule applies both ways: the
    /// client will carry the account's permissions in its tokens, and
    /// taking them away from the client's holder is a change to who has
    /// them, as much as granting them.
    async fn change_link(
        &self,
        caller: &Caller,
        account_id: &str,
        client: &str,
        link: Link,
    ) -> Result<(), AdminError> {
        caller.require(perms::USERS_WRITE)?;
        let linked = self.find_account(account_id).await?;
        let client = client_id(client)?;
        if let Link::Add = link {
            self.find_confidential(&client, "cannot be linked to a service account")
                .await?;
        }
        let action = match link {
            Link::Add => "service_account.link",
            Link::Remove => "service_account.unlink",
        };
        let who = caller.clone();
        let target = client.clone();
        let result = self
            .blocking(move |a| {
                a.no_escalation(&who, &[&linked.account])?;
                let event = Self::change_event(&who, action, "client", target.as_str());
                let accounts = &a.repos.accounts;
                let account = linked.account.id.as_str();
                match link {
                    Link::Add => accounts.link(account, &target, &event),
                    Link::Remove => accounts.unlink(account, &target, &event),
                }
                .map_err(|e| match (e, link) {
                    (StoreError::NotFound, Link::Add) => AdminError::NotFound(
                        "the service account or the client no longer exists".into(),
                    ),
                    (StoreError::NotFound, Link::Remove) => AdminError::NotFound(
                        "the client is not linked to this service account".into(),
                    ),
                    (StoreError::LinkConflict { account_id, .. }, Link::Add) => {
                        AdminError::Conflict(format!(
                            "the client is linked to another service account ({account_id:?}); \
                             unlink it there first"
                        ))
                    }
                    (other, _) => AdminError::from_store(other),
                })
            })
            .await;
        self.audited(caller, action, "client", client.as_str(), result)
            .await
    }
}

#[derive(Debug, Clone, Copy)]
enum Link {
    Add,
    Remove,
}

fn put_action(created: bool) -> &'static str {
    if created {
        "service_account.create"
    } else {
        "service_account.update"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ServiceAccountId {
        ServiceAccountId::parse(s).unwrap()
    }

    #[test]
    fn an_empty_input_is_the_seed_files_defaults() {
        let a = AccountInput::default().into_account(&id("svc-x")).unwrap();
        assert_eq!(a, ServiceAccount::new("svc-x"));
        let a = AccountInput {
            active: Some(false),
            roles: Some(vec!["USER".into(), "USER".into()]),
            ..AccountInput::default()
        }
        .into_account(&id("s"))
        .unwrap();
        assert_eq!(a.name, "s");
        assert!(!a.active);
        assert_eq!(a.roles, vec!["USER"]);
    }

    #[test]
    fn names_and_descriptions_refuse_control_characters() {
        let e = AccountInput {
            description: Some("line\nbreak".into()),
            ..AccountInput::default()
        }
        .into_account(&id("s"))
        .unwrap_err();
        assert!(matches!(e, AdminError::Invalid { ref field, .. } if field == "description"));
    }

    #[test]
    fn unresolved_names_are_all_listed() {
        let e = unresolved_error(&[
            CatalogueError::UnknownRole("NOPE".into()),
            CatalogueError::UnknownGroup("g".into()),
        ]);
        let AdminError::Invalid { field, message } = e else {
            panic!("{e:?}")
        };
        assert_eq!(field, "roles");
        assert!(message.contains("NOPE") && message.contains("\"g\""));
    }
}
