//! Integration tests of auth-seed through its public API: parsing, every
//! validation error an operator can meet, the bootstrap plan, `apply` against
//! an in-memory store, and property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply;
mod errors;
mod fake_store;
mod parse;
mod plan;
mod props;
mod support;
