//! Accept auth-server's access tokens in another Rust service.
//!
//! A [`Verifier`] checks a bearer token the way the server itself does:
//! the signature with one of the keys the server publishes (fetched from
//! its JWKS and cached), the algorithm of that key and never the one the
//! token's header claims, `typ` = `at+jwt` (RFC 9068), the issuer, `exp` and
//! `nbf` with a clock leeway, a lifetime of at most 24 hours and optionally
//! the audience; optionally it also asks the server whether the token was
//! revoked (introspection). The verified [`Claims`] answer the usual
//! questions: [`Claims::has_permission`], [`Claims::has_any_role`],
//! [`Claims::in_group`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = auth_verify::Verifier::builder("https://auth.example.com").build()?;
//! # let bearer_token = "";
//! let claims = verifier.verify(bearer_token).await?;
//! if claims.has_permission("data.read") {
//!     println!("{} may read", claims.sub());
//! }
//! # Ok(()) }
//! ```
//!
//! With the `actix` feature, the [`actix`] module's extractors do this for
//! each request and answer 401/403 as RFC 6750 describes. The guide is
//! docs/resource-servers.md.

mod claims;
mod error;
mod keys;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;

pub use auth_token::VerifyError;
pub use claims::Claims;
pub use error::{ConfigError, Error};
pub use verifier::{ClientAuth, Verifier, VerifierBuilder};

// The guide's snippets are compiled as doc tests (`cargo test -p
// auth-verify --doc --features actix`), so it cannot drift from the API.
#[cfg(all(doctest, feature = "actix"))]
#[doc = include_str!("../../../docs/resource-servers.md")]
pub struct ResourceServersGuide;
