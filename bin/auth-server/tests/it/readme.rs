//! The README's run command, followed by the curl line it shows, returns a
//! token. Both are read from README.md itself, so the README cannot drift.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// The shell code blocks of the README, in order.
fn sh_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap_or_default()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// Words of a shell command with `\` continuations joined and simple
/// single quotes removed (enough for the README's commands).
fn words(block: &str) -> Vec<String> {
    let joined = block.replace("\\\n", " ");
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in joined.chars() {
        match ch {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[actix_web::test]
async fn the_readme_run_command_and_curl_line_return_a_token() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    let run = blocks
        .iter()
        .find(|b| b.contains("cargo run"))
        .expect("a run command");
    let curl = blocks
        .iter()
        .find(|b| b.contains("curl"))
        .expect("a curl line");
    let test_cmd = blocks.iter().any(|b| b.contains("scripts/test.sh"));
    assert!(test_cmd, "the README shows the test command");
    assert!(run.contains("cargo run --release -p auth-server"));

    // The run command's environment, applied to the built binary, from a
    // folder holding a copy of examples/ (the README's paths are relative).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    for f in ["clients.yaml", "service-accounts.yaml"] {
        std::fs::copy(
            root.join("examples").join(f),
            dir.path().join("examples").join(f),
        )
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path());
    for w in words(run) {
        if let Some((k, v)) = w.split_once('=') {
            if k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                cmd.env(k, v);
            }
        }
    }
    // The README serves on the default 127.0.0.1:8080; a free port keeps
    // this test independent of whatever else runs here.
    cmd.env("APP_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();

    let w = words(curl);
    let url = w
        .iter()
        .find(|x| x.starts_with("http://"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let mut form: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for pair in w.windows(2) {
        match pair[0].as_str() {
            "-d" => {
                let (k, v) = pair[1].split_once('=').unwrap();
                form.push((k.into(), v.into()));
            }
            "-H" => {
                let (k, v) = pair[1].split_once(':').unwrap();
                headers.push((k.trim().into(), v.trim().into()));
            }
            _ => {}
        }
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let mut req = http.post(&url).form(&form);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        if let Ok(r) = req.send().await {
            if r.status() == 200 {
                break r.json::<serde_json::Value>().await.unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the README's server never answered the curl line with a token"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));
    assert!(
        dir.path().join("auth-server.db").exists(),
        "the embedded default is a SQLite file in the current folder"
    );
}
