//! Client authentication for the token, introspection and revocation
//! endpoints (RFC 6749 §2.3, docs/reference/token-endpoint.md): the request syntax checks, exactly one
//! of client_secret_basic and client_secret_post, the failure throttle, and
//! one secret verification on the bounded pool whatever the outcome.

use auth_service::Observer as _;
use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::http::{header, Method};
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use auth_domain::{
    AuthFailure, Client, ClientAuthMethod, ClientId, ClientType, Secret, SecretHash, SecretSlots,
    Slot, StoreError, Verification,
};
use base64::Engine as _;
use futures_util::StreamExt as _;
use tracing::Instrument as _;

use crate::oauth_error::OAuthError;
use crate::proxy::{effective, EffectiveRequest};
use crate::state::AppState;

/// Largest accepted form body (see docs/reference/token-endpoint.md).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// A parsed form body: every parameter exactly once.
pub type Form = BTreeMap<String, String>;

/// The credentials a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<Secret>,
    pub method: ClientAuthMethod,
}

/// Checks the transport rule of docs/reference/proxy.md for a credential-bearing endpoint.
pub fn require_https(state: &AppState, eff: &EffectiveRequest) -> Result<(), OAuthError> {
    if state.config.require_https && eff.scheme != "https" {
        return Err(OAuthError::InvalidRequest(
            "this endpoint requires HTTPS (behind a proxy, send X-Forwarded-Proto: https)".into(),
        ));
    }
    Ok(())
}

/// Method, content type and size.
pub async fn read_form_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<Bytes, OAuthError> {
    if req.method() != Method::POST {
        return Err(OAuthError::InvalidRequest("the method must be POST".into()));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest(
            "the content type must be application/x-www-form-urlencoded".into(),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return Err(OAuthError::PayloadTooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| OAuthError::InvalidRequest("the request body could not be read".into()))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(OAuthError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses `application/x-www-form-urlencoded`; a parameter given twice is an
/// error (RFC 6749 §3.1), and so is a body that is not UTF-8 after decoding.
pub fn parse_form(body: &[u8]) -> Result<Form, OAuthError> {
    let mut out = Form::new();
    if std::str::from_utf8(body).is_err() {
        return Err(OAuthError::InvalidRequest(
            "the request body is not UTF-8".into(),
        ));
    }
    for (k, v) in form_urlencoded::parse(body) {
        if k.contains('\u{fffd}') || v.contains('\u{fffd}') {
            return Err(OAuthError::InvalidRequest(
                "a parameter is not valid UTF-8 after decoding".into(),
            ));
        }
        if k.is_empty() {
            continue;
        }
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {k} is given more than once"
            )));
        }
    }
    Ok(out)
}

/// Decodes `Authorization: Basic …` per RFC 6749 §2.3.1 (each part
/// form-urlencoded before base64). `Ok(None)` when there is no Authorization
/// header or it uses another scheme.
pub fn parse_basic(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::InvalidRequest(
            "the Authorization header is given more than once".into(),
        ));
    }
    let malformed = || OAuthError::InvalidRequest("malformed Basic authorization header".into());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    parse_basic_value(rest).map(Some).ok_or_else(malformed)
}

