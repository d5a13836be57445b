//! Configuration: built-in defaults < TOML file (`--config` or
//! `APP_CONFIG_FILE`) < `APP_*` environment variables (see docs/reference/configuration.md). Only this
//! module knows figment (it reads the TOML file, with line-numbered syntax
//! errors; the environment comes in as a map so tests need not mutate the
//! process environment); it turns the raw values into each crate's own
//! config section, and every malformed value becomes an error naming the
//! setting both as a TOML key and as a variable. Unknown TOML keys are
//! errors; unknown `APP_*` variables are ignored (a client's secret variable
//! may well start with `APP_`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use auth_domain::{parse_duration, Secret, SecretPolicy};
use auth_service::forwarded::ForwardedHeaders;
use figment::providers::{Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// Every setting of docs/reference/configuration.md, by TOML key (the variable is `APP_` + upper case).
pub const KEYS: &[&str] = &[
    "bind",
    "admin_bind",
    "database_url",
    "database_pool_size",
    "database_pool_timeout",
    "issuer",
    "require_https",
    "seed_clients_file",
    "seed_service_accounts_file",
    "client_secret_ttl",
    "client_secret_previous_grace_window",
    "client_secret_rotation_required_before_expiry",
    "client_secret_min_length",
    "bcrypt_cost",
    "secret_verify_concurrency",
    "secret_verify_queue",
    "token_failure_limit",
    "token_failure_limit_per_client",
    "forwarded_trusted_proxies",
    "forwarded_headers",
    "signing_alg",
    "keys_encryption_secret",
    "log_format",
    "otlp_endpoint",
    "shutdown_drain",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The validated configuration, one section per concern.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// A second listener for the admin API, `/metrics`, `/openapi.json` and `/docs`,
    /// which the main listener then no longer serves.
    pub admin_bind: Option<SocketAddr>,
    pub database_url: String,
    pub database_pool_size: u32,
    pub database_pool_timeout: StdDuration,
    pub issuer: Option<String>,
    pub require_https: bool,
    pub seed_clients_file: Option<PathBuf>,
    pub seed_service_accounts_file: Option<PathBuf>,
    pub secret_policy: SecretPolicy,
    pub client_secret_min_length: usize,
    pub bcrypt_cost: u32,
    pub secret_verify_concurrency: usize,
    pub secret_verify_queue: usize,
    pub token_failure_limit: u32,
    pub token_failure_limit_per_client: u32,
    /// The raw list; auth-http parses it into its own type.
    pub forwarded_trusted_proxies: Option<String>,
    pub forwarded_headers: ForwardedHeaders,
    pub signing_alg: String,
    pub keys_encryption_secret: Option<Secret>,
    pub log_format: LogFormat,
    /// Base URL of an OTLP/HTTP collector; unset leaves tracing to the
    /// standard `OTEL_EXPORTER_OTLP_*` variables (off when none is set).
    pub otlp_endpoint: Option<String>,
    /// How long `serve` keeps serving after SIGTERM with `/readyz` at 503,
    /// before it stops accepting and finishes what is in flight.
    pub shutdown_drain: StdDuration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("admin_bind", &self.admin_bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("issuer", &self.issuer)
            .field("require_https", &self.require_https)
            .field("signing_alg", &self.signing_alg)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .field("shutdown_drain", &self.shutdown_drain)
            .field(
                "keys_encryption_secret",
                &self.keys_encryption_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

/// A database URL with any password (userinfo or `password=` parameter)
/// masked, for logs, errors and `Debug`.
pub fn redact_url(url: &str) -> String {
    auth_store::redact_password(url, url)
}

/// A message that may quote the database URL (a connection error), with
/// its password masked.
pub fn redact_message(message: &str, url: &str) -> String {
    auth_store::redact_password(message, url)
}

/// One problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "configuration: {}", self.message)
        } else {
            write!(
                f,
                "configuration: {} (APP_{}): {}",
                self.key,
                self.key.to_ascii_uppercase(),
                self.message
            )
        }
    }
}

#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A scalar from TOML or the environment, kept as text so that every value
/// is validated (and reported) the same way wherever it came from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(x) => x.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }
}

