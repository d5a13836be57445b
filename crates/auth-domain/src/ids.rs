//! Client identifiers (see docs/reference/seed-files.md#the-clients-file): 1–255 printable ASCII characters
//! (`%x21-7E`), case-sensitive.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 255 characters")]
    TooLong,
    #[error("must contain only printable ASCII characters (%x21-7E)")]
    InvalidCharacter,
}

impl ClientId {
    pub fn parse(s: &str) -> Result<Self, ClientIdError> {
        if s.is_empty() {
            return Err(ClientIdError::Empty);
        }
        if s.len() > 255 {
            return Err(ClientIdError::TooLong);
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ClientIdError::InvalidCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii_up_to_255() {
        assert!(ClientId::parse("my-service").is_ok());
        assert!(ClientId::parse("a:b%c+d~!").is_ok());
        assert!(ClientId::parse(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_empty_long_space_control_and_non_ascii() {
        assert_eq!(ClientId::parse(""), Err(ClientIdError::Empty));
        assert_eq!(
            ClientId::parse(&"x".repeat(256)),
            Err(ClientIdError::TooLong)
        );
        for bad in ["a b", "a\nb", "a\0b", "caf\u{e9}", "a\x7f"] {
            assert_eq!(
                ClientId::parse(bad),
                Err(ClientIdError::InvalidCharacter),
                "{bad:?}"
            );
        }
    }
}
