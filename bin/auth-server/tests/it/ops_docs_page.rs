//! The API reference page at `/docs` (docs/reference/operations.md#api-reference-page),
//! loaded by a real browser: headless Chromium renders it from a running
//! server — scripts run, `/openapi.json` is fetched — and the page shows
//! the token endpoint and the secret rotation. With an admin listener the
//! page is served there only. Chromium is a test dependency
//! (`scripts/install-deps.sh --test`); without it this test fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// The DOM of `url` after its scripts ran, as headless Chromium prints it.
fn rendered_dom(url: &str, profile: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // Scripts get this much (virtual) time to fetch and render.
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}): install it with scripts/install-deps.sh --test")
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_web::test]
async fn a_browser_shows_the_token_endpoint_and_secret_rotation_on_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let mut env = process_env(dir.path(), &url);
    let admin_port = free_loopback_port();
    env.insert("APP_ADMIN_BIND".into(), format!("127.0.0.1:{admin_port}"));
    env.insert("APP_SHUTDOWN_DRAIN".into(), "PT0S".into());
    let mut server = ServerProcess::start(&env, dir.path(), "docs", free_loopback_port());
    server.wait_ready(Duration::from_secs(60)).await;
    let admin = format!("http://127.0.0.1:{admin_port}");
    let http = reqwest::Client::new();

    // Served where /openapi.json is: the admin listener, not the main one.
    let r = http.get(format!("{admin}/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    for path in ["/docs", "/docs/swagger-ui-bundle.js"] {
        let r = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path} on the main listener");
    }
    let r = http
        .get(format!("{admin}/docs/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let profile = tempfile::tempdir().unwrap();
    let page = format!("{admin}/docs");
    let dom = actix_web::rt::task::spawn_blocking(move || rendered_dom(&page, profile.path()))
        .await
        .unwrap();
    // Rendered by the scripts, from the document: neither string is in
    // the page's HTML itself.
    for shown in ["/oauth2/token", "/clients/{clientId}/secret/rotate"] {
        assert!(dom.contains(shown), "{shown} not on the page:\n{dom}");
    }
    assert!(
        dom.contains("auth-server"),
        "the document's title is missing"
    );
    assert!(
        !dom.contains("Failed to load API definition"),
        "the page could not load /openapi.json:\n{dom}"
    );

    // Every file the page needed came from this server.
    let logs = server.logs();
    assert!(logs.contains("\"route\":\"/openapi.json\""), "{logs}");
    assert!(logs.contains("\"route\":\"/docs/{file}\""), "{logs}");
    assert_eq!(server.sigterm().code(), Some(0));
}
