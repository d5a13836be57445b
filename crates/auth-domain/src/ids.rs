//! Client and service-account identifiers (see
//! docs/reference/seed-files.md): 1–255 printable ASCII characters
//! (`%x21-7E`), case-sensitive. Both kinds follow the one rule of
//! [`check_id`], so the seed files and the admin API accept the same ids.

use std::fmt;

/// Why a string is not a valid client or service-account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 255 characters")]
    TooLong,
    #[error("must contain only printable ASCII characters (%x21-7E)")]
    InvalidCharacter,
}

/// The name client ids have always had for [`IdError`].
pub type ClientIdError = IdError;

/// The one rule for ids: 1–255 printable ASCII characters (`%x21-7E`), so
/// no space, control character or non-ASCII letter.
fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > 255 {
        return Err(IdError::TooLong);
    }
    if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(IdError::InvalidCharacter);
    }
    Ok(())
}

/// An id type holding a string that passed [`check_id`].
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_id(s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A client's id.
    ClientId
);

id_type!(
    /// A service account's id. Accounts are stored and looked up by plain
    /// strings (an id that cannot be valid is simply never found); this type
    /// is what a new account's id must pass, whether it comes from a seed
    /// file or from the admin API.
    ServiceAccountId
);

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

    #[test]
    fn service_account_ids_follow_the_client_id_rule() {
        assert!(ServiceAccountId::parse("svc-reporting").is_ok());
        assert!(ServiceAccountId::parse(&"x".repeat(255)).is_ok());
        assert_eq!(ServiceAccountId::parse(""), Err(IdError::Empty));
        assert_eq!(
            ServiceAccountId::parse(&"x".repeat(256)),
            Err(IdError::TooLong)
        );
        for bad in ["svc reporting", "svc\tx", "caf\u{e9}"] {
            assert_eq!(
                ServiceAccountId::parse(bad),
                Err(IdError::InvalidCharacter),
                "{bad:?}"
            );
        }
    }
}
