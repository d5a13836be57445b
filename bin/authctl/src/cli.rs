//! The command line. Ids are positional, everything else is a flag. The
//! connection's secret has no flag on purpose: an argument shows in `ps`
//! and in shell history, so it comes from the environment or a file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "authctl",
    version,
    about = "Operate a running auth-server through its admin API",
    long_about = "Operate a running auth-server through its admin API: clients, secrets, service \
                  accounts, the catalogue, the audit log, tokens and keys.\n\n\
                  authctl obtains its own access token with the client_credentials grant, so the \
                  server's permission checks, its no-escalation rule and its audit log apply exactly \
                  as they do over HTTP.\n\n\
                  The connection's client secret is read from AUTHCTL_CLIENT_SECRET or from \
                  --client-secret-file, never from an argument.\n\n\
                  Exit codes: 0 ok, 1 usage error, 2 refused by the server (4xx), 3 server or \
                  network error."
)]
/// Positional ids are named `client` (shown as CLIENT_ID), never
/// `client_id`: clap gives an argument its field's name as id, and a
/// subcommand's `client_id` would silently fill the global `--client-id`.
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// How results are printed: a table for people, JSON or YAML (the API's field names) for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Base URL of the server, e.g. https://auth.example.com [env: AUTHCTL_SERVER]
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,

    /// Client id authctl authenticates as [env: AUTHCTL_CLIENT_ID]
    #[arg(long, global = true, value_name = "ID")]
    pub client_id: Option<String>,

    /// File holding the client secret (one line). Else AUTHCTL_CLIENT_SECRET is read.
    #[arg(long, global = true, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    /// How authctl authenticates: client_secret_basic or client_secret_post [env: AUTHCTL_AUTH_METHOD]
    #[arg(long, global = true, value_enum)]
    pub auth_method: Option<AuthMethod>,

    /// Allow plain HTTP to a server that is not on loopback (credentials then cross the network unencrypted).
    #[arg(long, global = true)]
    pub insecure_http: bool,

    /// Send `X-Forwarded-Proto: https`, as a TLS-terminating sidecar does. For a plain-HTTP connection
    /// that really ends in TLS on the way, or `kubectl port-forward` to a pod whose server requires HTTPS.
    #[arg(long, global = true)]
    pub forwarded_https: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    #[value(name = "client_secret_basic")]
    Basic,
    #[value(name = "client_secret_post")]
    Post,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, create, change and delete clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Issue, rotate, delete a client's secret, or show its state.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// List, show, apply (from YAML), delete service accounts; link and unlink clients.
    #[command(subcommand, name = "service-accounts")]
    ServiceAccounts(AccountsCommand),
    /// The catalogue's roles.
    #[command(subcommand)]
    Roles(ListOnly),
    /// The catalogue's permissions.
    #[command(subcommand)]
    Permissions(ListOnly),
    /// The catalogue's groups.
    #[command(subcommand)]
    Groups(ListOnly),
    /// Read the audit log, newest first.
    Audit {
        /// Only events about this client.
        #[arg(long, value_name = "ID")]
        client: Option<String>,
        /// Only events at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
    /// Get an access token with the connection's credentials and print its decoded header and claims.
    Token {
        /// Print only the access token itself (for scripts), not its decoded parts.
        #[arg(long)]
        raw: bool,
        /// Scope to request (space-separated); all registered scopes when omitted.
        #[arg(long)]
        scope: Option<String>,
    },
    /// Ask the server whether a token is active (RFC 7662), and what it says of it.
    Introspect {
        /// The token, or `-` to read it from standard input (keeps it out of `ps` and shell history).
        token: String,
    },
    /// Signing keys the server publishes (its JWKS).
    #[command(subcommand)]
    Keys(ListOnly),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (authctl.1 and one per subcommand) into a directory.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ListOnly {
    /// List them.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Every client, sorted by id.
    List,
    /// One client.
    Get {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
    },
    /// Create a confidential client (without a secret: `secret issue` gives it one).
    Create {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// Change a client's settings; only the fields given change.
    Update {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
        #[command(flatten)]
        fields: ClientFields,
        /// Reset these fields to their defaults (repeatable).
        #[arg(long, value_enum, value_name = "FIELD")]
        reset: Vec<ClientField>,
    },
    /// Delete a client; its tokens stop being valid.
    Delete {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
    },
}

#[derive(Debug, Args, Default)]
pub struct ClientFields {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// How the client authenticates: client_secret_basic or client_secret_post.
    #[arg(long = "method", value_name = "METHOD")]
    pub method: Option<String>,
    /// Registered scopes, space-separated.
    #[arg(long)]
    pub scope: Option<String>,
    /// Access-token lifetime in minutes (1-1440).
    #[arg(long, value_name = "MINUTES")]
    pub ttl_minutes: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientField {
    Name,
    Method,
    Scope,
    TtlMinutes,
}

impl ClientField {
    /// The API's field name.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Name => "clientName",
            Self::Method => "clientAuthenticationMethod",
            Self::Scope => "scope",
            Self::TtlMinutes => "accessTokenTtlMinutes",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Give a client without a current secret its first one.
    Issue {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
        #[command(flatten)]
        out: SecretOut,
    },
    /// Replace the current secret; the old one stays valid for the grace window.
    Rotate {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
        #[command(flatten)]
        out: SecretOut,
        /// Do not guard against a concurrent change (no If-Match).
        #[arg(long)]
        force: bool,
    },
    /// Delete the current or the previous secret.
    Delete {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
        #[arg(long, value_enum)]
        target: Target,
        /// Do not guard against a concurrent change (no If-Match).
        #[arg(long)]
        force: bool,
    },
    /// The secret's state: created, expiry, grace window, rotation required.
    Status {
        #[arg(value_name = "CLIENT_ID")]
        client: String,
    },
}

#[derive(Debug, Args)]
pub struct SecretOut {
    /// Write the new secret to this file (created with mode 0600; it must not exist) instead of printing it.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Current,
    Previous,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Every service account, sorted by id.
    List,
    /// One service account.
    Get { id: String },
    /// Create or replace the accounts of a YAML file shaped like the seed file's `serviceAccounts` entries.
    Apply {
        /// The YAML file (`-` for standard input).
        #[arg(short = 'f', long = "file", value_name = "FILE.yaml")]
        file: PathBuf,
    },
    /// Delete a service account (its clients are unlinked).
    Delete { id: String },
    /// Link a client to a service account.
    Link {
        id: String,
        #[arg(value_name = "CLIENT_ID")]
        client: String,
    },
    /// Unlink a client from a service account.
    Unlink {
        id: String,
        #[arg(value_name = "CLIENT_ID")]
        client: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_positional_client_id_never_becomes_the_connection_client_id() {
        for args in [
            &["authctl", "clients", "get", "victim"][..],
            &["authctl", "clients", "create", "victim"],
            &["authctl", "secret", "rotate", "victim"],
            &["authctl", "service-accounts", "link", "svc", "victim"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.connection.client_id, None, "{args:?}");
        }
        let cli =
            Cli::try_parse_from(["authctl", "clients", "get", "x", "--client-id", "me"]).unwrap();
        assert_eq!(cli.connection.client_id.as_deref(), Some("me"));
    }
}
