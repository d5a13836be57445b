//! Request ids and the request span (see docs/operations.md#request-ids-and-traces).
//!
//! Every response carries `X-Request-Id`: the caller's own when it is
//! well-formed (1–64 characters of `A-Z a-z 0-9 . _ -`), else a new random
//! one. The same id is on the access log line and on the request's span,
//! the root of the request's trace. A W3C `traceparent` header makes the
//! caller's span the parent of that span; the propagator that reads it is
//! the process-wide one, which stays a no-op unless the binary turned
//! tracing on.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage as _;
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use auth_metrics as metrics;

/// The header, in both directions.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen id kept; a longer one is replaced.
pub const MAX_LEN: usize = 64;

/// The request's id, in the request's extensions for handlers and the logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The caller's id when it is fit to log and echo unchanged: short, and of
/// characters that need no escaping in a log line, a header or a trace.
pub fn well_formed(value: &[u8]) -> Option<RequestId> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| RequestId(String::from_utf8_lossy(value).into_owned()))
}

/// A new id: 128 random bits as 32 hex digits.
pub fn generate() -> RequestId {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Ids correlate lines, they protect nothing: without the OS
        // generator, the clock's nanoseconds still tell requests apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    RequestId(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads W3C trace-context headers for the propagator.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// The outermost middleware: picks the request id, opens the request span
/// (its parent from `traceparent`), runs everything else inside it, and
/// stamps the id on the response.
///
/// The span holds only bounded values chosen by the server: the method
/// label, the route pattern (never the raw path), the status and the id.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| well_formed(v.as_bytes()))
        .unwrap_or_else(generate);
    req.extensions_mut().insert(id.clone());
    let method = metrics::method_label(req.method().as_str());
    // The pattern comes from the application's route table, not from
    // routing, so it is known now: the exported span's name cannot change
    // once a child span exists.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| metrics::UNMATCHED_ROUTE.into());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = %route,
        http.response.status_code = Empty,
        request_id = %id,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    // Fails only when no OpenTelemetry layer is installed (tracing off),
    // where there is no trace to join anyway.
    let _ = span.set_parent(parent);
    // Handlers' errors arrive here as responses already; only a middleware
    // could fail the call, and none of this application's does.
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_of_safe_characters_are_kept() {
        for ok in ["a", "req-1.2_3", "0123456789abcdef", &"x".repeat(MAX_LEN)] {
            assert_eq!(well_formed(ok.as_bytes()).map(|i| i.0), Some(ok.to_owned()));
        }
    }

    #[test]
    fn empty_long_or_unsafe_ids_are_refused() {
        let long = "x".repeat(MAX_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "a b",
            "a\nb",
            "a\"b",
            "ü",
            "a/b",
            "a=b",
            "%0a",
        ] {
            assert_eq!(well_formed(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(well_formed(a.as_str().as_bytes()), Some(a));
    }
}