/// The part after `Basic `.
pub fn parse_basic_value(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if id.is_empty() {
        return None;
    }
    Some((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let replaced = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(replaced.as_bytes())?;
    String::from_utf8(bytes).ok()
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Exactly one authentication method (see docs/reference/token-endpoint.md). `Ok(None)`: no client
/// authentication at all.
pub fn presented_credentials(
    basic: Option<(String, String)>,
    form: &Form,
) -> Result<Option<Presented>, OAuthError> {
    match basic {
        Some((id, secret)) => {
            if form.contains_key("client_secret") {
                return Err(OAuthError::InvalidRequest(
                    "use one client authentication method: Basic or client_secret in the body, not both".into(),
                ));
            }
            if let Some(body_id) = form.get("client_id") {
                if *body_id != id {
                    return Err(OAuthError::InvalidRequest(
                        "client_id in the body does not match the Basic authorization header"
                            .into(),
                    ));
                }
            }
            Ok(Some(Presented {
                client_id: id,
                secret: Some(Secret::new(secret)),
                method: ClientAuthMethod::ClientSecretBasic,
            }))
        }
        None => match form.get("client_id") {
            Some(id) if !id.is_empty() => Ok(Some(Presented {
                client_id: id.clone(),
                secret: form.get("client_secret").map(|s| Secret::new(s.clone())),
                method: ClientAuthMethod::ClientSecretPost,
            })),
            _ => Ok(None),
        },
    }
}

/// The outcome of the syntax phase: what to authenticate, and the form.
pub struct ClientRequest {
    pub form: Form,
    pub presented: Option<Presented>,
    pub effective: EffectiveRequest,
}

impl ClientRequest {
    fn basic_used(&self) -> bool {
        self.presented
            .as_ref()
            .is_some_and(|p| p.method == ClientAuthMethod::ClientSecretBasic)
    }
}

/// HTTPS, then every syntax rule shared by the three endpoints. `required`
/// lists form parameters whose absence is `invalid_request`.
pub async fn parse_client_request(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    required: &[&str],
) -> Result<ClientRequest, OAuthError> {
    let eff = effective(req);
    require_https(state, &eff)?;
    let body = read_form_body(req, payload).await?;
    let form = parse_form(&body)?;
    let basic = parse_basic(req)?;
    let presented = presented_credentials(basic, &form)?;
    for p in required {
        if form.get(*p).is_none_or(|v| v.is_empty()) {
            return Err(OAuthError::InvalidRequest(format!(
                "the {p} parameter is missing"
            )));
        }
    }
    Ok(ClientRequest {
        form,
        presented,
        effective: eff,
    })
}

pub fn store_error(state: &AppState, e: &StoreError) -> OAuthError {
    tracing::warn!(error = %e, "database error on a client-authenticated endpoint");
    OAuthError::TemporarilyUnavailable {
        retry_after: state.retry_after_secs(),
    }
}

/// Throttle → client lookup → one verification. Returns the authenticated
/// confidential client.
pub async fn authenticate(
    state: &web::Data<AppState>,
    creq: &ClientRequest,
) -> Result<Client, OAuthError> {
    authenticate_with(state, creq, |_, _| Ok(()))
        .await
        .map(|(client, ())| client)
}

/// [`authenticate`], reading what the caller needs next about the client
/// (`also`, e.g. its service account) in the same blocking call as the
/// client row: one hop to the blocking pool per request instead of two.
/// `also` runs for every client found, before the secret is checked; only
/// an authenticated caller gets its result.
pub async fn authenticate_with<T: Send + 'static>(
    state: &web::Data<AppState>,
    creq: &ClientRequest,
    also: fn(&AppState, &Client) -> Result<T, StoreError>,
) -> Result<(Client, T), OAuthError> {
    let basic = creq.basic_used();
    let Some(presented) = creq.presented.clone() else {
        return Err(OAuthError::InvalidClient { basic: false });
    };
    let source = creq.effective.source;
    if let Err(retry) = state
        .throttle
        .check(&presented.client_id, source, Instant::now())
    {
        return Err(OAuthError::SlowDown {
            retry_after: retry.0,
        });
    }
    let found = match ClientId::parse(&presented.client_id) {
        Ok(id) => {
            let lookup = move |st: &AppState| -> Result<_, StoreError> {
                match st.repos.clients.find(&id)? {
                    Some(c) => {
                        let extra = also(st, &c)?;
                        Ok(Some((c, extra)))
                    }
                    None => Ok(None),
                }
            };
            // Trace spans name no client and no secret: their timing is
            // what an operator looks for.
            let span = tracing::info_span!("db_read");
            let found = if state.repos.can_read_inline() {
                span.in_scope(|| lookup(state))
            } else {
                let st = state.clone();
                web::block(move || span.in_scope(|| lookup(&st)))
                    .await
                    .map_err(|_| OAuthError::TemporarilyUnavailable {
                        retry_after: state.retry_after_secs(),
                    })?
            };
            found.map_err(|e| store_error(state, &e))?
        }
        Err(_) => None,
    };
    let (client, mut extra) = match found {
        Some((c, t)) => (Some(c), Some(t)),
        None => (None, None),
    };
    let hasher = state.hasher.clone();
    let secret = presented.secret.clone().unwrap_or_else(|| Secret::new(""));
    let has_secret = presented.secret.is_some();
    let method = presented.method;
    let eligible = |c: &Client| {
        c.client_type == ClientType::Confidential && c.settings.auth_method == method && has_secret
    };
    if let Some(c) = client.as_ref().filter(|c| eligible(c)) {
        // The row was read just now, so only slots usable at this instant
        // (expiry and grace checked) can hit.
        let now = auth_domain::now_ms();
        let hit = c.secrets.usable(now).iter().any(|(_, hash)| {
            state
                .secret_cache
                .hit(c.id.as_str(), hash.as_str(), secret.expose())
        });
        if hit {
            if let Some(t) = extra.take() {
                state.metrics.secret_cache(true);
                return Ok((c.clone(), t));
            }
        }
        state.metrics.secret_cache(false);
    }
    let flight = flight_key(
        state,
        &presented.client_id,
        client.as_ref(),
        eligible,
        &secret,
    );
    // The check above and this admission are separate so that the cheap
    // refusal comes before the database read; the admission is what holds
    // under concurrency: it counts this verification against the failure
    // limits until it ends, so simultaneous guesses cannot all pass before
    // the first failure is recorded. Every return below but a failure (a
    // success, a 503) drops the attempt and so stops it counting.
    let attempt = state
        .throttle
        .begin(
            &presented.client_id,
            source,
            flight.as_ref(),
            Instant::now(),
        )
        .map_err(|retry| OAuthError::SlowDown {
            retry_after: retry.seconds(),
        })?;
    let job_client = client.clone();
    let job_secret = secret.clone();
    let verify = || async {
        let started = Instant::now();
        let outcome = state
            .verify_pool
            .run(move || {
                let now = auth_domain::now_ms();
                match job_client {
                    Some(c)
                        if c.client_type == ClientType::Confidential
                            && c.settings.auth_method == method
                            && has_secret =>
                    {
                        c.secrets.authenticate(&job_secret, now, hasher.as_ref())
                    }
                    // Unknown or public client, wrong method, missing
                    // secret: the same cost as any other failure.
                    _ => {
                        let _ =
                            SecretSlots::default().authenticate(&job_secret, now, hasher.as_ref());
                        Err(AuthFailure::Mismatch)
                    }
                }
            })
            .await;
        state.metrics.secret_verification(started.elapsed());
        outcome
    };
    // A request sharing another's verification still holds a place in the
    // verification queue while it waits, so the queue's bound (see docs/reference/token-endpoint.md:
    // more → 503) counts requests, shared or not.
    // From the wait for a slot to the end of the verification (or of the
    // one this request shares).
    let span = tracing::info_span!("secret_verification");
    let (outcome, ran) = match flight {
        Some(key) => state
            .verifications
            .run(key, || state.verify_pool.reserve(), verify)
            .instrument(span)
            .await
            .unwrap_or_else(|full| (Err(full), true)),
        None => (verify().instrument(span).await, true),
    };
    if !ran {
        state.metrics.verification_shared();
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(_) => {
            state.metrics.verification_rejected();
            return Err(OAuthError::TemporarilyUnavailable { retry_after: 1 });
        }
    };
    match (outcome, client, extra) {
        (Ok((slot, verification)), Some(client), Some(extra)) => {
            if let Some(hash) = slot_hash(&client, slot) {
                state
                    .secret_cache
                    .remember(client.id.as_str(), hash.as_str(), secret.expose());
            }
            // One upgrade per verification, not one per request sharing it.
            if ran && verification == Verification::MatchNeedsRehash {
                if let Some(secret) = presented.secret {
                    upgrade_hash_in_background(state, &client, slot, secret);
                }
            }
            Ok((client, extra))
        }
        (result, _, _) => {
            let reason = match result {
                Err(AuthFailure::Expired) => "expired",
                Err(AuthFailure::NoSecret) => "no_secret",
                _ => "mismatch",
            };
            tracing::info!(reason, "client authentication failed");
            attempt.failed(Instant::now());
            Err(OAuthError::InvalidClient { basic })
        }
    }
}

/// The [`crate::in_flight`] key of a verification: everything its outcome
/// depends on — the client id, what the row says (eligibility, secrets
/// version, the hashes usable now) and the presented secret.
fn flight_key(
    state: &AppState,
    client_id: &str,
    client: Option<&Client>,
    eligible: impl Fn(&Client) -> bool,
    secret: &Secret,
) -> Option<crate::in_flight::Key> {
    let now = auth_domain::now_ms();
    let (eligible, version, usable) = match client {
        Some(c) => (
            eligible(c),
            c.secrets_version,
            c.secrets
                .usable(now)
                .iter()
                .map(|(_, hash)| hash.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        None => (false, 0, Vec::new()),
    };
    let version = version.to_be_bytes();
    let row = [u8::from(client.is_some()), u8::from(eligible)];
    let mut parts: Vec<&[u8]> = vec![
        client_id.as_bytes(),
        &row,
        &version,
        secret.expose().as_bytes(),
    ];
    parts.extend(usable.iter().map(|h| h.as_bytes()));
    state.secret_cache.flight_key(&parts)
}

/// The stored hash of one slot of the row as read.
fn slot_hash(client: &Client, slot: Slot) -> Option<SecretHash> {
    match slot {
        Slot::Current => client.secrets.current.as_ref().map(|c| c.hash.clone()),
        Slot::Previous => client.secrets.previous.as_ref().map(|p| p.hash.clone()),
    }
}

/// Re-hashes a secret that verified against a weaker hash (see docs/reference/secret-lifecycle.md), off the
/// request path, by compare-and-swap on the old hash: a concurrent rotation
/// wins, and the secret state's version (its ETag) does not change.
fn upgrade_hash_in_background(
    state: &web::Data<AppState>,
    client: &Client,
    slot: Slot,
    secret: Secret,
) {
    let Some(old) = slot_hash(client, slot) else {
        return;
    };
    let state = state.clone();
    let id = client.id.clone();
    actix_web::rt::spawn(async move {
        let hasher = state.hasher.clone();
        let to_hash = secret.clone();
        let hashed = state.verify_pool.run(move || hasher.hash(&to_hash)).await;
        let Ok(Ok(fresh)) = hashed else {
            // A full pool or a failed hash leaves the old hash in place; the
            // next verification that misses the cache tries again.
            count_upgrade(&state, "skipped");
            return;
        };
        let Some(new) = never_weaker(&old, fresh) else {
            count_upgrade(&state, "skipped");
            return;
        };
        let repos = state.repos.clone();
        let (swap_id, swap_old, swap_new) = (id.clone(), old, new.clone());
        let swapped = web::block(move || {
            repos
                .clients
                .upgrade_hash(&swap_id, slot, &swap_old, &swap_new)
        })
        .await;
        match swapped {
            Ok(Ok(true)) => {
                // The new hash is of this very secret: remember it, so the
                // upgrade does not cost the client one more cold request.
                state
                    .secret_cache
                    .remember(id.as_str(), new.as_str(), secret.expose());
                count_upgrade(&state, "stored");
                tracing::info!("upgraded a client secret hash to the configured cost");
            }
            Ok(Ok(false)) => count_upgrade(&state, "superseded"),
            _ => {
                count_upgrade(&state, "failed");
                tracing::warn!("could not store an upgraded client secret hash");
            }
        }
    });
}

fn count_upgrade(state: &AppState, outcome: &'static str) {
    state.metrics.hash_upgrade(outcome);
}

/// The hash to store in place of `old`: `fresh` (the configured settings),
/// unless `old` is a Spring `{bcrypt}` value of a higher cost than the
/// configured one — then the same BCrypt hash without the prefix, so that
/// the imported format goes away without lowering the cost (docs/reference/secret-lifecycle.md: never
/// downgraded). `None` when nothing would improve.
fn never_weaker(old: &SecretHash, fresh: SecretHash) -> Option<SecretHash> {
    let inner = old.as_str().strip_prefix("{bcrypt}");
    let old_cost = bcrypt_cost(inner.unwrap_or(old.as_str()));
    match (old_cost, bcrypt_cost(fresh.as_str())) {
        (Some(o), Some(f)) if f < o => inner.map(SecretHash::new),
        (Some(o), Some(f)) if f == o && inner.is_none() => None,
        _ => Some(fresh),
    }
}

/// The cost field of a `$2?$NN$…` BCrypt hash.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.strip_prefix('$')?.split('$');
    let variant = parts.next()?;
    if !matches!(variant, "2a" | "2b" | "2y") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_presented_credentials_never_shows_the_secret() {
        let form: Form = [
            ("client_id".to_owned(), "a".to_owned()),
            (
                "client_secret".to_owned(),
                "Presented-secret-5a4b".to_owned(),
            ),
        ]
        .into();
        let p = presented_credentials(None, &form).unwrap().unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("Presented-secret-5a4b"), "{shown}");
        let p = presented_credentials(Some(("a".into(), "Basic-secret-6c7d".into())), &Form::new())
            .unwrap()
            .unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("Basic-secret-6c7d"), "{shown}");
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_values_are_form_decoded() {
        assert_eq!(
            parse_basic_value(&b64("my%3Aid:se%3Acret%2B+x")),
            Some(("my:id".into(), "se:cret+ x".into()))
        );
        assert_eq!(
            parse_basic_value(&b64("id:a:b")),
            Some(("id".into(), "a:b".into()))
        );
        assert_eq!(
            parse_basic_value(&b64("id:")),
            Some(("id".into(), String::new()))
        );
    }

    #[test]
    fn malformed_basic_values_are_refused() {
        assert_eq!(parse_basic_value("!!!not-base64"), None);
        assert_eq!(parse_basic_value(&b64("no-colon")), None);
        assert_eq!(parse_basic_value(&b64(":secret")), None);
        assert_eq!(parse_basic_value(&b64("id:%zz")), None);
        let invalid_utf8 =
            base64::engine::general_purpose::STANDARD.encode([0x69, 0x64, b':', 0xff]);
        assert_eq!(parse_basic_value(&invalid_utf8), None);
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        assert!(parse_form(b"grant_type=client_credentials&scope=a&scope=b").is_err());
        let f = parse_form(b"grant_type=client_credentials&scope=a+b&client_secret=x%26y").unwrap();
        assert_eq!(f["scope"], "a b");
        assert_eq!(f["client_secret"], "x&y");
    }

    #[test]
    fn upgrades_never_lower_the_cost() {
        let h = |s: &str| SecretHash::new(s);
        let fresh = || h("$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz012");
        // A weaker BCrypt hash, or a Spring value of the same or a lower
        // cost, takes the fresh hash.
        let weaker = h("$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz012");
        assert_eq!(never_weaker(&weaker, fresh()), Some(fresh()));
        let spring_same = h("{bcrypt}$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01");
        assert_eq!(never_weaker(&spring_same, fresh()), Some(fresh()));
        // A stronger Spring value loses only its prefix.
        let spring_strong = h("{bcrypt}$2a$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01");
        assert_eq!(
            never_weaker(&spring_strong, fresh()).unwrap().as_str(),
            "$2a$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01"
        );
        // A plain hash of the configured cost is left alone.
        assert_eq!(never_weaker(&fresh(), fresh()), None);
        assert_eq!(bcrypt_cost("$2y$07$x"), Some(7));
        assert_eq!(bcrypt_cost("$argon2id$v=19$m=19456"), None);
    }

    #[test]
    fn exactly_one_method() {
        let form: Form = [("client_secret".to_owned(), "x".to_owned())].into();
        assert!(presented_credentials(Some(("a".into(), "s".into())), &form).is_err());
        let form: Form = [("client_id".to_owned(), "b".to_owned())].into();
        assert!(presented_credentials(Some(("a".into(), "s".into())), &form).is_err());
        let form: Form = [("client_id".to_owned(), "a".to_owned())].into();
        let p = presented_credentials(Some(("a".into(), "s".into())), &form)
            .unwrap()
            .unwrap();
        assert_eq!(p.method, ClientAuthMethod::ClientSecretBasic);
        let form: Form = [
            ("client_id".to_owned(), "a".to_owned()),
            ("client_secret".to_owned(), "s".to_owned()),
        ]
        .into();
        let p = presented_credentials(None, &form).unwrap().unwrap();
        assert_eq!(p.method, ClientAuthMethod::ClientSecretPost);
        assert!(presented_credentials(None, &Form::new()).unwrap().is_none());
    }
}
