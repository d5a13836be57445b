//! What the server may print about `APP_DATABASE_URL`: the URL and any
//! message that may quote it (libpq repeats a token it cannot parse, such
//! as a password with an unescaped `%`) with the password masked, wherever
//! it is written — in the userinfo (`postgres://user:PASSWORD@host/db`) or
//! as a `password=` query parameter.

/// What replaces a password.
const MASK: &str = "***";

/// `text` with every password `url` carries, as written and
/// percent-decoded, replaced by `***`: applied to the URL itself, it masks
/// the password in place; applied to a message quoting the URL or part of
/// it, it masks it there too. Every place that prints the URL or a
/// connection error passes it through this. A password short enough to
/// occur elsewhere in the text masks that too: better too much than too
/// little.
pub fn redact_password(text: &str, url: &str) -> String {
    let mut out = text.to_owned();
    for p in passwords(url) {
        out = out.replace(&p, MASK);
    }
    out
}

/// Every password the URL carries, as written and percent-decoded, longest
/// first so that a decoded value inside a written one does not split it.
fn passwords(url: &str) -> Vec<String> {
    let mut raw = Vec::new();
    if let Some(start) = url.find("://") {
        let rest = &url[start + 3..];
        // The userinfo ends at the last `@` before the query; should an
        // unescaped `?` sit in the password, at the last `@` of all.
        let query = rest.find('?').unwrap_or(rest.len());
        if let Some(at) = rest[..query].rfind('@').or_else(|| rest.rfind('@')) {
            if let Some((_, p)) = rest[..at].split_once(':') {
                raw.push(p.to_owned());
            }
        }
    }
    // Every `password=` parameter, wherever the query is taken to start.
    let lower = url.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password=") {
        let key = from + found;
        let value = key + "password=".len();
        if key > 0 && matches!(url.as_bytes()[key - 1], b'?' | b'&') {
            let end = url[value..]
                .find(['&', '#'])
                .map_or(url.len(), |e| value + e);
            raw.push(url[value..end].to_owned());
        }
        from = value;
    }
    let mut all: Vec<String> = Vec::new();
    for p in raw {
        let decoded = percent_decode(&p);
        all.push(p);
        all.push(decoded);
    }
    all.retain(|p| !p.is_empty());
    all.sort_by_key(|p| std::cmp::Reverse(p.len()));
    all.dedup();
    all
}

/// A warning when `url` reaches PostgreSQL on a host other than this one
/// (not a unix socket, `localhost`, `127.0.0.0/8` or `::1`) without
/// `sslmode=verify-full` or `verify-ca`: whoever is on the network path can
/// then read or change the traffic, secret hashes included. `None` for
/// SQLite, for local connections and for verified TLS. Pure: no I/O, no
/// name resolution. Never repeats the password.
pub fn tls_warning(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let params = query_params(rest);
    let sslmode = params
        .iter()
        .rev()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.as_str());
    if matches!(sslmode, Some("verify-full" | "verify-ca")) {
        return None;
    }
    // Query parameters override the URL's host part, as in libpq.
    let from_query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "host" || k == "hostaddr")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let hosts = if params.iter().any(|(k, _)| k == "host") {
        from_query
    } else {
        let mut hosts = url_hosts(rest);
        hosts.extend(from_query);
        hosts
    };
    let remote: Vec<String> = hosts
        .iter()
        .filter(|h| !is_local(h))
        .map(|h| h.escape_debug().to_string())
        .collect();
    if remote.is_empty() {
        return None;
    }
    Some(format!(
        "APP_DATABASE_URL reaches PostgreSQL on {} without sslmode=verify-full or sslmode=verify-ca: \
         the connection's encryption and the server's identity are not verified (see docs/deployment.md)",
        remote.join(", ")
    ))
}

/// The query parameters of a URL (after `scheme://`), percent-decoded,
/// keys in lower case.
fn query_params(rest: &str) -> Vec<(String, String)> {
    let after_userinfo = userinfo_split(rest).1;
    let Some((_, query)) = after_userinfo.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k).to_ascii_lowercase(), percent_decode(v)))
        .collect()
}

/// (userinfo, the rest) of what follows `scheme://`.
fn userinfo_split(rest: &str) -> (&str, &str) {
    let query = rest.find('?').unwrap_or(rest.len());
    match rest[..query].rfind('@') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => ("", rest),
    }
}

/// The hosts of the URL's host part (`h1:5432,[::1]:5433`), without ports
/// and brackets, percent-decoded; an empty host part is the default unix
/// socket, given as "".
fn url_hosts(rest: &str) -> Vec<String> {
    let after = userinfo_split(rest).1;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    after[..end]
        .split(',')
        .map(|spec| {
            let host = match spec.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => spec.split(':').next().unwrap_or_default(),
            };
            percent_decode(host)
        })
        .collect()
}

