//! The admin API of docs/reference/admin-api.md: clients, their secret lifecycle, service
//! accounts, the catalogue and the audit log, guarded by our own bearer
//! tokens ([`auth::AdminCaller`]). Every failure is a problem+json
//! ([`problem::Problem`]); bodies are read and parsed here rather than by
//! actix's JSON extractor so that size, content type, unknown fields and
//! wrong types all answer problem details naming the field.
//!
//! The use cases themselves (order of checks, escalation rule, audit log,
//! secret lifecycle) are [`auth_service::admin::Admin`]'s; handlers here
//! extract and parse the request, call one use case and turn its
//! [`AdminError`] into a problem in one place ([`Problem::from_admin`]).

pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod clients;
pub mod problem;
pub mod responses;
pub mod secrets;
pub mod service_accounts;

use actix_web::{web, HttpRequest};
use auth_domain::Change;
use auth_service::admin::{Admin, AdminError, Caller};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use self::auth::AdminCaller;
use self::problem::Problem;
use crate::body::{self, BodyError};
use crate::state::AppState;

/// Largest accepted request body (see docs/reference/admin-api.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The name of the bearer security scheme in the OpenAPI document.
pub const BEARER_SCHEME: &str = "bearer";

/// Adds the admin API's bearer security scheme to the OpenAPI document.
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        scheme.description =
            Some("An access token of this server (client_credentials grant) whose permissions claim holds the route's permission".into());
        components.add_security_scheme(BEARER_SCHEME, SecurityScheme::Http(scheme));
        // client_secret_post has no OpenAPI scheme: its credentials are body
        // parameters, which is why the OAuth endpoints also list "none".
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "client_secret_basic (RFC 6749 §2.3.1): form-urlencoded client id and secret; or send client_id and client_secret in the form body (client_secret_post)".into(),
        );
        components.add_security_scheme("client_secret_basic", SecurityScheme::Http(basic));
    }
}

/// RFC 3339 in UTC with exactly three fraction digits
/// (`2026-01-01T00:00:00.000Z`), the admin API's one time format.
pub fn rfc3339_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The admin use cases as one verified caller, once it holds a permission.
/// Handlers take it before reading a body, so that a 403 comes before a 400.
pub struct Session<'a> {
    state: &'a AppState,
    admin: Admin,
    caller: Caller,
}

impl AdminCaller {
    /// [`Session`] for this caller, or the 403 naming `permission`.
    pub fn with<'a>(
        &self,
        state: &'a AppState,
        permission: &'static str,
    ) -> Result<Session<'a>, Problem> {
        self.require(permission)?;
        Ok(Session {
            state,
            admin: Admin::new(
                state.repos.clone(),
                state.hasher.clone(),
                state.config.secret_policy,
            ),
            caller: Caller {
                sub: self.sub().to_owned(),
                client_id: self.client_id().to_owned(),
                permissions: self.permissions().to_vec(),
            },
        })
    }
}

impl Session<'_> {
    /// Runs one use case; its error becomes the problem document, with this
    /// server's `Retry-After` on a 503.
    pub async fn run<T>(
        &self,
        use_case: impl AsyncFnOnce(&Admin, &Caller) -> Result<T, AdminError>,
    ) -> Result<T, Problem> {
        use_case(&self.admin, &self.caller)
            .await
            .map_err(|e| Problem::from_admin(e, self.state.retry_after_secs()))
    }
}

/// Reads the request body: content type among `accepted` (else 415), at most
/// [`MAX_BODY_BYTES`] (else 413, judged by `Content-Length` first, then by
/// what arrives).
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    accepted: &[&str],
) -> Result<web::Bytes, Problem> {
    body::read_bounded(req, payload, accepted, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::UnsupportedMediaType => {
                Problem::unsupported_media_type(&accepted.join(" or "))
            }
            BodyError::TooLarge => Problem::payload_too_large(MAX_BODY_BYTES),
            BodyError::Unreadable => Problem::bad_request("the request body could not be read"),
        })
}

