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
