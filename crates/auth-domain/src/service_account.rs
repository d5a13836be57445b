//! Service accounts: the identity whose roles, permissions and groups a
//! linked confidential client's tokens carry (see docs/reference/seed-files.md#the-service-accounts-file).

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccount {
    pub id: String,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    pub groups: Vec<String>,
    pub attributes: Map<String, Value>,
}

impl ServiceAccount {
    /// An account with the defaults of docs/reference/seed-files.md#service-accounts: `name` = `id`, empty
    /// description, active, no roles, permissions, groups or attributes.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            description: String::new(),
            active: true,
            roles: vec![],
            permissions: vec![],
            groups: vec![],
            attributes: Map::new(),
        }
    }
}
