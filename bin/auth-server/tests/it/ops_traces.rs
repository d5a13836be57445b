//! Traces and request ids (docs/operations.md#request-ids-and-traces): the
//! real binary exports OTLP/HTTP to a receiver this test runs on loopback;
//! a token request makes one trace, joined to the caller's `traceparent`,
//! with the request span and the secret verification, database read and
//! signature inside it, and no secret, hash, token or credential in any
//! attribute. Every response carries `X-Request-Id`, the same id the access
//! log line and the request span carry.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::Value;

use crate::common::*;

/// What the receiver got: every export request, decoded.
type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// A minimal OTLP/HTTP collector: accepts `POST /v1/traces` (protobuf),
/// one request per connection, and answers 200 with an empty response
/// message. Returns its base URL.
fn start_receiver(received: Received) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            if let Some((path, body)) = read_request(&mut conn) {
                let status = if path == "/v1/traces" {
                    match ExportTraceServiceRequest::decode(body.as_slice()) {
                        Ok(req) => {
                            received.lock().unwrap().push(req);
                            "200 OK"
                        }
                        Err(_) => "400 Bad Request",
                    }
                } else {
                    "404 Not Found"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        }
    });
    base
}

/// The path and body of one HTTP/1.1 request with a Content-Length.
fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((path, body))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(value_text)
}

/// Every attribute value the collector saw: resources, spans, span events.
fn all_attribute_values(received: &[ExportTraceServiceRequest]) -> Vec<String> {
    let mut out = Vec::new();
    for req in received {
        for rs in &req.resource_spans {
            if let Some(r) = &rs.resource {
                out.extend(r.attributes.iter().map(value_text));
            }
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(span.name.clone());
                    out.extend(span.attributes.iter().map(value_text));
                    for e in &span.events {
                        out.push(e.name.clone());
                        out.extend(e.attributes.iter().map(value_text));
                    }
                }
            }
        }
    }
    out
}

fn spans(received: &[ExportTraceServiceRequest]) -> Vec<Span> {
    received
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.clone())
        .collect()
}

