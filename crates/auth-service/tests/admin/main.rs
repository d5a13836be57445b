#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The admin use cases through the crate's API, without HTTP, on SQLite
//! and (when `TEST_DATABASE_URL` is set) PostgreSQL.

mod accounts;
mod clients;
mod secrets;
mod support;
