//! Operations endpoints (see docs/reference/operations.md): liveness, readiness, metrics.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::drain::Drain;
use crate::state::AppState;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process runs")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when startup is done and the database answers, else 503 (also
/// while the server drains before it stops).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "Starting, draining before shutdown, or the database does not answer")))]
pub async fn readyz(state: web::Data<AppState>, drain: Option<web::Data<Drain>>) -> HttpResponse {
    if drain.is_some_and(|d| d.is_draining()) {
        return unavailable("draining");
    }
    if !state.is_started() {
        return unavailable("starting");
    }
    let repos = state.repos.clone();
    match web::block(move || repos.health.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        _ => unavailable("database unavailable"),
    }
}

fn unavailable(status: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "1"))
        .json(json!({"status": status}))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (connections, idle) = (state.repos.pool_state)();
    let now = auth_metrics::Scrape {
        verifications_in_flight: state.auth.verify_pool().in_flight(),
        verifications_queued: state.auth.verify_pool().queued(),
        verifications_max_in_flight: state.config.secret_verify_concurrency,
        verifications_max_queued: state.config.secret_verify_queue,
        pool_connections: connections,
        pool_idle_connections: idle,
    };
    HttpResponse::Ok()
        .content_type(auth_metrics::CONTENT_TYPE)
        .body(state.metrics.render(now))
}
