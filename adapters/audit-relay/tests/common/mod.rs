//! Test fixtures: throwaway databases and streams, outbox writers, the relay
//! binary as a child process, a NATS server of our own, a switchable TCP
//! proxy, and the checks every fault test ends with.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

pub const SYSTEM_NATS: &str = "nats://127.0.0.1:4222";
/// The app database server: the one CI and the development machines run.
const APP_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
/// Names any database on the server the audit stores are created on, e.g. a
/// TimescaleDB: `postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable`.
/// Unset, stores live on the app server.
pub const STORE_URL_VAR: &str = "AUDIT_TEST_STORE_URL";
const OBJECT_TYPES: [&str; 4] = ["user", "customer", "product", "promotion"];

/// A Postgres server the tests create databases on.
#[derive(Debug, Clone)]
pub struct Server {
    options: PgConnectOptions,
}

impl Server {
    pub fn app() -> Server {
        Server::from_url(APP_SERVER)
    }

    /// Where audit stores go: `AUDIT_TEST_STORE_URL`, or the app server.
    pub fn store() -> Server {
        match std::env::var(STORE_URL_VAR) {
            Ok(url) if !url.is_empty() => Server::from_url(&url),
            _ => Server::app(),
        }
    }

    fn from_url(url: &str) -> Server {
        Server {
            options: PgConnectOptions::from_str(url)
                .unwrap_or_else(|error| panic!("bad Postgres URL {url:?}: {error}")),
        }
    }

    pub fn url(&self, database: &str) -> String {
        self.url_via(self.addr(), database)
    }

    /// The URL of `database` on this server as reached through `addr` (a proxy).
    pub fn url_via(&self, addr: SocketAddr, database: &str) -> String {
        format!(
            "postgres://{}@{addr}/{database}?sslmode=disable",
            self.options.get_username()
        )
    }

    pub fn addr(&self) -> SocketAddr {
        let host = match self.options.get_host() {
            "localhost" => "127.0.0.1",
            host => host,
        };
        format!("{host}:{}", self.options.get_port())
            .parse()
            .unwrap_or_else(|_| panic!("the tests need an IP address, not {host:?}"))
    }
}

/// What kind of audit store the tests run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// TimescaleDB available and preloaded: stores become hypertables.
    Timescale {
        version: String,
    },
    Plain,
}

