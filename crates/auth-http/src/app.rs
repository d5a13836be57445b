//! The actix application: the route table, the middleware order, and the
//! `Application` handle that binds (port 0 allowed) and runs until stopped.

use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{
    web, App, FromRequest, Handler, HttpMessage as _, HttpResponse, HttpServer, Responder,
};
use utoipa::openapi::path::HttpMethod;
use utoipa::OpenApi;

use crate::admin::BearerSecurity;
use crate::drain::Drain;
use crate::proxy::{EffectiveRequest, ResolveEffectiveRequest};
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::{admin, discovery, docs_page, introspect, ops, token};
use auth_metrics as metrics;

/// One served route, declared once: the handler and its `#[utoipa::path]`
/// item, which alone states the method and the path. The app registers the
/// handler at that method and path, and `/openapi.json` documents the same
/// item, so what is served and what is documented cannot drift.
pub struct Route {
    /// The handler's name as written in [`ROUTES`] (its operation id is the
    /// last segment).
    pub handler: &'static str,
    /// The documented method and path.
    pub method: fn() -> String,
    pub path: fn() -> String,
    register: fn(&mut web::ServiceConfig),
    document: fn(&mut utoipa::openapi::OpenApi),
}

/// Which methods reach a handler.
#[derive(Clone, Copy)]
enum Methods {
    /// The documented one only; any other is a 404, as for an unknown path.
    Documented,
    /// Every method, so that a GET to an OAuth endpoint is a 400
    /// `invalid_request` (docs/reference/token-endpoint.md#order-of-checks,
    /// request syntax) rather than a 404; the document names only the one
    /// that works.
    Any,
}

/// `route!(module::handler, module::__path_handler)`; `any` first for
/// [`Methods::Any`]. The second path is the item `#[utoipa::path]`
/// generates beside the handler.
macro_rules! route {
    (any $handler:path, $doc:ty) => {
        route!(@ Methods::Any, $handler, $doc)
    };
    ($handler:path, $doc:ty) => {
        route!(@ Methods::Documented, $handler, $doc)
    };
    (@ $methods:expr, $handler:path, $doc:ty) => {
        Route {
            handler: stringify!($handler),
            method: || documented_method::<$doc>(),
            path: <$doc as utoipa::Path>::path,
            register: |c| register::<$doc, _, _>(c, $handler, $methods),
            document: document::<$doc>,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(any token::token, token::__path_token),
    route!(any introspect::introspect, introspect::__path_introspect),
    route!(any introspect::revoke, introspect::__path_revoke),
    route!(discovery::jwks, discovery::__path_jwks),
    route!(discovery::oauth_metadata, discovery::__path_oauth_metadata),
    route!(
        discovery::openid_configuration,
        discovery::__path_openid_configuration
    ),
    route!(ops::healthz, ops::__path_healthz),
    route!(ops::readyz, ops::__path_readyz),
    route!(ops::metrics, ops::__path_metrics),
    route!(openapi_json, __path_openapi_json),
    route!(docs_page::page, docs_page::__path_page),
    route!(docs_page::asset, docs_page::__path_asset),
    // The admin API (see docs/reference/admin-api.md).
    route!(admin::clients::list, admin::clients::__path_list),
    route!(admin::clients::create, admin::clients::__path_create),
    route!(admin::clients::get, admin::clients::__path_get),
    route!(admin::clients::update, admin::clients::__path_update),
    route!(admin::clients::delete, admin::clients::__path_delete),
    route!(admin::secrets::issue, admin::secrets::__path_issue),
    route!(admin::secrets::metadata, admin::secrets::__path_metadata),
    route!(admin::secrets::delete, admin::secrets::__path_delete),
    route!(admin::secrets::rotate, admin::secrets::__path_rotate),
    route!(
        admin::service_accounts::list,
        admin::service_accounts::__path_list
    ),
    route!(
        admin::service_accounts::get,
        admin::service_accounts::__path_get
    ),
    route!(
        admin::service_accounts::put,
        admin::service_accounts::__path_put
    ),
    route!(
        admin::service_accounts::delete,
        admin::service_accounts::__path_delete
    ),
    route!(
        admin::service_accounts::link,
        admin::service_accounts::__path_link
    ),
    route!(
        admin::service_accounts::unlink,
        admin::service_accounts::__path_unlink
    ),
    route!(admin::catalogue::roles, admin::catalogue::__path_roles),
    route!(
        admin::catalogue::permissions,
        admin::catalogue::__path_permissions
    ),
    route!(admin::catalogue::groups, admin::catalogue::__path_groups),
    route!(admin::audit::list, admin::audit::__path_list),
];

/// The one method a documented route is served at.
fn documented_method<P: utoipa::Path>() -> String {
    P::methods()
        .first()
        .map(|m| actix_method(m).as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

fn register<P, F, Args>(cfg: &mut web::ServiceConfig, handler: F, methods: Methods)
where
    P: utoipa::Path,
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let path = P::path();
    match methods {
        Methods::Any => {
            cfg.route(&path, web::route().to(handler));
        }
        Methods::Documented => {
            for method in P::methods() {
                cfg.route(
                    &path,
                    web::method(actix_method(&method)).to(handler.clone()),
                );
            }
        }
    }
}

fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Adds the route's operation, with its tags and the schemas it refers to,
/// as `#[derive(OpenApi)]`'s `paths(...)` would.
/// `utoipa::__dev` is the hidden interface that derive itself calls: the
/// tags and referenced schemas are only reachable through it in utoipa 5.
/// Bumping utoipa means checking that `/openapi.json` still holds the tags
/// and schemas (the deploy tests compare it with the running server).
fn document<P>(doc: &mut utoipa::openapi::OpenApi)
where
    P: utoipa::Path + for<'t> utoipa::__dev::Tags<'t> + utoipa::__dev::SchemaReferences,
{
    let mut operation = P::operation();
    let tags = <P as utoipa::__dev::Tags>::tags();
    if !tags.is_empty() {
        let own = operation.tags.get_or_insert_with(Vec::new);
        own.extend(tags.iter().map(ToString::to_string));
    }
    doc.paths
        .add_path_operation(P::path(), P::methods(), operation);
    let mut schemas = Vec::new();
    <P as utoipa::__dev::SchemaReferences>::schemas(&mut schemas);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
}

/// The OpenAPI document served at `/openapi.json`: [`ApiDoc`]'s info,
/// schemas and security schemes, and one operation per entry of [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for route in ROUTES {
        (route.document)(&mut doc);
    }
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-server",
        description = "OAuth2 authorization server for machine-to-machine access"
    ),
    components(schemas(
        token::TokenResponse,
        admin::problem::ProblemDetails,
        admin::clients::ClientView,
        admin::clients::ClientCreate,
        admin::clients::ClientPatch,
        admin::secrets::IssuedSecret,
        admin::secrets::RotatedSecret,
        admin::secrets::SecretMetadata,
        admin::secrets::CurrentSecretView,
        admin::secrets::PreviousSecretView,
        admin::service_accounts::ServiceAccountView,
        admin::service_accounts::ServiceAccountPut,
        admin::catalogue::RoleView,
        admin::catalogue::NamedView,
        admin::audit::AuditEventView,
    )),
    modifiers(&BearerSecurity)
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}

