//! The observability files in infra/observability, checked with the real
//! tools: the alerting rules and the Prometheus config with `promtool`
//! (including the rules' unit tests), the Grafana dashboard's JSON and every
//! query in it, and a real Prometheus (Debian's `prometheus` package)
//! scraping a running relay: the relay's series arrive, the rules load and
//! evaluate against them, and each relay panel of the dashboard returns data.
//!
//! Needs `prometheus` and `promtool` on PATH (`apt-get install prometheus`;
//! `.ci/run` installs it), or PROMETHEUS / PROMTOOL naming the binaries, and
//! the Postgres and NATS that the other relay tests use.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, PgConnection};

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const NATS: &str = "nats://127.0.0.1:4222";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn observability() -> PathBuf {
    repo().join("infra/observability")
}

/// A tool from Debian's `prometheus` package, or the path in `var`.
fn tool(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: these tests run the real one. Install Debian's \
             `prometheus` package (apt-get install prometheus) or set {var} to its path"
        )
    })
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new(tool("PROMTOOL", "promtool"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique(tag: &str) -> String {
    format!("{tag}_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// HTTP/1.0 GET (the server closes the connection, no chunking): status and body.
fn http_get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL expression of the dashboard, with Grafana's variables
/// replaced by what they expand to ($component's "All" is `.+`).
fn dashboard_queries(dashboard: &Value, rate_interval: &str) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {:?} has a target without expr", panel["title"]));
            let expanded = expr
                .replace("$__rate_interval", rate_interval)
                .replace("$component", ".+");
            assert!(
                !expanded.contains('$'),
                "panel {:?}: unknown variable in {expr}",
                panel["title"]
            );
            queries.push((panel["title"].as_str().unwrap().to_string(), expanded));
        }
    }
    queries
}

fn load_dashboard() -> Value {
    let path = observability().join("grafana/dashboards/spintemp.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn rules_and_config_pass_promtool_and_the_rule_unit_tests() {
    let prom = "infra/observability/prometheus";
    promtool(&["check", "config", &format!("{prom}/prometheus.yml")]);
    let rules: Vec<String> = std::fs::read_dir(repo().join(prom).join("rules"))
        .unwrap()
        .map(|e| format!("{prom}/rules/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert!(rules.len() >= 2, "rule files: {rules:?}");
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    promtool(&args);
    let out = promtool(&["test", "rules", &format!("{prom}/rules.test.yml")]);
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a unit test: an alert nobody has seen fire may never.
    let tests = std::fs::read_to_string(repo().join(prom).join("rules.test.yml")).unwrap();
    for file in &rules {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for line in text.lines() {
            if let Some(name) = line.trim().strip_prefix("- alert: ") {
                assert!(
                    tests.contains(&format!("alertname: {name}")),
                    "alert {name} ({file}) has no test in {prom}/rules.test.yml"
                );
            }
        }
    }
}

#[test]
fn dashboard_is_well_formed_and_every_query_parses() {
    let dashboard = load_dashboard();
    assert_eq!(dashboard["uid"], "spintemp");
    let datasources = std::fs::read_to_string(
        observability().join("grafana/provisioning/datasources/datasources.yaml"),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = std::collections::HashSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate id: {title}"
        );
        let grid = &panel["gridPos"];
        for key in ["x", "y", "w", "h"] {
            assert!(grid[key].is_u64(), "panel {title}: gridPos.{key}");
        }
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}: wider than the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        let uid = panel["datasource"]["uid"]
            .as_str()
            .expect("panel datasource uid");
        assert!(
            datasources.contains(&format!("uid: {uid}")),
            "panel {title}: datasource uid {uid} is not provisioned"
        );
        assert!(
            !panel["targets"]
                .as_array()
                .map(Vec::is_empty)
                .unwrap_or(true),
            "panel {title} has no query"
        );
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        assert!(var["query"]["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("label_values(")));
    }

    // promtool parses PromQL in rule files: one recording rule per query.
    let queries = dashboard_queries(&dashboard, "5m");
    assert!(queries.len() >= 10, "{} queries", queries.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, rules).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()]);
}

/// A child process killed when the test ends, pass or fail.
struct Killed(Child, &'static str, PathBuf);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.2).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} log (last lines) ---", self.1);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

struct Database(String);

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut conn = PgConnection::connect(&format!("{PG}/postgres")).await?;
                    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                })
        })
        .join();
    }
}

