//! Test harness: fresh databases, seed files, in-process servers and the
//! real binary.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::web;
use auth_http::AppState;
use auth_server::{config, startup};

pub const ADMIN_SECRET: &str = "admin-secret-0123456789abcdef";
pub const SVC_SECRET: &str = "my-service-secret-0123456789";
pub const BASIC_SECRET: &str = "basic:secret+with%odd chars";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when `TEST_DATABASE_URL` is set (and then it
/// must work: an unreachable server fails the test).
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        b.push(Backend::Postgres);
    }
    b
}

/// A fresh, empty database and whatever keeps it alive.
pub struct Database {
    pub url: String,
    _guard: Box<dyn std::any::Any + Send>,
}

pub fn fresh_database(backend: Backend) -> Database {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = sqlite_url(dir.path());
            Database {
                url,
                _guard: Box::new(dir),
            }
        }
        Backend::Postgres => {
            let (url, guard) = auth_store::test_support::fresh_postgres_url()
                .expect("TEST_DATABASE_URL is set, so PostgreSQL must be reachable");
            Database {
                url,
                _guard: Box::new(guard),
            }
        }
    }
}

/// The standard seed: the seed document's `my-service` (post, scope read,
/// ttl 60) linked to `svc-my-service` (USER); `admin-cli` (basic) linked to
/// `svc-admin` (ADMIN_SYSTEM); `basic-client` (basic, scopes read write)
/// unlinked; `inactive-client` linked to an inactive account; a public client.
pub const CLIENTS_YAML: &str = r#"
clients:
  public:
    - client_id: web-app
      client_name: Web App
      redirect_uris: ["https://app.example/cb"]
  confidential:
    - client_id: my-service
      client_name: My Service
      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
      client_authentication_method: client_secret_post
      access_token_ttl_minutes: 60
      scope: read
    - client_id: admin-cli
      client_secret_env_var_name: ADMIN_CLI_CLIENT_SECRET
    - client_id: basic-client
      client_secret_env_var_name: BASIC_CLIENT_SECRET
      scope: read write
    - client_id: inactive-client
      client_secret_env_var_name: INACTIVE_CLIENT_SECRET
      client_authentication_method: client_secret_post
"#;

pub const ACCOUNTS_YAML: &str = r#"
permissions:
  - name: data.read
    description: Read datasets
roles:
  - name: ANALYST
    permissions: [data.read]
groups:
  - name: urn:example:groups:ops
serviceAccounts:
  - id: svc-my-service
    name: svc-my-service
    description: Service account for My Service
    active: true
    clientId: my-service
    roles: ["USER", "ANALYST"]
    permissions: ["users.read"]
    groups: ["urn:example:groups:ops"]
    attributes: {team: platform}
  - id: svc-admin
    clientId: admin-cli
    roles: ["ADMIN_SYSTEM"]
  - id: svc-inactive
    clientId: inactive-client
    active: false
"#;

