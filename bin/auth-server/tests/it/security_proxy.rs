//! Forwarding-header spoofing (see docs/reference/proxy.md, RFC 9700 §4.x on trusting proxies):
//! from a peer outside `APP_FORWARDED_TRUSTED_PROXIES`, `Forwarded` and
//! `X-Forwarded-*` change neither the scheme (so plain HTTP stays refused),
//! nor the host (so the issuer cannot be pointed elsewhere), nor the source
//! (so the failure throttle cannot be dodged). From a trusted peer, only
//! the header family named by `APP_FORWARDED_HEADERS` counts, and junk
//! values are ignored.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::*;

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The spoofing headers a client might send, all at once.
fn spoof(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    rb.header("X-Forwarded-Proto", "https")
        .header(
            "Forwarded",
            "for=198.51.100.7;proto=https;host=evil.example",
        )
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Port", "443")
        .header("X-Forwarded-For", "198.51.100.7")
}

async fn issuer(
    http: &reqwest::Client,
    base: &str,
    rb: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    let r = rb(http.get(format!("{base}/.well-known/oauth-authorization-server")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["issuer"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // The test client connects from 127.0.0.1, outside this range.
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings: settings(&[("APP_FORWARDED_TRUSTED_PROXIES", "10.0.0.0/8")]),
            ..Spawn::default()
        },
    )
    .await;
    // The scheme: plain HTTP is still refused, on OAuth and admin endpoints.
    let r = spoof(s.http.post(s.url("/oauth2/token")))
        .form(&client_secret_post("my-service", SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("HTTPS"),
        "{body}"
    );
    let r = spoof(s.http.get(s.url("/clients")))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the admin API took a spoofed https");
    // The host: the derived issuer is the address actually connected to.
    let port = s.base.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        issuer(&s.http, &s.base, spoof).await,
        format!("http://127.0.0.1:{port}")
    );
    for (name, value) in [
        ("Forwarded", "host=evil.example;proto=https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ] {
        let got = issuer(&s.http, &s.base, |rb| rb.header(name, value)).await;
        assert_eq!(got, format!("http://127.0.0.1:{port}"), "{name}: {value}");
    }
    s.stop().await;
}

#[actix_web::test]
async fn a_spoofed_source_does_not_escape_the_failure_throttle() {
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings: settings(&[
                ("APP_FORWARDED_TRUSTED_PROXIES", "10.0.0.0/8"),
                ("APP_REQUIRE_HTTPS", "false"),
                ("APP_TOKEN_FAILURE_LIMIT", "3"),
            ]),
            ..Spawn::default()
        },
    )
    .await;
    let attempt = |i: u32| {
        let s = &s;
        async move {
            let r = s
                .http
                .post(s.url("/oauth2/token"))
                .header("X-Forwarded-For", format!("198.51.100.{i}"))
                .header("Forwarded", format!("for=203.0.113.{i}"))
                .form(&client_secret_post("my-service", "wrong-secret-value"))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers().get("retry-after").is_some(),
            )
        }
    };
    for i in 1..=3 {
        assert_eq!(attempt(i).await.0, 401, "attempt {i}");
    }
    // A fourth "source" is the same peer: throttled, whatever it claims.
    for i in 4..=6 {
        assert_eq!(attempt(i).await, (429, true), "attempt {i}");
    }
    // Even the right secret is refused while throttled (no oracle).
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .header("X-Forwarded-For", "192.0.2.99")
        .form(&client_secret_post("my-service", SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Other clients from the same peer are unaffected.
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .header(
            "Authorization",
            basic_authorization("basic-client", BASIC_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[actix_web::test]
async fn junk_and_conflicting_values_from_a_trusted_proxy_are_ignored() {
    // Loopback is trusted by default: the test client is the "sidecar".
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let token_status = |headers: Vec<(&'static str, &'static str)>| {
        let s = &s;
        async move {
            let mut rb = s.http.post(s.url("/oauth2/token"));
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            rb.form(&client_secret_post("my-service", SVC_SECRET))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The positive control: a trusted https is honoured.
    assert_eq!(
        token_status(vec![("X-Forwarded-Proto", "https")]).await,
        200
    );
    // The other family (`Forwarded`) neither makes HTTPS nor vetoes it.
    assert_eq!(
        token_status(vec![
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "proto=http")
        ])
        .await,
        200
    );
    // Junk schemes, a right-most https and the other family do not make
    // HTTPS.
    for headers in [
        vec![("X-Forwarded-Proto", "http"), ("Forwarded", "proto=https")],
        vec![("Forwarded", "proto=https")],
        vec![("X-Forwarded-Proto", "javascript")],
        vec![("X-Forwarded-Proto", "https2")],
        vec![("X-Forwarded-Proto", "http, https")],
        vec![("X-Forwarded-Proto", "")],
    ] {
        assert_eq!(token_status(headers.clone()).await, 400, "{headers:?}");
    }
    // Hosts that could not be put into an issuer URL are ignored.
    let port = s.base.rsplit(':').next().unwrap().to_owned();
    let own = format!("http://127.0.0.1:{port}");
    for (name, value) in [
        ("X-Forwarded-Host", "evil.example/path"),
        ("X-Forwarded-Host", "evil.example@other"),
        ("X-Forwarded-Host", "evil.example?x=1"),
        ("X-Forwarded-Host", "evil example"),
        ("X-Forwarded-Host", "evil.example:0"),
        ("X-Forwarded-Host", "evil.example:99999"),
        ("Forwarded", "host=auth.example"),
        ("X-Forwarded-Port", "x443"),
    ] {
        assert_eq!(
            issuer(&s.http, &s.base, |rb| rb.header(name, value)).await,
            own,
            "{name}: {value}"
        );
    }
    // A well-formed host from the trusted proxy is honoured.
    assert_eq!(
        issuer(&s.http, &s.base, |rb| rb
            .header("X-Forwarded-Host", "auth.example")
            .header("X-Forwarded-Proto", "https"))
        .await,
        "https://auth.example"
    );
    s.stop().await;
}

/// A token request with a wrong secret for `my-service`, from the trusted
/// loopback "proxy" with `headers`: the status and whether Retry-After came.
async fn wrong_guess(s: &TestServer, headers: &[(&str, String)]) -> (u16, bool) {
    let mut rb = s.http.post(s.url("/oauth2/token"));
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb
        .form(&client_secret_post("my-service", "wrong-secret-value"))
        .send()
        .await
        .unwrap();
    (
        r.status().as_u16(),
        r.headers().get("retry-after").is_some(),
    )
}

#[actix_web::test]
async fn by_default_a_callers_own_forwarded_for_does_not_choose_its_source() {
    // nginx, Envoy and cloud load balancers append the caller's address to
    // X-Forwarded-For but pass a `Forwarded` header the caller wrote
    // through untouched: with the default header family that header must
    // not count, or each guess could claim a fresh source.
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings: settings(&[("APP_TOKEN_FAILURE_LIMIT", "3")]),
            ..Spawn::default()
        },
    )
    .await;
    let from = |i: u32| {
        vec![
            ("X-Forwarded-Proto", "https".to_owned()),
            ("X-Forwarded-For", "198.51.100.77".to_owned()),
            ("Forwarded", format!("for=203.0.113.{i};proto=https")),
        ]
    };
    for i in 1..=3 {
        assert_eq!(wrong_guess(&s, &from(i)).await, (401, false), "guess {i}");
    }
    for i in 4..=6 {
        assert_eq!(
            wrong_guess(&s, &from(i)).await,
            (429, true),
            "guess {i}: a fresh Forwarded: for= escaped the throttle"
        );
    }
    // X-Forwarded-For is honoured: another source is unaffected.
    let r = s
        .post("/oauth2/token")
        .header("X-Forwarded-For", "198.51.100.78")
        .form(&client_secret_post("my-service", SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[actix_web::test]
async fn with_the_forwarded_family_the_x_forwarded_headers_are_ignored() {
    let s = spawn(
        Backend::Sqlite,
        Spawn {
            settings: settings(&[
                ("APP_FORWARDED_HEADERS", "forwarded"),
                ("APP_TOKEN_FAILURE_LIMIT", "3"),
            ]),
            ..Spawn::default()
        },
    )
    .await;
    let token_status = |headers: Vec<(&'static str, &'static str)>| {
        let s = &s;
        async move {
            let mut rb = s.http.post(s.url("/oauth2/token"));
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            rb.form(&client_secret_post("my-service", SVC_SECRET))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The scheme: only `Forwarded: proto=` makes HTTPS.
    assert_eq!(
        token_status(vec![("X-Forwarded-Proto", "https")]).await,
        400
    );
    assert_eq!(token_status(vec![("Forwarded", "proto=https")]).await, 200);
    assert_eq!(
        token_status(vec![
            ("Forwarded", "proto=https"),
            ("X-Forwarded-Proto", "http")
        ])
        .await,
        200,
        "X-Forwarded-Proto cannot even veto"
    );
    // Junk from the trusted proxy does not make HTTPS.
    for headers in [
        vec![("Forwarded", "proto=\"https")],
        vec![("Forwarded", "proto=https;proto=https")],
        vec![("Forwarded", "for=1.2.3.4, proto=https")],
        vec![("Forwarded", "proto=https2")],
    ] {
        assert_eq!(token_status(headers.clone()).await, 400, "{headers:?}");
    }
    // The host: X-Forwarded-Host and -Port are ignored.
    let port = s.base.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        issuer(&s.http, &s.base, |rb| rb
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Port", "8443")
            .header("X-Forwarded-Proto", "https"))
        .await,
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(
        issuer(&s.http, &s.base, |rb| rb
            .header("Forwarded", "proto=https;host=auth.example")
            .header("X-Forwarded-Host", "evil.example"))
        .await,
        "https://auth.example"
    );
    assert_eq!(
        issuer(&s.http, &s.base, |rb| rb
            .header("Forwarded", "host=\"evil.example/x\"")
            .header("X-Forwarded-Host", "auth.example"))
        .await,
        format!("http://127.0.0.1:{port}"),
        "a host that cannot be put into an issuer URL is ignored"
    );
    // The source: `Forwarded: for=`, whatever X-Forwarded-For claims.
    let from = |i: u32| {
        vec![
            ("Forwarded", "for=198.51.100.88;proto=https".to_owned()),
            ("X-Forwarded-For", format!("203.0.113.{i}")),
        ]
    };
    for i in 1..=3 {
        assert_eq!(wrong_guess(&s, &from(i)).await, (401, false), "guess {i}");
    }
    for i in 4..=6 {
        assert_eq!(
            wrong_guess(&s, &from(i)).await,
            (429, true),
            "guess {i}: a fresh X-Forwarded-For escaped the throttle"
        );
    }
    s.stop().await;
}
