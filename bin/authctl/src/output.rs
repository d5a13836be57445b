//! Printing results: a table (lists) or `key: value` lines (one object)
//! for people; the API's own JSON, or the same as YAML, for scripts, so a
//! script's field names are the API's and stay stable.

use std::io::Write;

use serde_json::Value;

use crate::cli::OutputFormat;
use crate::error::CliError;

/// The columns of a list: header and the API field it shows.
pub type Columns = &'static [(&'static str, &'static str)];

pub const CLIENTS: Columns = &[
    ("CLIENT ID", "clientId"),
    ("TYPE", "clientType"),
    ("METHOD", "clientAuthenticationMethod"),
    ("SCOPE", "scope"),
    ("TTL MIN", "accessTokenTtlMinutes"),
    ("SERVICE ACCOUNT", "serviceAccountId"),
    ("CREATED", "createdAt"),
];

pub const ACCOUNTS: Columns = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("ACTIVE", "active"),
    ("CLIENTS", "clientIds"),
    ("ROLES", "roles"),
    ("PERMISSIONS", "permissions"),
    ("GROUPS", "groups"),
];

pub const ROLES: Columns = &[
    ("NAME", "name"),
    ("PERMISSIONS", "permissions"),
    ("DESCRIPTION", "description"),
];

pub const NAMED: Columns = &[("NAME", "name"), ("DESCRIPTION", "description")];

pub const AUDIT: Columns = &[
    ("AT", "at"),
    ("ACTOR", "actor"),
    ("ACTION", "action"),
    ("TARGET TYPE", "targetType"),
    ("TARGET ID", "targetId"),
    ("OUTCOME", "outcome"),
];

pub const KEYS: Columns = &[
    ("KID", "kid"),
    ("KTY", "kty"),
    ("ALG", "alg"),
    ("CRV", "crv"),
    ("USE", "use"),
];

pub struct Printer<'a> {
    pub format: OutputFormat,
    pub out: &'a mut dyn Write,
}

impl Printer<'_> {
    /// A list: a table of `columns`, or the array itself as JSON/YAML.
    pub fn list(&mut self, value: &Value, columns: Columns) -> Result<(), CliError> {
        match self.format {
            OutputFormat::Table => {
                let rows: Vec<Vec<String>> = value
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|item| {
                                columns
                                    .iter()
                                    .map(|(_, field)| cell(item.get(*field)))
                                    .collect()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let headers: Vec<String> = columns.iter().map(|(h, _)| (*h).to_owned()).collect();
                let text = table(&headers, &rows);
                self.write(&text)
            }
            _ => self.structured(value),
        }
    }

    /// One object: `key: value` lines (nested objects as dotted keys), or
    /// the object itself as JSON/YAML.
    pub fn object(&mut self, value: &Value) -> Result<(), CliError> {
        match self.format {
            OutputFormat::Table => {
                let mut lines = Vec::new();
                flatten("", value, &mut lines);
                let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                let mut text = String::new();
                for (k, v) in lines {
                    text.push_str(&format!("{k:<width$}  {v}\n"));
                }
                self.write(&text)
            }
            _ => self.structured(value),
        }
    }

    /// A plain line for people (e.g. "deleted"); in JSON/YAML mode nothing
    /// is printed, so a script's output stays parseable.
    pub fn note(&mut self, text: &str) -> Result<(), CliError> {
        match self.format {
            OutputFormat::Table => self.write(&format!("{text}\n")),
            _ => Ok(()),
        }
    }

    /// One line printed whatever the format (a raw token for a script).
    pub fn write_line(&mut self, text: &str) -> Result<(), CliError> {
        self.write(&format!("{text}\n"))
    }

    fn structured(&mut self, value: &Value) -> Result<(), CliError> {
        let text = match self.format {
            OutputFormat::Yaml => serde_norway::to_string(value)
                .map_err(|e| CliError::Server(format!("cannot print as YAML: {e}")))?,
            _ => {
                serde_json::to_string_pretty(value)
                    .map_err(|e| CliError::Server(format!("cannot print as JSON: {e}")))?
                    + "\n"
            }
        };
        self.write(&text)
    }

    fn write(&mut self, text: &str) -> Result<(), CliError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| CliError::Usage(format!("cannot write the output: {e}")))
    }
}

/// A value as one table cell: arrays joined by commas, null as `-`, and
/// control characters replaced so that no value can move the terminal's
/// cursor or fake a row.
pub fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => "-".to_owned(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    };
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Object(_) => out.push((prefix.to_owned(), "{}".to_owned())),
        other => out.push((prefix.to_owned(), cell(Some(other)))),
    }
}

/// Left-aligned columns two spaces apart, a header row first.
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut text = line(headers);
    for row in rows {
        text.push_str(&line(row));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(format: OutputFormat, f: impl FnOnce(&mut Printer<'_>)) -> String {
        let mut buf = Vec::new();
        let mut p = Printer {
            format,
            out: &mut buf,
        };
        f(&mut p);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn lists_are_aligned_tables_with_joined_arrays() {
        let v = json!([
            {"id": "svc-a", "name": "A", "active": true, "clientIds": ["x", "y"], "roles": [], "permissions": ["p"], "groups": []},
            {"id": "svc-long-name", "name": "B", "active": false, "clientIds": [], "roles": ["USER"], "permissions": [], "groups": []}
        ]);
        let text = render(OutputFormat::Table, |p| p.list(&v, ACCOUNTS).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID             NAME  ACTIVE"));
        assert!(lines[1].starts_with("svc-a          A     true    x,y"));
        assert!(lines[2].contains("USER"));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(cell(Some(&json!("a\u{1b}[2Jb\nc"))), "a?[2Jb?c");
    }

    #[test]
    fn objects_flatten_to_dotted_keys() {
        let v = json!({"clientId": "c", "current": {"expired": false}, "previous": null});
        let text = render(OutputFormat::Table, |p| p.object(&v).unwrap());
        assert!(text.contains("current.expired  false"));
        assert!(text.contains("previous         -"));
    }

    #[test]
    fn json_and_yaml_keep_the_api_field_names() {
        let v = json!([{"clientId": "c", "serviceAccountId": null}]);
        let j = render(OutputFormat::Json, |p| p.list(&v, CLIENTS).unwrap());
        assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), v);
        let y = render(OutputFormat::Yaml, |p| p.list(&v, CLIENTS).unwrap());
        assert_eq!(serde_norway::from_str::<Value>(&y).unwrap(), v);
        assert_eq!(
            render(OutputFormat::Json, |p| p.note("deleted").unwrap()),
            ""
        );
    }
}
