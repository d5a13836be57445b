//! The actix application: the route table, the middleware order, and the
//! `Application` handle that binds (port 0 allowed) and runs until stopped.

use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage as _, HttpResponse, HttpServer};
use utoipa::OpenApi;

use crate::admin::BearerSecurity;
use crate::drain::Drain;
use crate::proxy::EffectiveRequest;
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::{admin, discovery, docs_page, introspect, metrics, ops, token};

/// One served route: its method, its path as the OpenAPI document names it,
/// and how it is registered. The app is built from this table, and a test
/// compares the table with `/openapi.json`, so the two cannot drift.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    register: fn(&mut web::ServiceConfig),
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "post",
        path: "/oauth2/token",
        register: |c| {
            // Every method reaches the handler so that a GET is a 400
            // invalid_request (docs/reference/token-endpoint.md#order-of-checks, request syntax), not a 404.
            c.route("/oauth2/token", web::route().to(token::token));
        },
    },
    Route {
        method: "post",
        path: "/oauth2/introspect",
        register: |c| {
            c.route(
                "/oauth2/introspect",
                web::route().to(introspect::introspect),
            );
        },
    },
    Route {
        method: "post",
        path: "/oauth2/revoke",
        register: |c| {
            c.route("/oauth2/revoke", web::route().to(introspect::revoke));
        },
    },
    Route {
        method: "get",
        path: "/oauth2/jwks",
        register: |c| {
            c.route("/oauth2/jwks", web::get().to(discovery::jwks));
        },
    },
    Route {
        method: "get",
        path: "/.well-known/oauth-authorization-server",
        register: |c| {
            c.route(
                "/.well-known/oauth-authorization-server",
                web::get().to(discovery::oauth_metadata),
            );
        },
    },
    Route {
        method: "get",
        path: "/.well-known/openid-configuration",
        register: |c| {
            c.route(
                "/.well-known/openid-configuration",
                web::get().to(discovery::openid_configuration),
            );
        },
    },
    Route {
        method: "get",
        path: "/healthz",
        register: |c| {
            c.route("/healthz", web::get().to(ops::healthz));
        },
    },
    Route {
        method: "get",
        path: "/readyz",
        register: |c| {
            c.route("/readyz", web::get().to(ops::readyz));
        },
    },
    Route {
        method: "get",
        path: "/metrics",
        register: |c| {
            c.route("/metrics", web::get().to(ops::metrics));
        },
    },
    Route {
        method: "get",
        path: "/openapi.json",
        register: |c| {
            c.route("/openapi.json", web::get().to(openapi_json));
        },
    },
    Route {
        method: "get",
        path: "/docs",
        register: |c| {
            c.route("/docs", web::get().to(docs_page::page));
        },
    },
    Route {
        method: "get",
        path: "/docs/{file}",
        register: |c| {
            c.route("/docs/{file}", web::get().to(docs_page::asset));
        },
    },
    // The admin API (see docs/reference/admin-api.md).
    Route {
        method: "get",
        path: "/clients",
        register: |c| {
            c.route("/clients", web::get().to(admin::clients::list));
        },
    },
    Route {
        method: "post",
        path: "/clients",
        register: |c| {
            c.route("/clients", web::post().to(admin::clients::create));
        },
    },
    Route {
        method: "get",
        path: "/clients/{clientId}",
        register: |c| {
            c.route("/clients/{clientId}", web::get().to(admin::clients::get));
        },
    },
    Route {
        method: "patch",
        path: "/clients/{clientId}",
        register: |c| {
            c.route(
                "/clients/{clientId}",
                web::patch().to(admin::clients::update),
            );
        },
    },
    Route {
        method: "delete",
        path: "/clients/{clientId}",
        register: |c| {
            c.route(
                "/clients/{clientId}",
                web::delete().to(admin::clients::delete),
            );
        },
    },
    Route {
        method: "post",
        path: "/clients/{clientId}/secret",
        register: |c| {
            c.route(
                "/clients/{clientId}/secret",
                web::post().to(admin::secrets::issue),
            );
        },
    },
    Route {
        method: "get",
        path: "/clients/{clientId}/secret",
        register: |c| {
            c.route(
                "/clients/{clientId}/secret",
                web::get().to(admin::secrets::metadata),
            );
        },
    },
    Route {
        method: "delete",
        path: "/clients/{clientId}/secret",
        register: |c| {
            c.route(
                "/clients/{clientId}/secret",
                web::delete().to(admin::secrets::delete),
            );
        },
    },
    Route {
        method: "post",
        path: "/clients/{clientId}/secret/rotate",
        register: |c| {
            c.route(
                "/clients/{clientId}/secret/rotate",
                web::post().to(admin::secrets::rotate),
            );
        },
    },
    Route {
        method: "get",
        path: "/service-accounts",
        register: |c| {
            c.route(
                "/service-accounts",
                web::get().to(admin::service_accounts::list),
            );
        },
    },
    Route {
        method: "get",
        path: "/service-accounts/{id}",
        register: |c| {
            c.route(
                "/service-accounts/{id}",
                web::get().to(admin::service_accounts::get),
            );
        },
    },
    Route {
        method: "put",
        path: "/service-accounts/{id}",
        register: |c| {
            c.route(
                "/service-accounts/{id}",
                web::put().to(admin::service_accounts::put),
            );
        },
    },
    Route {
        method: "delete",
        path: "/service-accounts/{id}",
        register: |c| {
            c.route(
                "/service-accounts/{id}",
                web::delete().to(admin::service_accounts::delete),
            );
        },
    },
    Route {
        method: "put",
        path: "/service-accounts/{id}/clients/{clientId}",
        register: |c| {
            c.route(
                "/service-accounts/{id}/clients/{clientId}",
                web::put().to(admin::service_accounts::link),
            );
        },
    },
    Route {
        method: "delete",
        path: "/service-accounts/{id}/clients/{clientId}",
        register: |c| {
            c.route(
                "/service-accounts/{id}/clients/{clientId}",
                web::delete().to(admin::service_accounts::unlink),
            );
        },
    },
    Route {
        method: "get",
        path: "/roles",
        register: |c| {
            c.route("/roles", web::get().to(admin::catalogue::roles));
        },
    },
    Route {
        method: "get",
        path: "/permissions",
        register: |c| {
            c.route("/permissions", web::get().to(admin::catalogue::permissions));
        },
    },
    Route {
        method: "get",
        path: "/groups",
        register: |c| {
            c.route("/groups", web::get().to(admin::catalogue::groups));
        },
    },
    Route {
        method: "get",
        path: "/audit-events",
        register: |c| {
            c.route("/audit-events", web::get().to(admin::audit::list));
        },
    },
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-server",
        description = "OAuth2 authorization server for machine-to-machine access"
    ),
    paths(
        token::token,
        introspect::introspect,
        introspect::revoke,
        discovery::jwks,
        discovery::oauth_metadata,
        discovery::openid_configuration,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        openapi_json,
        docs_page::page,
        docs_page::asset,
        admin::clients::list,
        admin::clients::create,
        admin::clients::get,
        admin::clients::update,
        admin::clients::delete,
        admin::secrets::issue,
        admin::secrets::metadata,
        admin::secrets::delete,
        admin::secrets::rotate,
        admin::service_accounts::list,
        admin::service_accounts::get,
        admin::service_accounts::put,
        admin::service_accounts::delete,
        admin::service_accounts::link,
        admin::service_accounts::unlink,
        admin::catalogue::roles,
        admin::catalogue::permissions,
        admin::catalogue::groups,
        admin::audit::list,
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
    HttpResponse::Ok().json(ApiDoc::openapi())
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
    let method = metrics::method_label(req.method());
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
        let status = status.to_string();
        state.metrics.inc(
            "http_requests_total",
            &[("route", &route), ("method", method), ("status", &status)],
        );
        state.metrics.observe(
            "http_request_duration_seconds",
            &[("route", &route)],
            elapsed,
        );
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
        let forwarding = web::Data::new(state.config.forwarding());
        let app_state = state.clone();
        let drain = Drain::default();
        let draining = web::Data::new(drain.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(draining.clone())
                .app_data(forwarding.clone())
                .app_data(split.clone())
                .configure(configure)
                // Innermost: the access log and metrics see its 404s as
                // unmatched requests, like any other unknown path.
                .wrap(from_fn(listener_surface))
                .wrap(from_fn(access_log))
                // Registered last so it runs first: everything after it,
                // the access log included, sees the effective request.
                .wrap(from_fn(crate::proxy::middleware))
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
    use std::collections::BTreeSet;

    #[test]
    fn every_served_route_is_documented_and_vice_versa() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(served, documented);
    }

    #[test]
    fn only_oauth_and_health_routes_stay_on_the_main_listener() {
        for r in ROUTES {
            let expected = match r.path {
                "/oauth2/token"
                | "/oauth2/introspect"
                | "/oauth2/revoke"
                | "/oauth2/jwks"
                | "/.well-known/oauth-authorization-server"
                | "/.well-known/openid-configuration" => Surface::Public,
                "/healthz" | "/readyz" => Surface::Both,
                _ => Surface::Admin,
            };
            assert_eq!(surface(r.path), expected, "{}", r.path);
        }
        assert_eq!(surface("/metrics"), Surface::Admin);
        assert_eq!(surface("/openapi.json"), Surface::Admin);
        assert_eq!(surface("/clients/x/secret"), Surface::Admin);
        assert_eq!(surface("/unknown"), Surface::Admin);
        assert_eq!(surface("/"), Surface::Admin);
    }
}