pub fn seed_env() -> BTreeMap<String, String> {
    [
        ("MY_SERVICE_CLIENT_SECRET", SVC_SECRET),
        ("ADMIN_CLI_CLIENT_SECRET", ADMIN_SECRET),
        ("BASIC_CLIENT_SECRET", BASIC_SECRET),
        ("INACTIVE_CLIENT_SECRET", "inactive-secret-0123456789"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Writes both seed files into `dir` and returns the APP_* settings naming them.
pub fn write_seeds(dir: &Path, clients: &str, accounts: &str) -> BTreeMap<String, String> {
    let c = dir.join("clients.yaml");
    let a = dir.join("service-accounts.yaml");
    std::fs::write(&c, clients).unwrap();
    std::fs::write(&a, accounts).unwrap();
    [
        ("APP_SEED_CLIENTS_FILE".to_owned(), c.display().to_string()),
        (
            "APP_SEED_SERVICE_ACCOUNTS_FILE".to_owned(),
            a.display().to_string(),
        ),
    ]
    .into()
}

pub struct TestServer {
    pub base: String,
    pub state: web::Data<AppState>,
    pub handle: ServerHandle,
    pub db: Database,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with `X-Forwarded-Proto: https`, as a mesh sidecar sends it.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("X-Forwarded-Proto", "https")
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    /// The access token this server issues to `id`; fails the test when it
    /// issues none.
    pub async fn token(&self, id: &str, secret: &str, creds: Creds) -> String {
        issue_token(&self.http, &self.base, id, secret, creds).await
    }

    /// The JWKS this server publishes.
    pub async fn jwks<T: serde::de::DeserializeOwned>(&self) -> T {
        self.get_json("/oauth2/jwks").await
    }

    /// `GET {path}` (without forwarding headers) decoded as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        get_json(&self.http, &self.url(path)).await
    }
}

/// Options for [`spawn`].
#[derive(Default, Clone)]
pub struct Spawn {
    pub settings: BTreeMap<String, String>,
    pub clients_yaml: Option<String>,
    pub accounts_yaml: Option<String>,
    pub db_url: Option<String>,
    /// Seed secret variables that replace or add to [`seed_env`].
    pub env: BTreeMap<String, String>,
    /// Wraps the storage ports (e.g. with a store that fails on purpose).
    pub wrap_repos: Option<Arc<dyn Fn(auth_http::Repos) -> auth_http::Repos + Send + Sync>>,
}

/// Starts a server in this process on port 0 with the standard seed (or the
/// given one), BCrypt cost 4, and waits until it is ready.
pub async fn spawn(backend: Backend, opts: Spawn) -> TestServer {
    let db = match &opts.db_url {
        Some(url) => Database {
            url: url.clone(),
            _guard: Box::new(()),
        },
        None => fresh_database(backend),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = write_seeds(
        dir.path(),
        opts.clients_yaml.as_deref().unwrap_or(CLIENTS_YAML),
        opts.accounts_yaml.as_deref().unwrap_or(ACCOUNTS_YAML),
    );
    settings.insert("APP_DATABASE_URL".into(), db.url.clone());
    settings.insert("APP_BCRYPT_COST".into(), "4".into());
    settings.insert("APP_DATABASE_POOL_SIZE".into(), "4".into());
    settings.extend(opts.settings.clone());
    let config = config::load(None, &settings).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let wrap = opts.wrap_repos.clone();
    let prepared = startup::prepare_with(&config, Some(listener), move |r| match wrap {
        Some(w) => w(r),
        None => r,
    })
    .unwrap();
    let port = prepared.app.port();
    let handle = prepared.app.handle();
    let state = prepared.state.clone();
    let store = prepared.store.clone();
    actix_web::rt::spawn(prepared.app.run_until_stopped());
    let mut env = seed_env();
    env.extend(opts.env.clone());
    let lookup: startup::EnvLookup = Arc::new(move |k: &str| env.get(k).cloned());
    let st = state.clone();
    web::block(move || startup::bootstrap(&st, &store, &config, &lookup))
        .await
        .unwrap()
        .unwrap();
    state.auth.spawn_refresher(startup::REFRESH_EVERY);
    TestServer {
        base: format!("http://127.0.0.1:{port}"),
        state,
        handle,
        db,
        dir,
        http: reqwest::Client::new(),
    }
}

/// [`spawn`] with nothing but `settings` changed from the defaults.
pub async fn spawn_with_settings(backend: Backend, settings: &[(&str, &str)]) -> TestServer {
    let settings = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spawn(
        backend,
        Spawn {
            settings,
            ..Spawn::default()
        },
    )
    .await
}

/// The path of the built binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_auth-server"))
}

/// Runs the binary with exactly `env` (plus PATH) and returns its output.
pub fn run_binary(args: &[&str], env: &BTreeMap<String, String>, cwd: &Path) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The server's database opened directly, for tests that plant rows the
/// admin API cannot make (an imported hash) or read what it never shows.
pub fn open_store(s: &TestServer) -> auth_store::Store {
    auth_store::Store::open(&auth_store::test_support::config(s.db.url.clone())).unwrap()
}

/// Stores a confidential client_secret_basic client whose current secret
/// has exactly this stored `hash`, created now with the default policy.
pub fn plant_client(store: &auth_store::Store, id: &str, hash: &str) {
    use auth_domain::ClientRepository as _;
    let id = auth_domain::ClientId::parse(id).unwrap();
    let now = auth_domain::now_ms();
    let event = auth_store::test_support::test_event("client.create", id.as_str());
    let secrets = auth_domain::SecretSlots::default()
        .issue(
            auth_domain::SecretHash::new(hash),
            now,
            &auth_domain::SecretPolicy::default(),
        )
        .unwrap();
    store
        .create(
            &auth_domain::NewClient {
                settings: auth_domain::ClientSettings::defaults_for(&id),
                id,
                client_type: auth_domain::ClientType::Confidential,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                created_at: now,
                secrets,
            },
            &event,
        )
        .unwrap();
}

/// The client row as stored now.
pub fn stored_client(store: &auth_store::Store, id: &str) -> auth_domain::Client {
    use auth_domain::ClientRepository as _;
    store
        .find(&auth_domain::ClientId::parse(id).unwrap())
        .unwrap()
        .unwrap()
}

/// Waits (polling) until `done` holds; fails the test after `within`.
pub async fn wait_for(what: &str, within: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

// --- Security and fault tests: credentials, the real binary as a child
// process, and throwaway PostgreSQL clusters. ---

/// `Authorization: Basic …` with both parts form-urlencoded first
/// (RFC 6749 §2.3.1).
pub fn basic_authorization(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The form body of a client_secret_post token request.
pub fn client_secret_post<'a>(id: &'a str, secret: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]
}

/// How a token request presents the client's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creds {
    /// client_secret_basic: the `Authorization` header.
    Basic,
    /// client_secret_post: the form body.
    Post,
}

impl Creds {
    /// The method each standard seed client is registered with: only
    /// `my-service` uses the form body.
    pub fn of_seed_client(id: &str) -> Self {
        if id == "my-service" {
            Self::Post
        } else {
            Self::Basic
        }
    }
}

/// A token request to the server at `base` (a [`TestServer`] or a
/// [`ServerProcess`]) over "HTTPS", as the mesh sidecar forwards it: the
/// status and the JSON body (`Null` when there is none).
pub async fn request_token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    creds: Creds,
) -> (u16, serde_json::Value) {
    let rb = http
        .post(format!("{base}/oauth2/token"))
        .header("X-Forwarded-Proto", "https");
    let rb = match creds {
        Creds::Post => rb.form(&client_secret_post(id, secret)),
        Creds::Basic => rb
            .header("Authorization", basic_authorization(id, secret))
            .form(&[("grant_type", "client_credentials")]),
    };
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// The access token the server issues; fails the test when it issues none.
pub async fn issue_token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    creds: Creds,
) -> String {
    let (status, body) = request_token(http, base, id, secret, creds).await;
    assert_eq!(status, 200, "no token for {id}: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `admin-cli`'s token: ADMIN_SYSTEM, so all four admin permissions.
pub async fn issue_admin_token(http: &reqwest::Client, base: &str) -> String {
    issue_token(http, base, "admin-cli", ADMIN_SECRET, Creds::Basic).await
}

/// Whether `secret` authenticates `id` right now: 200 or 401, anything else
/// fails the test.
pub async fn authenticates_at(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    creds: Creds,
) -> bool {
    let (status, body) = request_token(http, base, id, secret, creds).await;
    assert!(
        status == 200 || status == 401,
        "{id}: unexpected {status}: {body}"
    );
    status == 200
}

/// A client_secret_post token request: the status and the JSON body.
pub async fn post_token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> (u16, serde_json::Value) {
    request_token(http, base, id, secret, Creds::Post).await
}

/// Whether introspection at `base` (by `basic-client`) calls `token`
/// active; an inactive answer must be exactly `{"active": false}`.
pub async fn active_at(http: &reqwest::Client, base: &str, token: &str) -> bool {
    let r = http
        .post(format!("{base}/oauth2/introspect"))
        .header("X-Forwarded-Proto", "https")
        .header(
            "Authorization",
            basic_authorization("basic-client", BASIC_SECRET),
        )
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    if body["active"] == false {
        assert_eq!(body, serde_json::json!({"active": false}));
    }
    body["active"] == true
}

/// Introspection of `token` by `my-service` (client_secret_post): the
/// response, for the caller to check status and headers.
pub async fn introspect_as_service(s: &TestServer, token: &str) -> reqwest::Response {
    s.post("/oauth2/introspect")
        .form(&[
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
            ("token", token),
        ])
        .send()
        .await
        .unwrap()
}

/// `GET {url}` decoded as JSON.
pub async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The server still works: /healthz answers 200 and `my-service` still gets
/// a token.
pub async fn assert_healthy(http: &reqwest::Client, base: &str) {
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "/healthz after the attack");
    let (status, body) = post_token(http, base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200, "no token after the attack: {body}");
}

/// A port that was free a moment ago, for a child process to bind.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary serving on loopback, its stdout and stderr in files.
/// Dropping it kills the process.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub port: u16,
    pub base: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl ServerProcess {
    /// `auth-server serve` with exactly `env` (plus PATH and `APP_BIND`),
    /// in `dir`, logging to `dir/{name}.stdout` and `dir/{name}.stderr`
    /// (appended to, so a restart keeps the earlier lines).
    pub fn start(env: &BTreeMap<String, String>, dir: &Path, name: &str, port: u16) -> Self {
        let stdout_path = dir.join(format!("{name}.stdout"));
        let stderr_path = dir.join(format!("{name}.stderr"));
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap()
        };
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(dir)
            .stdout(std::process::Stdio::from(open(&stdout_path)))
            .stderr(std::process::Stdio::from(open(&stderr_path)));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("APP_BIND", format!("127.0.0.1:{port}"));
        let child = cmd.spawn().unwrap();
        Self {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
            stdout_path,
            stderr_path,
        }
    }

    /// [`ServerProcess::start`] on a free loopback port, then
    /// [`ServerProcess::wait_ready`] (a minute at most).
    pub async fn serve(env: &BTreeMap<String, String>, dir: &Path, name: &str) -> Self {
        let mut server = Self::start(env, dir, name, free_loopback_port());
        server.wait_ready(std::time::Duration::from_secs(60)).await;
        server
    }

    /// Waits until /readyz answers 200; fails the test with the server's
    /// stderr after `within`.
    pub async fn wait_ready(&mut self, within: std::time::Duration) {
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + within;
        loop {
            let ready = http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}: {}", self.logs());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server on port {} never became ready: {}",
                self.port,
                self.logs()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status (graceful shutdown, see docs/reference/operations.md#shutdown).
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub fn logs(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL of an SQLite database file `auth.db` in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("auth.db").display())
}

/// Settings for [`ServerProcess::start`]: the standard seed written into
/// `dir`, its secrets, BCrypt cost 4, JSON logs, and the database.
pub fn process_env(dir: &Path, database_url: &str) -> BTreeMap<String, String> {
    let mut env = write_seeds(dir, CLIENTS_YAML, ACCOUNTS_YAML);
    env.extend(seed_env());
    env.insert("APP_DATABASE_URL".into(), database_url.to_owned());
    env.insert("APP_BCRYPT_COST".into(), "4".into());
    env.insert("APP_DATABASE_POOL_SIZE".into(), "4".into());
    env.insert("APP_LOG_FORMAT".into(), "json".into());
    env
}

/// A PostgreSQL cluster of the test's own, made by
/// `scripts/pg-test-cluster.sh` in a temporary directory, so that the test
/// can stop and start it. Dropping it stops it and removes its files.
pub struct PgCluster {
    pub url: String,
    dir: tempfile::TempDir,
}

impl PgCluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-cluster.sh")
    }

    fn run(&self, command: &str) -> String {
        let out = Command::new("bash")
            .arg(Self::script())
            .arg(command)
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg-test-cluster.sh {command} failed: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a fresh cluster (initdb + start, a few seconds).
    pub fn start() -> Self {
        let _ports = CLUSTER_PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut cluster = Self {
            url: String::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let printed = cluster.run("start");
        cluster.url = printed
            .trim()
            .strip_prefix("export TEST_DATABASE_URL=")
            .unwrap_or_else(|| panic!("unexpected output of pg-test-cluster.sh: {printed}"))
            .to_owned();
        cluster
    }

    /// Stops the server (fast shutdown: open connections are cut), keeps it
    /// down for `down`, and starts it again on the same port, so that the
    /// servers under test keep their database URL. Blocking. Returns when
    /// it was down and when the restart began.
    pub fn outage(&self, down: std::time::Duration) -> (std::time::Instant, std::time::Instant) {
        // The script takes the first free port: no cluster of this process
        // may start while this one's port is free.
        let _ports = CLUSTER_PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.run("stop");
        let stopped = std::time::Instant::now();
        std::thread::sleep(down);
        let restarting = std::time::Instant::now();
        // The script takes the first free port from 55432 on: hold every
        // lower one that is free now, so that it comes back on its own.
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let held: Vec<TcpListener> = (55432..port)
            .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        let printed = self.run("start");
        drop(held);
        assert_eq!(
            printed.trim(),
            format!("export TEST_DATABASE_URL={}", self.url),
            "the cluster came back on another port"
        );
        (stopped, restarting)
    }
}

/// Serialises cluster starts with outages (see [`PgCluster::outage`]).
static CLUSTER_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// The PostgreSQL database for a test that needs one: a fresh database on
/// `TEST_DATABASE_URL` when it is set, else a cluster of the test's own.
pub enum Postgres {
    Shared(Database),
    Own(PgCluster),
}

impl Postgres {
    pub fn get() -> Self {
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
            Self::Shared(fresh_database(Backend::Postgres))
        } else {
            Self::Own(PgCluster::start())
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Shared(db) => &db.url,
            Self::Own(c) => &c.url,
        }
    }
}

/// One part of a JWT (0: the header, 1: the claims), decoded, unverified.
pub fn jwt_part(token: &str, part: usize) -> serde_json::Value {
    use base64::Engine as _;
    let encoded = token.split('.').nth(part).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// The `/metrics` text of server `s`.
pub async fn metrics_text(s: &TestServer) -> String {
    s.http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

// --- Storage that fails or waits on purpose ---

/// A call on the client repository, as a [`HookedClients`] hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCall {
    Find,
    List,
    Create,
    UpdateSettings,
    Delete,
    ReplaceSecrets,
    UpgradeHash,
}

impl ClientCall {
    /// Whether the call changes anything.
    pub fn writes(self) -> bool {
        !matches!(self, Self::Find | Self::List)
    }
}

type ClientHook = dyn Fn(ClientCall) -> Result<(), auth_domain::StoreError> + Send + Sync;

/// The client repository `inner` with a hook run before every call: an
/// error from the hook is the call's result (an injected failure), and a
/// hook that blocks holds the call there (a gate).
pub struct HookedClients {
    inner: Arc<dyn auth_domain::ClientRepository>,
    hook: Arc<ClientHook>,
}

impl HookedClients {
    pub fn new(
        inner: Arc<dyn auth_domain::ClientRepository>,
        hook: impl Fn(ClientCall) -> Result<(), auth_domain::StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            hook: Arc::new(hook),
        }
    }
}

impl auth_domain::ClientRepository for HookedClients {
    fn find(
        &self,
        id: &auth_domain::ClientId,
    ) -> Result<Option<auth_domain::Client>, auth_domain::StoreError> {
        (self.hook)(ClientCall::Find)?;
        self.inner.find(id)
    }
    fn list(&self) -> Result<Vec<auth_domain::Client>, auth_domain::StoreError> {
        (self.hook)(ClientCall::List)?;
        self.inner.list()
    }
    fn create(
        &self,
        client: &auth_domain::NewClient,
        event: &auth_domain::NewAuditEvent,
    ) -> Result<auth_domain::Client, auth_domain::StoreError> {
        (self.hook)(ClientCall::Create)?;
        self.inner.create(client, event)
    }
    fn update_settings(
        &self,
        id: &auth_domain::ClientId,
        settings: &auth_domain::ClientSettings,
        event: &auth_domain::NewAuditEvent,
    ) -> Result<auth_domain::Client, auth_domain::StoreError> {
        (self.hook)(ClientCall::UpdateSettings)?;
        self.inner.update_settings(id, settings, event)
    }
    fn delete(
        &self,
        id: &auth_domain::ClientId,
        event: &auth_domain::NewAuditEvent,
    ) -> Result<(), auth_domain::StoreError> {
        (self.hook)(ClientCall::Delete)?;
        self.inner.delete(id, event)
    }
    fn replace_secrets(
        &self,
        id: &auth_domain::ClientId,
        version: i64,
        slots: &auth_domain::SecretSlots,
        event: &auth_domain::NewAuditEvent,
    ) -> Result<i64, auth_domain::StoreError> {
        (self.hook)(ClientCall::ReplaceSecrets)?;
        self.inner.replace_secrets(id, version, slots, event)
    }
    fn upgrade_hash(
        &self,
        id: &auth_domain::ClientId,
        slot: auth_domain::Slot,
        old: &auth_domain::SecretHash,
        new: &auth_domain::SecretHash,
    ) -> Result<bool, auth_domain::StoreError> {
        (self.hook)(ClientCall::UpgradeHash)?;
        self.inner.upgrade_hash(id, slot, old, new)
    }
}

/// For [`Spawn::wrap_repos`]: the server's client repository behind
/// `hook` (see [`HookedClients`]).
#[allow(clippy::type_complexity)]
pub fn hook_clients(
    hook: impl Fn(ClientCall) -> Result<(), auth_domain::StoreError> + Send + Sync + 'static,
) -> Option<Arc<dyn Fn(auth_http::Repos) -> auth_http::Repos + Send + Sync>> {
    let hook: Arc<ClientHook> = Arc::new(hook);
    Some(Arc::new(move |mut repos: auth_http::Repos| {
        repos.clients = Arc::new(HookedClients {
            inner: repos.clients.clone(),
            hook: hook.clone(),
        });
        repos
    }))
}
