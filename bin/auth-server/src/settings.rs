//! What an operator reads about the settings: the table that
//! `auth-server --help` prints (variable, default, meaning), and
//! `auth-server config`, the effective value of every setting after
//! defaults < TOML file < environment with the layer it came from and its
//! secrets masked. The values shown are read back from the validated
//! [`Config`], so what is printed is what the server would run with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigErrors, LogFormat};

/// One setting as documented: TOML key (the variable is `APP_` + upper
/// case), the default as words, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

impl Setting {
    pub fn variable(&self) -> String {
        format!("APP_{}", self.key.to_ascii_uppercase())
    }
}

/// Every setting, in the order of docs/configuration.md. A test keeps the
/// keys equal to [`config::KEYS`], and each concrete default equal to what
/// the configuration really uses.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "bind",
        default: "127.0.0.1:8080",
        meaning: "listen address",
    },
    Setting {
        key: "admin_bind",
        default: "unset",
        meaning: "a second listener that alone serves the admin API, /metrics, /openapi.json and /docs",
    },
    Setting {
        key: "database_url",
        default: "sqlite://auth-server.db",
        meaning: "sqlite://PATH, sqlite::memory: or postgres://…",
    },
    Setting {
        key: "database_pool_size",
        default: "16",
        meaning: "connection pool size",
    },
    Setting {
        key: "database_pool_timeout",
        default: "PT2S",
        meaning: "longest wait for a connection before a 503",
    },
    Setting {
        key: "issuer",
        default: "derived per request",
        meaning: "the issuer URL in tokens and discovery; set it with several replicas",
    },
    Setting {
        key: "require_https",
        default: "true",
        meaning: "refuse credential-bearing endpoints over plain HTTP",
    },
    Setting {
        key: "seed_clients_file",
        default: "unset",
        meaning: "clients seed file (YAML)",
    },
    Setting {
        key: "seed_service_accounts_file",
        default: "unset",
        meaning: "service accounts seed file (YAML)",
    },
    Setting {
        key: "client_secret_ttl",
        default: "P365D",
        meaning: "lifetime of a client secret",
    },
    Setting {
        key: "client_secret_previous_grace_window",
        default: "P7D",
        meaning: "how long the previous secret stays valid after a rotation",
    },
    Setting {
        key: "client_secret_rotation_required_before_expiry",
        default: "P28D",
        meaning: "lead time before expiry at which rotationRequired turns true",
    },
    Setting {
        key: "client_secret_min_length",
        default: "16",
        meaning: "shortest seeded secret accepted, in bytes",
    },
    Setting {
        key: "bcrypt_cost",
        default: "10",
        meaning: "BCrypt cost for new hashes (4-31)",
    },
    Setting {
        key: "secret_verify_concurrency",
        default: "number of cores",
        meaning: "secret verifications running at once",
    },
    Setting {
        key: "secret_verify_queue",
        default: "64",
        meaning: "verifications waiting beyond that; more answer 503",
    },
    Setting {
        key: "token_failure_limit",
        default: "30",
        meaning: "failed authentications per client and source per minute before 429",
    },
    Setting {
        key: "token_failure_limit_per_client",
        default: "300",
        meaning: "failed authentications per client over all sources per minute before 429",
    },
    Setting {
        key: "forwarded_trusted_proxies",
        default: "127.0.0.0/8,::1",
        meaning: "CIDRs (or *) whose forwarded headers are honoured",
    },
    Setting {
        key: "forwarded_headers",
        default: "x-forwarded",
        meaning: "header family the proxy writes: x-forwarded or forwarded",
    },
    Setting {
        key: "signing_alg",
        default: "RS256",
        meaning: "RS256, ES256 or EdDSA; a change makes a new active key at startup",
    },
    Setting {
        key: "keys_encryption_secret",
        default: "unset",
        meaning: "at least 32 bytes; encrypts signing keys at rest",
    },
    Setting {
        key: "log_format",
        default: "json",
        meaning: "json or pretty",
    },
    Setting {
        key: "otlp_endpoint",
        default: "unset",
        meaning: "OTLP/HTTP collector base URL for traces (or OTEL_EXPORTER_OTLP_ENDPOINT); unset and no OTEL_ endpoint: tracing off",
    },
    Setting {
        key: "shutdown_drain",
        default: "PT5S",
        meaning: "after SIGTERM, how long /readyz answers 503 while requests are still served, before the graceful stop",
    },
];