/// Loads the configuration. `config_file` is `--config`; when `None`,
/// `APP_CONFIG_FILE` from `env` is used. `env` is the process environment in
/// production and a map in tests.
pub fn load(
    config_file: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigErrors> {
    let file = config_file
        .map(Path::to_path_buf)
        .or_else(|| env.get("APP_CONFIG_FILE").map(PathBuf::from));
    let mut raw: BTreeMap<String, Scalar> = BTreeMap::new();
    if let Some(path) = &file {
        raw.extend(read_toml(path)?);
    }
    for key in KEYS {
        if let Some(v) = env.get(&format!("APP_{}", key.to_ascii_uppercase())) {
            raw.insert((*key).to_owned(), Scalar::Str(v.clone()));
        }
    }
    build(&raw)
}

/// The TOML layer alone: the file in effect (`--config`, else
/// `APP_CONFIG_FILE`) and the keys it sets, for `auth-server config`.
pub fn file_layer(
    config_file: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<(Option<PathBuf>, Vec<String>), ConfigErrors> {
    let file = config_file
        .map(Path::to_path_buf)
        .or_else(|| env.get("APP_CONFIG_FILE").map(PathBuf::from));
    let keys = match &file {
        Some(path) => read_toml(path)?.into_keys().collect(),
        None => Vec::new(),
    };
    Ok((file, keys))
}

/// Loads from the real process environment.
pub fn load_from_process(config_file: Option<&Path>) -> Result<Config, ConfigErrors> {
    load(config_file, &process_app_env())
}

/// The process's `APP_*` variables.
pub fn process_app_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("APP_"))
        .collect()
}

fn read_toml(path: &Path) -> Result<BTreeMap<String, Scalar>, ConfigErrors> {
    let one = |message: String| {
        ConfigErrors(vec![ConfigError {
            key: String::new(),
            message,
        }])
    };
    if !path.is_file() {
        return Err(one(format!(
            "config file {} does not exist or is not a file",
            path.display()
        )));
    }
    // figment reads the file and reports TOML syntax errors with line and column.
    let figment = Figment::from(Toml::file(path));
    let map: BTreeMap<String, Scalar> = figment.extract().map_err(|e| {
        let mut msg = format!("config file {}: {}", path.display(), e);
        if let Some(k) = e.path.first() {
            msg = format!("config file {}: key `{k}`: {}", path.display(), e.kind);
        }
        one(msg)
    })?;
    let unknown: Vec<ConfigError> = map
        .keys()
        .filter(|k| !KEYS.contains(&k.as_str()))
        .map(|k| ConfigError {
            key: String::new(),
            message: format!(
                "config file {}: unknown key `{k}` (known keys: {})",
                path.display(),
                KEYS.join(", ")
            ),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigErrors(unknown));
    }
    Ok(map)
}

struct Builder<'a> {
    raw: &'a BTreeMap<String, Scalar>,
    errors: Vec<ConfigError>,
}