/// Looks at the store server once and says in the test output (past the
/// harness's capture, which would hide it for passing tests) which kind of
/// store these tests cover.
pub async fn store_kind() -> StoreKind {
    static KIND: tokio::sync::OnceCell<StoreKind> = tokio::sync::OnceCell::const_new();
    KIND.get_or_init(|| async {
        let server = Server::store();
        let mut conn = PgConnection::connect(&server.url("postgres"))
            .await
            .unwrap_or_else(|error| panic!("cannot reach the audit store server {}: {error}", server.addr()));
        let (postgres, timescale): (String, Option<String>) = sqlx::query_as(
            "SELECT current_setting('server_version'),
                    (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'
                     AND current_setting('shared_preload_libraries') LIKE '%timescaledb%')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let (kind, line) = match timescale {
            Some(version) => (
                StoreKind::Timescale { version: version.clone() },
                format!("TimescaleDB {version} on PostgreSQL {postgres} at {}: hypertable and policy paths tested", server.addr()),
            ),
            None => (
                StoreKind::Plain,
                format!(
                    "plain PostgreSQL {postgres} at {} (no TimescaleDB): the TimescaleDB paths are NOT tested, \
                     only that policies are ignored; set {STORE_URL_VAR} to a TimescaleDB server to test them",
                    server.addr()
                ),
            ),
        };
        let _ = writeln!(std::io::stderr(), "audit-relay tests: audit store is {line}");
        kind
    })
    .await
    .clone()
}

pub fn unique(tag: &str) -> String {
    format!("{tag}_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A free port for a server that a test stops and starts again on the same
/// port (NATS). It comes from below the kernel's ephemeral range, where
/// `bind(0)` never lands: a port from `bind(0)` would be free again while
/// the server is down, and a concurrent test's listener (the Postgres proxy
/// binds port 0) could take it, so the server could not come back
/// ("address already in use"). Distinct within this process.
pub fn restartable_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    const LOWEST: u32 = 10_000;
    let span = ephemeral_low.saturating_sub(LOWEST).max(1);
    // Processes start apart (by pid) so that concurrent test binaries
    // seldom try the same ports; the bind below settles it either way.
    let start = std::process::id() * 7919;
    for _ in 0..span {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = (LOWEST + offset) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {ephemeral_low}");
}

/// A database of our own, dropped (with its sessions) when the test ends,
/// pass or fail.
pub struct TestDatabase {
    pub name: String,
    pub server: Server,
}

impl TestDatabase {
    /// An empty database on the app server.
    pub async fn create(tag: &str) -> TestDatabase {
        TestDatabase::create_on(Server::app(), tag).await
    }

    /// An empty database for an audit store, on the store server (see
    /// [`STORE_URL_VAR`]).
    pub async fn store(tag: &str) -> TestDatabase {
        store_kind().await;
        TestDatabase::create_on(Server::store(), tag).await
    }

    pub async fn create_on(server: Server, tag: &str) -> TestDatabase {
        let name = unique(&format!("relay_{tag}"));
        let mut conn = PgConnection::connect(&server.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        TestDatabase { name, server }
    }

    /// A database with the app schema (and so `audit_outbox`).
    pub async fn with_app_schema(tag: &str) -> TestDatabase {
        TestDatabase::with_app_schema_on(Server::app(), tag).await
    }

    pub async fn with_app_schema_on(server: Server, tag: &str) -> TestDatabase {
        let db = TestDatabase::create_on(server, tag).await;
        let pool = db.pool(2).await;
        app_migrator().run(&pool).await.unwrap();
        pool.close().await;
        db
    }

    pub fn url(&self) -> String {
        self.server.url(&self.name)
    }

    /// This database as reached through `addr` (a proxy to its server).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        self.server.url_via(addr, &self.name)
    }

    pub async fn pool(&self, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .connect(&self.url())
            .await
            .unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let maintenance = self.server.url("postgres");
        // Drop runs inside the test's runtime, which cannot be blocked on.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&maintenance).await?;
                sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// The app schema's migrations, as `spintemp-admin migrate` applies them.
pub fn app_migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../../infra/migrations/app");
    migrator.set_ignore_missing(true);
    migrator
}

/// A stream name and subject prefix of our own; the stream is deleted when
/// the test ends.
pub struct TestStream {
    pub name: String,
    pub prefix: String,
    pub nats_url: String,
}

impl TestStream {
    pub fn new(nats_url: &str) -> TestStream {
        let tag = unique("relay");
        TestStream {
            name: tag.to_uppercase(),
            prefix: format!("audit_{tag}"),
            nats_url: nats_url.to_string(),
        }
    }

    pub async fn context(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name) = (self.nats_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let connect = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(2))
                    .connect(&url);
                if let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(3), connect).await
                {
                    let _ = jetstream::new(client).delete_stream(&name).await;
                }
            })
        })
        .join();
    }
}

/// One event a writer committed to the outbox.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: Uuid,
    pub object_type: &'static str,
    pub object_id: Uuid,
    pub action: &'static str,
    /// 1, 2, 3… per object, in commit order.
    pub object_seq: i64,
}

/// Concurrent writers inserting outbox rows the way the app does: each
/// statement commits events for 1–4 objects; an object's next event is
/// written only after its previous one committed.
pub struct Load {
    pub writers: usize,
    pub events_per_writer: usize,
    pub objects_per_writer: usize,
    pub pause: Duration,
}

pub fn spawn_writers(pool: PgPool, load: &Load) -> JoinHandle<Vec<Written>> {
    let mut tasks = JoinSet::new();
    for _ in 0..load.writers {
        tasks.spawn(write(
            pool.clone(),
            load.events_per_writer,
            load.objects_per_writer,
            load.pause,
        ));
    }
    tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(written) = tasks.join_next().await {
            all.extend(written.expect("writer panicked"));
        }
        all
    })
}