/// Which listener serves a path when the admin API has its own
/// (`APP_ADMIN_BIND`). Without one, the main listener serves everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The OAuth endpoints and discovery: the main listener only.
    Public,
    /// The admin API, `/metrics`, `/openapi.json` and `/docs` (and anything unknown,
    /// so a route added later is not exposed by accident): the admin
    /// listener only.
    Admin,
    /// Health and readiness: both, so probes work whichever port they use.
    Both,
}

/// The surface of a request path, by its first segment (every route's
/// first segment names its surface; the routes table's test checks it).
pub fn surface(path: &str) -> Surface {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "oauth2" | ".well-known" => Surface::Public,
        "healthz" | "readyz" => Surface::Both,
        _ => Surface::Admin,
    }
}

/// The bound address of the admin listener, when there is one.
#[derive(Debug, Clone, Copy)]
struct AdminListener(Option<SocketAddr>);

/// With a separate admin listener, answers 404 (as for an unknown path)
/// for what the listener the request came in on does not serve, before
/// routing, so no handler of the other surface ever runs.
async fn listener_surface(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admin = req.app_data::<web::Data<AdminListener>>().and_then(|a| a.0);
    if let Some(admin) = admin {
        let on_admin = req.app_config().local_addr() == admin;
        let served = match surface(req.path()) {
            Surface::Both => true,
            Surface::Admin => on_admin,
            Surface::Public => !on_admin,
        };
        if !served {
            return Ok(req
                .into_response(HttpResponse::NotFound().finish())
                .map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Registers every route of [`ROUTES`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    for r in ROUTES {
        (r.register)(cfg);
    }
}

/// One log line and the request metrics per request: route pattern (never
/// the raw path, which may carry ids), method, status, latency, source.
/// Every field and label has a bounded set of values whatever the caller
/// sends (see [`metrics::method_label`]): the route is a registered pattern
/// or `unmatched`, the status a number, the source an IP address.
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = metrics::method_label(req.method().as_str());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| metrics::UNMATCHED_ROUTE.into());
    let status = res.status().as_u16();
    let source = res
        .request()
        .extensions()
        .get::<EffectiveRequest>()
        .map(|e| e.source.to_string())
        .unwrap_or_default();
    let request_id = res
        .request()
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let elapsed = started.elapsed();
    tracing::info!(
        target: "auth_server::access",
        request_id = %request_id,
        method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        source = %source,
        "request"
    );
    if let Some(state) = state {
        state.metrics.http_request(route, method, status, elapsed);
    }
    Ok(res)
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    server: Server,
    state: web::Data<AppState>,
    drain: Drain,
}

impl Application {
    /// Binds `listener` (use port 0 in tests) and builds the server; nothing
    /// is served until [`Application::run_until_stopped`] is awaited.
    pub fn build(state: web::Data<AppState>, listener: TcpListener) -> std::io::Result<Self> {
        Self::build_with_admin(state, listener, None)
    }

    /// [`Application::build`] with, optionally, a second listener that
    /// alone serves the admin surface ([`Surface`]). Both listeners belong
    /// to one server, so one handle (and SIGTERM) stops both.
    pub fn build_with_admin(
        state: web::Data<AppState>,
        listener: TcpListener,
        admin: Option<TcpListener>,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let admin_addr = admin.as_ref().map(TcpListener::local_addr).transpose()?;
        let split = web::Data::new(AdminListener(admin_addr));
        let forwarding = state.config.forwarding();
        let app_state = state.clone();
        let drain = Drain::default();
        let draining = web::Data::new(drain.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(draining.clone())
                .app_data(split.clone())
                .configure(configure)
                // Innermost: the access log and metrics see its 404s as
                // unmatched requests, like any other unknown path.
                .wrap(from_fn(listener_surface))
                .wrap(from_fn(access_log))
                // Registered last so it runs first: everything after it,
                // the access log included, sees the effective request.
                .wrap(ResolveEffectiveRequest::new(forwarding.clone()))
                // Outermost, so every response has an id (the proxy
                // middleware's refusals too) and the request span covers
                // all the work.
                .wrap(from_fn(crate::request_id::middleware))
        })
        .shutdown_timeout(30)
        // The binary handles the signals: SIGTERM drains first (see
        // Application::drain).
        .disable_signals()
        .listen(listener)?;
        let server = match admin {
            Some(admin) => server.listen(admin)?,
            None => server,
        }
        .run();
        Ok(Self {
            port,
            admin_port: admin_addr.map(|a| a.port()),
            server,
            state,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when there is one.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Stops the server when asked; the server does not react to signals
    /// itself (`auth-server serve` drains on SIGTERM, then stops it).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Turns `/readyz` to 503 while everything else is still served.
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_once_with_its_own_handler() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                documented.insert((method.clone(), path.clone()));
                let id = operation["operationId"].as_str().unwrap();
                let handler = ROUTES
                    .iter()
                    .find(|r| (r.method)() == *method && (r.path)() == *path)
                    .unwrap()
                    .handler;
                assert!(
                    handler.ends_with(&format!("::{id}")) || handler == id,
                    "{handler} is documented as {id}"
                );
            }
        }
        let served: BTreeSet<(String, String)> =
            ROUTES.iter().map(|r| ((r.method)(), (r.path)())).collect();
        assert_eq!(served.len(), ROUTES.len(), "a route is declared twice");
        assert_eq!(served, documented);
    }

    #[actix_web::test]
    async fn every_route_is_served_at_its_documented_method_only() {
        let app = actix_web::test::init_service(App::new().configure(configure)).await;
        let call = |method: Method, path: String| {
            let req = actix_web::test::TestRequest::default()
                .method(method)
                .uri(&path)
                .to_request();
            actix_web::test::call_service(&app, req)
        };
        for r in ROUTES {
            // A path parameter filled in, so the pattern matches.
            let path = (r.path)()
                .replace("{clientId}", "c")
                .replace("{id}", "a")
                // A file the API reference page really has: the handler
                // answers 404 for any other, which would look unrouted.
                .replace("{file}", "swagger-ui.css");
            let method = Method::from_bytes((r.method)().to_ascii_uppercase().as_bytes()).unwrap();
            // No AppState here: a routed request fails in its extractors, an
            // unrouted one is a 404.
            let status = call(method, path.clone()).await.status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{} {path}", (r.method)());
            let other = if (r.method)() == "get" {
                Method::PUT
            } else {
                Method::GET
            };
            let status = call(other.clone(), path.clone()).await.status();
            if path.starts_with("/oauth2/") && path != "/oauth2/jwks" {
                assert_ne!(status, StatusCode::NOT_FOUND, "{other} {path}");
            } else if !ROUTES.iter().any(|o| {
                (o.path)() == (r.path)() && (o.method)() == other.as_str().to_ascii_lowercase()
            }) {
                assert_eq!(status, StatusCode::NOT_FOUND, "{other} {path}");
            }
        }
    }

    #[test]
    fn only_oauth_and_health_routes_stay_on_the_main_listener() {
        for r in ROUTES {
            let path = (r.path)();
            let expected = match path.as_str() {
                "/oauth2/token"
                | "/oauth2/introspect"
                | "/oauth2/revoke"
                | "/oauth2/jwks"
                | "/.well-known/oauth-authorization-server"
                | "/.well-known/openid-configuration" => Surface::Public,
                "/healthz" | "/readyz" => Surface::Both,
                _ => Surface::Admin,
            };
            assert_eq!(surface(&path), expected, "{path}");
        }
        assert_eq!(surface("/metrics"), Surface::Admin);
        assert_eq!(surface("/openapi.json"), Surface::Admin);
        assert_eq!(surface("/clients/x/secret"), Surface::Admin);
        assert_eq!(surface("/unknown"), Surface::Admin);
        assert_eq!(surface("/"), Surface::Admin);
    }
}
