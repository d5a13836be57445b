//! `auth-server`: see `auth-server --help` and docs/configuration.md.

use std::io::Write as _;
use std::process::ExitCode;

use auth_server::cli::{Cli, Command, KeysCommand};
use auth_server::{config, logging, startup};
use clap::Parser as _;

/// Writes a line for the operator: the command's own output, never a secret.
fn say(to_stderr: bool, text: &str) {
    let _ = if to_stderr {
        writeln!(std::io::stderr(), "{text}")
    } else {
        writeln!(std::io::stdout(), "{text}")
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load_from_process(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            say(true, &format!("error: {e}"));
            return ExitCode::FAILURE;
        }
    };
    logging::init(config.log_format);
    let env = startup::process_env();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new()
            .block_on(startup::serve(config, env))
            .map(|()| None),
        Command::Migrate => {
            startup::migrate(&config).map(|()| Some("migrations applied".to_owned()))
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            startup::rotate_keys(&config).map(|kid| Some(format!("new active signing key: {kid}")))
        }
        Command::Keys {
            command: KeysCommand::List,
        } => startup::list_keys(&config).map(Some),
        Command::Keys {
            command: KeysCommand::Revoke { kid },
        } => startup::revoke_key(&config, &kid).map(|replacement| {
            Some(match replacement {
                None => format!("revoked signing key {kid}"),
                Some(new) => {
                    format!("revoked signing key {kid}; new active signing key: {new}")
                }
            })
        }),
        Command::Check => {
            return match startup::check(&config, &env) {
                Ok(summary) => {
                    say(false, &format!("ok: {summary}"));
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for p in &problems {
                        say(true, &format!("error: {p}"));
                    }
                    say(true, &format!("{} problem(s) found", problems.len()));
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(Some(msg)) => {
            say(false, &msg);
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "startup failed");
            say(true, &format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}
