//! `authctl`: the operator's command line for a running auth-server. It
//! speaks the server's admin API over HTTP(S) with a token of its own
//! (client_credentials), so authorization, the no-escalation rule and the
//! audit log apply exactly as for any other caller; it holds no rule of the
//! server itself. [`run`] is the whole program with its environment and
//! streams passed in, so tests drive it in-process; `main` only wires the
//! real ones.

pub mod api;
pub mod cli;
pub mod error;
pub mod output;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use reqwest::{Method, Url};
use serde_json::{json, Map, Value};

use crate::api::{check_transport, segment, Api, ClientSecret, Settings};
use crate::cli::{
    AccountsCommand, AuthMethod, Cli, ClientFields, ClientsCommand, Command, ListOnly,
    SecretCommand,
};
use crate::error::CliError;
use crate::output::Printer;

/// The streams and environment a run uses.
pub struct Io<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub stdin: &'a mut dyn Read,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Runs one command line and returns the process exit code: 0 ok, 1 usage,
/// 2 refused by the server (4xx), 3 server or network error.
pub fn run(args: Vec<OsString>, io: Io<'_>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = write!(io.out, "{}", e.render());
                    return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        1
                    } else {
                        0
                    };
                }
                _ => 1,
            };
            let _ = write!(io.err, "{}", e.render());
            return code;
        }
    };
    let mut printer = Printer {
        format: cli.output,
        out: io.out,
    };
    match execute(cli, io.env, io.stdin, &mut printer) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io.err, "error: {e}");
            e.exit_code()
        }
    }
}

fn execute(
    cli: Cli,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    p: &mut Printer<'_>,
) -> Result<(), CliError> {
    // Commands that need no server come first.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "authctl", p.out);
            return Ok(());
        }
        Command::Man { dir } => return write_man_pages(dir, p),
        _ => {}
    }
    let settings = settings(&cli, env)?;
    let mut api = Api::new(settings)?;
    match cli.command {
        Command::Clients(c) => clients(&mut api, c, p),
        Command::Secret(c) => secret(&mut api, c, p),
        Command::ServiceAccounts(c) => accounts(&mut api, c, stdin, p),
        Command::Roles(ListOnly::List) => {
            let v = api.admin(Method::GET, "/roles", None, None)?.body;
            p.list(&v, output::ROLES)
        }
        Command::Permissions(ListOnly::List) => {
            let v = api.admin(Method::GET, "/permissions", None, None)?.body;
            p.list(&v, output::NAMED)
        }
        Command::Groups(ListOnly::List) => {
            let v = api.admin(Method::GET, "/groups", None, None)?.body;
            p.list(&v, output::NAMED)
        }
        Command::Audit { client, since } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(c) = &client {
                query.append_pair("clientId", c);
            }
            if let Some(s) = &since {
                query.append_pair("since", s);
            }
            let query = query.finish();
            let path = if query.is_empty() {
                "/audit-events".to_owned()
            } else {
                format!("/audit-events?{query}")
            };
            let v = api.admin(Method::GET, &path, None, None)?.body;
            p.list(&v, output::AUDIT)
        }
        Command::Token { raw, scope } => {
            let token = api.fetch_token(scope.as_deref())?;
            if raw {
                return p.write_line(&token);
            }
            p.object(&decode_token(&token)?)
        }
        Command::Introspect { token } => {
            let token = if token == "-" {
                let mut s = String::new();
                stdin
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::Usage(format!("cannot read the token: {e}")))?;
                s.trim().to_owned()
            } else {
                token
            };
            if token.is_empty() {
                return Err(CliError::Usage("no token given".into()));
            }
            p.object(&api.introspect(&token)?)
        }
        Command::Keys(ListOnly::List) => {
            let jwks = api.get_public("/oauth2/jwks")?;
            p.list(jwks.get("keys").unwrap_or(&Value::Null), output::KEYS)
        }
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}