async fn write(pool: PgPool, events: usize, objects: usize, pause: Duration) -> Vec<Written> {
    let mut next_seq: Vec<(Uuid, &'static str, i64)> = (0..objects)
        .map(|i| (Uuid::now_v7(), OBJECT_TYPES[i % OBJECT_TYPES.len()], 1))
        .collect();
    let mut written = Vec::with_capacity(events);
    while written.len() < events {
        let (statement, rows) = {
            let mut rng = rand::rng();
            let count = rng.random_range(1..=4).min(events - written.len());
            let picked = rand::seq::index::sample(&mut rng, objects, count);
            let rows: Vec<Written> = picked
                .iter()
                .map(|i| {
                    let (object_id, object_type, seq) = next_seq[i];
                    next_seq[i].2 += 1;
                    Written {
                        id: Uuid::now_v7(),
                        object_type,
                        object_id,
                        action: if seq == 1 { "create" } else { "update" },
                        object_seq: seq,
                    }
                })
                .collect();
            (insert_statement(&rows), rows)
        };
        statement.execute(&pool).await.expect("outbox insert");
        written.extend(rows);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    written
}

fn insert_statement(
    rows: &[Written],
) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let after: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| serde_json::json!({"id": row.object_id, "objectSeq": row.object_seq, "name": "Ducks R Us"}))
        .collect();
    let before: Vec<Option<serde_json::Value>> = rows
        .iter()
        .map(|row| {
            (row.object_seq > 1).then(|| serde_json::json!({"objectSeq": row.object_seq - 1}))
        })
        .collect();
    sqlx::query(
        "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::uuid[],
                              $7::jsonb[], $8::jsonb[], $9::text[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.object_type).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.object_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.action).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| format!("{}s-{}", r.object_type, r.action)).collect::<Vec<_>>())
    .bind(rows.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(before)
    .bind(after)
    .bind(rows.iter().map(|r| format!("req-{}", r.id.simple())).collect::<Vec<_>>())
}

