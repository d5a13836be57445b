//! The auth-server's HTTP surface on actix-web: the OAuth endpoints of
//! docs/reference/token-endpoint.md and docs/reference/endpoints.md, the proxy-header middleware of docs/reference/proxy.md, the operations endpoints of docs/reference/operations.md,
//! and the `Application` that binds and runs them. Only this crate knows
//! status codes and headers; the rules behind the OAuth endpoints are
//! `auth_service`'s, which it calls and whose errors it maps.

pub mod admin;
pub mod app;
mod body;
pub mod client_auth;
pub(crate) mod discovery;
pub mod docs_page;
pub mod drain;
pub mod introspect;
pub(crate) mod oauth_error;
pub(crate) mod ops;
pub mod proxy;
pub mod request_id;
pub mod secret_expiry;
pub mod state;
pub mod token;

pub use app::{Application, ROUTES};
pub use state::{AppState, HttpConfig, Repos};
