//! The auth-server binary's library half: configuration (figment), the
//! command line (clap), logging, and the startup sequence that wires the
//! store, the seed, the signing keys and the HTTP application together. No
//! business rule lives here; integration tests drive it directly.

pub mod cli;
pub mod config;
pub mod logging;
pub mod settings;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