/// Waits until the outbox is empty and the store holds `expected` rows.
pub async fn wait_drained(app: &PgPool, store: &PgPool, expected: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
            .fetch_one(app)
            .await
            .unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(store)
            .await
            .unwrap_or(0);
        if pending == 0 && stored as usize >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not drained after {limit:?}: {pending} pending in the outbox, {stored}/{expected} stored"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What every fault test ends with: nothing left behind, nothing lost,
/// nothing repeated — in the store and in the stream.
pub async fn assert_relayed_exactly_once(
    app: &PgPool,
    store: &PgPool,
    stream: &TestStream,
    written: &[Written],
    in_object_order: bool,
) {
    assert_outbox_empty(app).await;
    assert_store_exact(store, written).await;
    assert_stream_exact(stream, written, in_object_order).await;
}

pub async fn assert_outbox_empty(app: &PgPool) {
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
        .fetch_one(app)
        .await
        .unwrap();
    assert_eq!(pending, 0, "the outbox still holds rows");
}

/// Every written event is in the store exactly once, with nothing else, and
/// each object's events are ordered by occurredAt as they were committed.
pub async fn assert_store_exact(store: &PgPool, written: &[Written]) {
    let rows: Vec<(
        Uuid,
        Uuid,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        i64,
    )> = sqlx::query_as(
        "SELECT id, object_id, object_type, action, occurred_at, (after->>'objectSeq')::bigint
         FROM audit_events ORDER BY object_id, occurred_at, id",
    )
    .fetch_all(store)
    .await
    .unwrap();
    assert_eq!(rows.len(), written.len(), "store rows vs events written");
    let expected: HashSet<Uuid> = written.iter().map(|w| w.id).collect();
    let stored: HashSet<Uuid> = rows.iter().map(|row| row.0).collect();
    assert_eq!(stored.len(), rows.len(), "an event is stored twice");
    assert_eq!(stored, expected, "stored ids differ from the written ones");

    let by_id: BTreeMap<Uuid, &Written> = written.iter().map(|w| (w.id, w)).collect();
    let mut last: Option<(Uuid, chrono::DateTime<chrono::Utc>, i64)> = None;
    for (id, object_id, object_type, action, occurred_at, object_seq) in rows {
        let w = by_id[&id];
        assert_eq!(
            (object_type.as_str(), action.as_str(), object_seq),
            (w.object_type, w.action, w.object_seq)
        );
        if let Some((last_object, last_at, last_seq)) = last {
            if last_object == object_id {
                assert!(
                    object_seq == last_seq + 1 && occurred_at > last_at,
                    "object {object_id}: event {object_seq} at {occurred_at} follows {last_seq} at {last_at}"
                );
            }
        }
        last = Some((object_id, occurred_at, object_seq));
    }
}

/// The stream holds exactly one message per written event, on the right
/// subject, with the event id as `Nats-Msg-Id`; with `in_object_order`, each
/// object's events also appear in the order they were committed (what one
/// relay with one worker guarantees).
pub async fn assert_stream_exact(stream: &TestStream, written: &[Written], in_object_order: bool) {
    let js = stream.context().await;
    let mut handle = js.get_stream(&stream.name).await.unwrap();
    let messages = handle.info().await.unwrap().state.messages;
    assert_eq!(
        messages as usize,
        written.len(),
        "stream messages vs events written"
    );

    let consumer = handle
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut incoming = consumer.messages().await.unwrap();
    let by_id: BTreeMap<Uuid, &Written> = written.iter().map(|w| (w.id, w)).collect();
    let mut seen = HashSet::new();
    let mut last_seq: BTreeMap<Uuid, i64> = BTreeMap::new();
    for _ in 0..messages {
        let message = tokio::time::timeout(Duration::from_secs(10), incoming.next())
            .await
            .expect("stream read timed out")
            .unwrap()
            .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let id: Uuid = payload["id"].as_str().unwrap().parse().unwrap();
        let msg_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        assert_eq!(msg_id, Some(id.to_string()));
        let w = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected event {id} in the stream"));
        assert_eq!(
            message.subject.as_str(),
            format!("{}.{}.{}", stream.prefix, w.object_type, w.action)
        );
        assert_eq!(
            payload["objectId"].as_str(),
            Some(w.object_id.to_string().as_str())
        );
        assert!(seen.insert(id), "event {id} is in the stream twice");
        if in_object_order {
            let last = last_seq.insert(w.object_id, w.object_seq);
            assert_eq!(
                last.map_or(1, |seq| seq + 1),
                w.object_seq,
                "object {}: stream order differs from commit order",
                w.object_id
            );
        }
    }
    assert_eq!(seen.len(), written.len());
}

/// The relay binary, as a child process logging (JSON) to a file.
pub struct RelayProcess {
    child: Child,
    pub log: PathBuf,
}

#[derive(Clone)]
pub struct RelaySettings {
    pub database_url: String,
    pub audit_database_url: String,
    pub nats_url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub batch_size: u32,
}

impl RelaySettings {
    pub fn new(app: &str, store: &str, stream: &TestStream) -> RelaySettings {
        RelaySettings {
            database_url: app.to_string(),
            audit_database_url: store.to_string(),
            nats_url: stream.nats_url.clone(),
            stream: stream.name.clone(),
            subject_prefix: stream.prefix.clone(),
            batch_size: 250,
        }
    }
}

impl RelayProcess {
    pub fn spawn(settings: &RelaySettings, log: &Path) -> RelayProcess {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_audit-relay"))
            .env("DATABASE_URL", &settings.database_url)
            .env("AUDIT_DATABASE_URL", &settings.audit_database_url)
            .env("NATS_URL", &settings.nats_url)
            .env("AUDIT_RELAY_STREAM", &settings.stream)
            .env("AUDIT_RELAY_SUBJECT_PREFIX", &settings.subject_prefix)
            .env("AUDIT_RELAY_BATCH_SIZE", settings.batch_size.to_string())
            .env("AUDIT_RELAY_LISTEN", "127.0.0.1:0")
            .env("AUDIT_RELAY_POLL_INTERVAL", "500ms")
            .env("AUDIT_RELAY_STAGE_TIMEOUT", "3s")
            .env("AUDIT_RELAY_MIN_BACKOFF", "50ms")
            .env("AUDIT_RELAY_MAX_BACKOFF", "1s")
            .env("AUDIT_RELAY_DUPLICATE_WINDOW", "5m")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start audit-relay");
        RelayProcess {
            child,
            log: log.to_path_buf(),
        }
    }

    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, then the exit status (a graceful stop exits 0).
    pub async fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("relay still running") as i32;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("relay did not stop after SIGTERM")
            .unwrap()
    }
}