fn service_names(received: &[ExportTraceServiceRequest]) -> Vec<String> {
    received
        .iter()
        .flat_map(|r| &r.resource_spans)
        .filter_map(|rs| rs.resource.as_ref())
        .flat_map(|r| &r.attributes)
        .filter(|kv| kv.key == "service.name")
        .map(value_text)
        .collect()
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const BASIC_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[actix_web::test]
async fn a_token_request_makes_one_trace_joined_to_the_callers_with_no_secret_in_it() {
    let received: Received = Arc::default();
    let collector = start_receiver(received.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let mut env = process_env(dir.path(), &url);
    env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector);
    env.insert("OTEL_SERVICE_NAME".into(), "auth-server-under-test".into());
    env.insert("APP_SHUTDOWN_DRAIN".into(), "PT0S".into());
    let mut server = ServerProcess::start(&env, dir.path(), "traced", free_loopback_port());
    server.wait_ready(Duration::from_secs(60)).await;
    let http = reqwest::Client::new();

    // client_secret_post: the secret travels in the body.
    let r = http
        .post(format!("{}/oauth2/token", server.base))
        .header("X-Forwarded-Proto", "https")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let post_token: Value = r.json().await.unwrap();
    // client_secret_basic: the secret travels in the Authorization header.
    let basic = basic_authorization("basic-client", BASIC_SECRET);
    let r = http
        .post(format!("{}/oauth2/token", server.base))
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", &basic)
        .header("traceparent", format!("00-{BASIC_TRACE_ID}-{PARENT_ID}-01"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let basic_token: Value = r.json().await.unwrap();
    // A token used as a bearer credential, so "Bearer …" was on the wire.
    let token = basic_token["access_token"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{}/oauth2/introspect", server.base))
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", &basic)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // SIGTERM: the spans still queued are exported before the exit.
    assert_eq!(server.sigterm().code(), Some(0), "{}", server.logs());
    let expected = [
        "secret_verification",
        "db_read",
        "sign_token",
        "POST /oauth2/token",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = spans(&received.lock().unwrap());
        let arrived = |n: &str| {
            all.iter()
                .any(|s| s.name == n && hex(&s.trace_id) == TRACE_ID)
        };
        if expected.iter().all(|n| arrived(n)) {
            break;
        }
        let seen: Vec<(String, String)> = all
            .iter()
            .map(|s| (s.name.clone(), hex(&s.trace_id)))
            .collect();
        assert!(
            std::time::Instant::now() < deadline,
            "the token request's spans did not all arrive; seen: {seen:?}\n{}",
            server.logs()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let got = received.lock().unwrap().clone();
    let all = spans(&got);
    let in_trace: Vec<&Span> = all
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();

    // The request span: a child of the caller's span, named by the route.
    let request: Vec<&&Span> = in_trace
        .iter()
        .filter(|s| s.name == "POST /oauth2/token")
        .collect();
    assert_eq!(request.len(), 1, "{in_trace:#?}");
    let request = request[0];
    assert_eq!(hex(&request.parent_span_id), PARENT_ID);
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/oauth2/token")
    );
    assert_eq!(
        attribute(request, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attribute(request, "request_id"), Some(request_id));

    // The work inside it.
    for name in ["secret_verification", "db_read", "sign_token"] {
        let inner: Vec<&&Span> = in_trace.iter().filter(|s| s.name == name).collect();
        assert_eq!(inner.len(), 1, "{name}: {in_trace:#?}");
        assert_eq!(
            inner[0].parent_span_id, request.span_id,
            "{name} is not inside the request span"
        );
        assert!(inner[0].end_time_unix_nano >= inner[0].start_time_unix_nano);
    }
    // The Basic request is a trace of its own.
    assert!(all
        .iter()
        .any(|s| hex(&s.trace_id) == BASIC_TRACE_ID && s.name == "POST /oauth2/token"));
    assert!(service_names(&got)
        .iter()
        .all(|n| n == "auth-server-under-test"));
    assert!(!service_names(&got).is_empty());

    // No credential anywhere in what was exported.
    let forbidden = [
        SVC_SECRET.to_owned(),
        BASIC_SECRET.to_owned(),
        basic.clone(),
        post_token["access_token"].as_str().unwrap().to_owned(),
        token.clone(),
        "Basic ".to_owned(),
        "Bearer ".to_owned(),
        "$2b$".to_owned(),
        "$2a$".to_owned(),
        "$2y$".to_owned(),
    ];
    for value in all_attribute_values(&got) {
        for f in &forbidden {
            assert!(!value.contains(f.as_str()), "exported: {value:?}");
        }
    }
}

#[actix_web::test]
async fn without_an_endpoint_nothing_is_exported() {
    let received: Received = Arc::default();
    let collector = start_receiver(received.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let mut env = process_env(dir.path(), &url);
    env.insert("APP_SHUTDOWN_DRAIN".into(), "PT0S".into());
    // Only the name: no endpoint, so tracing stays off.
    env.insert("OTEL_SERVICE_NAME".into(), collector);
    let mut server = ServerProcess::start(&env, dir.path(), "untraced", free_loopback_port());
    server.wait_ready(Duration::from_secs(60)).await;
    let http = reqwest::Client::new();
    let (status, _) = post_token(&http, &server.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(server.sigterm().code(), Some(0));
    assert!(received.lock().unwrap().is_empty());
}

/// The JSON access log lines the process wrote, by request id.
fn access_lines(server: &ServerProcess) -> BTreeMap<String, Value> {
    server
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "auth_server::access")
        .filter_map(|v| Some((v["request_id"].as_str()?.to_owned(), v)))
        .collect()
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_its_log_line_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let env = process_env(dir.path(), &url);
    let mut server = ServerProcess::start(&env, dir.path(), "ids", free_loopback_port());
    server.wait_ready(Duration::from_secs(60)).await;
    let http = reqwest::Client::new();
    let get = |path: &str, id: Option<&str>| {
        let mut r = http.get(format!("{}{path}", server.base));
        if let Some(id) = id {
            r = r.header("X-Request-Id", id);
        }
        r.send()
    };
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("every response has X-Request-Id")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let generated = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());

    // A well-formed id is kept, on success and failure alike.
    let kept = "lb-7f3a.req_0042";
    let r = get("/healthz", Some(kept)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(id_of(&r), kept);
    let max = "x".repeat(64);
    let r = get("/no/such/path", Some(&max)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(id_of(&r), max);
    let r = http
        .post(format!("{}/oauth2/token", server.base))
        .header("X-Forwarded-Proto", "https")
        .header("X-Request-Id", "token-call-1")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", "a-wrong-secret-value"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(id_of(&r), "token-call-1");

    // Malformed or too long: replaced by a new one.
    let mut replaced = Vec::new();
    for bad in ["has space", "a/b", "quote\"d", "tab\there", &"y".repeat(65)] {
        let r = get("/healthz", Some(bad)).await.unwrap();
        let id = id_of(&r);
        assert_ne!(id, bad);
        assert!(generated(&id), "{bad:?} → {id:?}");
        replaced.push(id);
    }

    // Absent: a new one each time.
    let a = id_of(&get("/readyz", None).await.unwrap());
    let b = id_of(&get("/readyz", None).await.unwrap());
    assert!(generated(&a) && generated(&b));
    assert_ne!(a, b);

    // The access log line of each request carries the id its response did.
    let mut expected: Vec<(String, &str, u64)> = vec![
        (kept.to_owned(), "/healthz", 200),
        (max.clone(), "unmatched", 404),
        ("token-call-1".to_owned(), "/oauth2/token", 401),
        (a, "/readyz", 200),
        (b, "/readyz", 200),
    ];
    expected.extend(replaced.into_iter().map(|id| (id, "/healthz", 200)));
    let mut lines = BTreeMap::new();
    wait_for("the access log lines", Duration::from_secs(10), || {
        lines = access_lines(&server);
        expected.iter().all(|(id, _, _)| lines.contains_key(id))
    })
    .await;
    for (id, route, status) in &expected {
        let line = &lines[id];
        assert_eq!(line["route"], *route, "{line}");
        assert_eq!(line["status"], *status, "{line}");
    }
    // The refused values were never logged.
    let logs = server.logs();
    assert!(!logs.contains("has space") && !logs.contains("quote"));
}