/// Polls `check` until it returns Some, or fails after `limit`.
fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(why) if start.elapsed() > limit => panic!("{what}: not within {limit:?}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn query(prometheus: SocketAddr, promql: &str) -> Result<Vec<Value>, String> {
    let (status, body) = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", percent_encode(promql)),
    )
    .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}: {body}"));
    }
    let body: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_series_reach_a_real_prometheus_and_the_rules_evaluate() {
    let prometheus_bin = tool("PROMETHEUS", "prometheus");
    let work = tempfile::tempdir().unwrap();

    // The app database, with the outbox; the relay puts its audit store in
    // the same database.
    let db = Database(unique("relay_prom"));
    let mut conn = PgConnection::connect(&format!("{PG}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!(r#"CREATE DATABASE "{}""#, db.0))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let db_url = format!("{PG}/{}?sslmode=disable", db.0);
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let mut migrator = sqlx::migrate!("../../infra/migrations/app");
    migrator.set_ignore_missing(true);
    migrator.run(&pool).await.unwrap();

    let stream = unique("prom").to_uppercase();
    let prefix = unique("audit_prom");
    let relay_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let relay_log = work.path().join("relay.log");
    // Only flags that docs/audit-relay.md lists.
    let _relay = Killed(
        Command::new(env!("CARGO_BIN_EXE_audit-relay"))
            .args(["--database-url", &db_url, "--nats-url", NATS])
            .args(["--stream", &stream, "--subject-prefix", &prefix])
            .args(["--listen", &relay_addr.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&relay_log).unwrap())
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&relay_log)
                    .unwrap(),
            )
            .spawn()
            .expect("starting audit-relay"),
        "audit-relay",
        relay_log.clone(),
    );
    eventually(
        "the relay's /metrics",
        Duration::from_secs(30),
        || match http_get(relay_addr, "/metrics") {
            Ok((200, body)) if body.contains("audit_relay_events_relayed_total") => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // Prometheus scraping it every second, with the project's rule files.
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let rules_dir = observability().join("prometheus/rules");
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}/*.yml\n\
             scrape_configs:\n  - job_name: audit-relay\n    static_configs:\n      - targets: [\"{relay_addr}\"]\n",
            rules = rules_dir.display()
        ),
    )
    .unwrap();
    let prom_log = work.path().join("prometheus.log");
    let _prometheus = Killed(
        Command::new(prometheus_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prom_log).unwrap())
            .spawn()
            .expect("starting prometheus"),
        "prometheus",
        prom_log,
    );
    eventually(
        "Prometheus ready",
        Duration::from_secs(60),
        || match http_get(prom_addr, "/-/ready") {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // Scraped at least once before any event, so rates see the counters rise.
    let up = eventually(
        "up{job=\"audit-relay\"} == 1",
        Duration::from_secs(30),
        || {
            let result = query(prom_addr, "up{job=\"audit-relay\"}")?;
            match result.first() {
                Some(sample) if value_of(sample) == 1.0 => Ok(sample.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    );
    assert_eq!(up["metric"]["instance"], relay_addr.to_string());
    eventually(
        "a first sample of the relay's counters",
        Duration::from_secs(30),
        || {
            let result = query(
                prom_addr,
                "audit_relay_events_relayed_total{job=\"audit-relay\"}",
            )?;
            match result.first() {
                Some(sample) if value_of(sample) == 0.0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );

    // Events into the outbox; the relay drains them and its counters say so.
    const EVENTS: i64 = 25;
    sqlx::query(
        "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, after, request_id)
         SELECT gen_random_uuid(), 'customer', gen_random_uuid(), 'create', 'customers-create',
                gen_random_uuid(), jsonb_build_object('code', 'prom' || g), 'req-prom-' || g
         FROM generate_series(1, $1::int8) AS g",
    )
    .bind(EVENTS)
    .execute(&pool)
    .await
    .unwrap();

    eventually(
        "all events relayed, as Prometheus sees it",
        Duration::from_secs(60),
        || {
            let result = query(
                prom_addr,
                "audit_relay_events_relayed_total{job=\"audit-relay\"}",
            )?;
            let relayed = result.first().map(value_of).unwrap_or(0.0);
            let depth = query(prom_addr, "audit_relay_outbox_depth")?
                .first()
                .map(value_of);
            if relayed == EVENTS as f64 && depth == Some(0.0) {
                Ok(())
            } else {
                Err(format!("relayed {relayed}, outbox depth {depth:?}"))
            }
        },
    );
    for series in [
        "audit_relay_events_stored_total",
        "audit_relay_batches_total",
        "audit_relay_oldest_pending_age_seconds",
        "audit_relay_batch_duration_seconds_count",
    ] {
        let result = query(prom_addr, &format!("{series}{{job=\"audit-relay\"}}")).unwrap();
        assert!(!result.is_empty(), "{series} did not reach Prometheus");
        if series == "audit_relay_events_stored_total" {
            assert_eq!(value_of(&result[0]), EVENTS as f64);
        }
    }

    // The project's rules loaded, and each has been evaluated without error.
    eventually("every rule evaluated", Duration::from_secs(30), || {
        let (status, body) = http_get(prom_addr, "/api/v1/rules").map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}"))?;
        let groups = body["data"]["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
        for expected in ["audit-relay", "spintemp-api", "spintemp-api-recording"] {
            if !names.contains(&expected) {
                return Err(format!("rule group {expected} not loaded: {names:?}"));
            }
        }
        for group in &groups {
            for rule in group["rules"].as_array().into_iter().flatten() {
                match rule["health"].as_str() {
                    Some("ok") => {}
                    Some("err") => panic!("rule {} fails: {}", rule["name"], rule["lastError"]),
                    other => return Err(format!("rule {} health {other:?}", rule["name"])),
                }
            }
        }
        Ok(())
    });
    // A healthy relay fires none of its alerts.
    let (_, alerts) = http_get(prom_addr, "/api/v1/alerts").unwrap();
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    let firing: Vec<&Value> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["labels"]["alertname"]
                .as_str()
                .is_some_and(|n| n.starts_with("AuditRelay"))
        })
        .collect();
    assert!(firing.is_empty(), "alerts on a healthy relay: {firing:?}");

    // Every relay panel of the dashboard has data to show.
    let dashboard = load_dashboard();
    // A window longer than the test: the counters rose once, early on.
    let relay_queries: Vec<(String, String)> = dashboard_queries(&dashboard, "10m")
        .into_iter()
        .filter(|(_, q)| q.contains("audit_relay_") || q.contains("job=\"audit-relay\""))
        .collect();
    assert!(relay_queries.len() >= 6, "{relay_queries:?}");
    for (title, promql) in relay_queries {
        eventually(
            &format!("panel {title:?}: {promql}"),
            Duration::from_secs(30),
            || {
                let result = query(prom_addr, &promql)?;
                if result.iter().any(|s| value_of(s).is_finite()) {
                    Ok(())
                } else {
                    Err(format!("{result:?}"))
                }
            },
        );
    }

    pool.close().await;
    let nats = async_nats::connect(NATS).await.unwrap();
    let _ = async_nats::jetstream::new(nats)
        .delete_stream(&stream)
        .await;
}
