//! The authentication and token use cases through the crate API, without
//! HTTP, on SQLite and (when `TEST_DATABASE_URL` is set) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authenticate;
mod example;
mod support;
mod tokens;
