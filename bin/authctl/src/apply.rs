//! `service-accounts apply -f FILE`: the seed file's shape, so that an
//! operator can move an entry between the seed file and a running server
//! unchanged. Accepted: a whole service-accounts seed document (only its
//! `serviceAccounts`; the catalogue cannot be changed through the admin
//! API), a list of entries, or one entry. Every entry is checked before
//! anything is sent.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// One account to PUT, and the client to link afterwards.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    pub client_id: Option<String>,
    /// The PUT body: the entry without `id` and `clientId`.
    pub body: Value,
}

const FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "active",
    "clientId",
    "roles",
    "permissions",
    "groups",
    "attributes",
];

pub fn parse(text: &str, file: &Path) -> Result<Vec<Entry>, CliError> {
    let bad = |msg: String| CliError::Usage(format!("{}: {msg}", file.display()));
    let doc: Value = serde_norway::from_str(text).map_err(|e| bad(e.to_string()))?;
    let items =
        match doc {
            Value::Array(items) => items,
            Value::Object(mut map) if map.contains_key("serviceAccounts") => {
                let catalogue: Vec<&str> = ["permissions", "roles", "groups"]
                    .into_iter()
                    .filter(|k| map.get(*k).is_some_and(|v| !is_empty(v)))
                    .collect();
                if !catalogue.is_empty() {
                    return Err(bad(format!(
                    "{} cannot be applied through the admin API (the catalogue changes only by \
                     seeding); remove {} from this file",
                    catalogue.join(", "),
                    if catalogue.len() == 1 { "it" } else { "them" }
                )));
                }
                if let Some(k) = map.keys().find(|k| {
                    !["serviceAccounts", "permissions", "roles", "groups"].contains(&k.as_str())
                }) {
                    return Err(bad(format!("unknown field `{k}`")));
                }
                match map.remove("serviceAccounts") {
                    Some(Value::Array(items)) => items,
                    Some(Value::Null) => Vec::new(),
                    _ => return Err(bad("`serviceAccounts` must be a list".into())),
                }
            }
            Value::Object(map) => vec![Value::Object(map)],
            _ => return Err(bad(
                "expected a service account, a list of them, or a document with `serviceAccounts`"
                    .into(),
            )),
        };
    if items.is_empty() {
        return Err(bad("no service account in the file".into()));
    }
    let mut entries = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut map) = item else {
            return Err(bad(format!("entry {} is not a mapping", i + 1)));
        };
        let id = match map.remove("id") {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => return Err(bad(format!("entry {}: `id` is required", i + 1))),
        };
        if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(bad(format!("service account {id}: unknown field `{k}`")));
        }
        if entries.iter().any(|e: &Entry| e.id == id) {
            return Err(bad(format!("service account {id} is listed twice")));
        }
        let client_id = match map.remove("clientId") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(c),
            Some(_) => {
                return Err(bad(format!(
                    "service account {id}: `clientId` must be a string"
                )))
            }
        };
        entries.push(Entry {
            id,
            client_id,
            body: Value::Object(map.into_iter().collect::<Map<_, _>>()),
        });
    }
    Ok(entries)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<Entry>, CliError> {
        parse(text, Path::new("accounts.yaml"))
    }

    #[test]
    fn a_seed_document_a_list_and_one_entry_are_accepted() {
        let seed = "serviceAccounts:\n  - id: svc-a\n    clientId: my-service\n    roles: [USER]\n    attributes: {team: x}\n";
        let e = p(seed).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "svc-a");
        assert_eq!(e[0].client_id.as_deref(), Some("my-service"));
        assert_eq!(
            e[0].body,
            serde_json::json!({"roles": ["USER"], "attributes": {"team": "x"}})
        );
        assert_eq!(p("- id: a\n- id: b\n").unwrap().len(), 2);
        assert_eq!(
            p("id: a\nactive: false\n").unwrap()[0].body["active"],
            false
        );
    }

    #[test]
    fn mistakes_are_named_before_anything_is_sent() {
        let msg = |t: &str| p(t).unwrap_err().to_string();
        assert!(msg("- id: a\n  role: [USER]\n").contains("unknown field `role`"));
        assert!(msg("- name: a\n").contains("`id` is required"));
        assert!(msg("- id: a\n- id: a\n").contains("listed twice"));
        assert!(msg("roles:\n  - name: R\nserviceAccounts:\n  - id: a\n")
            .contains("roles cannot be applied"));
        assert!(msg("serviceAccounts: []\n").contains("no service account"));
        assert!(msg(": : :\n").starts_with("accounts.yaml: "));
    }
}
