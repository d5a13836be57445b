//! The forwarded-header middleware: runs the rules of
//! [`auth_service::forwarded`]
//! once per request (see docs/reference/proxy.md) and stores the resulting
//! [`EffectiveRequest`] in the request's extensions, where [`effective`]
//! reads it.
//!
//! The middleware is built with its [`Forwarding`] and keeps it: the
//! trusted proxies are captured once, when the app is built, and a request
//! never looks for them in the app data. Nothing falls back to a default
//! when the middleware is missing: [`effective`] then fails with
//! [`MiddlewareMissing`], a 500, because a server that silently ignored
//! its proxy configuration would throttle the proxy instead of the callers.
//!
//! actix-web's own `connection_info()` trusts these headers from any client,
//! so nothing here calls it. As a second line of defence the middleware also
//! strips every forwarding header and writes back one canonical `Forwarded`
//! header holding the resolved values, and drops any `ConnectionInfo` cached
//! before it ran: code that does call `connection_info()` later (a logger, a
//! library) then sees the resolved values rather than what a client claimed.

use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use actix_web::dev::{
    forward_ready, ConnectionInfo, Service, ServiceRequest, ServiceResponse, Transform,
};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};

use auth_service::forwarded::{is_host, resolve_with_default_host};
pub use auth_service::forwarded::{EffectiveRequest, ForwardedHeaders, Forwarding, TrustedProxies};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// The middleware, to be registered outermost (the last `.wrap`) so that
/// everything after it sees the effective request.
#[derive(Clone, Debug)]
pub struct ResolveEffectiveRequest {
    forwarding: Rc<Forwarding>,
}

impl ResolveEffectiveRequest {
    pub fn new(forwarding: Forwarding) -> Self {
        Self {
            forwarding: Rc::new(forwarding),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for ResolveEffectiveRequest
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ResolveEffectiveRequestService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ResolveEffectiveRequestService {
            service,
            forwarding: Rc::clone(&self.forwarding),
        }))
    }
}

/// The service [`ResolveEffectiveRequest`] wraps around the app.
pub struct ResolveEffectiveRequestService<S> {
    service: S,
    forwarding: Rc<Forwarding>,
}

impl<S, B> Service<ServiceRequest> for ResolveEffectiveRequestService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let effective = resolve_request(req.request(), &self.forwarding);
        canonicalise_headers(req.headers_mut(), &effective);
        req.extensions_mut().remove::<ConnectionInfo>();
        req.extensions_mut().insert(effective);
        self.service.call(req)
    }
}

/// The effective request is unknown because [`ResolveEffectiveRequest`]
/// did not run for this request: the app was wired without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the effective request is unknown: the forwarded-header middleware is not installed")]
pub struct MiddlewareMissing;

