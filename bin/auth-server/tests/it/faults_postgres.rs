//! Database faults on PostgreSQL (see docs/reference/operations.md): the database stopped under load
//! answers 503 with Retry-After (never a 200, never a 401 or 500), and the
//! same process serves again once it is back; a pool of 2 under 50 slow
//! requests makes callers wait at most the pool timeout, then 503, and
//! nothing hangs.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// One request of the load and what came of it.
#[derive(Debug, Clone)]
struct Outcome {
    kind: &'static str,
    sent: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
}

/// A token request or an admin read, alternately.
async fn one_request(http: &reqwest::Client, base: &str, admin: &str, n: usize) -> Outcome {
    let sent = Instant::now();
    let (kind, rb) = if n.is_multiple_of(2) {
        (
            "token",
            http.post(format!("{base}/oauth2/token"))
                .header("X-Forwarded-Proto", "https")
                .form(&client_secret_post("my-service", SVC_SECRET)),
        )
    } else {
        (
            "admin",
            http.get(format!("{base}/clients/my-service"))
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(admin),
        )
    };
    let r = rb.timeout(Duration::from_secs(30)).send().await.unwrap();
    Outcome {
        kind,
        sent,
        took: sent.elapsed(),
        status: r.status().as_u16(),
        retry_after: r
            .headers()
            .get("retry-after")
            .is_some_and(|v| v.to_str().unwrap().parse::<u64>().is_ok_and(|n| n >= 1)),
    }
}

#[actix_web::test]
async fn postgresql_stopped_under_load_answers_503_and_the_same_process_recovers() {
    let pg = PgCluster::start();
    let settings: BTreeMap<String, String> =
        [("APP_DATABASE_POOL_TIMEOUT".to_owned(), "PT1S".to_owned())].into();
    let s = spawn(
        Backend::Postgres,
        Spawn {
            db_url: Some(pg.url.clone()),
            settings,
            ..Spawn::default()
        },
    )
    .await;
    let admin = issue_admin_token(&s.http, &s.base).await;

    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(12);
    let mut workers = Vec::new();
    for w in 0..6 {
        let (http, base, admin, outcomes) = (
            s.http.clone(),
            s.base.clone(),
            admin.clone(),
            outcomes.clone(),
        );
        workers.push(actix_web::rt::spawn(async move {
            let mut n = w;
            while Instant::now() < stop_at {
                let o = one_request(&http, &base, &admin, n).await;
                outcomes.lock().unwrap().push(o);
                n += 1;
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    // Blocking for seconds: off the test's own event loop, which runs the
    // load.
    let (_pg, (down, restarting)) = actix_web::web::block(move || {
        let times = pg.outage(Duration::from_secs(4));
        (pg, times)
    })
    .await
    .unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();

    for o in &outcomes {
        // Never an authentication failure or a server error, whatever the
        // moment.
        assert!(o.status == 200 || o.status == 503, "{o:?}");
        if o.status == 503 {
            assert!(o.retry_after, "503 without Retry-After: {o:?}");
            // About the pool timeout (1 s), never a hang.
            assert!(o.took < Duration::from_secs(5), "{o:?}");
        }
    }
    // While the database was down (sent after the stop finished, answered
    // before the restart began): 503 only, for both kinds.
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent >= down && o.sent + o.took <= restarting)
        .collect();
    for kind in ["token", "admin"] {
        assert!(
            during.iter().any(|o| o.kind == kind),
            "no {kind} request ran during the outage"
        );
    }
    for o in &during {
        assert_eq!(o.status, 503, "served while PostgreSQL was down: {o:?}");
    }
    // Before the outage everything was served.
    assert!(outcomes
        .iter()
        .filter(|o| o.sent + o.took < stopping)
        .all(|o| o.status == 200));
    // After the restart the same process serves again, within seconds.
    let back: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent >= restarting).collect();
    for kind in ["token", "admin"] {
        let first_ok = back
            .iter()
            .filter(|o| o.kind == kind && o.status == 200)
            .map(|o| o.sent)
            .min();
        let first_ok =
            first_ok.unwrap_or_else(|| panic!("no {kind} request succeeded after the restart"));
        assert!(
            first_ok - restarting < Duration::from_secs(5),
            "{kind} took {:?} to recover",
            first_ok - restarting
        );
    }
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

/// Holds `LOCK TABLE clients IN ACCESS EXCLUSIVE MODE` in an open psql
/// transaction until dropped: every query that reads clients waits.
struct TableLock {
    child: std::process::Child,
}

impl TableLock {
    fn take(url: &str) -> Self {
        let mut child = Command::new("psql")
            .arg(url)
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN;\nLOCK TABLE clients IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Self { child }
    }

    fn release(mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"COMMIT;\n\\q\n").unwrap();
        drop(self.child.stdin.take());
        self.child.wait().unwrap();
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn an_exhausted_pool_answers_503_after_the_pool_timeout_and_nothing_hangs() {
    let pg = Postgres::get();
    let settings: BTreeMap<String, String> = [
        ("APP_DATABASE_POOL_SIZE".to_owned(), "2".to_owned()),
        ("APP_DATABASE_POOL_TIMEOUT".to_owned(), "PT1S".to_owned()),
    ]
    .into();
    let s = spawn(
        Backend::Postgres,
        Spawn {
            db_url: Some(pg.url().to_owned()),
            settings,
            ..Spawn::default()
        },
    )
    .await;
    let admin = issue_admin_token(&s.http, &s.base).await;

    // The database turns slow: every query on clients waits for the lock.
    let lock = TableLock::take(pg.url());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let (http, base, admin) = (s.http.clone(), s.base.clone(), admin.clone());
        tasks.push(actix_web::rt::spawn(async move {
            one_request(&http, &base, &admin, n).await
        }));
    }
    // Everyone but the two holding the connections gives up after the pool
    // timeout. Give them 6 s before the database moves again.
    actix_web::rt::time::sleep(Duration::from_secs(6)).await;
    let finished_while_locked: usize = tasks.iter().filter(|t| t.is_finished()).count();
    lock.release();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let total = started.elapsed();
    let unavailable: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 503).collect();
    let served = outcomes.iter().filter(|o| o.status == 200).count();
    assert_eq!(unavailable.len() + served, 50, "{outcomes:?}");
    // At most the pool size waited on the lock; the others were turned away.
    assert!(
        unavailable.len() >= 48 && finished_while_locked >= 48,
        "{} 503s, {finished_while_locked} finished while locked",
        unavailable.len()
    );
    for o in &unavailable {
        assert!(o.retry_after, "{o:?}");
        assert!(
            o.took >= Duration::from_millis(900) && o.took < Duration::from_secs(5),
            "waited {:?}",
            o.took
        );
    }
    // The two that held connections finish once the lock goes: no hang.
    assert!(total < Duration::from_secs(15), "took {total:?}");
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}
