//! `/metrics` against what operators read: the metrics table of
//! docs/operations.md (and docs/reference/operations.md), the Grafana
//! dashboard in deploy/grafana, and the secret expiry gauges — each checked
//! against a running server over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use auth_domain::ClientRepository as _;

use crate::common::*;

/// One metric family as `# TYPE` and the samples show it: its type and the
/// label names its samples carry (without a histogram's `le`).
#[derive(Debug, PartialEq, Eq)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
}

/// The label names and values of a sample's `{...}`, honouring escapes.
fn labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(e);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((name.trim_start_matches(',').to_owned(), value));
        rest = &after[end..];
    }
    out
}

/// Sample name and labels of one sample line.
fn sample(line: &str) -> (String, Vec<(String, String)>) {
    let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
    match series.split_once('{') {
        Some((name, rest)) => (
            name.to_owned(),
            labels(rest.strip_suffix('}').unwrap_or(rest)),
        ),
        None => (series.to_owned(), Vec::new()),
    }
}

/// The families of a `/metrics` text. Every family must have a sample.
fn exported(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (
                name.to_owned(),
                Family {
                    kind: kind.to_owned(),
                    labels: BTreeSet::new(),
                },
            )
        })
        .collect();
    let mut sampled = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, labels) = sample(line);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|base| families.get(*base).is_some_and(|f| f.kind == "histogram"))
            .unwrap_or(&name)
            .to_owned();
        let f = families
            .get_mut(&family)
            .unwrap_or_else(|| panic!("sample {line:?} has no # TYPE"));
        f.labels
            .extend(labels.into_iter().map(|(k, _)| k).filter(|k| k != "le"));
        sampled.insert(family);
    }
    for name in families.keys() {
        assert!(sampled.contains(name), "{name} has no sample in:\n{text}");
    }
    families
}

/// The metrics table of a docs page: `| `name` | type | `label`, … | meaning |`.
fn documented(page: &str) -> BTreeMap<String, Family> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(page);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("| metric | type | labels |"))
        .skip(2);
    let mut table = BTreeMap::new();
    for row in lines.by_ref().take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let family = Family {
            kind: cells[2].to_owned(),
            labels,
        };
        assert!(
            table.insert(name.clone(), family).is_none(),
            "{page}: {name} twice"
        );
    }
    assert!(!table.is_empty(), "{page}: no metrics table");
    table
}

/// A server that has answered a token request, an authentication failure
/// and a 404, so every family has samples.
async fn busy_server() -> TestServer {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let (status, _) = post_token(&s.http, &s.base, "my-service", SVC_SECRET).await;
    assert_eq!(status, 200);
    let (status, _) = post_token(&s.http, &s.base, "my-service", "wrong-secret-0123456789").await;
    assert_eq!(status, 401);
    let r = s.http.get(s.url("/no/such/route")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    s
}

#[actix_web::test]
async fn the_docs_list_exactly_the_metrics_a_running_server_exports() {
    let s = busy_server().await;
    let exported = exported(&metrics_text(&s).await);
    for page in ["docs/operations.md", "docs/reference/operations.md"] {
        let documented = documented(page);
        let missing: Vec<_> = exported
            .keys()
            .filter(|n| !documented.contains_key(*n))
            .collect();
        let stale: Vec<_> = documented
            .keys()
            .filter(|n| !exported.contains_key(*n))
            .collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{page}: exported but not documented: {missing:?}; documented but not exported: {stale:?}"
        );
        for (name, family) in &exported {
            assert_eq!(&documented[name], family, "{page}: {name}");
        }
    }
    for name in exported.keys() {
        assert!(name.starts_with("auth_server_"), "{name}");
    }
    s.stop().await;
}

#[actix_web::test]
async fn build_info_names_this_build() {
    let s = spawn(Backend::Sqlite, Spawn::default()).await;
    let text = metrics_text(&s).await;
    let line = text
        .lines()
        .find(|l| l.starts_with("auth_server_build_info{"))
        .unwrap_or_else(|| panic!("no build info in:\n{text}"));
    let (_, labels) = sample(line);
    let labels: BTreeMap<_, _> = labels.into_iter().collect();
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["commit"], env!("AUTH_SERVER_GIT_COMMIT"));
    assert!(line.ends_with(" 1"), "{line}");
    s.stop().await;
}

/// PromQL words that are not metrics: operators, and the aggregations,
/// which may be followed by `by (…)` rather than their parenthesis.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
];

/// Removes every bracketed part opened by `open` (label matchers `{…}`,
/// ranges `[…]`) and every string literal.
fn strip(expr: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' if depth == 0 => in_string = !in_string,
            _ if in_string => {}
            c if c == open => depth += 1,
            c if c == close => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The metric names a PromQL expression reads: identifiers that are not
/// functions (followed by `(`), keywords, grouping labels or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let bare = strip(&strip(expr, '{', '}'), '[', ']');
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut grouping = false;
    let mut depth_at_grouping = 0;
    let mut depth = 0;
    let chars: Vec<char> = bare.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth -= 1;
            if grouping && depth == depth_at_grouping {
                grouping = false;
            }
        }
        if (c.is_ascii_alphabetic() || c == '_') && (i == 0 || !is_ident(chars[i - 1])) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&word.as_str())
            {
                grouping = true;
                depth_at_grouping = depth;
            } else if next != Some(&'(') && !grouping && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = |e| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job=~"$job",route="/x"}[$__rate_interval])))"#
        ),
        ["a_bucket"]
    );
    assert_eq!(
        names("sum(b) / clamp_min(sum without (instance) (c{x=\"(y)\"}), 1) - time()"),
        ["b", "c"]
    );
    assert_eq!(
        names("rate(d_total[5m]) > bool 0 or on (job) e"),
        ["d_total", "e"]
    );
}

