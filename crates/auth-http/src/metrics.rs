//! A small Prometheus text-format registry (see docs/reference/operations.md). Hand-written rather
//! than a global recorder so that every `Application` (and every test
//! server in one process) has its own counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Key, u64>>,
    histograms: Mutex<BTreeMap<Key, Histogram>>,
}

fn help(name: &str) -> &'static str {
    match name {
        "http_requests_total" => "HTTP requests by route, method and status",
        "http_request_duration_seconds" => "HTTP request latency by route",
        "token_requests_total" => "Token endpoint outcomes (issued, or the OAuth error code)",
        "secret_verification_duration_seconds" => "Time of one secret hash verification (BCrypt)",
        "secret_verifications_rejected_total" => {
            "Secret verifications refused because the queue was full"
        }
        "secret_verifications_shared_total" => {
            "Requests answered by an identical verification already running"
        }
        "verified_secret_cache_total" => "Verified-secret cache lookups by result",
        "signing_key_reloads_total" => {
            "Signing-key reloads from the database, by cause (scheduled or unknown_kid)"
        }
        "secret_hash_upgrades_total" => {
            "Re-hashes of weaker stored secret hashes after a login, by outcome"
        }
        _ => "",
    }
}

/// The route label and access-log field of a request that matched no
/// route. Never the raw path: a caller chooses that, without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method as a metric label and access-log field: one of the standard
/// methods, or `OTHER`. HTTP lets a caller invent any method token, and each
/// distinct label value is a series kept for the life of the process, so a
/// raw method would let anyone grow the server's memory without limit.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_default() += 1;
        }
    }

    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], d: Duration) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        let secs = d.as_secs_f64();
        if let Ok(mut h) = self.histograms.lock() {
            let h = h.entry(key).or_insert_with(|| Histogram {
                counts: vec![0; BUCKETS.len()],
                ..Histogram::default()
            });
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }

    /// The current value of a counter (for tests and the cache proof).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let key: Key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        self.counters
            .lock()
            .map(|c| c.get(&key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Renders every metric, followed by `gauges` (name, help, value).
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let mut last = "";
        if let Ok(c) = self.counters.lock() {
            for ((name, labels), v) in c.iter() {
                if *name != last {
                    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", help(name));
                    last = name;
                }
                let _ = writeln!(out, "{name}{} {v}", label_text(labels, None));
            }
        }
        if let Ok(h) = self.histograms.lock() {
            for ((name, labels), hist) in h.iter() {
                if *name != last {
                    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", help(name));
                    last = name;
                }
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        label_text(labels, Some(&b.to_string())),
                        hist.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    label_text(labels, Some("+Inf")),
                    hist.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), hist.sum);
                let _ = writeln!(
                    out,
                    "{name}_count{} {}",
                    label_text(labels, None),
                    hist.count
                );
            }
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The use cases' reports, under the names docs/reference/operations.md lists.
impl auth_service::Observer for Metrics {
    fn secret_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.inc("verified_secret_cache_total", &[("result", result)]);
    }

    fn secret_verification(&self, took: Duration) {
        self.observe("secret_verification_duration_seconds", &[], took);
    }

    fn verification_shared(&self) {
        self.inc("secret_verifications_shared_total", &[]);
    }

    fn verification_rejected(&self) {
        self.inc("secret_verifications_rejected_total", &[]);
    }

    fn hash_upgrade(&self, outcome: &'static str) {
        self.inc("secret_hash_upgrades_total", &[("outcome", outcome)]);
    }

    fn key_reload(&self, cause: &'static str) {
        self.inc("signing_key_reloads_total", &[("cause", cause)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.inc(
            "http_requests_total",
            &[("route", "/oauth2/token"), ("status", "200")],
        );
        m.inc(
            "http_requests_total",
            &[("route", "/oauth2/token"), ("status", "200")],
        );
        m.observe(
            "http_request_duration_seconds",
            &[("route", "/x")],
            Duration::from_millis(3),
        );
        let text = m.render(&[("db_pool_connections", "Connections", 4.0)]);
        assert!(
            text.contains("http_requests_total{route=\"/oauth2/token\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/x\",le=\"0.005\"} 1"));
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/x\",le=\"0.001\"} 0"));
        assert!(text.contains("http_request_duration_seconds_count{route=\"/x\"} 1"));
        assert!(text.contains("# TYPE db_pool_connections gauge\ndb_pool_connections 4"));
        assert_eq!(
            m.counter(
                "http_requests_total",
                &[("route", "/oauth2/token"), ("status", "200")]
            ),
            2
        );
    }

    #[test]
    fn only_standard_methods_are_labels_of_their_own() {
        use actix_web::http::Method;
        for name in [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
        ] {
            let m = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&m), name);
        }
        // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
        for invented in ["FOO1", "X7Q2", "get", "PROPFIND", "GETS"] {
            let m = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "OTHER", "{invented}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.inc("token_requests_total", &[("outcome", "a\"b\nc")]);
        assert!(m.render(&[]).contains("outcome=\"a\\\"b\\nc\""));
    }
}
