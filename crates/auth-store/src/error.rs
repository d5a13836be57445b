//! Error policy: every diesel, r2d2 and migration error becomes an
//! [`auth_domain::StoreError`] here, so no database type leaves the crate.
//! Callers branch on the variants (`Duplicate` → 409, `Unavailable` → 503),
//! so the mapping is by kind, never by message, except for SQLite's "locked"
//! errors, which diesel reports with no kind of their own. Messages carry
//! the database's own words, which name tables and constraints but never
//! bound values, so no secret or hash reaches them.

use auth_domain::StoreError;
use diesel::result::{DatabaseErrorKind, Error};

pub(crate) fn from_diesel(e: Error) -> StoreError {
    match e {
        Error::NotFound => StoreError::NotFound,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Duplicate,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            info,
        ) => StoreError::Unavailable(info.message().to_owned()),
        // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: the database
        // is there but cannot serve this request now.
        Error::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("database is locked")
                || info.message().contains("database table is locked") =>
        {
            StoreError::Unavailable(info.message().to_owned())
        }
        other => StoreError::Other(other.to_string()),
    }
}

/// `.store()?` converts a diesel result at the point of use.
pub(crate) trait DbResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for diesel::QueryResult<T> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(from_diesel)
    }
}

/// Stored data that no longer parses (edited by hand, or written by a newer
/// version). Names the row and column, never the value.
pub(crate) fn corrupt(what: &str, id: &str, column: &str) -> StoreError {
    StoreError::Other(format!("stored {what} {id:?} has an invalid {column}"))
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("JSON encoding: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    id: &str,
    column: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what, id, column))
}