impl ResponseError for MiddlewareMissing {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The effective request computed by [`ResolveEffectiveRequest`].
pub fn effective(req: &HttpRequest) -> Result<EffectiveRequest, MiddlewareMissing> {
    let found = req.extensions().get::<EffectiveRequest>().cloned();
    found.ok_or_else(|| {
        tracing::error!("{MiddlewareMissing}");
        MiddlewareMissing
    })
}

/// Resolves `req` from what only actix knows: the peer, the connection's
/// scheme and the address it arrived on. A request with no peer address
/// (some test requests) has the unspecified address `0.0.0.0` as peer.
fn resolve_request(req: &HttpRequest, forwarding: &Forwarding) -> EffectiveRequest {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let own_scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    // HTTP/2 carries the authority in the URI rather than in `Host`.
    let default_host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .filter(|a| is_host(a))
        .unwrap_or_else(|| req.app_config().local_addr().to_string());
    let lines = req
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    resolve_with_default_host(peer, own_scheme, &default_host, lines, forwarding)
}

/// Replaces every forwarding header with one `Forwarded` header holding the
/// resolved values, so that `connection_info()` reports them too.
fn canonicalise_headers(headers: &mut HeaderMap, effective: &EffectiveRequest) {
    for name in [
        header::FORWARDED,
        X_FORWARDED_FOR,
        X_FORWARDED_PROTO,
        X_FORWARDED_HOST,
        X_FORWARDED_PORT,
    ] {
        headers.remove(name);
    }
    let source = match effective.source {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    // The host passed `is_host`, so it holds no quote or backslash.
    let value = format!(
        "for={source};proto={};host=\"{}\"",
        effective.scheme, effective.host
    );
    match HeaderValue::from_str(&value) {
        Ok(value) => {
            headers.insert(header::FORWARDED, value);
        }
        Err(_) => tracing::warn!("could not build the canonical Forwarded header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as actix_test, web, App, HttpResponse};
    use std::net::SocketAddr;

    /// Loopback and the private ranges, as for an ingress on the cluster
    /// network.
    fn behind_ingress(family: ForwardedHeaders) -> Forwarding {
        Forwarding::new(
            TrustedProxies::parse(
                "127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7",
            )
            .unwrap(),
            family,
        )
    }

    async fn echo(req: HttpRequest) -> Result<HttpResponse, MiddlewareMissing> {
        let e = effective(&req)?;
        let info = req.connection_info();
        Ok(HttpResponse::Ok().body(format!(
            "{} {} {} {} | {} {} {}",
            e.scheme,
            e.host,
            e.source,
            e.peer,
            info.scheme(),
            info.host(),
            info.realip_remote_addr().unwrap_or("-"),
        )))
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[actix_web::test]
    async fn middleware_applies_trusted_headers() {
        let app = actix_test::init_service(
            App::new()
                .wrap(ResolveEffectiveRequest::new(behind_ingress(
                    ForwardedHeaders::XForwarded,
                )))
                .route("/", web::get().to(echo)),
        )
        .await;
        let req = actix_test::TestRequest::get()
            .uri("/")
            .peer_addr(peer("10.0.0.1:40000"))
            .insert_header(("host", "auth-server:8080"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("x-forwarded-host", "auth.example.com"))
            .insert_header(("x-forwarded-for", "198.51.100.1, 2001:db8::5"))
            .to_request();
        let resp = actix_test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body = actix_test::read_body(resp).await;
        assert_eq!(
            body,
            "https auth.example.com 2001:db8::5 10.0.0.1 | https auth.example.com 2001:db8::5"
        );
    }

    #[actix_web::test]
    async fn middleware_ignores_untrusted_peer_even_for_connection_info() {
        let app = actix_test::init_service(
            App::new()
                .wrap(ResolveEffectiveRequest::new(Forwarding::default()))
                .route("/", web::get().to(echo)),
        )
        .await;
        let req = actix_test::TestRequest::get()
            .uri("/")
            .peer_addr(peer("203.0.113.7:40000"))
            .insert_header(("host", "auth.example.com"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header((
                "forwarded",
                "for=198.51.100.1;proto=https;host=evil.example",
            ))
            .to_request();
        let body = actix_test::read_body(actix_test::call_service(&app, req).await).await;
        assert_eq!(
            body,
            "http auth.example.com 203.0.113.7 203.0.113.7 | http auth.example.com 203.0.113.7"
        );
    }

    #[actix_web::test]
    async fn the_forwarding_captured_at_construction_is_the_one_used() {
        // Forwarding in the app data is not consulted: only what the
        // middleware was built with counts.
        let app = actix_test::init_service(
            App::new()
                .app_data(web::Data::new(Forwarding::new(
                    TrustedProxies::Any,
                    ForwardedHeaders::XForwarded,
                )))
                .wrap(ResolveEffectiveRequest::new(Forwarding::none()))
                .route("/", web::get().to(echo)),
        )
        .await;
        let req = actix_test::TestRequest::get()
            .uri("/")
            .peer_addr(peer("127.0.0.1:40000"))
            .insert_header(("host", "auth.example.com"))
            .insert_header(("x-forwarded-proto", "https"))
            .to_request();
        let body = actix_test::read_body(actix_test::call_service(&app, req).await).await;
        assert_eq!(
            body,
            "http auth.example.com 127.0.0.1 127.0.0.1 | http auth.example.com 127.0.0.1"
        );
    }

    #[actix_web::test]
    async fn without_the_middleware_the_effective_request_is_an_explicit_error() {
        let req = actix_test::TestRequest::get()
            .peer_addr(peer("127.0.0.1:40000"))
            .insert_header(("host", "auth.example.com"))
            .insert_header(("x-forwarded-proto", "https"))
            .to_http_request();
        assert_eq!(effective(&req), Err(MiddlewareMissing));

        // A handler that needs it answers 500 rather than guessing.
        let app = actix_test::init_service(App::new().route("/", web::get().to(echo))).await;
        let req = actix_test::TestRequest::get()
            .uri("/")
            .peer_addr(peer("127.0.0.1:40000"))
            .to_request();
        let resp = actix_test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
