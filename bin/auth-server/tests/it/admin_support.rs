//! Helpers for the admin API tests: tokens minted through the real token
//! endpoint, bearer requests over "HTTPS" (as a mesh sidecar forwards them),
//! and checks of the problem+json error format.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::common::*;

fn creds(post: bool) -> Creds {
    if post {
        Creds::Post
    } else {
        Creds::Basic
    }
}

/// A token request with client_secret_basic (or, when `post`, the body).
pub async fn token_request(s: &TestServer, id: &str, secret: &str, post: bool) -> (u16, Value) {
    request_token(&s.http, &s.base, id, secret, creds(post)).await
}

/// Whether `secret` authenticates `id` (client_secret_basic) right now.
pub async fn authenticates(s: &TestServer, id: &str, secret: &str) -> bool {
    authenticates_at(&s.http, &s.base, id, secret, Creds::Basic).await
}

pub async fn mint(s: &TestServer, id: &str, secret: &str, post: bool) -> String {
    issue_token(&s.http, &s.base, id, secret, creds(post)).await
}

/// `admin-cli`: ADMIN_SYSTEM, so all four admin permissions.
pub async fn admin_token(s: &TestServer) -> String {
    issue_admin_token(&s.http, &s.base).await
}

/// `basic-client`: no service account, so no permissions claim at all.
pub async fn no_permission_token(s: &TestServer) -> String {
    mint(s, "basic-client", BASIC_SECRET, false).await
}

/// `my-service`: `users.read` only.
pub async fn users_read_token(s: &TestServer) -> String {
    mint(s, "my-service", SVC_SECRET, true).await
}

/// A bearer request as it arrives through the mesh sidecar (HTTPS).
pub fn admin(s: &TestServer, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    s.http
        .request(method, s.url(path))
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", format!("Bearer {token}"))
}

pub fn json_body(rb: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    rb.header("Content-Type", "application/json")
        .body(body.to_string())
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub async fn send(rb: reqwest::RequestBuilder) -> Reply {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// An RFC 9457 problem with this status; returns its detail.
pub fn assert_problem(r: &Reply, status: u16) -> String {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["type"], "about:blank", "{:?}", r.body);
    assert_eq!(r.body["status"], status, "{:?}", r.body);
    assert!(
        r.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{:?}",
        r.body
    );
    let detail = r.body["detail"].as_str().unwrap().to_owned();
    assert!(!detail.contains(['\r', '\n', '\t']));
    detail
}

/// A 400 naming `field` (in the `field` member and in the detail).
pub fn assert_bad_field(r: &Reply, field: &str) {
    let detail = assert_problem(r, 400);
    assert_eq!(r.body["field"], field, "{detail}");
    assert!(detail.contains(field), "{detail}");
}

/// A 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
pub fn assert_invalid_token(r: &Reply) {
    assert_problem(r, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
}

/// RFC 3339 UTC with exactly three fraction digits.
pub fn assert_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let ok = s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok();
    assert!(ok, "{s} is not RFC 3339 UTC with milliseconds");
}

pub fn parse_time(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// The `secrets_version` inside an ETag of the form `"v{version}-{…}"`.
pub fn etag_version(tag: &str) -> i64 {
    tag.trim_matches('"')
        .trim_start_matches('v')
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sleeps until `t` (server and tests share the clock).
pub async fn sleep_until(t: time::OffsetDateTime) {
    let left = t - time::OffsetDateTime::now_utc();
    if left.is_positive() {
        actix_web::rt::time::sleep(std::time::Duration::from_secs_f64(left.as_seconds_f64())).await;
    }
}

/// The claims of a JWT, unverified.
pub fn claims_of(token: &str) -> Value {
    jwt_part(token, 1)
}

pub use crate::common::basic_authorization as basic;

/// Whether introspection (by `basic-client`) calls `token` active.
pub async fn active(s: &TestServer, token: &str) -> bool {
    active_at(&s.http, &s.base, token).await
}
