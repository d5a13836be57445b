//! The pool, migrations and the transaction discipline every repository
//! uses.

use std::time::Duration;

use auth_domain::{Health, StoreError};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{Pool, PooledConnection};
use diesel::sql_types::BigInt;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::conn::{
    parse_url, DbConn, Manager, PoolConn, SqlitePragmas, Target, TracingErrorHandler,
};
use crate::error::DbResultExt;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// PostgreSQL advisory-lock names. Each is one critical section shared by
/// every replica on the database.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock {
    Migrations,
    Bootstrap,
    SigningKeys,
}

impl Lock {
    /// The lock's key: distinct per section, and prefixed with "auth" in
    /// ASCII so it is unlikely to meet another application's keys.
    fn key(self) -> i64 {
        const PREFIX: i64 = 0x6175_7468_0000;
        PREFIX
            + match self {
                Lock::Migrations => 1,
                Lock::Bootstrap => 2,
                Lock::SigningKeys => 3,
            }
    }
}

/// Where and how to connect (docs/reference/configuration.md: `APP_DATABASE_URL`,
/// `APP_DATABASE_POOL_SIZE`, `APP_DATABASE_POOL_TIMEOUT`).
#[derive(Clone)]
pub struct StoreConfig {
    pub url: String,
    pub pool_size: u32,
    /// The longest a caller waits for a connection before `Unavailable`.
    pub pool_timeout: Duration,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a PostgreSQL password.
        f.debug_struct("StoreConfig")
            .field("url", &"[REDACTED]")
            .field("pool_size", &self.pool_size)
            .field("pool_timeout", &self.pool_timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database behind every port. Cloning is cheap: clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.pool.state();
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("connections", &state.connections)
            .field("idle_connections", &state.idle_connections)
            .finish()
    }
}

/// Checks a database URL as [`Store::open`] would, without any I/O (for
/// `auth-server check`). The message names the scheme at fault, never the
/// whole URL.
pub fn validate_database_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

impl Store {
    /// Builds the pool. Connections are made on demand, so this succeeds
    /// while PostgreSQL is down (the first query then answers
    /// `Unavailable`, and the pool recovers when the database is back); it
    /// fails only for a URL or pool setting that can never work.
    pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        let target = parse_url(&cfg.url).map_err(StoreError::Other)?;
        if cfg.pool_size == 0 {
            return Err(StoreError::Other(
                "the database pool size must be at least 1".to_owned(),
            ));
        }
        if cfg.pool_timeout.is_zero() {
            return Err(StoreError::Other(
                "the database pool timeout must be longer than zero".to_owned(),
            ));
        }
        let backend = match target {
            Target::Postgres(_) => Backend::Postgres,
            Target::SqliteFile(_) | Target::SqliteMemory => Backend::Sqlite,
        };
        let memory = target == Target::SqliteMemory;
        let builder = Pool::builder()
            .connection_timeout(cfg.pool_timeout)
            .error_handler(Box::new(TracingErrorHandler))
            .connection_customizer(Box::new(SqlitePragmas { wal: !memory }));
        let builder = if memory {
            // Each in-memory connection is a database of its own: exactly
            // one connection, made once and never recycled.
            builder
                .max_size(1)
                .min_idle(Some(1))
                .idle_timeout(None)
                .max_lifetime(None)
                .test_on_check_out(false)
        } else {
            builder.max_size(cfg.pool_size).min_idle(Some(0))
        };
        let pool = builder.build_unchecked(Manager::new(target));
        Ok(Store { pool, backend })
    }

    /// (open connections, idle connections), for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the embedded migrations of this backend. On PostgreSQL it
    /// holds an advisory lock meanwhile, so replicas starting together
    /// migrate one after the other; on SQLite one IMMEDIATE transaction does
    /// the same for processes sharing the file.
    pub fn migrate(&self) -> Result<(), StoreError> {
        let mut pooled = self.conn()?;
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::Other(format!("migration failed: {e}"))
        };
        match &mut pooled.conn {
            DbConn::Postgres(c) => {
                diesel::sql_query("SELECT pg_advisory_lock($1)")
                    .bind::<BigInt, _>(Lock::Migrations.key())
                    .execute(c)
                    .store()?;
                let migrated = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(drop)
                    .map_err(failed);
                let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                    .bind::<BigInt, _>(Lock::Migrations.key())
                    .execute(c)
                    .store();
                migrated.and(unlocked.map(drop))
            }
            DbConn::Sqlite(c) => c
                .immediate_transaction(|c| c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop))
                .map_err(failed),
        }
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pooled = self.conn()?;
        let result = f(&mut pooled.conn);
        note_broken(&mut pooled, &result);
        result
    }

    /// Runs several reads against one snapshot (PostgreSQL `REPEATABLE
    /// READ`; a SQLite read transaction), so that rows another replica
    /// commits together are seen together or not at all.
    pub(crate) fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pooled = self.conn()?;
        let result = snapshot(&mut pooled.conn, f);
        note_broken(&mut pooled, &result);
        result
    }

    /// Runs `f` in a write transaction, committed iff `f` succeeds.
    ///
    /// On SQLite the transaction starts with `BEGIN IMMEDIATE`: it takes
    /// the write lock up front (waiting up to the busy timeout), so
    /// concurrent writers queue instead of failing with "database is
    /// locked" when a read lock cannot be upgraded. That lock is
    /// database-wide, so it also serves as `lock`. On PostgreSQL, `lock`
    /// names an advisory lock held until the transaction ends, which
    /// serialises that critical section across replicas.
    pub(crate) fn write<T>(
        &self,
        lock: Option<Lock>,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut pooled = self.conn()?;
        let result = transaction(&mut pooled.conn, lock, f);
        note_broken(&mut pooled, &result);
        result
    }
}

