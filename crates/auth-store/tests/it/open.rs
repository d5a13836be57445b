use std::path::Path;
use std::time::{Duration, Instant};

use auth_domain::{ClientRepository, Health, StoreError};
use auth_store::test_support::fresh_postgres_url;
use auth_store::{validate_database_url, Backend, Store, StoreConfig};

use crate::support::{cid, confidential, ev};

fn config(url: &str, pool_timeout: Duration) -> StoreConfig {
    StoreConfig {
        url: url.into(),
        pool_size: 16,
        pool_timeout,
    }
}

#[test]
fn sqlite_memory_is_one_database_behind_a_pool_of_one() {
    // Asking for 16 connections would give 16 separate empty databases.
    let store = Store::open(&config("sqlite::memory:", Duration::from_secs(5))).unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().unwrap();
    store.create(&confidential("svc"), &ev()).unwrap();
    let clone = store.clone();
    let found = std::thread::spawn(move || clone.find(&cid("svc")).unwrap())
        .join()
        .unwrap();
    assert!(found.is_some(), "every caller sees the one database");
    store.migrate().unwrap(); // already applied: nothing to do
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn unknown_schemes_are_refused_without_creating_a_file() {
    for (url, says) in [
        ("mysql://root@db/auth", "\"mysql\""),
        ("auth.db", "no scheme"),
        ("sqlite:auth.db", "sqlite"),
        ("file:auth.db", "\"file\""),
    ] {
        let err = validate_database_url(url).unwrap_err();
        assert!(err.contains(says), "{url}: {err}");
        match Store::open(&config(url, Duration::from_secs(1))) {
            Err(StoreError::Other(m)) => assert_eq!(m, err),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(!Path::new("auth.db").exists());
    for url in [
        "sqlite://auth-server.db",
        "sqlite:///var/lib/auth/auth.db",
        "sqlite::memory:",
        "postgres://u:p@db/auth",
        "postgresql://db/auth",
    ] {
        assert_eq!(validate_database_url(url), Ok(()), "{url}");
    }
    assert!(
        !Path::new("auth-server.db").exists(),
        "validation does no I/O"
    );
}

#[test]
fn impossible_pool_settings_are_refused() {
    let mut cfg = config("sqlite::memory:", Duration::from_secs(1));
    cfg.pool_size = 0;
    assert!(matches!(Store::open(&cfg), Err(StoreError::Other(m)) if m.contains("pool size")));
    let cfg = config("sqlite::memory:", Duration::ZERO);
    assert!(matches!(Store::open(&cfg), Err(StoreError::Other(m)) if m.contains("timeout")));
}

#[test]
fn postgres_down_opens_then_answers_unavailable_within_the_pool_timeout() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let timeout = Duration::from_millis(700);
    let store = Store::open(&config("postgres://postgres@127.0.0.1:1/auth", timeout))
        .expect("opening must not need the database");
    assert_eq!(store.backend(), Backend::Postgres);
    for attempt in [
        store.ping(),
        store.migrate(),
        store.find(&cid("svc")).map(drop),
    ] {
        match attempt {
            Err(StoreError::Unavailable(m)) => {
                assert!(m.contains("port 1"), "the real cause is kept: {m}")
            }
            other => panic!("{other:?}"),
        }
    }
    let started = Instant::now();
    assert!(matches!(store.ping(), Err(StoreError::Unavailable(_))));
    let waited = started.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(50) && waited < timeout * 4,
        "{waited:?}"
    );
}

#[test]
fn an_unopenable_sqlite_file_reports_sqlite_s_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing-dir/auth.db", dir.path().display());
    let store = Store::open(&config(&url, Duration::from_millis(300))).unwrap();
    match store.ping() {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("unable to open"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!dir.path().join("missing-dir").exists());
}

#[test]
fn a_postgresql_connection_ended_by_the_server_fails_once_then_is_replaced() {
    let Some((url, guard)) = fresh_postgres_url() else {
        return;
    };
    // One connection, so the next checkout is that connection.
    let mut cfg = config(&url, Duration::from_secs(5));
    cfg.pool_size = 1;
    let store = Store::open(&cfg).unwrap();
    store.migrate().unwrap();
    store.create(&confidential("svc"), &ev()).unwrap();
    guard.terminate_connections();
    // Handed back a moment ago, the connection is given out without a
    // check (auth-store's validation bypass), so this read may meet the
    // dead connection; if the machine was slow enough for the check to
    // run, the pool replaced it already and the read succeeds.
    match store.find(&cid("svc")) {
        Ok(found) => assert!(found.is_some()),
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("a dead connection must read as unavailable: {other:?}"),
    }
    // Either way the dead connection is not given out again.
    for _ in 0..3 {
        assert!(store.find(&cid("svc")).unwrap().is_some());
    }
    assert!(store.ping().is_ok());
}

/// The permission bits of a file.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A new SQLite database holds secret hashes and possibly unencrypted
/// signing keys: it and its WAL files are readable by their owner only,
/// whatever the umask lets through.
#[test]
fn a_new_sqlite_database_and_its_wal_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&config(&url, Duration::from_secs(5))).unwrap();
    store.migrate().unwrap();
    store
        .create(&confidential("svc"), &crate::support::ev())
        .unwrap();
    // While the store is open the WAL and its index exist.
    for path in [
        db.clone(),
        dir.path().join("auth.db-wal"),
        dir.path().join("auth.db-shm"),
    ] {
        assert_eq!(format!("{:o}", mode(&path)), "600", "{}", path.display());
    }
}
