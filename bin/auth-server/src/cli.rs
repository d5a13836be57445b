//! The command line (SPEC §1).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "auth-server",
    version,
    about = "OAuth2 authorization server for machine-to-machine access (client_credentials)",
    long_about = "OAuth2 authorization server for machine-to-machine access. Confidential clients \
                  and service accounts are seeded from YAML files at startup; clients obtain signed \
                  JWT access tokens with the client_credentials grant.\n\nEvery setting is an APP_* \
                  environment variable (see docs/configuration.md), or a key of the --config TOML file."
)]
pub struct Cli {
    /// TOML file with settings (keys are the APP_* variable names without APP_, in lower case).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, create the first signing key, apply the seed files, and serve (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and both seed files without opening the database; exit 0 if all is well.
    Check,
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key of APP_SIGNING_ALG and make it the active one; old keys keep verifying and stay published for 24 h + 60 s.
    Rotate,
    /// List the signing keys: kid, algorithm, created, retired, and state (active, retired (still verifying), expired).
    List,
    /// Remove a signing key at once (a compromised key): running servers stop accepting its tokens within their key-reload interval. Revoking the active key first makes a new key of APP_SIGNING_ALG active.
    Revoke {
        /// The key id (`kid`) to remove, as `keys list` shows it.
        kid: String,
    },
}
