//! Fresh, migrated stores for tests (feature `test-support`), in the
//! crates.io manner: SQLite in a temporary directory, or a new PostgreSQL
//! database per call on the server that `TEST_DATABASE_URL` names, dropped
//! with its guard.
//!
//! These helpers panic instead of returning errors: a test that cannot get
//! its database must fail loudly, never pass by skipping.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::{Store, StoreConfig};

/// Keeps a test database alive; dropping it deletes the database.
pub struct TestGuard {
    inner: GuardInner,
}

enum GuardInner {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl std::fmt::Debug for TestGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            GuardInner::Sqlite(dir) => write!(f, "TestGuard(sqlite in {})", dir.path().display()),
            GuardInner::Postgres { name, .. } => write!(f, "TestGuard(postgres database {name})"),
        }
    }
}

impl Drop for TestGuard {
    fn drop(&mut self) {
        if let GuardInner::Postgres { admin_url, name } = &self.inner {
            // FORCE ends the store's pooled connections, which may well
            // outlive the guard.
            let dropped = PgConnection::establish(admin_url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .map_err(|e| e.to_string())
                });
            if let Err(error) = dropped {
                tracing::warn!(%error, database = %name, "could not drop a test database");
            }
        }
    }
}

impl TestGuard {
    /// Ends every server connection to this PostgreSQL database (as a
    /// database restart or a proxy timeout would), leaving the database in
    /// place. Does nothing for SQLite.
    pub fn terminate_connections(&self) {
        if let GuardInner::Postgres { admin_url, name } = &self.inner {
            let mut admin = PgConnection::establish(admin_url)
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL: {e}"));
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .unwrap_or_else(|e| panic!("cannot end the connections to {name}: {e}"));
        }
    }
}

/// A pool large enough for the concurrency tests (16 threads), with a
/// patient timeout for a busy 2-core machine.
pub fn config(url: String) -> StoreConfig {
    StoreConfig {
        url,
        pool_size: 16,
        pool_timeout: Duration::from_secs(30),
    }
}

/// A migrated SQLite store in a file of a fresh temporary directory.
pub fn sqlite_store() -> (Store, TestGuard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let store = open_migrated(&url);
    (
        store,
        TestGuard {
            inner: GuardInner::Sqlite(dir),
        },
    )
}

/// A migrated store on a new PostgreSQL database, or `None` when
/// `TEST_DATABASE_URL` is unset. Panics when it is set but the server
/// cannot be reached.
pub fn postgres_store() -> Option<(Store, TestGuard)> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    // The guard exists before the store, so a failed migration still drops
    // the database.
    let (url, guard) = new_postgres_database(admin_url);
    let store = open_migrated(&url);
    Some((store, guard))
}

/// The URL of a new, empty (unmigrated) PostgreSQL database, or `None` when
/// `TEST_DATABASE_URL` is unset; for tests that start whole servers, which
/// migrate by themselves. Panics when the server cannot be reached.
pub fn fresh_postgres_url() -> Option<(String, TestGuard)> {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(new_postgres_database(admin_url))
}

/// Creates a database of a unique name on the server of `admin_url`: its
/// URL, and the guard that drops it.
fn new_postgres_database(admin_url: String) -> (String, TestGuard) {
    let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
        panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
    });
    let name = unique_name();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let url = with_database(&admin_url, &name);
    let guard = TestGuard {
        inner: GuardInner::Postgres { admin_url, name },
    };
    (url, guard)
}

/// An audit event by the actor `test`, now, for the changes tests make
/// directly through the store.
pub fn test_event(action: &str, target_id: &str) -> auth_domain::NewAuditEvent {
    auth_domain::NewAuditEvent {
        at: auth_domain::now_ms(),
        actor: "test".into(),
        action: action.into(),
        target_type: "test".into(),
        target_id: target_id.into(),
        outcome: auth_domain::AuditOutcome::Success,
    }
}

/// Makes every insert into the audit log of the database at `url` fail
/// with a database error (a trigger, as a full disk or a revoked grant
/// would), or, with `fail` false, removes that trigger again. For tests
/// that a change is never committed without its audit event.
pub fn fail_audit_inserts(url: &str, fail: bool) {
    let sql = match (url.strip_prefix("sqlite://"), fail) {
        (Some(_), true) => {
            "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit log refused by a test'); END;"
        }
        (Some(_), false) => "DROP TRIGGER audit_refused;",
        (None, true) => {
            "CREATE FUNCTION audit_refused() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit log refused by a test'; END $$; \
             CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_refused();"
        }
        (None, false) => {
            "DROP TRIGGER audit_refused ON audit_events; DROP FUNCTION audit_refused();"
        }
    };
    let done = match url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
        None => PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(sql).map_err(|e| e.to_string())),
    };
    done.unwrap_or_else(|e| panic!("cannot change the audit trigger: {e}"));
}

impl TestGuard {
    /// The URL of this test database.
    pub fn url(&self) -> String {
        match &self.inner {
            GuardInner::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("auth.db").display())
            }
            GuardInner::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }
}

fn open_migrated(url: &str) -> Store {
    let store = Store::open(&config(url.to_owned()))
        .unwrap_or_else(|e| panic!("cannot open the test store: {e}"));
    store
        .migrate()
        .unwrap_or_else(|e| panic!("cannot migrate the test store: {e}"));
    store
}

/// Unique across the threads of a process and across processes sharing the
/// server (the process id), and across runs (the clock).
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL with its database name replaced (user, host and query kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs `sql` (one or more statements) on one of the store's connections:
/// for tests that plant rows no port writes, such as a client row from
/// before a migration or a signing key retired long ago.
pub fn execute_sql(store: &Store, sql: &str) {
    store
        .read(|conn| {
            match conn {
                crate::conn::DbConn::Sqlite(c) => c.batch_execute(sql),
                crate::conn::DbConn::Postgres(c) => c.batch_execute(sql),
            }
            .map_err(|e| auth_domain::StoreError::Other(e.to_string()))
        })
        .unwrap_or_else(|e| panic!("cannot run {sql:?}: {e}"));
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u@h:5/auth_test", "t_1"),
            "postgres://u@h:5/t_1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t_2"),
            "postgresql://u:p@h/t_2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "t_3"), "postgres://h:5/t_3");
    }
}
