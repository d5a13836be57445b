//! Metric labels and access-log fields take no value a caller chooses
//! without bound: the method is one of the standard ones or `OTHER`, the
//! route is the matched pattern or `unmatched`. Before this held, every new
//! method a caller invented added series to `/metrics` that were never
//! evicted, so anyone could grow the server's memory without authenticating.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// The methods the server names in labels; anything else is `OTHER`.
const KNOWN: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// A small deterministic generator (xorshift64*), so that a failure can be
/// replayed; the values only need to be varied, not unpredictable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn word(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let len = min + (self.next() as usize) % (max - min + 1);
        (0..len)
            .map(|_| alphabet[(self.next() as usize) % alphabet.len()] as char)
            .collect()
    }

    /// An extension method such as `X7Q2`: a valid token, never a standard
    /// method.
    fn method(&mut self) -> String {
        loop {
            let m = self.word(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 3, 10);
            if !KNOWN.contains(&m.as_str()) {
                return m;
            }
        }
    }

    /// A path no route matches, sometimes under a real route's prefix.
    fn path(&mut self) -> String {
        let prefix =
            ["", "/clients", "/oauth2", "/service-accounts/x/clients"][(self.next() as usize) % 4];
        let depth = 1 + (self.next() as usize) % 3;
        let mut path = format!("{prefix}/zz");
        for _ in 0..depth {
            path.push('/');
            path.push_str(&self.word(b"abcdefghijklmnopqrstuvwxyz0123456789-_.~", 1, 16));
        }
        path
    }
}

/// The series of a `/metrics` text: every sample line without its value.
async fn series(s: &TestServer) -> BTreeSet<String> {
    let text = metrics_text(s).await;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
        .collect()
}

async fn send(s: &TestServer, method: &str, path: &str) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    s.http
        .request(method, s.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn random_methods_and_paths_leave_the_metrics_the_same_size() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // The /metrics request itself is a series; make it exist before the
    // first snapshot.
    series(&s).await;
    for _ in 0..5 {
        let (m, p) = (rng.method(), rng.path());
        assert_eq!(send(&s, &m, &p).await, 404, "{m} {p}");
    }
    let before = series(&s).await;

    const REQUESTS: usize = 10_000;
    const WORKERS: usize = 16;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let http = s.http.clone();
        let base = s.base.clone();
        let mut rng = Rng(0x51_7cc1_b727_220a ^ ((w as u64 + 1) << 32));
        tasks.push(actix_web::rt::spawn(async move {
            let mut sample = Vec::new();
            for i in 0..REQUESTS / WORKERS {
                let (m, p) = (rng.method(), rng.path());
                let status = http
                    .request(
                        reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                        format!("{base}{p}"),
                    )
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 404, "{m} {p}");
                if i % 100 == 0 {
                    sample.push((m, p));
                }
            }
            sample
        }));
    }
    let mut sample = Vec::new();
    let all = async {
        for t in tasks {
            sample.extend(t.await.unwrap());
        }
    };
    actix_web::rt::time::timeout(Duration::from_secs(300), all)
        .await
        .expect("10,000 requests did not finish within 300 s");

    let after = series(&s).await;
    let added: Vec<&String> = after.difference(&before).take(5).collect();
    assert_eq!(
        after.len(),
        before.len(),
        "series added by random methods and paths, e.g. {added:#?}"
    );
    assert_eq!(after, before);
    assert!(
        after
            .iter()
            .any(|l| l.contains("method=\"OTHER\"") && l.contains("route=\"unmatched\"")),
        "{after:#?}"
    );
    let text = after.iter().cloned().collect::<Vec<_>>().join("\n");
    for (m, p) in &sample {
        assert!(!text.contains(m.as_str()), "method {m} is a label");
        assert!(!text.contains(p.as_str()), "path {p} is a label");
    }
    s.stop().await;
}

#[actix_web::test]
async fn access_log_names_an_invented_method_other_and_a_standard_one_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let env = process_env(dir.path(), &url);
    let server = ServerProcess::serve(&env, dir.path(), "methods").await;
    let http = reqwest::Client::new();
    for m in ["FOO1", "FOO2", "FOO3", "PATCH"] {
        let r = http
            .request(
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                format!("{}/no-such-page-{m}", server.base),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let mut methods = Vec::new();
    wait_for("the access log lines", Duration::from_secs(10), || {
        methods = server
            .logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["route"] == "unmatched")
            .map(|v| v["method"].as_str().unwrap_or("").to_owned())
            .collect();
        methods.len() >= 4
    })
    .await;
    assert_eq!(methods, ["OTHER", "OTHER", "OTHER", "PATCH"]);
    assert!(!server.logs().contains("FOO"), "{}", server.logs());
}
