//! The server's Prometheus metrics (the full list is in docs/operations.md),
//! kept with `prometheus-client`: one [`Registry`] per [`Metrics`], never a
//! global one, so that every server in one process counts on its own.
//! Every name starts with `auth_server_`; the library appends `_total` to
//! counters.
//!
//! Nothing here knows an HTTP framework: the use cases report through
//! [`auth_service::Observer`], which [`Metrics`] implements, and a server
//! reports each answered request with [`Metrics::http_request`]. A Rust
//! service that embeds `auth-service` gets the same names by handing it an
//! `Arc<Metrics>` as its observer and serving [`Metrics::render`].

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use auth_service::secret_expiry::SecretExpiry;

/// The prefix of every metric name.
pub const PREFIX: &str = "auth_server";

/// The `Content-Type` of `/metrics`: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label and access-log field of a request that matched no
/// route. Never the raw path: a caller chooses that, without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method as a metric label and access-log field: one of the standard
/// methods, or `OTHER`. HTTP lets a caller invent any method token, and each
/// distinct label value is a series kept for the life of the process, so a
/// raw method would let anyone grow the server's memory without limit.
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    STANDARD
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("OTHER")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// A registered route pattern or [`UNMATCHED_ROUTE`].
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// What `auth_service::Observer::hash_upgrade` reports.
const HASH_UPGRADE_OUTCOMES: [&str; 4] = ["stored", "skipped", "superseded", "failed"];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// What `/metrics` reads from the server at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrape {
    pub verifications_in_flight: usize,
    pub verifications_queued: usize,
    /// `APP_SECRET_VERIFY_CONCURRENCY` and `APP_SECRET_VERIFY_QUEUE`.
    pub verifications_max_in_flight: usize,
    pub verifications_max_queued: usize,
    pub pool_connections: u32,
    pub pool_idle_connections: u32,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    token_requests: Family<OutcomeLabels, Counter>,
    verification_duration: Histogram,
    verifications_rejected: Counter,
    verifications_shared: Counter,
    verifications_in_flight: Gauge,
    verifications_queued: Gauge,
    verifications_max_in_flight: Gauge,
    verifications_max_queued: Gauge,
    secret_cache: Family<ResultLabels, Counter>,
    hash_upgrades: Family<OutcomeLabels, Counter>,
    key_reloads: Family<CauseLabels, Counter>,
    pool_connections: Gauge,
    pool_idle_connections: Gauge,
    pool_max_connections: Gauge,
    rotation_required: Gauge,
    secrets_expired: Gauge,
    build_info: Family<BuildLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let m = Self {
            registry: Registry::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(histogram),
            token_requests: Family::default(),
            verification_duration: histogram(),
            verifications_rejected: Counter::default(),
            verifications_shared: Counter::default(),
            verifications_in_flight: Gauge::default(),
            verifications_queued: Gauge::default(),
            verifications_max_in_flight: Gauge::default(),
            verifications_max_queued: Gauge::default(),
            secret_cache: Family::default(),
            hash_upgrades: Family::default(),
            key_reloads: Family::default(),
            pool_connections: Gauge::default(),
            pool_idle_connections: Gauge::default(),
            pool_max_connections: Gauge::default(),
            rotation_required: Gauge::default(),
            secrets_expired: Gauge::default(),
            build_info: Family::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route pattern, method and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route pattern",
            m.http_duration.clone(),
        );
        registry.register(
            "token_requests",
            "Token endpoint outcomes: issued, or the OAuth error code",
            m.token_requests.clone(),
        );
        registry.register(
            "secret_verification_duration_seconds",
            "Time of one secret hash verification",
            m.verification_duration.clone(),
        );
        registry.register(
            "secret_verifications_rejected",
            "Secret verifications refused because the queue was full (answered 503)",
            m.verifications_rejected.clone(),
        );
        registry.register(
            "secret_verifications_shared",
            "Requests answered by an identical verification already running",
            m.verifications_shared.clone(),
        );
        registry.register(
            "secret_verifications_in_flight",
            "Secret verifications running now",
            m.verifications_in_flight.clone(),
        );
        registry.register(
            "secret_verifications_queued",
            "Secret verifications waiting for a slot",
            m.verifications_queued.clone(),
        );
        registry.register(
            "secret_verifications_max_in_flight",
            "Secret verifications allowed to run at once",
            m.verifications_max_in_flight.clone(),
        );
        registry.register(
            "secret_verifications_max_queued",
            "Secret verifications allowed to wait; one more is refused with 503",
            m.verifications_max_queued.clone(),
        );
        registry.register(
            "verified_secret_cache_lookups",
            "Verified-secret cache lookups by result",
            m.secret_cache.clone(),
        );
        registry.register(
            "secret_hash_upgrades",
            "Re-hashes of weaker stored secret hashes after a login, by outcome",
            m.hash_upgrades.clone(),
        );
        registry.register(
            "signing_key_reloads",
            "Signing-key reloads from the database, by cause",
            m.key_reloads.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            m.pool_connections.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            m.pool_idle_connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The most database connections the pool opens",
            m.pool_max_connections.clone(),
        );
        registry.register(
            "clients_rotation_required",
            "Confidential clients whose secret needs rotation (rotationRequired), at the last refresh",
            m.rotation_required.clone(),
        );
        registry.register(
            "clients_secret_expired",
            "Confidential clients whose current secret has expired, at the last refresh",
            m.secrets_expired.clone(),
        );
        registry.register(
            "build_info",
            "The running build: version and git commit (always 1)",
            m.build_info.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        let m = Self { registry, ..m };
        // Series of known label values exist from the start, at 0: a rate or
        // ratio over them is then defined before the first event, and every
        // family is in the output (a family without series is left out).
        drop(
            m.token_requests
                .get_or_create(&OutcomeLabels { outcome: "issued" }),
        );
        for result in ["hit", "miss"] {
            drop(m.secret_cache.get_or_create(&ResultLabels { result }));
        }
        for outcome in HASH_UPGRADE_OUTCOMES {
            drop(m.hash_upgrades.get_or_create(&OutcomeLabels { outcome }));
        }
        for cause in ["scheduled", "unknown_kid"] {
            drop(m.key_reloads.get_or_create(&CauseLabels { cause }));
        }
        // Until the binary says otherwise (see `set_build_info`).
        m.set_build_info(env!("CARGO_PKG_VERSION"), "unknown");
        m
    }
}