fn settings(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
    let c = &cli.connection;
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let server = nonempty(c.server.clone())
        .or_else(|| nonempty(env("AUTHCTL_SERVER")))
        .ok_or_else(|| {
            CliError::Usage("no server: pass --server URL or set AUTHCTL_SERVER".into())
        })?;
    let server = Url::parse(&server)
        .map_err(|e| CliError::Usage(format!("--server {server:?} is not a URL: {e}")))?;
    check_transport(&server, c.insecure_http)?;
    let client_id = nonempty(c.client_id.clone()).or_else(|| nonempty(env("AUTHCTL_CLIENT_ID")));
    let client_secret = match &c.client_secret_file {
        Some(path) => Some(read_secret_file(path)?),
        None => nonempty(env("AUTHCTL_CLIENT_SECRET")).map(ClientSecret::new),
    };
    let auth_method = match (c.auth_method, nonempty(env("AUTHCTL_AUTH_METHOD"))) {
        (Some(m), _) => m,
        (None, None) => AuthMethod::Basic,
        (None, Some(v)) => match v.as_str() {
            "client_secret_basic" => AuthMethod::Basic,
            "client_secret_post" => AuthMethod::Post,
            _ => {
                return Err(CliError::Usage(format!(
                "AUTHCTL_AUTH_METHOD must be client_secret_basic or client_secret_post, not {v:?}"
            )))
            }
        },
    };
    Ok(Settings {
        server,
        client_id,
        client_secret,
        auth_method,
        forwarded_https: c.forwarded_https,
    })
}

fn read_secret_file(path: &Path) -> Result<ClientSecret, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read --client-secret-file {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(CliError::Usage(format!(
            "--client-secret-file {} is empty",
            path.display()
        )));
    }
    Ok(ClientSecret::new(secret.to_owned()))
}

fn clients(api: &mut Api, c: ClientsCommand, p: &mut Printer<'_>) -> Result<(), CliError> {
    match c {
        ClientsCommand::List => {
            let v = api.admin(Method::GET, "/clients", None, None)?.body;
            p.list(&v, output::CLIENTS)
        }
        ClientsCommand::Get { client } => {
            let path = format!("/clients/{}", segment(&client));
            p.object(&api.admin(Method::GET, &path, None, None)?.body)
        }
        ClientsCommand::Create { client, fields } => {
            let mut body = client_fields(&fields);
            body.insert("clientId".into(), Value::String(client));
            let v = Value::Object(body);
            let answer = api.admin(
                Method::POST,
                "/clients",
                Some(("application/json", &v)),
                None,
            )?;
            p.object(&answer.body)
        }
        ClientsCommand::Update {
            client,
            fields,
            reset,
        } => {
            let mut body = client_fields(&fields);
            for f in reset {
                if body.contains_key(f.api_name()) {
                    return Err(CliError::Usage(format!(
                        "{} is both set and reset",
                        f.api_name()
                    )));
                }
                body.insert(f.api_name().into(), Value::Null);
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --name, --method, --scope, --ttl-minutes or --reset"
                        .into(),
                ));
            }
            let v = Value::Object(body);
            let path = format!("/clients/{}", segment(&client));
            let answer = api.admin(
                Method::PATCH,
                &path,
                Some(("application/merge-patch+json", &v)),
                None,
            )?;
            p.object(&answer.body)
        }
        ClientsCommand::Delete { client } => {
            let path = format!("/clients/{}", segment(&client));
            api.admin(Method::DELETE, &path, None, None)?;
            p.note(&format!("client {client} deleted"))
        }
    }
}

fn client_fields(f: &ClientFields) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(v) = &f.name {
        m.insert("clientName".into(), json!(v));
    }
    if let Some(v) = &f.method {
        m.insert("clientAuthenticationMethod".into(), json!(v));
    }
    if let Some(v) = &f.scope {
        m.insert("scope".into(), json!(v));
    }
    if let Some(v) = f.ttl_minutes {
        m.insert("accessTokenTtlMinutes".into(), json!(v));
    }
    m
}

