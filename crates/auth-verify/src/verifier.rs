//! [`Verifier`]: configuration, the JWKS and discovery fetches, and the
//! check of one token.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_token::{header_kid, PublicKey, Validation, MAX_LEEWAY};
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::claims::Claims;
use crate::error::{ConfigError, Error};
use crate::keys::{max_age, Fetch, Fetched, KeyCache, Timing};
use crate::VerifyError;

/// Tokens longer than this are refused unread (the server's are ~1 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// JWKS and introspection answers larger than this are not read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Introspection answers remembered at once; beyond it, expired ones are
/// dropped, and if none has expired, all are.
const MAX_REMEMBERED_ANSWERS: usize = 10_000;

/// How this service authenticates to the introspection endpoint: the
/// method its client is registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `Authorization: Basic` (`client_secret_basic`).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Post,
}

/// Introspection settings; `credentials` turns the mode on.
#[derive(Clone)]
struct Introspection {
    credentials: Option<(String, String)>,
    endpoint: Option<String>,
    auth: ClientAuth,
    cache_for: Duration,
}

/// Settings for a [`Verifier`]; start with [`Verifier::builder`].
#[derive(Clone)]
pub struct VerifierBuilder {
    issuer: String,
    jwks_url: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    key_ttl: Duration,
    refetch_interval: Duration,
    stale_for: Duration,
    timeout: Duration,
    introspection: Introspection,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field(
                "introspection_client",
                &self.introspection.credentials.as_ref().map(|(id, _)| id),
            )
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Where the keys are: default `{issuer}/oauth2/jwks`, or what
    /// [`Self::discover`] finds.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Accept only tokens whose `aud` is this (the server puts the
    /// token's own `client_id` there).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock difference tolerated on `exp`, `nbf` and `iat`: default 60 s,
    /// at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How long keys stay fresh (default 5 minutes); a shorter
    /// `Cache-Control: max-age` on the JWKS response wins (the server sends
    /// 60 s).
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = ttl;
        self
    }

    /// The least time between two fetches of the keys that are not due to
    /// their expiry: an unknown `kid` or a failed fetch (default 30 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How long past their freshness the last good keys keep verifying
    /// while the server cannot be reached (default 10 minutes); then the
    /// verifier fails closed.
    pub fn stale_for(mut self, bound: Duration) -> Self {
        self.stale_for = bound;
        self
    }

    /// Timeout of each request to the server (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The HTTP client to use (e.g. with the company's CA). Its own
    /// timeouts apply instead of [`Self::timeout`].
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Also ask the server, for every token that passes the local checks,
    /// whether it is still active (`POST /oauth2/introspect`), as the
    /// client `client_id` of this service. This catches revoked tokens and
    /// tokens of deleted clients, at the cost of a request per token and
    /// [`Self::introspection_cache`] period.
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.introspection.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// The introspection endpoint: default `{issuer}/oauth2/introspect`,
    /// or what [`Self::discover`] finds.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        self.introspection.endpoint = Some(url.into());
        self
    }

    /// How the service's client authenticates (default Basic).
    pub fn introspection_auth(mut self, auth: ClientAuth) -> Self {
        self.introspection.auth = auth;
        self
    }

    /// How long an introspection answer is reused for the same token
    /// (default 10 s; never past the token's `exp`). A revocation takes
    /// up to this long to be noticed.
    pub fn introspection_cache(mut self, period: Duration) -> Self {
        self.introspection.cache_for = period;
        self
    }

    /// Reads the server's metadata (`{issuer}/.well-known/oauth-authorization-server`)
    /// and takes the JWKS and introspection URLs from it, unless set
    /// already. The document must name the configured issuer.
    pub async fn discover(mut self) -> Result<Self, ConfigError> {
        let http = self.client()?;
        let url = format!("{}/.well-known/oauth-authorization-server", self.issuer);
        let fail = |why: &str| ConfigError::Discovery(why.to_owned());
        let response = http
            .get(&url)
            .send()
            .await
            .map_err(|_| fail("the metadata could not be fetched"))?;
        if !response.status().is_success() {
            return Err(fail("the metadata request was not answered with 200"));
        }
        let body = read_limited(response)
            .await
            .ok_or_else(|| fail("the metadata could not be read"))?;
        let doc: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|_| fail("the metadata is not a JSON object"))?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(fail("the metadata names another issuer"));
        }
        let member = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
        if self.jwks_url.is_none() {
            self.jwks_url = Some(member("jwks_uri").ok_or_else(|| fail("no jwks_uri"))?);
        }
        if self.introspection.endpoint.is_none() {
            self.introspection.endpoint = member("introspection_endpoint");
        }
        self.http = Some(http);
        Ok(self)
    }

    fn client(&self) -> Result<reqwest::Client, ConfigError> {
        match &self.http {
            Some(c) => Ok(c.clone()),
            // Keys are fetched a few times an hour: an idle connection
            // kept longer than servers keep theirs (actix-web: 5 s) would
            // be found closed at the next fetch.
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .pool_idle_timeout(Duration::from_secs(4))
                .build()
                .map_err(|e| ConfigError::Http(e.to_string())),
        }
    }

    /// The verifier. It fetches nothing yet: the first token does.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if !is_http_url(&self.issuer) || self.issuer.ends_with('/') {
            return Err(ConfigError::Issuer);
        }
        if self.leeway > Duration::from_secs(MAX_LEEWAY.whole_seconds().unsigned_abs()) {
            return Err(ConfigError::Leeway);
        }
        if self.key_ttl.is_zero() {
            return Err(ConfigError::Zero("the key TTL"));
        }
        let http = self.client()?;
        let jwks_url = self
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/oauth2/jwks", self.issuer));
        if !is_http_url(&jwks_url) {
            return Err(ConfigError::Url("the JWKS URL"));
        }
        let settings = self.introspection;
        let introspection = match settings.credentials {
            Some((client_id, client_secret)) => {
                let endpoint = settings
                    .endpoint
                    .unwrap_or_else(|| format!("{}/oauth2/introspect", self.issuer));
                if !is_http_url(&endpoint) {
                    return Err(ConfigError::Url("the introspection endpoint"));
                }
                Some(Introspector {
                    endpoint,
                    client_id,
                    client_secret,
                    auth: settings.auth,
                    cache_for: settings.cache_for,
                    answers: Mutex::new(HashMap::new()),
                })
            }
            None => None,
        };
        let fetch = jwks_fetch(http.clone(), jwks_url.clone());
        let keys = KeyCache::new(
            fetch,
            Timing {
                ttl: self.key_ttl,
                refetch_interval: self.refetch_interval,
                stale_for: self.stale_for,
            },
        );
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audience: self.audience,
                leeway: time::Duration::try_from(self.leeway).map_err(|_| ConfigError::Leeway)?,
                jwks_url,
                keys,
                introspection,
                http,
            }),
        })
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
}

