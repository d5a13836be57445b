//! The HTTP side of client authentication for the token, introspection and
//! revocation endpoints (RFC 6749 §2.3, docs/reference/token-endpoint.md):
//! the transport rule, the request syntax checks and exactly one of
//! client_secret_basic and client_secret_post. What the credentials are
//! then worth is decided by `auth_service` ([`auth_service::AuthService::authenticate`]).

use std::collections::BTreeMap;

use actix_web::http::{header, Method};
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use auth_domain::{ClientAuthMethod, Secret};
use auth_service::Credentials;
use base64::Engine as _;

use crate::body::{self, BodyError};
use crate::oauth_error::OAuthError;
use crate::proxy::{effective, EffectiveRequest};
use crate::state::AppState;

/// Largest accepted form body (see docs/reference/token-endpoint.md).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// A parsed form body: every parameter exactly once.
pub type Form = BTreeMap<String, String>;

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
pub async fn read_form_body(req: &HttpRequest, payload: web::Payload) -> Result<Bytes, OAuthError> {
    if req.method() != Method::POST {
        return Err(OAuthError::InvalidRequest("the method must be POST".into()));
    }
    let form = ["application/x-www-form-urlencoded"];
    body::read_bounded(req, payload, &form, MAX_FORM_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::UnsupportedMediaType => OAuthError::InvalidRequest(
                "the content type must be application/x-www-form-urlencoded".into(),
            ),
            BodyError::TooLarge => OAuthError::PayloadTooLarge,
            BodyError::Unreadable => {
                OAuthError::InvalidRequest("the request body could not be read".into())
            }
        })
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
) -> Result<Option<Credentials>, OAuthError> {
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
            Ok(Some(Credentials {
                client_id: id,
                secret: Some(Secret::new(secret)),
                method: ClientAuthMethod::ClientSecretBasic,
            }))
        }
        None => match form.get("client_id") {
            Some(id) if !id.is_empty() => Ok(Some(Credentials {
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
    pub presented: Option<Credentials>,
    pub effective: EffectiveRequest,
}

impl ClientRequest {
    /// Whether the credentials came in `Authorization: Basic` (a failure
    /// then carries `WWW-Authenticate`).
    pub fn basic_used(&self) -> bool {
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
    let eff = effective(req)?;
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