fn secret(api: &mut Api, c: SecretCommand, p: &mut Printer<'_>) -> Result<(), CliError> {
    match c {
        SecretCommand::Status { client } => {
            let path = format!("/clients/{}/secret", segment(&client));
            p.object(&api.admin(Method::GET, &path, None, None)?.body)
        }
        SecretCommand::Issue { client, out } => {
            // The file is created before the server is asked, so a secret is
            // never made that then has nowhere to go.
            let file = out
                .secret_file
                .as_deref()
                .map(create_secret_file)
                .transpose()?;
            let path = format!("/clients/{}/secret", segment(&client));
            let answer = api.admin(
                Method::POST,
                &path,
                Some(("application/json", &json!({}))),
                None,
            )?;
            reveal(answer.body, file, p)
        }
        SecretCommand::Rotate { client, out, force } => {
            let file = out
                .secret_file
                .as_deref()
                .map(create_secret_file)
                .transpose()?;
            let base = format!("/clients/{}/secret", segment(&client));
            let tag = if force {
                None
            } else {
                Some(current_etag(api, &base)?)
            };
            let answer = api.admin(
                Method::POST,
                &format!("{base}/rotate"),
                Some(("application/json", &json!({}))),
                tag.as_deref(),
            );
            reveal(explain_412(answer)?.body, file, p)
        }
        SecretCommand::Delete {
            client,
            target,
            force,
        } => {
            let base = format!("/clients/{}/secret", segment(&client));
            let tag = if force {
                None
            } else {
                Some(current_etag(api, &base)?)
            };
            let path = format!("{base}?target={}", target.as_str());
            explain_412(api.admin(Method::DELETE, &path, None, tag.as_deref()))?;
            p.note(&format!(
                "the {} secret of {client} is deleted",
                target.as_str()
            ))
        }
    }
}

/// The secret state's ETag, read just before a change so that the change
/// applies only to the state the operator's command was about.
fn current_etag(api: &mut Api, path: &str) -> Result<String, CliError> {
    api.admin(Method::GET, path, None, None)?
        .etag
        .ok_or_else(|| CliError::Server("the secret state came without an ETag".into()))
}

fn explain_412(r: Result<api::Answer, CliError>) -> Result<api::Answer, CliError> {
    match r {
        Err(CliError::Refused(line)) if line.starts_with("412") => Err(CliError::Refused(format!(
            "{line} (the secret changed since authctl read it, perhaps by another operator: \
             check `authctl secret status` and run the command again, or pass --force)"
        ))),
        other => other,
    }
}

fn create_secret_file(path: &Path) -> Result<std::fs::File, CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot create --secret-file {} (it must not exist yet): {e}",
            path.display()
        ))
    })
}

