//! Seed errors. Each names what an operator must fix: the file, the line
//! where one is known, the entry (client or service account) and the field.
//! Messages are built only from file contents, variable names and lengths
//! rules; the value of a secret never reaches one.

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::locate::{self, Seg};

/// One problem in the seed files. `file` is empty only for a failure that
/// is not in a file (the database could not be read or written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// `client "my-service"`, `service account "svc-x"`, `role "R"`, …
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl SeedError {
    pub(crate) fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            entry: None,
            field: None,
            message: message.into(),
        }
    }

    /// A failure of the database rather than of a file.
    pub(crate) fn store(message: impl Into<String>) -> Self {
        Self::in_file(Path::new(""), message)
    }

    /// Turns a serde_norway error into a syntax error naming the file and
    /// line. When the error's path points into a known entry, the entry and
    /// the field are named too, so the message reads like a semantic one.
    pub(crate) fn syntax(file: &Path, source: &str, err: &serde_norway::Error) -> Self {
        let line = err.location().map(|l| l.line());
        let mut text = err.to_string();
        if let Some(loc) = err.location() {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = text.strip_suffix(&suffix) {
                text = stripped.to_owned();
            }
        }
        let mut out = Self {
            line,
            ..Self::in_file(file, text.clone())
        };
        if let Some((path, rest)) = locate::split_error_path(&text) {
            if let Some((entry, field)) = locate::entry_of(source, &path) {
                out.entry = Some(entry);
                out.field = field;
                out.message = rest.to_owned();
            }
        }
        out
    }
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.as_os_str().is_empty() {
            write!(f, "{}", self.file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(entry) = &self.entry {
            write_one_line(f, entry)?;
            f.write_str(": ")?;
        }
        if let Some(field) = &self.field {
            f.write_str("field `")?;
            write_one_line(f, field)?;
            f.write_str("`: ")?;
        }
        write_one_line(f, &self.message)
    }
}

/// Writes `text` with its control characters escaped. Messages quote the
/// file (a YAML key may span lines), and one error must stay one line: the
/// startup output lists one problem per line, and a raw newline in a log
/// line would let a seed file forge log entries.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_fmt(format_args!("{c}"))?;
        }
    }
    Ok(())
}

impl std::error::Error for SeedError {}

/// Every problem found, in file order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedErrors(pub Vec<SeedError>);

impl SeedErrors {
    pub fn iter(&self) -> impl Iterator<Item = &SeedError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<SeedError> for SeedErrors {
    fn from(e: SeedError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for SeedErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SeedErrors {}

/// How many bytes of re-reading one file may cost to locate lines. Each
/// located error re-reads the whole file, so a large file with many faulty
/// entries would take quadratic time; past this budget errors still name
/// the file, entry and field, only without a line.
const LOCATE_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// Builds semantic errors for one file, finding lines on demand: locating
/// re-reads the file, which only happens for entries that are at fault.
pub(crate) struct FileErrors<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    pub errors: Vec<SeedError>,
    budget: Cell<usize>,
}

impl<'a> FileErrors<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Self {
        Self::with_budget(file, source, LOCATE_BUDGET_BYTES)
    }

    pub fn with_budget(file: &'a Path, source: &'a str, budget: usize) -> Self {
        Self {
            file,
            source,
            errors: Vec::new(),
            budget: Cell::new(budget),
        }
    }

    /// The line of the node at `path`, while the budget lasts.
    pub fn line(&self, path: &[Seg<'_>]) -> Option<usize> {
        let cost = self.source.len().max(1);
        let left = self.budget.get().checked_sub(cost)?;
        self.budget.set(left);
        locate::line_of(self.source, path)
    }

    /// The line of the deepest node along `path` that exists: a field left
    /// to its default has no line, so its entry's line stands in for it.
    pub fn deepest_line(&self, path: &[Seg<'_>]) -> Option<usize> {
        (1..=path.len()).rev().find_map(|n| self.line(&path[..n]))
    }

    /// Records a problem of `entry` at `path` (the entry's path plus, when
    /// the field is present in the file, the field's).
    pub fn push(&mut self, entry: &str, field: Option<&str>, path: &[Seg<'_>], message: String) {
        let e = self.error(entry, field, path, message);
        self.errors.push(e);
    }

    pub fn error(
        &self,
        entry: &str,
        field: Option<&str>,
        path: &[Seg<'_>],
        message: String,
    ) -> SeedError {
        SeedError {
            file: self.file.to_path_buf(),
            line: self.deepest_line(path),
            entry: Some(entry.to_owned()),
            field: field.map(str::to_owned),
            message,
        }
    }
}

/// Reads the whole document once before typed parsing: serde_norway hands
/// the events that precede a YAML syntax error to the typed deserializer,
/// which may then report a confusing type error on the truncated document
/// instead of the syntax error and its line.
pub(crate) fn check_yaml(file: &Path, source: &str) -> Result<(), SeedError> {
    serde_norway::from_str::<serde::de::IgnoredAny>(source)
        .map(|_| ())
        .map_err(|e| SeedError::syntax(file, source, &e))
}

pub(crate) fn client_entry(id: &str) -> String {
    format!("client {id:?}")
}

pub(crate) fn account_entry(id: &str) -> String {
    format!("service account {id:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "clients:\n  confidential:\n    - client_id: a\n      scope: x\n";

    #[test]
    fn a_key_spanning_lines_is_quoted_on_one_line() {
        // Found by the seed_service_accounts fuzz target: a multi-line plain
        // key came back inside the "unknown field" message.
        let text = "?\n\n at line 25;[!A\n\n at\tas";
        let errors = crate::parse_service_accounts_str(Path::new("service-accounts.yaml"), text)
            .unwrap_err();
        let shown = errors.to_string();
        assert_eq!(shown.lines().count(), errors.len(), "{shown}");
        assert!(
            shown.contains("unknown field `at line 25;[!A\\nat\\tas`"),
            "{shown}"
        );
    }

    #[test]
    fn an_absent_field_falls_back_to_its_entry_line() {
        let fe = FileErrors::new(Path::new("c.yaml"), DOC);
        let entry = [Seg::Key("clients"), Seg::Key("confidential"), Seg::Index(0)];
        assert_eq!(
            fe.deepest_line(&[&entry[..], &[Seg::Key("scope")]].concat()),
            Some(4)
        );
        assert_eq!(
            fe.deepest_line(&[&entry[..], &[Seg::Key("missing")]].concat()),
            Some(3)
        );
    }

    #[test]
    fn lines_stop_being_located_when_the_budget_is_spent() {
        let fe = FileErrors::with_budget(Path::new("c.yaml"), DOC, 5 * DOC.len());
        let entry = [Seg::Key("clients"), Seg::Key("confidential"), Seg::Index(0)];
        let located = (0..10).map_while(|_| fe.line(&entry)).count();
        assert_eq!(located, 5);
        assert_eq!(fe.line(&entry), None);
    }
}
