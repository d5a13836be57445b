//! `auth-server`: see `auth-server --help` and docs/configuration.md.

use std::io::Write as _;
use std::process::ExitCode;

use auth_server::cli::{Command, KeysCommand};
use auth_server::{config, logging, settings, startup, telemetry};

/// Writes a line for the operator: the command's own output, never a secret.
fn say(to_stderr: bool, text: &str) {
    let _ = if to_stderr {
        writeln!(std::io::stderr(), "{text}")
    } else {
        writeln!(std::io::stdout(), "{text}")
    };
}

fn main() -> ExitCode {
    let cli = auth_server::cli::parse();
    // Commands that describe the program need no valid configuration.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut auth_server::cli::command(),
                "auth-server",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Man { dir }) => {
            return match auth_server::cli::write_man_pages(dir) {
                Ok(n) => {
                    say(
                        false,
                        &format!("{n} man pages written to {}", dir.display()),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    say(
                        true,
                        &format!("error: cannot write man pages to {}: {e}", dir.display()),
                    );
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Config) => {
            let env = config::process_app_env();
            return match settings::effective(cli.config.as_deref(), &env) {
                Ok(lines) => {
                    let _ = write!(std::io::stdout(), "{}", settings::render(&lines));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    say(true, &format!("error: {e}"));
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let config = match config::load_from_process(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            say(true, &format!("error: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // Only a serving process has requests to trace.
    let os_env = |name: &str| std::env::var(name).ok();
    let tracing_target = match command {
        Command::Serve => telemetry::target(config.otlp_endpoint.as_deref(), &os_env),
        _ => None,
    };
    let traces = match tracing_target
        .map(|t| telemetry::Tracing::start(&t, &os_env))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            say(true, &format!("error: {e}"));
            return ExitCode::FAILURE;
        }
    };
    logging::init(
        config.log_format,
        traces.as_ref().map(telemetry::Tracing::tracer),
    );
    let env = startup::process_env();
    let result = match command {
        Command::Serve => {
            let served = actix_web::rt::System::new().block_on(startup::serve(config, env));
            // After the server stopped: the spans of its last requests.
            if let Some(traces) = traces {
                traces.shutdown();
            }
            served.map(|()| None)
        }
        // Answered above, before the configuration was loaded.
        Command::Config | Command::Completions { .. } | Command::Man { .. } => Ok(None),
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
            for warning in startup::warnings(&config) {
                say(true, &format!("warning: {warning}"));
            }
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
