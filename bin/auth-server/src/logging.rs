//! Structured logs with `tracing`: JSON lines by default, or human-readable,
//! and, when tracing is on, the same spans exported over OpenTelemetry
//! (see [`crate::telemetry`]). Nothing logs a secret, hash, token or
//! Authorization header: the types that hold them redact themselves, and
//! the access log records only the request id, route pattern, method,
//! status, latency and source.

use opentelemetry_sdk::trace::SdkTracer;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

use crate::config::LogFormat;

/// The crates whose spans and events are exported as traces. Libraries'
/// own spans (the HTTP client of the exporter among them) stay out, so
/// exporting never feeds on itself.
const TRACED_CRATES: &[&str] = &[
    "auth_server",
    "auth_http",
    "auth_service",
    "auth_store",
    "auth_token",
    "auth_domain",
];

/// Installs the global subscriber once; later calls (tests) are no-ops.
/// `RUST_LOG` filters the log lines only: the exported spans do not depend
/// on it.
pub fn init(format: LogFormat, tracer: Option<SdkTracer>) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
    let logs: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_filter(filter)
            .boxed(),
    };
    let traces = tracer.map(|tracer| {
        let ours = TRACED_CRATES
            .iter()
            .fold(Targets::new(), |t, c| t.with_target(*c, LevelFilter::INFO));
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_filter(ours)
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
}