/// The settings table printed after `auth-server --help`.
pub fn help_text() -> String {
    let mut text = String::from(
        "Settings (environment variable, default, meaning). Each is also a key of the --config \
         TOML file: the name without APP_, in lower case. Precedence: defaults < TOML file < \
         environment. Durations are ISO-8601 (P30D, PT2H, PT0.5S). `auth-server config` shows \
         the effective values and where each came from.\n\n",
    );
    for s in SETTINGS {
        let _ = writeln!(
            text,
            "  {} [default: {}]\n      {}",
            s.variable(),
            s.default,
            s.meaning
        );
    }
    text.push_str("  APP_CONFIG_FILE\n      the TOML file, like --config\n");
    text
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Environment(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Environment(v) => write!(f, "environment {v}"),
        }
    }
}

/// One line of `auth-server config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub variable: String,
    pub value: String,
    pub origin: Origin,
}

/// The effective configuration, validated as `serve` would validate it:
/// every setting's value (secrets masked, passwords in the database URL
/// masked) and the layer it came from.
pub fn effective(
    config_file: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Effective>, ConfigErrors> {
    let config = config::load(config_file, env)?;
    let (file, file_keys) = config::file_layer(config_file, env)?;
    Ok(SETTINGS
        .iter()
        .map(|s| {
            let variable = s.variable();
            let origin = if env.contains_key(&variable) {
                Origin::Environment(variable.clone())
            } else if let (Some(path), true) = (&file, file_keys.iter().any(|k| k == s.key)) {
                Origin::File(path.clone())
            } else {
                Origin::Default
            };
            Effective {
                value: value_of(&config, s.key),
                variable,
                origin,
            }
        })
        .collect())
}

/// `auth-server config`'s output: aligned `VARIABLE = value  (origin)` lines.
pub fn render(lines: &[Effective]) -> String {
    let vw = lines.iter().map(|l| l.variable.len()).max().unwrap_or(0);
    let xw = lines.iter().map(|l| l.value.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|l| format!("{:<vw$} = {:<xw$}  ({})\n", l.variable, l.value, l.origin))
        .collect()
}

fn value_of(c: &Config, key: &str) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unset".to_owned());
    let path = |p: &Option<PathBuf>| opt(p.as_ref().map(|p| p.display().to_string()));
    match key {
        "bind" => c.bind.to_string(),
        "admin_bind" => opt(c.admin_bind.map(|a| a.to_string())),
        "database_url" => config::redact_url(&c.database_url),
        "database_pool_size" => c.database_pool_size.to_string(),
        "database_pool_timeout" => iso_duration(
            time::Duration::try_from(c.database_pool_timeout).unwrap_or(time::Duration::MAX),
        ),
        "issuer" => c
            .issuer
            .clone()
            .unwrap_or_else(|| "unset (derived per request)".to_owned()),
        "require_https" => c.require_https.to_string(),
        "seed_clients_file" => path(&c.seed_clients_file),
        "seed_service_accounts_file" => path(&c.seed_service_accounts_file),
        "client_secret_ttl" => iso_duration(c.secret_policy.ttl),
        "client_secret_previous_grace_window" => iso_duration(c.secret_policy.grace),
        "client_secret_rotation_required_before_expiry" => {
            iso_duration(c.secret_policy.rotation_lead)
        }
        "client_secret_min_length" => c.client_secret_min_length.to_string(),
        "bcrypt_cost" => c.bcrypt_cost.to_string(),
        "secret_verify_concurrency" => c.secret_verify_concurrency.to_string(),
        "secret_verify_queue" => c.secret_verify_queue.to_string(),
        "token_failure_limit" => c.token_failure_limit.to_string(),
        "token_failure_limit_per_client" => c.token_failure_limit_per_client.to_string(),
        "forwarded_trusted_proxies" => c
            .forwarded_trusted_proxies
            .clone()
            .unwrap_or_else(|| "127.0.0.0/8,::1".to_owned()),
        "forwarded_headers" => c.forwarded_headers.as_str().to_owned(),
        "signing_alg" => c.signing_alg.clone(),
        "keys_encryption_secret" => match &c.keys_encryption_secret {
            Some(_) => "[REDACTED]".to_owned(),
            None => "unset".to_owned(),
        },
        "log_format" => match c.log_format {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        }
        .to_owned(),
        "otlp_endpoint" => opt(c.otlp_endpoint.as_deref().map(config::redact_url)),
        "shutdown_drain" => {
            iso_duration(time::Duration::try_from(c.shutdown_drain).unwrap_or(time::Duration::MAX))
        }
        other => format!("(no value for {other})"),
    }
}