/// A connection that answered `Unavailable` (PostgreSQL closed it, SQLite
/// stayed locked past the busy timeout) is not given to the next caller:
/// with the checkout check skipped for recently used connections, this is
/// what keeps a dead PostgreSQL connection from failing request after
/// request once the database is back.
fn note_broken<T>(pooled: &mut PoolConn, result: &Result<T, StoreError>) {
    if matches!(result, Err(StoreError::Unavailable(_))) {
        pooled.broken = true;
    }
}

fn snapshot<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    type Tm = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN").store()?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .store()?,
    }
    let result = f(conn);
    match result {
        Ok(value) => {
            Tm::commit_transaction(conn).store()?;
            Ok(value)
        }
        Err(e) => {
            let _ = Tm::rollback_transaction(conn);
            Err(e)
        }
    }
}

fn transaction<T>(
    conn: &mut DbConn,
    lock: Option<Lock>,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    type Tm = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").store()?
        }
        DbConn::Postgres(_) => Tm::begin_transaction(conn).store()?,
    }
    let result = (|| {
        if let (Some(lock), DbConn::Postgres(c)) = (lock, &mut *conn) {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(lock.key())
                .execute(c)
                .store()?;
        }
        f(conn)
    })();
    match result {
        Ok(value) => {
            Tm::commit_transaction(conn).store()?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = Tm::rollback_transaction(conn) {
                // The pool drops a connection whose transaction is
                // still open, so this is logged, not returned: the
                // caller is better served by the first error.
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

impl Health for Store {
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.batch_execute("SELECT 1").store())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_store_config_never_shows_the_database_password() {
        for url in [
            "postgres://auth:Pw-store-1a2b@127.0.0.1/auth",
            "postgres://auth@127.0.0.1/auth?password=Pw-store-1a2b",
        ] {
            let cfg = StoreConfig {
                url: url.into(),
                pool_size: 1,
                pool_timeout: Duration::from_secs(1),
            };
            let shown = format!("{cfg:?}");
            assert!(!shown.contains("Pw-store-1a2b"), "{shown}");
        }
    }
}
