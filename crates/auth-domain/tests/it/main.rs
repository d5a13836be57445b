//! Property tests of auth-domain's parsers: durations, scope strings and
//! client ids. They live in one integration-test binary because link time
//! dominates on small machines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod props;