/// A duration as ISO-8601 (`P7D`, `PT2S`, `P1DT12H30M`, `PT0.5S`), the
/// notation the settings take.
pub fn iso_duration(d: time::Duration) -> String {
    let ms = d.whole_milliseconds();
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (hours, rest) = (rest / 3_600_000, rest % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (secs, millis) = (rest / 1000, rest % 1000);
    let mut s = String::from("P");
    if days > 0 {
        let _ = write!(s, "{days}D");
    }
    if hours + minutes + secs + millis > 0 {
        s.push('T');
        if hours > 0 {
            let _ = write!(s, "{hours}H");
        }
        if minutes > 0 {
            let _ = write!(s, "{minutes}M");
        }
        if millis > 0 {
            let frac = format!("{millis:03}");
            let _ = write!(s, "{secs}.{}S", frac.trim_end_matches('0'));
        } else if secs > 0 {
            let _ = write!(s, "{secs}S");
        }
    }
    if s == "P" {
        s.push_str("T0S");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_once() {
        let documented: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        let mut a = documented.clone();
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), documented.len(), "a setting is listed twice");
        let mut b: Vec<&str> = config::KEYS.to_vec();
        b.sort_unstable();
        assert_eq!(a, b, "settings help and config::KEYS differ");
    }

    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let c = config::load(None, &BTreeMap::new()).unwrap();
        for s in SETTINGS {
            let words = ["unset", "derived per request", "number of cores"];
            if words.contains(&s.default) {
                continue;
            }
            assert_eq!(value_of(&c, s.key), s.default, "default of {}", s.key);
        }
    }

    #[test]
    fn every_setting_has_a_value() {
        let c = config::load(None, &BTreeMap::new()).unwrap();
        for s in SETTINGS {
            assert!(!value_of(&c, s.key).starts_with("(no value"), "{}", s.key);
        }
    }

    #[test]
    fn durations_print_as_they_are_written() {
        for text in ["P7D", "PT2S", "P1DT12H30M", "PT0.5S", "P365D", "PT1H0.25S"] {
            let d = auth_domain::parse_duration(text).unwrap();
            assert_eq!(iso_duration(d), text);
        }
    }

    #[test]
    fn origins_follow_the_precedence_and_secrets_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("auth.toml");
        std::fs::write(&toml, "bcrypt_cost = 12\nlog_format = \"pretty\"\n").unwrap();
        let env: BTreeMap<String, String> = [
            ("APP_LOG_FORMAT", "json"),
            (
                "APP_DATABASE_URL",
                "postgres://auth:Pw-hidden-1@127.0.0.1/auth?password=Pw-hidden-2",
            ),
            (
                "APP_KEYS_ENCRYPTION_SECRET",
                "0123456789abcdef0123456789abcdef-key",
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let lines = effective(Some(&toml), &env).unwrap();
        let get = |v: &str| lines.iter().find(|l| l.variable == v).unwrap().clone();
        assert_eq!(get("APP_BCRYPT_COST").value, "12");
        assert_eq!(get("APP_BCRYPT_COST").origin, Origin::File(toml.clone()));
        assert_eq!(get("APP_LOG_FORMAT").value, "json");
        assert_eq!(
            get("APP_LOG_FORMAT").origin,
            Origin::Environment("APP_LOG_FORMAT".into())
        );
        assert_eq!(get("APP_BIND").origin, Origin::Default);
        assert_eq!(get("APP_KEYS_ENCRYPTION_SECRET").value, "[REDACTED]");
        let text = render(&lines);
        for secret in [
            "Pw-hidden-1",
            "Pw-hidden-2",
            "0123456789abcdef0123456789abcdef-key",
        ] {
            assert!(!text.contains(secret), "{secret} printed:\n{text}");
        }
        assert!(text.contains(&format!("(file {})", toml.display())));
    }
}
