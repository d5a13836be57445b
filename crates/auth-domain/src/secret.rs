//! Plaintext secrets and their stored hashes. Both redact themselves in
//! `Debug` and `Display`, so neither can reach a log line or an error body by
//! accident; the plaintext is reached only through [`Secret::expose`].

use std::fmt;

use base64::Engine as _;

/// A plaintext client secret. Never logged, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The plaintext, for hashing, verifying and the one-time reveal.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes, which is what BCrypt's 72-byte limit counts.
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A stored, self-describing secret hash: `$2a$`/`$2b$`/`$2y$` BCrypt,
/// Spring's `{bcrypt}`-prefixed BCrypt, or an argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([REDACTED])")
    }
}

/// A new secret: 32 bytes from the OS CSPRNG, base64url without padding
/// (see docs/reference/secret-lifecycle.md), so 43 characters.
pub fn generate_secret() -> Result<Secret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(Secret(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-hunter2-hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        let h = SecretHash::new("$2b$04$abcdefghijklmnopqrstuv");
        assert!(!format!("{h:?}").contains("abcdef"));
    }

    #[test]
    fn generated_secrets_are_43_url_safe_chars_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
