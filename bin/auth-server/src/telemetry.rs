//! Traces over OpenTelemetry (OTLP/HTTP, protobuf), see
//! docs/operations.md#traces. Off unless an endpoint is configured:
//! `APP_OTLP_ENDPOINT`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. The other standard variables
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_BSP_*`, `OTEL_SDK_DISABLED`) apply as the OpenTelemetry SDK
//! defines them.
//!
//! Spans come from this workspace's crates only (the request, the secret
//! verification, the database read, the signature); their attributes are
//! bounded values the server chooses, never a secret, hash or token.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The service name when `OTEL_SERVICE_NAME` does not set one.
pub const DEFAULT_SERVICE_NAME: &str = "auth-server";

/// The OTLP/HTTP path of traces under a base endpoint.
const TRACES_PATH: &str = "/v1/traces";

/// Where spans go: the endpoint the exporter posts to when given
/// explicitly, else the SDK reads the standard variables itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `APP_OTLP_ENDPOINT`, a base URL like `OTEL_EXPORTER_OTLP_ENDPOINT`:
    /// spans go to `{base}/v1/traces`.
    Base(String),
    /// One of the standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables is set.
    Standard,
}

/// Whether tracing is on, and where to: `app_endpoint` is
/// `APP_OTLP_ENDPOINT`, `env` the process environment.
pub fn target(app_endpoint: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Option<Target> {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    match app_endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        Some(base) => Some(Target::Base(base.to_owned())),
        None if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT") => {
            Some(Target::Standard)
        }
        None => None,
    }
}

/// The running exporter; [`Tracing::shutdown`] sends what is still queued.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Builds the exporter and installs the W3C trace-context propagator
    /// (so an incoming `traceparent` becomes the request span's parent).
    /// Nothing is sent until spans end; an unreachable collector costs
    /// dropped spans and a logged warning, never a failed request.
    pub fn start(target: &Target, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
        let builder = match target {
            Target::Base(base) => {
                builder.with_endpoint(format!("{}{TRACES_PATH}", base.trim_end_matches('/')))
            }
            Target::Standard => builder,
        };
        let exporter = builder
            .build()
            .map_err(|e| format!("traces (OTLP exporter): {e}"))?;
        let mut resource = Resource::builder();
        if env("OTEL_SERVICE_NAME").is_none_or(|v| v.trim().is_empty()) {
            resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
        }
        let resource = resource
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Self { provider })
    }

    /// The tracer the `tracing` layer records into.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("auth-server")
    }

    /// Exports the spans still queued and stops the exporter; called once
    /// the server has stopped.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans could not be exported");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn tracing_is_off_without_an_endpoint() {
        assert_eq!(target(None, &env(&[])), None);
        assert_eq!(target(Some(" "), &env(&[("OTEL_SERVICE_NAME", "x")])), None);
        assert_eq!(
            target(None, &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            None
        );
    }

    #[test]
    fn either_endpoint_turns_it_on_and_the_app_variable_wins() {
        assert_eq!(
            target(
                None,
                &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
            ),
            Some(Target::Standard)
        );
        assert_eq!(
            target(
                None,
                &env(&[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://c:4318/v1/traces"
                )])
            ),
            Some(Target::Standard)
        );
        assert_eq!(
            target(
                Some("http://mine:4318"),
                &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
            ),
            Some(Target::Base("http://mine:4318".into()))
        );
    }

    #[test]
    fn the_sdk_switch_turns_it_off() {
        assert_eq!(
            target(
                Some("http://mine:4318"),
                &env(&[("OTEL_SDK_DISABLED", "true")])
            ),
            None
        );
    }
}
