//! Talking to the server: the connection's rules (no plain HTTP off
//! loopback unless asked, no redirects, no secret in an argument), the
//! client_credentials token authctl acts with, and one answer type for
//! every admin call.

use std::fmt;
use std::net::IpAddr;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::cli::AuthMethod;
use crate::error::CliError;

/// The secret a connection authenticates with. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Where and as whom authctl connects; resolved from flags and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Url,
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub auth_method: AuthMethod,
    pub forwarded_https: bool,
}

/// Refuses a URL that would send credentials in clear text across a
/// network: plain HTTP is fine to loopback (a port-forward, a sidecar on the
/// same host), otherwise only with `--insecure-http`.
pub fn check_transport(server: &Url, insecure_http: bool) -> Result<(), CliError> {
    match server.scheme() {
        "https" => Ok(()),
        "http" if insecure_http || is_loopback(server) => Ok(()),
        "http" => Err(CliError::Usage(format!(
            "refusing plain HTTP to {}: credentials would cross the network unencrypted; use https:// \
             or pass --insecure-http",
            server.host_str().unwrap_or("the server")
        ))),
        other => Err(CliError::Usage(format!(
            "the server URL must start with https:// or http://, not {other}://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// One answer of the server that was not an error.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub body: Value,
}

pub struct Api {
    settings: Settings,
    http: Client,
    token: Option<String>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("server", &self.settings.server.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(settings: Settings) -> Result<Self, CliError> {
        let http = Client::builder()
            // A redirect could take the bearer token or the secret somewhere
            // else, or down to plain HTTP: the admin API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authctl/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::Network(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            settings,
            http,
            token: None,
        })
    }

    fn url(&self, path: &str) -> Result<Url, CliError> {
        let base = self.settings.server.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}"))
            .map_err(|e| CliError::Usage(format!("bad server URL: {e}")))
    }

    fn request(&self, method: Method, path: &str) -> Result<RequestBuilder, CliError> {
        let mut b = self
            .http
            .request(method, self.url(path)?)
            .header(ACCEPT, "application/json");
        if self.settings.forwarded_https {
            b = b.header("X-Forwarded-Proto", "https");
        }
        Ok(b)
    }

    fn credentials(&self) -> Result<(&str, &ClientSecret), CliError> {
        let id = self.settings.client_id.as_deref().ok_or_else(|| {
            CliError::Usage("no client id: pass --client-id or set AUTHCTL_CLIENT_ID".into())
        })?;
        let secret = self.settings.client_secret.as_ref().ok_or_else(|| {
            CliError::Usage(
                "no client secret: set AUTHCTL_CLIENT_SECRET or pass --client-secret-file".into(),
            )
        })?;
        Ok((id, secret))
    }

    /// A request authenticated as the connection's client (token,
    /// introspection), by its registered method.
    fn client_authenticated(
        &self,
        path: &str,
        mut form: Vec<(&str, String)>,
    ) -> Result<RequestBuilder, CliError> {
        let (id, secret) = self.credentials()?;
        let mut b = self.request(Method::POST, path)?;
        match self.settings.auth_method {
            AuthMethod::Basic => {
                b = b.header(AUTHORIZATION, basic_authorization(id, secret.expose()));
            }
            AuthMethod::Post => {
                form.push(("client_id", id.to_owned()));
                form.push(("client_secret", secret.expose().to_owned()));
            }
        }
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        Ok(b.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body))
    }

    /// A fresh access token for the connection's client.
    pub fn fetch_token(&self, scope: Option<&str>) -> Result<String, CliError> {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(s) = scope {
            form.push(("scope", s.to_owned()));
        }
        let answer = send(self.client_authenticated("/oauth2/token", form)?)?;
        answer
            .body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CliError::Server("the token endpoint answered without a token".into()))
    }

    /// RFC 7662 introspection of `token`.
    pub fn introspect(&self, token: &str) -> Result<Value, CliError> {
        let form = vec![("token", token.to_owned())];
        Ok(send(self.client_authenticated("/oauth2/introspect", form)?)?.body)
    }

    /// An unauthenticated GET (JWKS, discovery).
    pub fn get_public(&self, path: &str) -> Result<Value, CliError> {
        Ok(send(self.request(Method::GET, path)?)?.body)
    }

    /// An admin API call with authctl's bearer token, fetched on first use.
    pub fn admin(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, &Value)>,
        if_match: Option<&str>,
    ) -> Result<Answer, CliError> {
        if self.token.is_none() {
            self.token = Some(self.fetch_token(None)?);
        }
        let token = self.token.as_deref().unwrap_or_default();
        let mut b = self
            .request(method, path)?
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(tag) = if_match {
            b = b.header(IF_MATCH, tag);
        }
        if let Some((content_type, value)) = body {
            b = b.header(CONTENT_TYPE, content_type).body(value.to_string());
        }
        send(b)
    }
}

