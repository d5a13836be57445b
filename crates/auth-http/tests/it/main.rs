//! Property tests of auth-http's parsers of untrusted input: the Basic
//! authorization header, the form body, the forwarding headers and the
//! admin API's JSON merge patch. One integration-test binary: link time
//! dominates on small machines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod props;
