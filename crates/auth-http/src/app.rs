//! The actix application: the route table, the middleware order, and the
//! `Application` handle that binds (port 0 allowed) and runs until stopped.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage as _, HttpResponse, HttpServer};
use utoipa::OpenApi;

use crate::admin::BearerSecurity;
use crate::proxy::EffectiveRequest;
use crate::state::AppState;
use crate::{admin, discovery, introspect, metrics, ops, token};

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
            // invalid_request (SPEC §3 "request syntax"), not a 404.
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
    // The admin API (SPEC §7).
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
    let elapsed = started.elapsed();
    tracing::info!(
        target: "auth_server::access",
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
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds `listener` (use port 0 in tests) and builds the server; nothing
    /// is served until [`Application::run_until_stopped`] is awaited.
    pub fn build(state: web::Data<AppState>, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let forwarding = web::Data::new(state.config.forwarding());
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(forwarding.clone())
                .configure(configure)
                .wrap(from_fn(access_log))
                // Registered last so it runs first: everything after it,
                // the access log included, sees the effective request.
                .wrap(from_fn(crate::proxy::middleware))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Stops the server gracefully when asked (SIGTERM does the same).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
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
}