/// Shows the one-time secret exactly once: in the output, or only in the
/// file when one was given.
fn reveal(
    mut body: Value,
    file: Option<std::fs::File>,
    p: &mut Printer<'_>,
) -> Result<(), CliError> {
    if let Some(mut f) = file {
        let secret = body
            .as_object_mut()
            .and_then(|m| m.remove("clientSecret"))
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| CliError::Server("the answer holds no clientSecret".into()))?;
        f.write_all(format!("{secret}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| CliError::Usage(format!("cannot write the secret file: {e}")))?;
    }
    p.object(&body)
}

fn accounts(
    api: &mut Api,
    c: AccountsCommand,
    stdin: &mut dyn Read,
    p: &mut Printer<'_>,
) -> Result<(), CliError> {
    let account_path = |id: &str| format!("/service-accounts/{}", segment(id));
    match c {
        AccountsCommand::List => {
            let v = api
                .admin(Method::GET, "/service-accounts", None, None)?
                .body;
            p.list(&v, output::ACCOUNTS)
        }
        AccountsCommand::Get { id } => {
            p.object(&api.admin(Method::GET, &account_path(&id), None, None)?.body)
        }
        AccountsCommand::Delete { id } => {
            api.admin(Method::DELETE, &account_path(&id), None, None)?;
            p.note(&format!("service account {id} deleted"))
        }
        AccountsCommand::Link { id, client } => {
            let path = format!("{}/clients/{}", account_path(&id), segment(&client));
            api.admin(Method::PUT, &path, None, None)?;
            p.note(&format!("client {client} linked to {id}"))
        }
        AccountsCommand::Unlink { id, client } => {
            let path = format!("{}/clients/{}", account_path(&id), segment(&client));
            api.admin(Method::DELETE, &path, None, None)?;
            p.note(&format!("client {client} unlinked from {id}"))
        }
        AccountsCommand::Apply { file } => {
            let text = read_input(&file, stdin)?;
            let entries = apply::parse(&text, &file)?;
            let mut applied = Vec::new();
            for e in &entries {
                let answer = api.admin(
                    Method::PUT,
                    &account_path(&e.id),
                    Some(("application/json", &e.body)),
                    None,
                );
                let answer = answer.map_err(|err| partial(err, &applied, &e.id))?;
                let verb = if answer.status.as_u16() == 201 {
                    "created"
                } else {
                    "replaced"
                };
                let mut account = answer.body;
                if let Some(client) = &e.client_id {
                    let path = format!("{}/clients/{}", account_path(&e.id), segment(client));
                    api.admin(Method::PUT, &path, None, None)
                        .map_err(|err| partial(err, &applied, &e.id))?;
                    account = api
                        .admin(Method::GET, &account_path(&e.id), None, None)?
                        .body;
                    p.note(&format!("{} {verb}, client {client} linked", e.id))?;
                } else {
                    p.note(&format!("{} {verb}", e.id))?;
                }
                applied.push((e.id.clone(), account));
            }
            match p.format {
                cli::OutputFormat::Table => Ok(()),
                _ => p.list(
                    &Value::Array(applied.into_iter().map(|(_, a)| a).collect()),
                    output::ACCOUNTS,
                ),
            }
        }
    }
}

/// An apply that stopped half-way says which accounts were applied, since
/// the server has them now.
fn partial(err: CliError, applied: &[(String, Value)], at: &str) -> CliError {
    if applied.is_empty() {
        return err;
    }
    let done: Vec<&str> = applied.iter().map(|(id, _)| id.as_str()).collect();
    let text = format!("{err} (at {at}; already applied: {})", done.join(", "));
    match err {
        CliError::Refused(_) => CliError::Refused(text),
        CliError::Server(_) => CliError::Server(text),
        CliError::Network(_) => CliError::Network(text),
        CliError::Usage(_) => CliError::Usage(text),
    }
}

fn read_input(file: &Path, stdin: &mut dyn Read) -> Result<String, CliError> {
    if file == Path::new("-") {
        let mut s = String::new();
        stdin
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))
}

/// A token's header and claims, decoded without verifying (the server
/// just issued it; `introspect` asks the server what it thinks).
fn decode_token(token: &str) -> Result<Value, CliError> {
    use base64::Engine as _;
    let part = |s: Option<&str>| -> Result<Value, CliError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.unwrap_or_default())
            .map_err(|_| CliError::Server("the token is not a JWS compact token".into()))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| CliError::Server("the token's parts are not JSON".into()))
    };
    let mut parts = token.split('.');
    let header = part(parts.next())?;
    let claims = part(parts.next())?;
    Ok(json!({"header": header, "claims": claims}))
}

fn write_man_pages(dir: &Path, p: &mut Printer<'_>) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    let cmd = Cli::command();
    man_page(&cmd, "authctl", dir, &mut written)?;
    p.note(&format!(
        "{} man pages written to {}",
        written.len(),
        dir.display()
    ))
}

/// One page per command and subcommand, named as git's are
/// (`authctl-secret-rotate.1`).
fn man_page(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), CliError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut buf)
        .map_err(|e| CliError::Usage(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        man_page(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

mod apply;