impl Metrics {
    /// The version and git commit `auth_server_build_info` reports.
    pub fn set_build_info(&self, version: &str, commit: &str) {
        self.build_info.clear();
        self.build_info
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
                commit: commit.to_owned(),
            })
            .set(1);
    }

    /// The size of the database pool (`APP_DATABASE_POOL_SIZE`).
    pub fn set_db_pool_max_connections(&self, max: u32) {
        self.pool_max_connections.set(i64::from(max));
    }

    /// One answered HTTP request. `route` is a registered pattern or
    /// [`UNMATCHED_ROUTE`], `method` comes from [`method_label`].
    pub fn http_request(&self, route: String, method: &'static str, status: u16, took: Duration) {
        let labels = RequestLabels {
            route,
            method,
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: labels.route,
            })
            .observe(took.as_secs_f64());
    }

    /// What became of one token request: `issued` or the OAuth error code.
    pub fn token_request(&self, outcome: &'static str) {
        self.token_requests
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn set_secret_expiry(&self, counts: SecretExpiry) {
        self.rotation_required
            .set(i64::try_from(counts.rotation_required).unwrap_or(i64::MAX));
        self.secrets_expired
            .set(i64::try_from(counts.expired).unwrap_or(i64::MAX));
    }

    /// The Prometheus text of every metric, with the gauges read at scrape
    /// time set from `now`.
    pub fn render(&self, now: Scrape) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.verifications_in_flight
            .set(gauge(now.verifications_in_flight));
        self.verifications_queued
            .set(gauge(now.verifications_queued));
        self.verifications_max_in_flight
            .set(gauge(now.verifications_max_in_flight));
        self.verifications_max_queued
            .set(gauge(now.verifications_max_queued));
        self.pool_connections.set(i64::from(now.pool_connections));
        self.pool_idle_connections
            .set(i64::from(now.pool_idle_connections));
        let mut out = String::new();
        // Writing into a String cannot fail, and every encoder here writes
        // only what it has.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// The value of the sample `name{labels}` (the full name, prefix and
    /// suffix included; labels in any order), 0 when there is none. For
    /// tests: it renders everything.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let text = self.render(Scrape::default());
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        wanted.sort();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (sample, rest) = match series.split_once('{') {
                    Some((s, rest)) => (s, rest.strip_suffix('}')?),
                    None => (series, ""),
                };
                if sample != name {
                    return None;
                }
                let mut have: Vec<String> = if rest.is_empty() {
                    Vec::new()
                } else {
                    rest.split(',').map(str::to_owned).collect()
                };
                have.sort();
                (have == wanted).then(|| value.parse::<f64>().ok())?
            })
            .map_or(0, |v| v as u64)
    }
}