impl Builder<'_> {
    fn text(&self, key: &str) -> Option<String> {
        self.raw.get(key).map(Scalar::text)
    }

    fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn parse<T>(&mut self, key: &str, default: T, f: impl FnOnce(&str) -> Result<T, String>) -> T {
        match self.text(key) {
            None => default,
            Some(s) => match f(s.trim()) {
                Ok(v) => v,
                Err(m) => {
                    self.fail(key, m);
                    default
                }
            },
        }
    }

    fn optional_text(&self, key: &str) -> Option<String> {
        self.text(key)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    fn duration(&mut self, key: &str, default: time::Duration) -> time::Duration {
        self.parse(key, default, |s| {
            let d = parse_duration(s).map_err(|e| e.to_string())?;
            if d <= time::Duration::ZERO {
                return Err(format!("{s:?} must be a positive duration"));
            }
            Ok(d)
        })
    }

    fn int<T: TryFrom<i64>>(
        &mut self,
        key: &str,
        default: T,
        range: std::ops::RangeInclusive<i64>,
    ) -> T {
        self.parse(key, default, |s| {
            let v: i64 = s
                .parse()
                .map_err(|_| format!("{s:?} is not a whole number"))?;
            if !range.contains(&v) {
                return Err(format!(
                    "{v} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
            T::try_from(v).map_err(|_| format!("{v} is out of range"))
        })
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (true or false)")),
    }
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn build(raw: &BTreeMap<String, Scalar>) -> Result<Config, ConfigErrors> {
    let mut b = Builder {
        raw,
        errors: Vec::new(),
    };
    let bind = b.parse("bind", SocketAddr::from(([127, 0, 0, 1], 8080)), |s| {
        s.parse::<SocketAddr>()
            .map_err(|_| format!("{s:?} is not a listen address such as 0.0.0.0:8080"))
    });
    let admin_bind = b.parse("admin_bind", None, |s| {
        let admin = s
            .parse::<SocketAddr>()
            .map_err(|_| format!("{s:?} is not a listen address such as 0.0.0.0:9090"))?;
        // The same port on an address that overlaps the main listener's
        // would either fail to bind or serve both surfaces on one socket.
        let overlaps =
            admin.ip() == bind.ip() || admin.ip().is_unspecified() || bind.ip().is_unspecified();
        if admin.port() == bind.port() && overlaps {
            return Err(format!(
                "{s:?} overlaps APP_BIND ({bind}); the admin listener needs its own port"
            ));
        }
        Ok(Some(admin))
    });
    let database_url = b.parse("database_url", "sqlite://auth-server.db".to_owned(), |s| {
        if s.starts_with("sqlite://") && s.len() > "sqlite://".len()
            || s == "sqlite::memory:"
            || s.starts_with("postgres://")
            || s.starts_with("postgresql://")
        {
            Ok(s.to_owned())
        } else {
            Err("must be sqlite://PATH, sqlite::memory: or postgres://… (other schemes are not supported)".into())
        }
    });
    let database_pool_size = b.int("database_pool_size", 16u32, 1..=1024);
    let database_pool_timeout = b.parse("database_pool_timeout", StdDuration::from_secs(2), |s| {
        let d = parse_duration(s).map_err(|e| e.to_string())?;
        if d <= time::Duration::ZERO {
            return Err(format!("{s:?} must be a positive duration"));
        }
        StdDuration::try_from(d).map_err(|_| format!("{s:?} is out of range"))
    });
    let issuer = b.optional_text("issuer");
    if let Some(i) = &issuer {
        if !(i.starts_with("https://") || i.starts_with("http://"))
            || i.ends_with('/')
            || i.contains(['?', '#', ' '])
        {
            b.fail(
                "issuer",
                format!("{i:?} must be an http(s) URL without a trailing slash, query or fragment"),
            );
        }
    }
    let require_https = b.parse("require_https", true, parse_bool);
    let seed_clients_file = b.optional_text("seed_clients_file").map(PathBuf::from);
    let seed_service_accounts_file = b
        .optional_text("seed_service_accounts_file")
        .map(PathBuf::from);
    let defaults = SecretPolicy::default();
    let secret_policy = SecretPolicy {
        ttl: b.duration("client_secret_ttl", defaults.ttl),
        grace: b.duration("client_secret_previous_grace_window", defaults.grace),
        rotation_lead: b.duration(
            "client_secret_rotation_required_before_expiry",
            defaults.rotation_lead,
        ),
    };
    let client_secret_min_length = b.int("client_secret_min_length", 16usize, 1..=72);
    let bcrypt_cost = b.int("bcrypt_cost", 10u32, 4..=31);
    let secret_verify_concurrency =
        b.int("secret_verify_concurrency", default_concurrency(), 1..=1024);
    let secret_verify_queue = b.int("secret_verify_queue", 64usize, 0..=1_000_000);
    let token_failure_limit = b.int("token_failure_limit", 30u32, 0..=1_000_000);
    let token_failure_limit_per_client =
        b.int("token_failure_limit_per_client", 300u32, 0..=1_000_000);
    let forwarded_trusted_proxies = b.optional_text("forwarded_trusted_proxies");
    let forwarded_headers = b.parse("forwarded_headers", ForwardedHeaders::default(), |s| {
        s.parse::<ForwardedHeaders>()
    });
    let signing_alg = b.parse("signing_alg", "RS256".to_owned(), |s| match s {
        "RS256" | "ES256" | "EdDSA" => Ok(s.to_owned()),
        _ => Err(format!("{s:?} is not one of RS256, ES256, EdDSA")),
    });
    // The secret's value is never echoed in an error.
    let keys_encryption_secret = match b.raw.get("keys_encryption_secret").map(Scalar::text) {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) if s.len() < 32 => {
            b.fail(
                "keys_encryption_secret",
                format!("must be at least 32 bytes (it has {})", s.len()),
            );
            None
        }
        Some(s) => Some(Secret::new(s)),
    };
    let log_format = b.parse("log_format", LogFormat::Json, |s| match s {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        _ => Err(format!("{s:?} is not json or pretty")),
    });
    let otlp_endpoint = b.optional_text("otlp_endpoint");
    if let Some(e) = &otlp_endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) || e.contains([' ', '?', '#']) {
            b.fail(
                "otlp_endpoint",
                format!(
                    "{:?} must be an http(s) base URL such as http://collector:4318",
                    redact_url(e)
                ),
            );
        }
    }
    let shutdown_drain = b.parse("shutdown_drain", StdDuration::from_secs(5), |s| {
        let d = parse_duration(s).map_err(|e| e.to_string())?;
        if d < time::Duration::ZERO || d > time::Duration::minutes(10) {
            return Err(format!("{s:?} must be between PT0S and PT10M"));
        }
        StdDuration::try_from(d).map_err(|_| format!("{s:?} is out of range"))
    });
    if !b.errors.is_empty() {
        return Err(ConfigErrors(b.errors));
    }
    let database_pool_size = if database_url == "sqlite::memory:" {
        1
    } else {
        database_pool_size
    };
    Ok(Config {
        bind,
        admin_bind,
        database_url,
        database_pool_size,
        database_pool_timeout,
        issuer,
        require_https,
        seed_clients_file,
        seed_service_accounts_file,
        secret_policy,
        client_secret_min_length,
        bcrypt_cost,
        secret_verify_concurrency,
        secret_verify_queue,
        token_failure_limit,
        token_failure_limit_per_client,
        forwarded_trusted_proxies,
        forwarded_headers,
        signing_alg,
        keys_encryption_secret,
        log_format,
        otlp_endpoint,
        shutdown_drain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_spec() {
        let c = load(None, &env(&[])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_bind, None);
        assert_eq!(c.database_url, "sqlite://auth-server.db");
        assert_eq!(c.database_pool_size, 16);
        assert_eq!(c.database_pool_timeout, StdDuration::from_secs(2));
        assert!(c.issuer.is_none());
        assert!(c.require_https);
        assert_eq!(c.secret_policy, SecretPolicy::default());
        assert_eq!(c.client_secret_min_length, 16);
        assert_eq!(c.bcrypt_cost, 10);
        assert_eq!(c.secret_verify_queue, 64);
        assert_eq!(c.token_failure_limit, 30);
        assert_eq!(c.signing_alg, "RS256");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn forwarded_headers_are_trusted_from_loopback_only_by_default() {
        let c = load(None, &env(&[])).unwrap();
        let http = crate::startup::http_config(&c).unwrap();
        let trusted = |ip: &str| http.trusted_proxies.contains(ip.parse().unwrap());
        for inside in ["127.0.0.1", "127.0.0.6", "::1"] {
            assert!(trusted(inside), "{inside} should be trusted");
        }
        for outside in [
            "10.0.0.5",
            "192.168.1.1",
            "172.16.0.1",
            "fd00::1",
            "203.0.113.1",
        ] {
            assert!(!trusted(outside), "{outside} should not be trusted");
        }
        assert_eq!(
            http.forwarded_headers,
            auth_service::forwarded::ForwardedHeaders::XForwarded
        );
        assert_eq!(c.token_failure_limit_per_client, 300);
        let c = load(None, &env(&[("APP_FORWARDED_HEADERS", "forwarded")])).unwrap();
        assert_eq!(
            crate::startup::http_config(&c).unwrap().forwarded_headers,
            auth_service::forwarded::ForwardedHeaders::Forwarded
        );
    }

    #[test]
    fn env_overrides_toml_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nclient_secret_ttl = \"P30D\"\nbcrypt_cost = 12\nrequire_https = false\n").unwrap();
        let c = load(
            Some(&path),
            &env(&[("APP_BCRYPT_COST", "11"), ("APP_UNRELATED_SECRET", "x")]),
        )
        .unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
        assert_eq!(c.secret_policy.ttl, time::Duration::days(30));
        assert_eq!(c.bcrypt_cost, 11);
        assert!(!c.require_https);
        // APP_CONFIG_FILE works like --config.
        let c = load(None, &env(&[("APP_CONFIG_FILE", path.to_str().unwrap())])).unwrap();
        assert_eq!(c.bcrypt_cost, 12);
    }

    #[test]
    fn unknown_toml_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nbcrypt_costt = 12\n").unwrap();
        let e = load(Some(&path), &env(&[])).unwrap_err().to_string();
        assert!(e.contains("bcrypt_costt") && e.contains("c.toml"), "{e}");
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nthis is not toml\n").unwrap();
        let e = load(Some(&path), &env(&[])).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let cases = [
            ("APP_CLIENT_SECRET_TTL", "P1Y", "APP_CLIENT_SECRET_TTL"),
            (
                "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW",
                "PT",
                "APP_CLIENT_SECRET_PREVIOUS_GRACE_WINDOW",
            ),
            ("APP_DATABASE_URL", "mysql://x", "APP_DATABASE_URL"),
            ("APP_DATABASE_URL", "auth.db", "APP_DATABASE_URL"),
            ("APP_BCRYPT_COST", "3", "APP_BCRYPT_COST"),
            ("APP_BCRYPT_COST", "32", "APP_BCRYPT_COST"),
            ("APP_BIND", "localhost", "APP_BIND"),
            ("APP_ADMIN_BIND", "localhost:9090", "APP_ADMIN_BIND"),
            ("APP_ADMIN_BIND", "127.0.0.1:8080", "APP_ADMIN_BIND"),
            ("APP_ADMIN_BIND", "0.0.0.0:8080", "APP_ADMIN_BIND"),
            ("APP_REQUIRE_HTTPS", "maybe", "APP_REQUIRE_HTTPS"),
            ("APP_SIGNING_ALG", "HS256", "APP_SIGNING_ALG"),
            ("APP_LOG_FORMAT", "xml", "APP_LOG_FORMAT"),
            ("APP_DATABASE_POOL_SIZE", "0", "APP_DATABASE_POOL_SIZE"),
            ("APP_ISSUER", "https://auth.example/", "APP_ISSUER"),
            ("APP_FORWARDED_HEADERS", "both", "APP_FORWARDED_HEADERS"),
            (
                "APP_FORWARDED_HEADERS",
                "x-forwarded-for",
                "APP_FORWARDED_HEADERS",
            ),
            (
                "APP_TOKEN_FAILURE_LIMIT_PER_CLIENT",
                "-1",
                "APP_TOKEN_FAILURE_LIMIT_PER_CLIENT",
            ),
        ];
        for (var, value, named) in cases {
            let e = load(None, &env(&[(var, value)])).unwrap_err().to_string();
            assert!(e.contains(named), "{var}={value}: {e}");
        }
    }

    #[test]
    fn admin_bind_is_a_second_address_of_its_own() {
        let c = load(None, &env(&[("APP_ADMIN_BIND", "0.0.0.0:9090")])).unwrap();
        assert_eq!(
            c.admin_bind.map(|a| a.to_string()).as_deref(),
            Some("0.0.0.0:9090")
        );
        // Another address on the same port does not overlap.
        let c = load(
            None,
            &env(&[
                ("APP_BIND", "10.0.0.1:8080"),
                ("APP_ADMIN_BIND", "127.0.0.1:8080"),
            ]),
        )
        .unwrap();
        assert_eq!(c.admin_bind.map(|a| a.port()), Some(8080));
    }

    #[test]
    fn short_encryption_secret_is_refused_without_echoing_it() {
        let e = load(
            None,
            &env(&[("APP_KEYS_ENCRYPTION_SECRET", "short-secret-value")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("APP_KEYS_ENCRYPTION_SECRET") && !e.contains("short-secret-value"),
            "{e}"
        );
        let ok = load(
            None,
            &env(&[("APP_KEYS_ENCRYPTION_SECRET", &"k".repeat(32))]),
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains(&"k".repeat(32)));
    }

    #[test]
    fn all_problems_are_reported_together() {
        let e = load(
            None,
            &env(&[("APP_BCRYPT_COST", "99"), ("APP_CLIENT_SECRET_TTL", "nope")]),
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 2);
    }

    #[test]
    fn memory_database_forces_one_connection() {
        let c = load(None, &env(&[("APP_DATABASE_URL", "sqlite::memory:")])).unwrap();
        assert_eq!(c.database_pool_size, 1);
    }

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("postgres://u@h/db?password=pw-in-query"),
            "postgres://u@h/db?password=***"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn debug_never_shows_a_database_password() {
        for url in [
            "postgres://u:Pw-userinfo-1234@127.0.0.1/db",
            "postgres://u@127.0.0.1/db?password=Pw-query-1234",
        ] {
            let c = load(None, &env(&[("APP_DATABASE_URL", url)])).unwrap();
            let shown = format!("{c:?}");
            assert!(!shown.contains("Pw-"), "{shown}");
            assert!(shown.contains("127.0.0.1"), "{shown}");
        }
    }
}