async fn read_limited(mut response: reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

fn jwks_fetch(http: reqwest::Client, url: String) -> Fetch {
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            // One retry: a GET is safe to repeat, and a connection the
            // server closed just as it was reused fails the first try.
            let response = match http.get(&url).send().await {
                Ok(r) => r,
                Err(_) => http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {}", e.without_url()))?,
            };
            if !response.status().is_success() {
                return Err(format!("GET {url}: status {}", response.status()));
            }
            let max_age = response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(max_age);
            let body = read_limited(response)
                .await
                .ok_or_else(|| format!("GET {url}: the body could not be read"))?;
            let jwks: Value = serde_json::from_slice(&body)
                .map_err(|_| format!("GET {url}: not a JSON key set"))?;
            let entries = jwks["keys"]
                .as_array()
                .ok_or_else(|| format!("GET {url}: no \"keys\" array"))?;
            let mut keys = Vec::new();
            for entry in entries {
                match entry.as_object().map(PublicKey::from_jwk) {
                    Some(Ok(key)) => keys.push(key),
                    Some(Err(e)) => tracing::warn!(error = %e, "a JWKS key was skipped"),
                    None => tracing::warn!("a JWKS entry is not an object; skipped"),
                }
            }
            if keys.is_empty() {
                return Err(format!("GET {url}: no usable key"));
            }
            Ok(Fetched { keys, max_age })
        })
    })
}