/// Every PromQL expression of the dashboard: the panels' `expr` and the
/// variables' `label_values(metric, label)` queries.
fn dashboard_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    ("definition", serde_json::Value::String(d)) => {
                        if let Some(args) = d
                            .strip_prefix("label_values(")
                            .and_then(|a| a.strip_suffix(')'))
                        {
                            out.push(args.split(',').next().unwrap_or("").trim().to_owned());
                        }
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| dashboard_queries(i, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn every_metric_the_dashboard_queries_is_exported_by_a_running_server() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/auth-server.json");
    let text = std::fs::read_to_string(path).unwrap();
    // The Helm chart can only embed files of its own directory: it ships a
    // copy, which must be this dashboard.
    let chart_copy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/helm/auth-server/dashboards/auth-server.json");
    assert_eq!(
        std::fs::read_to_string(chart_copy).unwrap(),
        text,
        "deploy/helm/auth-server/dashboards/auth-server.json differs from deploy/grafana/auth-server.json"
    );
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Every panel but the rows asks something.
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            assert!(
                !panel["targets"].as_array().unwrap().is_empty(),
                "{}",
                panel["title"]
            );
        }
    }
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() > 20, "{queries:?}");

    let s = busy_server().await;
    let text = metrics_text(&s).await;
    let samples: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| sample(l).0)
        .collect();
    let mut used = BTreeSet::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "no metric in {query:?}");
        for name in names {
            assert!(
                samples.contains(&name),
                "the dashboard queries {name} (in {query:?}), which /metrics does not export"
            );
            used.insert(name);
        }
    }
    // What the dashboard promises to show.
    for name in [
        "auth_server_token_requests_total",
        "auth_server_http_request_duration_seconds_bucket",
        "auth_server_secret_verifications_queued",
        "auth_server_db_pool_max_connections",
        "auth_server_verified_secret_cache_lookups_total",
        "auth_server_http_requests_total",
        "auth_server_clients_rotation_required",
    ] {
        assert!(used.contains(name), "the dashboard does not show {name}");
    }
    s.stop().await;
}

/// The value of the unlabelled gauge `name` in `/metrics`.
async fn gauge(s: &TestServer, name: &str) -> Option<f64> {
    let text = metrics_text(s).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn wait_for_gauges(s: &TestServer, rotation_required: f64, expired: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = (
            gauge(s, "auth_server_clients_rotation_required").await,
            gauge(s, "auth_server_clients_secret_expired").await,
        );
        if now == (Some(rotation_required), Some(expired)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gauges {now:?}, expected ({rotation_required}, {expired})"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn the_secret_expiry_gauges_count_clients_after_startup_and_follow_changes() {
    for backend in backends() {
        // Every secret lives 365 days; a lead time longer than that makes
        // every confidential client due for rotation from its creation.
        let s = spawn(
            backend,
            Spawn {
                settings: [(
                    "APP_CLIENT_SECRET_ROTATION_REQUIRED_BEFORE_EXPIRY".to_owned(),
                    "P400D".to_owned(),
                )]
                .into(),
                ..Spawn::default()
            },
        )
        .await;
        // The four confidential clients of the seed; not the public one.
        wait_for_gauges(&s, 4.0, 0.0).await;

        // A client whose secret was issued 400 days ago: expired now.
        let store = open_store(&s);
        let id = auth_domain::ClientId::parse("old-client").unwrap();
        let created = auth_domain::now_ms() - time::Duration::days(400);
        let secrets = auth_domain::SecretSlots::default()
            .issue(
                auth_domain::SecretHash::new(
                    "$2b$04$abcdefghijklmnopqrstuu5Gk1lP0c3mO8t9h2n0J2Uq2Yh5h6Cm.",
                ),
                created,
                &auth_domain::SecretPolicy::default(),
            )
            .unwrap();
        store
            .create(
                &auth_domain::NewClient {
                    settings: auth_domain::ClientSettings::defaults_for(&id),
                    id: id.clone(),
                    client_type: auth_domain::ClientType::Confidential,
                    redirect_uris: Vec::new(),
                    post_logout_redirect_uris: Vec::new(),
                    created_at: created,
                    secrets,
                },
                &auth_store::test_support::test_event("client.create", id.as_str()),
            )
            .unwrap();
        // The server's own refresher runs every minute; a faster one on
        // the same state shows that a refresh picks the change up.
        auth_http::secret_expiry::spawn_refresher(&s.state, Duration::from_millis(100));
        wait_for_gauges(&s, 5.0, 1.0).await;
        s.stop().await;
    }
}
