//! The auth-server's HTTP surface on actix-web: the OAuth endpoints of
//! docs/reference/token-endpoint.md and docs/reference/endpoints.md, the proxy-header middleware of docs/reference/proxy.md, the operations endpoints of docs/reference/operations.md,
//! and the `Application` that binds and runs them. Only this crate knows
//! status codes and headers; it reaches storage only through the
//! auth-domain ports and tokens only through auth-token.

pub mod admin;
pub mod app;
pub mod client_auth;
pub mod discovery;
pub mod docs_page;
pub mod drain;
pub mod in_flight;
pub mod introspect;
pub mod metrics;
pub mod oauth_error;
pub mod ops;
pub mod proxy;
pub mod request_id;
pub mod secret_cache;
pub mod state;
pub mod throttle;
pub mod token;
pub mod token_check;
pub mod verify_pool;

pub use app::{Application, ROUTES};
pub use state::{AppState, HttpConfig, Repos};