/// `Authorization: Basic …` with both parts form-urlencoded first, as RFC
/// 6749 §2.3.1 asks (a secret may hold `:` or `%`).
pub fn basic_authorization(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// A path segment, percent-encoded so that any id reaches the server intact.
pub fn segment(s: &str) -> String {
    const KEEP: &[u8] = b"-._~";
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn send(b: RequestBuilder) -> Result<Answer, CliError> {
    let response = b.send().map_err(|e| {
        // reqwest's error text names the URL, never a header or the body.
        CliError::Network(format!(
            "cannot reach the server: {}",
            without_url_secrets(&e)
        ))
    })?;
    answer(response)
}

fn without_url_secrets(e: &reqwest::Error) -> String {
    // The URL in the message is the one the operator gave; strip any
    // userinfo so that a password there is not echoed back.
    let mut text = e.to_string();
    if let Some(u) = e.url() {
        if !u.username().is_empty() || u.password().is_some() {
            let mut clean = u.clone();
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            text = text.replace(u.as_str(), clean.as_str());
        }
    }
    text
}

fn answer(response: Response) -> Result<Answer, CliError> {
    let status = response.status();
    let etag = header_text(response.headers(), ETAG);
    let text = response
        .text()
        .map_err(|e| CliError::Network(format!("the answer could not be read: {e}")))?;
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(Answer { status, etag, body });
    }
    let line = problem_line(status, &body);
    if status.is_client_error() {
        Err(CliError::Refused(line))
    } else {
        Err(CliError::Server(line))
    }
}

fn header_text(h: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    h.get(name)?.to_str().ok().map(str::to_owned)
}

/// One readable line for an error answer: a problem+json's title and
/// detail (which names the field at fault), or an OAuth error and its
/// description.
pub fn problem_line(status: StatusCode, body: &Value) -> String {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(one_line);
    let detail = match (field("detail"), field("error"), field("error_description")) {
        (Some(d), _, _) => Some(d),
        (None, Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (None, Some(e), None) => Some(e),
        _ => match body {
            Value::String(s) if !s.trim().is_empty() => Some(one_line(s)),
            _ => None,
        },
    };
    match detail {
        Some(d) => format!("{code} {reason}: {d}"),
        None => format!("{code} {reason}"),
    }
}

fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_unless_asked() {
        let ok = |u: &str, insecure| check_transport(&Url::parse(u).unwrap(), insecure).is_ok();
        assert!(ok("https://auth.example.com", false));
        assert!(ok("http://127.0.0.1:8080", false));
        assert!(ok("http://127.9.9.9:8080", false));
        assert!(ok("http://[::1]:8080", false));
        assert!(ok("http://localhost:8080", false));
        assert!(!ok("http://auth.example.com", false));
        assert!(!ok("http://10.0.0.5:8080", false));
        assert!(!ok("http://localhost.example.com", false));
        assert!(ok("http://auth.example.com", true));
        assert!(!ok("ftp://auth.example.com", true));
    }

    #[test]
    fn problem_lines_name_the_detail_on_one_line() {
        let body = serde_json::json!({
            "type": "about:blank", "title": "Bad Request", "status": 400,
            "detail": "accessTokenTtlMinutes: must be 1-1440\nsecond line"
        });
        assert_eq!(
            problem_line(StatusCode::BAD_REQUEST, &body),
            "400 Bad Request: accessTokenTtlMinutes: must be 1-1440 second line"
        );
        let oauth = serde_json::json!({"error": "invalid_client", "error_description": "no"});
        assert_eq!(
            problem_line(StatusCode::UNAUTHORIZED, &oauth),
            "401 Unauthorized: invalid_client: no"
        );
        assert_eq!(
            problem_line(StatusCode::BAD_GATEWAY, &Value::Null),
            "502 Bad Gateway"
        );
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("team/a:b c"), "team%2Fa%3Ab%20c");
        assert_eq!(segment("my-service_1.x~"), "my-service_1.x~");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = ClientSecret::new("hunter2-very-secret".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        let settings = Settings {
            server: Url::parse("https://a.example").unwrap(),
            client_id: Some("admin-cli".into()),
            client_secret: Some(s),
            auth_method: AuthMethod::Basic,
            forwarded_https: false,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        let api = Api::new(settings).unwrap();
        assert!(!format!("{api:?}").contains("hunter2"));
    }
}
