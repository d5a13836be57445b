//! Draining on SIGTERM (docs/reference/operations.md#shutdown): `/readyz`
//! answers 503 at once, so a load balancer stops routing, while requests
//! already under way — and any still arriving during the drain — are
//! served; then the process exits 0.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

#[actix_web::test]
async fn after_sigterm_readyz_is_503_while_an_in_flight_request_completes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let mut env = process_env(dir.path(), &url);
    env.insert("APP_SHUTDOWN_DRAIN".into(), "PT3S".into());
    let mut server = ServerProcess::start(&env, dir.path(), "draining", free_loopback_port());
    server.wait_ready(Duration::from_secs(60)).await;
    let http = reqwest::Client::new();

    // A token request under way: its headers and half of its body are sent.
    let body = format!(
        "grant_type=client_credentials&client_id=my-service&client_secret={}",
        form_urlencoded::byte_serialize(SVC_SECRET.as_bytes()).collect::<String>()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        in_flight,
        "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    in_flight.flush().unwrap();
    // Let the server read the request's head before the signal.
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;

    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let signalled = Instant::now();

    // Not ready, at once.
    loop {
        let r = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["status"], "draining");
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "/readyz still answers {} after SIGTERM",
            r.status()
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // Still serving: liveness, and new work that arrives late.
    let r = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = post_token(&http, &server.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200, "a request arriving during the drain");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited during the drain"
    );

    // The request under way finishes, with its token.
    in_flight.write_all(rest.as_bytes()).unwrap();
    in_flight.flush().unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_and_body = loop {
        let n = in_flight.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            if body.contains('}') {
                break (head.to_owned(), body.to_owned());
            }
        }
    };
    assert!(
        head_and_body.0.starts_with("HTTP/1.1 200"),
        "{head_and_body:?}"
    );
    assert!(head_and_body.1.contains("access_token"));
    drop(in_flight);
    drop(http);

    // Then the process stops by itself, cleanly, after the drain.
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(40),
            "still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "stopped before the drain ended"
    );
    let logs = server.logs();
    assert!(logs.contains("draining"), "{logs}");
}
