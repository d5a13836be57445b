//! Connections: the one diesel connection type over both backends, the
//! database URL rules of docs/reference/configuration.md, and the r2d2 manager that chooses the
//! backend by scheme.
//!
//! diesel's derived `MultiConnection::establish` tries each backend in turn
//! and drops their errors, so a PostgreSQL URL with a wrong port reports
//! only "invalid connection url" and a bare word silently becomes a SQLite
//! file. The manager here parses the URL once, up front, and keeps the
//! backend's own error.

use std::time::{Duration, Instant};

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, HandleError, ManageConnection};

/// How long a SQLite connection waits for another writer's lock before
/// giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

/// A connection handed back less than this long ago is given out again
/// without a `SELECT 1` first (HikariCP's `aliveBypassWindowMs`, 500 ms).
/// Under load every checkout is within the window, so the check, a
/// PostgreSQL round trip, is not paid per request; a connection that died
/// within the window fails its query, is marked broken and is dropped
/// (see [`PoolConn::broken`]).
pub(crate) const VALIDATION_BYPASS: Duration = Duration::from_millis(500);

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// A parsed `APP_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file, by path (relative to the working directory unless it
    /// starts with `/`).
    SqliteFile(String),
    /// A private in-memory SQLite database per connection.
    SqliteMemory,
    /// A libpq connection URL, passed on as given.
    Postgres(String),
}

const EXPECTED: &str = "expected sqlite://PATH, sqlite::memory:, postgres://… or postgresql://…";

/// Parses a database URL without touching the file system or the network.
/// Error messages never repeat the URL: a PostgreSQL URL may hold a password.
pub(crate) fn parse_url(url: &str) -> Result<Target, String> {
    if url == "sqlite::memory:" {
        return Ok(Target::SqliteMemory);
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(format!(
                "the sqlite:// database URL has no path ({EXPECTED})"
            ));
        }
        if path == ":memory:" {
            return Ok(Target::SqliteMemory);
        }
        // sqlx-style options (`?mode=rwc`) would silently become part of
        // the file name.
        if path.contains(['?', '#']) {
            return Err(
                "the sqlite:// database URL has a query or fragment; options are not supported"
                    .to_owned(),
            );
        }
        return Ok(Target::SqliteFile(path.to_owned()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    match scheme(url) {
        Some("sqlite") => Err(format!(
            "unsupported form of sqlite database URL ({EXPECTED})"
        )),
        Some(s) => Err(format!(
            "unsupported database URL scheme {s:?} ({EXPECTED})"
        )),
        None => Err(format!("the database URL has no scheme ({EXPECTED})")),
    }
}

/// RFC 3986's `scheme` of a URL, if it has one.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Why a pooled connection could not be made or kept; r2d2 passes its
/// message on in its timeout error, so the caller sees the real cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// Already redacted: libpq may quote part of the URL, password included.
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

/// A pooled connection and what the pool needs to know about it.
pub(crate) struct PoolConn {
    pub(crate) conn: DbConn,
    /// When it was last handed back to the pool (or made).
    returned: Instant,
    /// A query on it failed in a way that means the connection is gone or
    /// unusable (PostgreSQL closed it, SQLite stayed locked): the pool drops
    /// it on return instead of giving it to the next caller.
    pub(crate) broken: bool,
}

#[derive(Debug)]
pub(crate) struct Manager {
    target: Target,
}

impl Manager {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }
}

impl ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = ConnError;

    fn connect(&self) -> Result<PoolConn, ConnError> {
        let failed = |e: diesel::ConnectionError| ConnError::Connect(e.to_string());
        let conn = match &self.target {
            Target::SqliteFile(path) => {
                create_private(path);
                DbConn::Sqlite(SqliteConnection::establish(path).map_err(failed)?)
            }
            Target::SqliteMemory => {
                DbConn::Sqlite(SqliteConnection::establish(":memory:").map_err(failed)?)
            }
            Target::Postgres(url) => {
                DbConn::Postgres(PgConnection::establish(url).map_err(|e| {
                    ConnError::Connect(crate::dburl::redact_password(&e.to_string(), url))
                })?)
            }
        };
        Ok(PoolConn {
            conn,
            returned: Instant::now(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), ConnError> {
        if conn.returned.elapsed() < VALIDATION_BYPASS {
            return Ok(());
        }
        Ok(conn.conn.batch_execute("SELECT 1")?)
    }

    /// Called by r2d2 each time a connection is handed back.
    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        conn.returned = Instant::now();
        // The one in-memory connection is the database: never dropped.
        (conn.broken && self.target != Target::SqliteMemory)
            // A connection left inside a transaction (a panic mid-way) must
            // not be handed to the next caller.
            || <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(
                &mut conn.conn,
            )
    }
}

/// Creates a SQLite database file that does not exist yet, empty and
/// readable by its owner only (0600, whatever the umask), before SQLite
/// opens it: it will hold secret hashes and, without
/// `APP_KEYS_ENCRYPTION_SECRET`, private signing keys. SQLite gives the
/// `-wal` and `-shm` files it creates the main file's permissions. An
/// existing file keeps the permissions its owner gave it (a warning names
/// a file others can read); a file that cannot be created here is left to
/// SQLite, which reports why it cannot open it.
fn create_private(path: &str) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        // The umask can only take bits away from 0600, but set it anyway
        // so that the file's mode never depends on the environment.
        Ok(file) => {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let open_to_others = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o077 != 0)
                .unwrap_or(false);
            if open_to_others {
                warn_once_readable(path);
            }
        }
        Err(_) => {}
    }
}

