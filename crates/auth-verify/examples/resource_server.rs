//! A resource server that accepts the tokens of a running auth-server.
//!
//! ```sh
//! AUTH_ISSUER=https://auth.example.com \
//! AUTH_JWKS_URL=https://auth.example.com/oauth2/jwks \
//! cargo run -p auth-verify --features actix --example resource_server
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/datasets
//! ```
//!
//! `AUTH_JWKS_URL` is optional (default `{AUTH_ISSUER}/oauth2/jwks`);
//! `BIND` defaults to `127.0.0.1:8081`. `GET /datasets` needs the
//! `data.read` permission, `GET /whoami` any valid token. The tests start
//! this app (through [`configure`]) against a real auth-server.

use actix_web::{web, App, HttpResponse, HttpServer};
use auth_verify::actix::{RequirePermission, VerifiedToken};
use auth_verify::Verifier;

auth_verify::permission!(pub DataRead = "data.read");

async fn datasets(caller: RequirePermission<DataRead>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "datasets": ["sales-2026", "traffic-2026"],
        "read_by": caller.sub(),
    }))
}

async fn whoami(token: VerifiedToken) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "sub": token.sub(),
        "client_id": token.client_id(),
        "roles": token.roles(),
        "permissions": token.permissions(),
        "groups": token.groups(),
    }))
}

/// The routes, sharing `verifier` (and so its key cache).
pub fn configure(verifier: Verifier) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(verifier))
            .route("/datasets", web::get().to(datasets))
            .route("/whoami", web::get().to(whoami));
    }
}

#[allow(dead_code)] // the tests include this file for `configure` alone
#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("AUTH_ISSUER").map_err(|_| "set AUTH_ISSUER")?;
    let mut builder = Verifier::builder(issuer);
    if let Ok(url) = std::env::var("AUTH_JWKS_URL") {
        builder = builder.jwks_url(url);
    }
    let verifier = builder.build()?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());
    HttpServer::new(move || App::new().configure(configure(verifier.clone())))
        .bind(bind)?
        .run()
        .await?;
    Ok(())
}
