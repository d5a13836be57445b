//! Scope sets (RFC 6749 §3.3): space-separated tokens of `%x21 / %x23-5B /
//! %x5D-7E`. Order is kept (granted scopes are listed in registered order)
//! and duplicates are dropped.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope token {0:?} contains a character RFC 6749 §3.3 does not allow")]
    InvalidToken(String),
    #[error("scope has empty tokens (leading, trailing or repeated spaces)")]
    EmptyToken,
}

fn valid_token_byte(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

impl ScopeSet {
    /// Parses a space-separated scope string. An empty string is the empty
    /// set. Tokens must be separated by exactly one space (RFC 6749's
    /// grammar), so `"a  b"` and `" a"` are malformed.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut out: Vec<String> = Vec::new();
        for token in s.split(' ') {
            if token.is_empty() {
                return Err(ScopeError::EmptyToken);
            }
            if !token.bytes().all(valid_token_byte) {
                return Err(ScopeError::InvalidToken(token.to_owned()));
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// The scopes to grant for a request: all registered scopes when none
    /// were requested, else the requested ones in registered order. `Err`
    /// carries the first requested token that is not registered.
    pub fn grant(&self, requested: &ScopeSet) -> Result<ScopeSet, String> {
        if requested.is_empty() {
            return Ok(self.clone());
        }
        if let Some(missing) = requested.iter().find(|t| !self.contains(t)) {
            return Err(missing.to_owned());
        }
        Ok(Self(
            self.0
                .iter()
                .filter(|t| requested.contains(t))
                .cloned()
                .collect(),
        ))
    }

    /// The space-separated form, or `None` for the empty set.
    pub fn to_option_string(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keeps_order_and_drops_duplicates() {
        let s = ScopeSet::parse("write read write").unwrap();
        assert_eq!(s.to_string(), "write read");
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert_eq!(ScopeSet::parse("a  b"), Err(ScopeError::EmptyToken));
        assert_eq!(ScopeSet::parse(" a"), Err(ScopeError::EmptyToken));
        assert!(matches!(
            ScopeSet::parse("a\"b"),
            Err(ScopeError::InvalidToken(_))
        ));
        assert!(matches!(
            ScopeSet::parse("a\\b"),
            Err(ScopeError::InvalidToken(_))
        ));
        assert!(matches!(
            ScopeSet::parse("a\tb"),
            Err(ScopeError::InvalidToken(_))
        ));
        assert!(matches!(
            ScopeSet::parse("caf\u{e9}"),
            Err(ScopeError::InvalidToken(_))
        ));
    }

    #[test]
    fn grant_uses_registered_order_and_rejects_unknown() {
        let registered = ScopeSet::parse("read write admin").unwrap();
        let all = registered.grant(&ScopeSet::default()).unwrap();
        assert_eq!(all.to_string(), "read write admin");
        let some = registered
            .grant(&ScopeSet::parse("admin read").unwrap())
            .unwrap();
        assert_eq!(some.to_string(), "read admin");
        assert_eq!(
            registered.grant(&ScopeSet::parse("delete").unwrap()),
            Err("delete".into())
        );
    }
}