/// Warns, once per process, that the database file is open to other users.
fn warn_once_readable(path: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            path = %path.escape_debug(),
            "the SQLite database file can be read or written by other users; chmod 600 it (and its -wal and -shm files)"
        );
    });
}

/// Per-connection SQLite settings: foreign keys (off by default in SQLite,
/// and the `ON DELETE SET NULL` of service-account links relies on them),
/// waiting for locks instead of failing, and WAL so readers never block
/// the writer.
#[derive(Debug)]
pub(crate) struct SqlitePragmas {
    /// WAL needs a file; an in-memory database keeps its own journal.
    pub(crate) wal: bool,
}

impl CustomizeConnection<PoolConn, ConnError> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut PoolConn) -> Result<(), ConnError> {
        if let DbConn::Sqlite(c) = &mut conn.conn {
            // busy_timeout first: switching to WAL takes a lock that another
            // connection opening at the same moment may hold.
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                 PRAGMA foreign_keys = ON; \
                 PRAGMA synchronous = NORMAL;"
            ))?;
            if self.wal {
                c.batch_execute("PRAGMA journal_mode = WAL;")?;
            }
        }
        Ok(())
    }
}

/// Logs failed connection attempts through `tracing` (r2d2's default goes
/// to the `log` crate, which this server does not wire up).
#[derive(Debug)]
pub(crate) struct TracingErrorHandler;

impl HandleError<ConnError> for TracingErrorHandler {
    fn handle_error(&self, error: ConnError) {
        tracing::warn!(%error, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_relative_or_absolute_path_or_memory() {
        assert_eq!(
            parse_url("sqlite://auth-server.db"),
            Ok(Target::SqliteFile("auth-server.db".into()))
        );
        assert_eq!(
            parse_url("sqlite:///var/lib/auth/auth.db"),
            Ok(Target::SqliteFile("/var/lib/auth/auth.db".into()))
        );
        assert_eq!(parse_url("sqlite::memory:"), Ok(Target::SqliteMemory));
        assert_eq!(parse_url("sqlite://:memory:"), Ok(Target::SqliteMemory));
    }

    #[test]
    fn postgres_urls_are_passed_on_unchanged() {
        for url in [
            "postgres://u:p@db:5432/auth",
            "postgresql://u@db/auth?sslmode=require",
        ] {
            assert_eq!(parse_url(url), Ok(Target::Postgres(url.into())));
        }
    }

    #[test]
    fn unknown_schemes_are_named_and_the_url_is_not_repeated() {
        let err = parse_url("mysql://root:hunter2@db/auth").unwrap_err();
        assert!(err.contains("\"mysql\""), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_url("auth.db").unwrap_err();
        assert!(err.contains("no scheme"), "{err}");
        let err = parse_url("sqlite:auth.db").unwrap_err();
        assert!(err.contains("unsupported form"), "{err}");
        assert!(parse_url("sqlite://").is_err());
        assert!(parse_url("sqlite://auth.db?mode=rwc").is_err());
        assert!(parse_url("").is_err());
    }
}
