//! Hostile and malformed input at the token endpoint and the admin API
//! (issue 7, "Attacks and bad input"): every request gets the documented
//! 4xx, never a 5xx or a hang, no error body echoes control characters, and
//! the server is healthy afterwards. Also the BCrypt length pitfalls of
//! CVE-2025-22228: nothing is truncated, nothing stops at a NUL, and the
//! 72-byte limit counts bytes, not characters.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::common::*;

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn reply(rb: reqwest::RequestBuilder) -> Reply {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// An OAuth error as docs/reference/token-endpoint.md describes it: this status and `error`, no-store
/// headers, and a description free of CR, LF and TAB.
fn assert_oauth_error(r: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(r.body["error"], error, "{what}: {}", r.body);
    assert_eq!(
        r.headers.get("cache-control").map(HeaderValue::as_bytes),
        Some(&b"no-store"[..]),
        "{what}"
    );
    let description = r.body["error_description"].as_str().unwrap_or_default();
    assert!(
        !description.chars().any(char::is_control),
        "{what}: control characters in {description:?}"
    );
}

fn form_token(s: &TestServer, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    s.post("/oauth2/token").form(pairs)
}

/// A 72-byte ASCII secret, a 72-byte secret of 36 two-byte characters, and
/// a short multibyte one, each on a client_secret_post client.
const LONG_SECRET: &str =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~012345";

fn multibyte_secret() -> String {
    "\u{e9}".repeat(36)
}

async fn spawn_with_length_clients() -> TestServer {
    assert_eq!(LONG_SECRET.len(), 72);
    let clients = format!(
        "{CLIENTS_YAML}    - client_id: long-client\n      client_secret_env_var_name: LONG_SECRET\n      \
         client_authentication_method: client_secret_post\n    - client_id: multibyte-client\n      \
         client_secret_env_var_name: MULTIBYTE_SECRET\n"
    );
    let env: BTreeMap<String, String> = [
        ("LONG_SECRET".to_owned(), LONG_SECRET.to_owned()),
        ("MULTIBYTE_SECRET".to_owned(), multibyte_secret()),
    ]
    .into();
    spawn(
        Backend::Sqlite,
        Spawn {
            clients_yaml: Some(clients),
            env,
            ..Spawn::default()
        },
    )
    .await
}

#[actix_web::test]
async fn secrets_are_never_truncated_cut_at_a_nul_or_counted_in_characters() {
    let s = spawn_with_length_clients().await;
    let token = |id: &'static str, secret: String| {
        let s = &s;
        async move { reply(form_token(s, &client_secret_post(id, &secret))).await }
    };
    // The exact 72-byte secret works.
    assert_eq!(token("long-client", LONG_SECRET.into()).await.status, 200);
    // CVE-2025-22228: the correct first 72 bytes followed by anything.
    for suffix in ["x", "\u{e9}", " ", "\0", &"y".repeat(100)] {
        let r = token("long-client", format!("{LONG_SECRET}{suffix}")).await;
        assert_oauth_error(&r, 401, "invalid_client", &format!("72 bytes + {suffix:?}"));
    }
    // A NUL after a correct prefix: an implementation that stops at NUL
    // (C strings) would compare only the prefix.
    for cut in [1, 16, 40, 71] {
        let r = token(
            "long-client",
            format!("{}\0{}", &LONG_SECRET[..cut], &LONG_SECRET[cut..]),
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client", &format!("NUL at {cut}"));
        let r = token("long-client", format!("{}\0", &LONG_SECRET[..cut])).await;
        assert_oauth_error(&r, 401, "invalid_client", &format!("prefix {cut} + NUL"));
    }
    let r = token("my-service", format!("{SVC_SECRET}\0")).await;
    assert_oauth_error(&r, 401, "invalid_client", "seeded secret + NUL");
    let r = token("my-service", format!("{SVC_SECRET}\0junk")).await;
    assert_oauth_error(&r, 401, "invalid_client", "seeded secret + NUL + junk");
    // A prefix alone is not the secret.
    assert_oauth_error(
        &token("long-client", LONG_SECRET[..71].into()).await,
        401,
        "invalid_client",
        "71-byte prefix",
    );

    // Bytes, not characters: 36 × "é" is 72 bytes and works (over Basic,
    // form-encoded); one more "é" is 74 bytes and 37 characters.
    let basic = |secret: String| {
        let s = &s;
        async move {
            reply(
                s.post("/oauth2/token")
                    .header(
                        "Authorization",
                        basic_authorization("multibyte-client", &secret),
                    )
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await
        }
    };
    assert_eq!(basic(multibyte_secret()).await.status, 200);
    for longer in [
        format!("{}\u{e9}", multibyte_secret()),
        format!("{}x", multibyte_secret()),
        format!("{}\0", multibyte_secret()),
    ] {
        let r = basic(longer.clone()).await;
        assert_oauth_error(
            &r,
            401,
            "invalid_client",
            &format!("{} bytes", longer.len()),
        );
        assert_eq!(
            r.headers.get("www-authenticate").unwrap(),
            "Basic realm=\"oauth2\""
        );
    }
    assert_oauth_error(
        &basic("\u{e9}".repeat(35)).await,
        401,
        "invalid_client",
        "35 × é",
    );
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

#[actix_web::test]
async fn a_seeded_secret_of_72_characters_but_more_bytes_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let clients = "clients:\n  confidential:\n    - client_id: mb\n      client_secret_env_var_name: MB_SECRET\n";
    let mut env = write_seeds(dir.path(), clients, "serviceAccounts: []\n");
    // 37 characters, 74 bytes.
    let secret = "\u{e9}".repeat(37);
    env.insert("MB_SECRET".into(), secret.clone());
    let out = run_binary(&["check"], &env, dir.path());
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("mb") && shown.contains("MB_SECRET"),
        "{shown}"
    );
    assert!(
        !shown.contains(&secret) && !shown.contains("\u{e9}"),
        "the secret is echoed: {shown}"
    );
    // 36 characters, 72 bytes: accepted.
    env.insert("MB_SECRET".into(), "\u{e9}".repeat(36));
    let out = run_binary(&["check"], &env, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[actix_web::test]
async fn ambiguous_or_partial_client_authentication_is_refused() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    // A confidential client id without a secret is no authentication.
    let r = reply(form_token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
        ],
    ))
    .await;
    assert_oauth_error(&r, 401, "invalid_client", "client_id without a secret");
    let r = reply(form_token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "my-service"),
            ("client_secret", ""),
        ],
    ))
    .await;
    assert_oauth_error(&r, 401, "invalid_client", "empty client_secret");
    // Basic for client A with client_id=B in the body.
    let r = reply(
        s.post("/oauth2/token")
            .header(
                "Authorization",
                basic_authorization("basic-client", BASIC_SECRET),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "my-service"),
            ]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "Basic A, body client_id B");
    // Basic plus client_secret in the body is two methods.
    let r = reply(
        s.post("/oauth2/token")
            .header(
                "Authorization",
                basic_authorization("basic-client", BASIC_SECRET),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", BASIC_SECRET),
            ]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "two methods");
    // Credentials in the query string are never read: alone they are no
    // authentication, and they do not spoil valid body credentials.
    let query = format!("/oauth2/token?client_id=my-service&client_secret={SVC_SECRET}&grant_type=client_credentials");
    let r = reply(s.post(&query).form(&[("grant_type", "client_credentials")])).await;
    assert_oauth_error(&r, 401, "invalid_client", "query-string credentials");
    let r = reply(
        s.post("/oauth2/token?client_id=basic-client&client_secret=wrong")
            .form(&client_secret_post("my-service", SVC_SECRET)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

#[actix_web::test]
async fn malformed_basic_headers_get_400_or_401_never_5xx() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let send = |value: HeaderValue| {
        let s = &s;
        async move {
            reply(
                s.post("/oauth2/token")
                    .header("Authorization", value)
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await
        }
    };
    let header = |v: String| HeaderValue::from_str(&v).unwrap();
    for (what, value) in [
        ("bad base64", header("Basic !!!not*base64".into())),
        (
            "base64 cut short",
            header(format!("Basic {}", &b64(b"basic-client:secret")[..7])),
        ),
        (
            "no colon",
            header(format!("Basic {}", b64(b"basic-client"))),
        ),
        (
            "empty client id",
            header(format!("Basic {}", b64(b":secret"))),
        ),
        ("empty both", header(format!("Basic {}", b64(b":")))),
        ("nothing after the scheme", header("Basic".into())),
        (
            "invalid UTF-8 in the id",
            header(format!("Basic {}", b64(b"basic\xff:secret"))),
        ),
        (
            "invalid UTF-8 in the secret",
            header(format!("Basic {}", b64(b"basic-client:\xc3\x28"))),
        ),
        (
            "bad percent-encoding",
            header(format!("Basic {}", b64(b"basic-client:%zz"))),
        ),
        (
            "percent-encoded invalid UTF-8",
            header(format!("Basic {}", b64(b"basic-client:%ff"))),
        ),
        (
            "obs-text in the header",
            HeaderValue::from_bytes(b"Basic \xe9\xe9\xe9").unwrap(),
        ),
    ] {
        let r = send(value).await;
        assert_oauth_error(&r, 400, "invalid_request", what);
    }
    // Well-formed with an empty secret: an authentication failure.
    let r = send(header(format!("Basic {}", b64(b"basic-client:")))).await;
    assert_oauth_error(&r, 401, "invalid_client", "empty secret");
    // The scheme name is case-insensitive.
    for scheme in ["basic", "BASIC", "bAsIc"] {
        let value = basic_authorization("basic-client", BASIC_SECRET).replacen("Basic", scheme, 1);
        assert_eq!(send(header(value)).await.status, 200, "{scheme}");
    }
    // 8 KiB of credentials: an unknown (too long) client id, or a secret
    // far over 72 bytes; both authenticate nobody.
    let long_id = format!(
        "Basic {}",
        b64(format!("{}:secret", "a".repeat(6 * 1024)).as_bytes())
    );
    assert!(long_id.len() >= 8 * 1024);
    assert_oauth_error(
        &send(header(long_id)).await,
        401,
        "invalid_client",
        "8 KiB id",
    );
    let long_secret = format!(
        "Basic {}",
        b64(format!("basic-client:{}", "s".repeat(6 * 1024)).as_bytes())
    );
    assert_oauth_error(
        &send(header(long_secret)).await,
        401,
        "invalid_client",
        "8 KiB secret",
    );
    // Two Authorization headers.
    let r = reply(
        s.post("/oauth2/token")
            .header(
                "Authorization",
                basic_authorization("basic-client", BASIC_SECRET),
            )
            .header(
                "Authorization",
                basic_authorization("my-service", SVC_SECRET),
            )
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "two Authorization headers");
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

#[actix_web::test]
async fn hostile_bodies_and_parameters_get_the_documented_4xx() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let raw = |content_type: &'static str, body: Vec<u8>| {
        let s = &s;
        async move {
            reply(
                s.post("/oauth2/token")
                    .header("Content-Type", content_type)
                    .body(body),
            )
            .await
        }
    };
    let creds =
        format!("grant_type=client_credentials&client_id=my-service&client_secret={SVC_SECRET}");
    // Duplicated parameters, even with equal values.
    for dup in [
        "&grant_type=client_credentials",
        "&client_id=my-service",
        "&client_secret=x",
        "&scope=read&scope=read",
    ] {
        let r = raw(
            "application/x-www-form-urlencoded",
            format!("{creds}{dup}").into_bytes(),
        )
        .await;
        assert_oauth_error(&r, 400, "invalid_request", dup);
    }
    // JSON, multipart and plain text bodies.
    let json_body = json!({"grant_type": "client_credentials", "client_id": "my-service", "client_secret": SVC_SECRET});
    assert_oauth_error(
        &raw("application/json", json_body.to_string().into_bytes()).await,
        400,
        "invalid_request",
        "JSON",
    );
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b\r\n\
                     Content-Disposition: form-data; name=\"client_id\"\r\n\r\nmy-service\r\n--b--\r\n"
        .to_owned();
    assert_oauth_error(
        &raw("multipart/form-data; boundary=b", multipart.into_bytes()).await,
        400,
        "invalid_request",
        "multipart",
    );
    assert_oauth_error(
        &raw("text/plain", creds.clone().into_bytes()).await,
        400,
        "invalid_request",
        "text/plain",
    );
    // A body that is not UTF-8, and escapes that decode to invalid UTF-8.
    let mut not_utf8 = creds.clone().into_bytes();
    not_utf8.extend_from_slice(b"&scope=\xff\xfe");
    assert_oauth_error(
        &raw("application/x-www-form-urlencoded", not_utf8).await,
        400,
        "invalid_request",
        "raw non-UTF-8",
    );
    assert_oauth_error(
        &raw(
            "application/x-www-form-urlencoded",
            format!("{creds}&scope=%ff%fe").into_bytes(),
        )
        .await,
        400,
        "invalid_request",
        "escaped non-UTF-8",
    );
    // 1 MiB, announced and chunked (no Content-Length).
    let big = format!("{creds}&pad={}", "a".repeat(1024 * 1024));
    assert_oauth_error(
        &raw(
            "application/x-www-form-urlencoded",
            big.clone().into_bytes(),
        )
        .await,
        413,
        "invalid_request",
        "1 MiB",
    );
    let mut chunked = b"POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n\
                        Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for chunk in big.as_bytes().chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        raw_status(port_of(&s), chunked).await,
        Some(413),
        "1 MiB chunked"
    );
    // A method other than POST.
    let r = reply(
        s.http
            .get(s.url("/oauth2/token"))
            .header("X-Forwarded-Proto", "https"),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "GET");

    // NUL and control characters in every field.
    let nasty = [
        "\0",
        "\u{1}",
        "\u{1b}[31m",
        "\u{7f}",
        "\r\n",
        "\t",
        "\u{2028}",
        "\u{fffe}",
        "%00",
    ];
    for bad in nasty {
        let id = format!("my-service{bad}");
        let r = reply(form_token(&s, &client_secret_post(&id, SVC_SECRET))).await;
        assert_oauth_error(&r, 401, "invalid_client", &format!("client_id + {bad:?}"));
        let secret = format!("{SVC_SECRET}{bad}");
        let r = reply(form_token(&s, &client_secret_post("my-service", &secret))).await;
        assert_oauth_error(
            &r,
            401,
            "invalid_client",
            &format!("client_secret + {bad:?}"),
        );
        let grant = format!("client_credentials{bad}");
        let r = reply(form_token(
            &s,
            &[
                ("grant_type", &grant),
                ("client_id", "my-service"),
                ("client_secret", SVC_SECRET),
            ],
        ))
        .await;
        assert_oauth_error(
            &r,
            400,
            "unsupported_grant_type",
            &format!("grant_type + {bad:?}"),
        );
        let scope = format!("read{bad}");
        let r = reply(form_token(
            &s,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "my-service"),
                ("client_secret", SVC_SECRET),
                ("scope", &scope),
            ],
        ))
        .await;
        assert_oauth_error(&r, 400, "invalid_scope", &format!("scope + {bad:?}"));
        let token = format!("eyJ{bad}");
        let r = reply(s.post("/oauth2/introspect").form(&[
            ("client_id", "my-service"),
            ("client_secret", SVC_SECRET),
            ("token", &token),
        ]))
        .await;
        assert_eq!(
            (r.status, &r.body),
            (200, &json!({"active": false})),
            "introspect token + {bad:?}"
        );
    }
    // A forged log line in a client id (it must be logged escaped, if at all).
    let r = reply(form_token(
        &s,
        &client_secret_post("evil\r\n{\"level\":\"ERROR\",\"forged\":true}", SVC_SECRET),
    ))
    .await;
    assert_oauth_error(&r, 401, "invalid_client", "CR/LF in client id");

    // SQL metacharacters in ids, secrets and scopes.
    for sql in [
        "' OR '1'='1",
        "\"; DROP TABLE clients; --",
        "my-service' --",
        "%' OR client_id LIKE '%",
        "1; SELECT pg_sleep(10)",
    ] {
        let r = reply(form_token(&s, &client_secret_post(sql, sql))).await;
        assert_oauth_error(&r, 401, "invalid_client", sql);
        let r = reply(form_token(&s, &client_secret_post("my-service", sql))).await;
        assert_oauth_error(&r, 401, "invalid_client", sql);
        let scope = format!("read {sql}");
        let r = reply(form_token(
            &s,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "my-service"),
                ("client_secret", SVC_SECRET),
                ("scope", &scope),
            ],
        ))
        .await;
        assert_oauth_error(&r, 400, "invalid_scope", sql);
    }
    assert_healthy(&s.http, &s.base).await;
    s.stop().await;
}