struct Introspector {
    endpoint: String,
    client_id: String,
    client_secret: String,
    auth: ClientAuth,
    cache_for: Duration,
    /// SHA-256 of the token → (active, remembered until). Hashes, so that
    /// the tokens themselves are not kept.
    answers: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

impl Introspector {
    async fn is_active(
        &self,
        http: &reqwest::Client,
        token: &str,
        valid_for: Duration,
    ) -> Result<bool, Error> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some((active, until)) = self.lock().get(&digest) {
            if now < *until {
                return Ok(*active);
            }
        }
        let mut form = vec![("token", token)];
        let mut request = http.post(&self.endpoint);
        match self.auth {
            ClientAuth::Basic => {
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&self.client_id),
                    enc(&self.client_secret)
                ));
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {credentials}"),
                );
            }
            ClientAuth::Post => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
            }
        }
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e.without_url(), "introspection request failed");
                Error::IntrospectionUnavailable
            })?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "introspection was refused");
            return Err(Error::IntrospectionUnavailable);
        }
        let answer: Value = read_limited(response)
            .await
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Error::IntrospectionUnavailable)?;
        let active = answer
            .get("active")
            .and_then(Value::as_bool)
            .ok_or(Error::IntrospectionUnavailable)?;
        let mut answers = self.lock();
        if answers.len() >= MAX_REMEMBERED_ANSWERS {
            answers.retain(|_, (_, until)| now < *until);
            if answers.len() >= MAX_REMEMBERED_ANSWERS {
                answers.clear();
            }
        }
        answers.insert(digest, (active, now + self.cache_for.min(valid_for)));
        Ok(active)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (bool, Instant)>> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Checks access tokens of one auth-server. Cheap to clone; share one per
/// process so that the key cache is shared.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: Option<String>,
    leeway: time::Duration,
    jwks_url: String,
    keys: KeyCache,
    introspection: Option<Introspector>,
    http: reqwest::Client,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("jwks_url", &self.inner.jwks_url)
            .field("audience", &self.inner.audience)
            .field("leeway", &self.inner.leeway)
            .field("introspection", &self.inner.introspection.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Settings for tokens whose `iss` is `issuer` (e.g.
    /// `https://auth.example.com`, exactly as the server's `APP_ISSUER`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            jwks_url: None,
            audience: None,
            leeway: Duration::from_secs(60),
            key_ttl: Duration::from_secs(300),
            refetch_interval: Duration::from_secs(30),
            stale_for: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
            introspection: Introspection {
                credentials: None,
                endpoint: None,
                auth: ClientAuth::Basic,
                cache_for: Duration::from_secs(10),
            },
            http: None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// How many times the keys have been fetched so far (for metrics).
    pub fn key_fetches(&self) -> u64 {
        self.inner.keys.fetches()
    }

    /// Checks `token` (the bearer token, without `Bearer `) now.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        self.verify_at(token, OffsetDateTime::now_utc()).await
    }

    /// Checks `token` as of `now` (tests and replays; keys are fetched as
    /// usual).
    pub async fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, Error> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::Refused(VerifyError::Malformed));
        }
        let kid = header_kid(token).ok_or(Error::Refused(VerifyError::Malformed))?;
        let key = self.inner.keys.key(&kid).await?;
        let rules = Validation {
            issuer: Some(&self.inner.issuer),
            audience: self.inner.audience.as_deref(),
            leeway: self.inner.leeway,
        };
        let claims = key.verify(token, now, &rules)?;
        if let Some(introspection) = &self.inner.introspection {
            let left = (claims.exp - now.unix_timestamp()).max(0).unsigned_abs();
            if !introspection
                .is_active(&self.inner.http, token, Duration::from_secs(left))
                .await?
            {
                return Err(Error::Inactive);
            }
        }
        Ok(Claims::new(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        let b = || Verifier::builder("https://auth.example.com");
        assert!(b().build().is_ok());
        assert_eq!(
            Verifier::builder("https://auth.example.com/")
                .build()
                .unwrap_err(),
            ConfigError::Issuer
        );
        assert_eq!(
            Verifier::builder("auth.example.com").build().unwrap_err(),
            ConfigError::Issuer
        );
        assert_eq!(
            b().leeway(Duration::from_secs(301)).build().unwrap_err(),
            ConfigError::Leeway
        );
        assert!(b().leeway(Duration::from_secs(300)).build().is_ok());
        assert!(matches!(
            b().jwks_url("file:///etc/passwd").build(),
            Err(ConfigError::Url(_))
        ));
        assert!(matches!(
            b().key_ttl(Duration::ZERO).build(),
            Err(ConfigError::Zero(_))
        ));
    }

    #[test]
    fn debug_output_never_shows_the_client_secret() {
        let b = Verifier::builder("https://auth.example.com")
            .introspection("rs", "the-client-secret-value");
        assert!(!format!("{b:?}").contains("the-client-secret-value"));
        let v = b.build().unwrap();
        assert!(!format!("{v:?}").contains("the-client-secret-value"));
    }

    #[tokio::test]
    async fn garbage_is_malformed_before_any_fetch() {
        let v = Verifier::builder("http://127.0.0.1:9").build().unwrap();
        for bad in ["", "abc", "a.b.c", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(
                v.verify(bad).await.unwrap_err(),
                Error::Refused(VerifyError::Malformed)
            );
        }
        assert_eq!(v.key_fetches(), 0);
    }
}