/// The use cases' reports, under the names docs/operations.md lists.
impl auth_service::Observer for Metrics {
    fn secret_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.secret_cache
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    fn secret_verification(&self, took: Duration) {
        self.verification_duration.observe(took.as_secs_f64());
    }

    fn verification_shared(&self) {
        self.verifications_shared.inc();
    }

    fn verification_rejected(&self) {
        self.verifications_rejected.inc();
    }

    fn hash_upgrade(&self, outcome: &'static str) {
        self.hash_upgrades
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    fn key_reload(&self, cause: &'static str) {
        self.key_reloads.get_or_create(&CauseLabels { cause }).inc();
    }
}

/// The process metrics, read from `/proc/self` at each scrape (Linux; on
/// other systems, where those files do not exist, they are left out).
#[derive(Debug)]
struct ProcessCollector;

/// The kernel reports CPU times in USER_HZ ticks, 100 a second on every
/// architecture Linux runs servers on (what Prometheus' own Go client
/// assumes too); reading it from sysconf would need `unsafe` FFI.
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    open_fds: Option<u64>,
    start_time_seconds: Option<f64>,
}

impl ProcessStats {
    fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        Self {
            cpu_seconds: cpu_seconds(&fields),
            resident_bytes: std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| resident_bytes(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            start_time_seconds: boot_time
                .zip(field(&fields, 22))
                .map(|(boot, ticks)| boot as f64 + ticks / USER_HZ),
        }
    }
}