/// Whether a libpq host names this machine: a unix socket directory (or
/// none, the default socket), `localhost`, or a loopback address.
fn is_local(host: &str) -> bool {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.is_empty()
        || host.starts_with('/')
        || host.starts_with('@')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Percent-decoding as libpq does it; an invalid escape is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_userinfo_password() {
        let url = "postgres://auth:s3cret@db.internal:5432/auth";
        assert_eq!(
            redact_password(url, url),
            "postgres://auth:***@db.internal:5432/auth"
        );
    }

    #[test]
    fn masks_a_password_query_parameter() {
        let url =
            "postgresql://auth@db/auth?sslmode=verify-full&password=s3cret&application_name=a";
        assert_eq!(
            redact_password(url, url),
            "postgresql://auth@db/auth?sslmode=verify-full&password=***&application_name=a"
        );
    }

    #[test]
    fn masks_both_and_awkward_characters() {
        let url = "postgres://u:p%40ss@h/db?password=q%26r#frag";
        let masked = redact_password(url, url);
        assert_eq!(masked, "postgres://u:***@h/db?password=***#frag");
        for (url, password) in [
            ("postgres://u:p@ss@h/db", "p@ss"),
            ("postgres://u:pa?ss@h/db", "pa?ss"),
            (
                "postgres://h/db?sslmode=require&PASSWORD=Upper-pw",
                "Upper-pw",
            ),
        ] {
            let masked = redact_password(url, url);
            assert!(!masked.contains(password), "{masked}");
            assert!(masked.contains("***"), "{masked}");
        }
    }

    #[test]
    fn masks_the_password_inside_other_text_as_written_and_decoded() {
        let url = "postgres://u:bad%zzpw@127.0.0.1:1/db";
        let libpq = "invalid percent-encoded token: \"bad%zzpw\"";
        assert_eq!(
            redact_password(libpq, url),
            "invalid percent-encoded token: \"***\""
        );
        let url = "postgres://u:a%2Fb-pw@h/db";
        assert_eq!(redact_password("password a/b-pw", url), "password ***");
        let message = format!("database {url}: down");
        assert_eq!(
            redact_password(&message, url),
            "database postgres://u:***@h/db: down"
        );
    }

    #[test]
    fn remote_hosts_without_verified_tls_are_warned_about() {
        for url in [
            "postgres://auth:pw@db.example.com:5432/auth",
            "postgresql://db.example.com/auth",
            "postgres://auth@db.example.com/auth?sslmode=require",
            "postgres://auth@db.example.com/auth?sslmode=disable",
            "postgres://auth@10.0.0.5/auth?sslmode=prefer",
            "postgres://auth@[2001:db8::1]:5432/auth",
            "postgres://auth@127.0.0.1,db.example.com/auth",
            "postgres://auth@127.0.0.1/auth?host=db.example.com",
            "postgres://auth@localhost/auth?hostaddr=192.0.2.7",
            "postgres://auth@db%2Eexample.com/auth",
            // A later sslmode wins in libpq, as here.
            "postgres://db.example.com/auth?sslmode=verify-full&sslmode=require",
        ] {
            let w = tls_warning(url);
            assert!(w.is_some(), "{url}");
            assert!(!w.unwrap().contains("pw@"), "{url}");
        }
        let w = tls_warning("postgres://auth:s3cret@db.example.com/auth").unwrap();
        assert!(w.contains("db.example.com") && !w.contains("s3cret"), "{w}");
        assert!(w.contains("verify-full"), "{w}");
    }

    #[test]
    fn local_connections_and_verified_tls_are_not_warned_about() {
        for url in [
            "sqlite://auth.db",
            "sqlite::memory:",
            "postgres://auth:pw@db.example.com/auth?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
            "postgres://db.example.com/auth?sslmode=verify-ca",
            "postgres://auth@127.0.0.1:5432/auth",
            "postgres://auth@127.8.9.10/auth",
            "postgres://auth@localhost/auth",
            "postgres://auth@LOCALHOST:5432/auth",
            "postgres://auth@[::1]:5432/auth",
            "postgres://auth@/auth",
            "postgres:///auth",
            "postgres:///auth?host=/var/run/postgresql",
            "postgres://%2Fvar%2Frun%2Fpostgresql/auth",
            "postgres://auth@db.example.com/auth?host=/tmp",
            "postgres://a:p@ss@127.0.0.1/auth",
        ] {
            assert_eq!(tls_warning(url), None, "{url}");
        }
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            "sqlite://auth.db",
            "sqlite::memory:",
            "postgres://auth@db/auth",
            "postgres://db/auth?sslmode=require",
            "postgres://auth:@db/auth",
            "postgres://db/auth?password=",
            "postgres://db/auth?user=a@b",
        ] {
            assert_eq!(redact_password(url, url), url);
        }
    }
}