fn port_of(s: &TestServer) -> u16 {
    s.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Writes `request` as raw bytes on a new connection and returns the status
/// of the response, or `None` when the server closed without one. The
/// server may answer and close before the whole request is written.
async fn raw_status(port: u16, request: Vec<u8>) -> Option<u16> {
    actix_web::web::block(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(&request);
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .map(str::to_owned)?;
        line.split(' ').nth(1)?.parse().ok()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn malformed_http_framing_is_refused_without_a_5xx() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let port = port_of(&s);
    let body =
        format!("grant_type=client_credentials&client_id=my-service&client_secret={SVC_SECRET}");
    let head = "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "two different Content-Lengths",
            format!("{head}Content-Length: {}\r\nContent-Length: 5\r\n\r\n{body}", body.len()).into_bytes(),
        ),
        (
            "Content-Length and Transfer-Encoding",
            format!("{head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len())
                .into_bytes(),
        ),
        ("a NUL in a header", format!("{head}X-Junk: a\0b\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()),
        ("a 1 MiB header", format!("{head}X-Junk: {}\r\nContent-Length: {}\r\n\r\n{body}", "j".repeat(1024 * 1024), body.len()).into_bytes()),
        ("10,000 headers", format!("{head}{}Content-Length: {}\r\n\r\n{body}", "X-J: j\r\n".repeat(10_000), body.len()).into_bytes()),
        ("a bad chunk size", format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n").into_bytes()),
        ("a negative Content-Length", format!("{head}Content-Length: -1\r\n\r\n{body}").into_bytes()),
        ("garbage request line", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 TLS hello\r\n\r\n".to_vec()),
    ];
    for (what, request) in cases {
        let status = raw_status(port, request).await;
        // actix may also just close the connection; what it must never do
        // is answer 2xx or 5xx.
        if let Some(code) = status {
            assert!((400..500).contains(&code), "{what}: {code}");
        }
    }
    // A request with a body shorter than its Content-Length times out
    // without tying anything up: the next requests are served.
    let truncated = format!("{head}Content-Length: 1000\r\n\r\n{body}").into_bytes();
    let hanging = actix_web::rt::spawn(raw_status(port, truncated));
    assert_healthy(&s.http, &s.base).await;
    hanging.abort();
    s.stop().await;
}

/// A 71-byte secret: with BCrypt's NUL terminator it fills the 72 bytes the
/// algorithm reads, so `S + NUL` hashes exactly like `S`.
const SECRET_71: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~01234";
/// A short secret: BCrypt repeats its key cyclically, so `S + NUL + S`
/// (plus the terminator) is the same key stream as `S + NUL`.
const SECRET_SHORT: &str = "short-secret-0123456789";

/// A presented secret containing a NUL byte never authenticates, whichever
/// method carries it, however BCrypt would read it; the answer is the same
/// 401 as any wrong secret, and the true secret still works afterwards.
#[actix_web::test]
async fn a_presented_secret_containing_nul_never_authenticates() {
    assert_eq!(SECRET_71.len(), 71);
    let mut clients = CLIENTS_YAML.to_owned();
    for (id, var, method) in [
        ("nul-71-post", "NUL_71", "client_secret_post"),
        ("nul-71-basic", "NUL_71", "client_secret_basic"),
        ("nul-short-post", "NUL_SHORT", "client_secret_post"),
        ("nul-short-basic", "NUL_SHORT", "client_secret_basic"),
    ] {
        clients.push_str(&format!(
            "    - client_id: {id}\n      client_secret_env_var_name: {var}\n      \
             client_authentication_method: {method}\n"
        ));
    }
    let env: BTreeMap<String, String> = [
        ("NUL_71".to_owned(), SECRET_71.to_owned()),
        ("NUL_SHORT".to_owned(), SECRET_SHORT.to_owned()),
    ]
    .into();
    for backend in backends() {
        let s = spawn(
            backend,
            Spawn {
                clients_yaml: Some(clients.clone()),
                env: env.clone(),
                ..Spawn::default()
            },
        )
        .await;
        let cases = [
            ("nul-71", SECRET_71, format!("{SECRET_71}\0")),
            (
                "nul-short",
                SECRET_SHORT,
                format!("{SECRET_SHORT}\0{SECRET_SHORT}"),
            ),
            ("nul-short", SECRET_SHORT, format!("{SECRET_SHORT}\0")),
        ];
        for (client, right, with_nul) in &cases {
            let post_id = format!("{client}-post");
            let basic_id = format!("{client}-basic");
            let what = format!("{backend:?} {post_id} with {with_nul:?}");
            let r = reply(form_token(&s, &client_secret_post(&post_id, with_nul))).await;
            assert_oauth_error(&r, 401, "invalid_client", &what);
            let basic = |secret: &str| {
                s.post("/oauth2/token")
                    .header("Authorization", basic_authorization(&basic_id, secret))
                    .form(&[("grant_type", "client_credentials")])
            };
            let what = format!("{backend:?} {basic_id} with {with_nul:?}");
            let r = reply(basic(with_nul)).await;
            assert_oauth_error(&r, 401, "invalid_client", &what);
            assert_eq!(
                r.headers.get("www-authenticate").unwrap(),
                "Basic realm=\"oauth2\"",
                "{what}"
            );
            // The secret itself still authenticates by both methods.
            let r = reply(form_token(&s, &client_secret_post(&post_id, right))).await;
            assert_eq!(r.status, 200, "{backend:?} {post_id}: {}", r.body);
            let r = reply(basic(right)).await;
            assert_eq!(r.status, 200, "{backend:?} {basic_id}: {}", r.body);
        }
        s.stop().await;
    }
}