/// A JSON object body whose members are all among `known` (the rest are
/// 400s naming the first unknown one, in the body's order).
pub fn json_object(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, Problem> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(format!(
            "the request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(map) = value else {
        return Err(Problem::bad_request(
            "the request body must be a JSON object",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Problem::bad_field(unknown, "unknown field"));
    }
    Ok(map)
}

/// One member of a JSON object, told apart as merge-patch needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Member<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Member<T> {
    /// Absent and null both mean "the default".
    pub fn into_option(self) -> Option<T> {
        match self {
            Member::Value(v) => Some(v),
            Member::Absent | Member::Null => None,
        }
    }
}

impl<T> Member<T> {
    /// Merge-patch: absent keeps, null resets to the default, a value sets.
    pub fn into_change(self) -> Change<T> {
        match self {
            Member::Absent => Change::Keep,
            Member::Null => Change::Reset,
            Member::Value(v) => Change::Set(v),
        }
    }
}

/// Reads member `name` as a `T`; a value of the wrong type is a 400 naming
/// the field and saying what was `expected`.
pub fn member<T: DeserializeOwned>(
    map: &Map<String, Value>,
    name: &str,
    expected: &str,
) -> Result<Member<T>, Problem> {
    match map.get(name) {
        None => Ok(Member::Absent),
        Some(Value::Null) => Ok(Member::Null),
        Some(v) => T::deserialize(v)
            .map(Member::Value)
            .map_err(|_| Problem::bad_field(name, format!("must be {expected}"))),
    }
}

/// The parameters of a query string, each at most once and all among
/// `known`; anything else is a 400 naming the parameter.
pub fn query_params(req: &HttpRequest, known: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !known.contains(&k.as_ref()) {
            return Err(Problem::bad_field(&k, "unknown query parameter"));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(Problem::bad_field(&k, "is given more than once"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(
            rfc3339_ms(datetime!(2026-01-01 00:00:00 UTC)),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_ms(datetime!(2026-03-04 05:06:07.089_999 +02:00)),
            "2026-03-04T03:06:07.089Z"
        );
    }

    #[test]
    fn unknown_members_and_wrong_types_name_the_field() {
        let e = json_object(br#"{"clientId":"a","bogus":1}"#, &["clientId"]).unwrap_err();
        assert_eq!(e.field(), Some("bogus"));
        assert_eq!(json_object(b"[1]", &[]).unwrap_err().status(), 400);
        assert_eq!(json_object(b"{", &[]).unwrap_err().status(), 400);
        let map = json_object(br#"{"ttl":"x","n":null,"ok":5}"#, &["ttl", "n", "ok"]).unwrap();
        assert_eq!(
            member::<u32>(&map, "ttl", "an integer")
                .unwrap_err()
                .field(),
            Some("ttl")
        );
        assert_eq!(
            member::<u32>(&map, "n", "an integer").unwrap(),
            Member::Null
        );
        assert_eq!(
            member::<u32>(&map, "missing", "an integer").unwrap(),
            Member::Absent
        );
        assert_eq!(
            member::<u32>(&map, "ok", "an integer").unwrap(),
            Member::Value(5)
        );
    }

    #[test]
    fn query_parameters_are_known_and_single() {
        use actix_web::test::TestRequest;
        let r = TestRequest::with_uri("/x?target=current").to_http_request();
        assert_eq!(
            query_params(&r, &["target"]).unwrap(),
            vec![("target".to_owned(), "current".to_owned())]
        );
        let r = TestRequest::with_uri("/x?target=a&target=b").to_http_request();
        assert_eq!(
            query_params(&r, &["target"]).unwrap_err().field(),
            Some("target")
        );
        let r = TestRequest::with_uri("/x?other=1").to_http_request();
        assert_eq!(
            query_params(&r, &["target"]).unwrap_err().field(),
            Some("other")
        );
    }
}