/// A `nats-server -js` of our own, which a test may kill and restart on the
/// same port and storage directory.
pub struct NatsServer {
    pub port: u16,
    store_dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub async fn start(log: &Path) -> NatsServer {
        let mut server = NatsServer::not_started(log);
        server.restart().await;
        server
    }

    /// Picks the port and directory; `restart` starts it.
    pub fn not_started(log: &Path) -> NatsServer {
        NatsServer {
            port: restartable_port(),
            store_dir: tempfile::tempdir().unwrap(),
            log: log.to_path_buf(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("/usr/sbin/nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store_dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("nats-server running");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
}

/// A TCP proxy to Postgres that a test can switch off: connections are cut
/// and new ones refused until it is switched on again.
pub struct Proxy {
    pub addr: SocketAddr,
    enabled: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (enabled, watcher) = watch::channel(true);
        let task = tokio::spawn(proxy(listener, addr, target, watcher));
        Proxy {
            addr,
            enabled,
            task,
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.send_replace(enabled);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy(
    first: TcpListener,
    addr: SocketAddr,
    target: SocketAddr,
    mut enabled: watch::Receiver<bool>,
) {
    let mut listener = Some(first);
    loop {
        let Some(current) = listener.take() else {
            // Off: nothing listens, so connecting is refused.
            if enabled.wait_for(|on| *on).await.is_err() {
                return;
            }
            listener = Some(bind_again(addr).await);
            continue;
        };
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = current.accept() => {
                    if let Ok((mut inbound, _)) = accepted {
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
                changed = enabled.changed() => {
                    if changed.is_err() { return; }
                    if !*enabled.borrow() {
                        connections.abort_all();
                        break;
                    }
                }
            }
        }
        drop(current);
    }
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("cannot rebind the proxy on {addr}: {error}"),
        }
    }
}

pub fn print_log_tail(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(60);
        eprintln!("--- last lines of {} ---", path.display());
        for line in &lines[start..] {
            eprintln!("{line}");
        }
    }
}

/// Prints the tail of each log if the test is failing (or always, with
/// `AUDIT_RELAY_TEST_LOGS=1`), so the relay's side of the story is in the
/// test output.
pub struct LogsOnFailure(pub Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("AUDIT_RELAY_TEST_LOGS").is_some() {
            for path in &self.0 {
                print_log_tail(path);
            }
        }
    }
}

/// Whether the relay logged a failed step of this stage (JSON log lines).
pub fn logged_failure(path: &Path, stage: &str) -> bool {
    let needle = format!("\"stage\":\"{stage}\"");
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .any(|line| line.contains("relay step failed") && line.contains(&needle))
        })
        .unwrap_or(false)
}

pub async fn wait_for_rows(store: &PgPool, at_least: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(store)
            .await
            .unwrap_or(0);
        if stored >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {stored} rows stored after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A GET on the relay's HTTP server: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn random_pause(min_ms: u64, max_ms: u64) -> Duration {
    Duration::from_millis(rand::rng().random_range(min_ms..=max_ms))
}
