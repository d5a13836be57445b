//! Full-server tests: real servers on port 0 over real HTTP, on SQLite and
//! (when `TEST_DATABASE_URL` is set) PostgreSQL, and the real binary for
//! startup errors and replicas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_accounts;
mod admin_audit_atomic;
mod admin_clients;
mod admin_escalation;
mod admin_failures;
mod admin_listener;
mod admin_logs;
mod admin_secrets;
mod admin_support;
mod authctl;
mod cli_help;
mod common;
mod e2e_oauth2;
mod faults_keys;
mod faults_kill;
mod faults_postgres;
mod faults_replicas;
mod faults_sqlite;
mod oauth_endpoints;
mod ops_docs_page;
mod ops_drain;
mod ops_housekeeping;
mod ops_metrics;
mod ops_traces;
mod perf_cache;
mod perf_hash_upgrade;
mod perf_load_shedding;
mod readme;
mod replicas;
mod resource_server;
mod security_config;
mod security_input;
mod security_key_lifetime;
mod security_labels;
mod security_logs;
mod security_proxy;
mod security_reincarnation;
mod security_throttle;
mod security_timing;
mod security_tokens;
mod startup_errors;
mod token_endpoint;
