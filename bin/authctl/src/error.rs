//! What can go wrong, and the exit code each case gives (documented in
//! `authctl --help`): scripts branch on them.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or the local setup is wrong; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The server refused the request (a 4xx answer).
    #[error("{0}")]
    Refused(String),
    /// The server failed (5xx) or answered something unusable.
    #[error("{0}")]
    Server(String),
    /// The server could not be reached.
    #[error("{0}")]
    Network(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 1,
            Self::Refused(_) => 2,
            Self::Server(_) | Self::Network(_) => 3,
        }
    }
}
