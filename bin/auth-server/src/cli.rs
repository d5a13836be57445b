//! The command line (see docs/reference/operations.md#commands).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "auth-server",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("AUTH_SERVER_GIT_COMMIT"), ")"),
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
    /// Print the effective configuration (defaults < TOML file < environment), where each value came from, secrets masked.
    Config,
    /// Print a shell completion script for auth-server.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (auth-server.1 and one per subcommand) into a directory.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
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

/// The command definition with the settings table after the help text
/// (built at run time from [`crate::settings::SETTINGS`]).
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .after_help("Settings: every APP_* variable with its default is listed by --help.")
        .after_long_help(crate::settings::help_text())
}

/// Parses the process's arguments with [`command`].
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Writes one man page per command and subcommand into `dir`, named as
/// git's are (`auth-server-keys-rotate.1`); returns how many.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<usize> {
    fn page(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> std::io::Result<usize> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .title(name.to_uppercase())
            .render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        let mut n = 1;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            n += page(sub, &format!("{name}-{}", sub.get_name()), dir)?;
        }
        Ok(n)
    }
    std::fs::create_dir_all(dir)?;
    page(&command(), "auth-server", dir)
}
