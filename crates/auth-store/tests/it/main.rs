#![allow(clippy::unwrap_used, clippy::expect_used)]
//! auth-store against real databases: every repository test runs on a
//! SQLite file and, when `TEST_DATABASE_URL` is set, on a fresh PostgreSQL
//! database (start one with `scripts/pg-test-cluster.sh`).

mod audit;
mod bootstrap;
mod catalogue;
mod clients;
mod concurrency;
mod open;
mod revocation;
mod service_accounts;
mod signing_keys;
mod support;