/// The fields of `/proc/self/stat` after the command name, numbered from 3
/// as proc(5) does (the name is in parentheses and may hold spaces).
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Field `n` (proc(5) numbering, from 3) of [`stat_fields`].
fn field(fields: &[&str], n: usize) -> Option<f64> {
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

/// utime (14) + stime (15), in seconds.
fn cpu_seconds(fields: &[&str]) -> Option<f64> {
    Some((field(fields, 14)? + field(fields, 15)?) / USER_HZ)
}

/// `VmRSS` of `/proc/self/status`, which is in kB.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(v) = stats.cpu_seconds {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time of the process, in seconds.",
                None,
                c.metric_type(),
            )?)?;
        }
        if let Some(v) = stats.resident_bytes {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory of the process, in bytes.",
                None,
                g.metric_type(),
            )?)?;
        }
        if let Some(v) = stats.open_fds {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors of the process.",
                None,
                g.metric_type(),
            )?)?;
        }
        if let Some(v) = stats.start_time_seconds {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process, in seconds since the Unix epoch.",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_service::Observer as _;

    #[test]
    fn renders_counters_histograms_and_gauges_under_the_prefix() {
        let m = Metrics::default();
        m.http_request(
            "/oauth2/token".into(),
            "POST",
            200,
            Duration::from_millis(3),
        );
        m.http_request(
            "/oauth2/token".into(),
            "POST",
            200,
            Duration::from_millis(3),
        );
        let text = m.render(Scrape {
            pool_connections: 4,
            ..Scrape::default()
        });
        assert!(
            text.contains(
                "auth_server_http_requests_total{route=\"/oauth2/token\",method=\"POST\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "auth_server_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "auth_server_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"0.001\"} 0"
        ));
        assert!(text.contains(
            "auth_server_http_request_duration_seconds_count{route=\"/oauth2/token\"} 2"
        ));
        assert!(text.contains(
            "# TYPE auth_server_db_pool_connections gauge\nauth_server_db_pool_connections 4"
        ));
        assert!(text.contains("# TYPE auth_server_http_requests_total counter"));
        for line in text.lines() {
            let name = line
                .strip_prefix("# TYPE ")
                .or_else(|| (!line.starts_with('#')).then_some(line))
                .unwrap_or("auth_server_");
            assert!(name.starts_with("auth_server_"), "{line}");
        }
        assert_eq!(
            m.counter(
                "auth_server_http_requests_total",
                &[
                    ("status", "200"),
                    ("route", "/oauth2/token"),
                    ("method", "POST")
                ]
            ),
            2
        );
    }

    #[test]
    fn observer_reports_land_in_their_families() {
        let m = Metrics::default();
        m.secret_cache(true);
        m.secret_cache(false);
        m.secret_cache(true);
        m.hash_upgrade("stored");
        m.key_reload("unknown_kid");
        m.verification_rejected();
        m.token_request("invalid_client");
        let c = |name, labels: &[(&str, &str)]| m.counter(name, labels);
        assert_eq!(
            c(
                "auth_server_verified_secret_cache_lookups_total",
                &[("result", "hit")]
            ),
            2
        );
        assert_eq!(
            c(
                "auth_server_verified_secret_cache_lookups_total",
                &[("result", "miss")]
            ),
            1
        );
        assert_eq!(
            c(
                "auth_server_secret_hash_upgrades_total",
                &[("outcome", "stored")]
            ),
            1
        );
        assert_eq!(
            c(
                "auth_server_signing_key_reloads_total",
                &[("cause", "unknown_kid")]
            ),
            1
        );
        assert_eq!(c("auth_server_secret_verifications_rejected_total", &[]), 1);
        assert_eq!(
            c(
                "auth_server_token_requests_total",
                &[("outcome", "invalid_client")]
            ),
            1
        );
        assert_eq!(
            c("auth_server_token_requests_total", &[("outcome", "issued")]),
            0
        );
    }

    #[test]
    fn build_info_names_one_version_and_commit() {
        let m = Metrics::default();
        m.set_build_info("1.2.3", "abc123");
        let text = m.render(Scrape::default());
        assert!(
            text.contains("auth_server_build_info{version=\"1.2.3\",commit=\"abc123\"} 1"),
            "{text}"
        );
        assert_eq!(text.matches("auth_server_build_info{").count(), 1);
    }

    #[test]
    fn only_standard_methods_are_labels_of_their_own() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
        ] {
            assert_eq!(method_label(name), name);
        }
        for invented in ["FOO1", "X7Q2", "get", "PROPFIND", "GETS", ""] {
            assert_eq!(method_label(invented), "OTHER", "{invented}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.set_build_info("a\"b\nc", "x");
        assert!(m
            .render(Scrape::default())
            .contains("version=\"a\\\"b\\nc\""));
    }

    #[test]
    fn proc_files_are_parsed() {
        // A command name with spaces and parentheses must not shift fields.
        let stat = "4242 (auth (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 12345 1000 200 18446744073709551615";
        let fields = stat_fields(stat);
        assert_eq!(cpu_seconds(&fields), Some(3.0));
        assert_eq!(field(&fields, 22), Some(12345.0));
        assert_eq!(
            resident_bytes("Name:\tauth\nVmRSS:\t   2048 kB\nVmHWM:\t 4096 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_exported_on_linux() {
        let text = Metrics::default().render(Scrape::default());
        for name in [
            "auth_server_process_cpu_seconds_total ",
            "auth_server_process_resident_memory_bytes ",
            "auth_server_process_open_fds ",
            "auth_server_process_start_time_seconds ",
        ] {
            assert!(text.lines().any(|l| l.starts_with(name)), "{name}: {text}");
        }
        let stats = ProcessStats::read();
        assert!(stats.resident_bytes.unwrap_or(0) > 1024 * 1024);
        assert!(stats.open_fds.unwrap_or(0) >= 3);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = stats.start_time_seconds.unwrap_or(0.0);
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start}"
        );
    }
}
